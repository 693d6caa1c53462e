"""A plugin whose register hook raises: it must be reported, never fatal."""

from stepreward import hookimpl


@hookimpl
def stepreward_register_components(register):
    raise RuntimeError("boom at registration")
