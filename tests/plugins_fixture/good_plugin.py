"""A well-behaved third-party plugin used by the manager tests (loaded through a fake entry point)."""

from stepreward import RewardComponent, hookimpl


@hookimpl
def stepreward_register_components(register):
    register(RewardComponent("always_half", lambda ctx: 0.5, "constant 0.5"))
