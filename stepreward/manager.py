"""The one place that owns the pluggy plugin manager.

Loading is lazy (first use), idempotent and thread-safe. Built-in plugins from
:mod:`stepreward.plugins` are registered first, then third-party plugins from the ``stepreward``
entry-point group, so third-party implementations run before built-ins of the same priority.

Environment variables:

``STEPREWARD_DISABLE_PLUGINS``
    ``1``/``all``/``*`` loads no third-party plugin; otherwise a comma-separated list of
    entry-point names to block.
``STEPREWARD_PLUGINS``
    A comma-separated allow-list: only these third-party plugins load.
``STEPREWARD_TRACE``
    ``1`` prints every hook call and result to stderr (also :func:`enable_tracing`).

A third-party plugin that fails to import or register is reported (:func:`plugin_errors`, a
warning) and skipped; it never stops scoring.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .types import Failure

log = logging.getLogger("stepreward")

ENTRY_POINT_GROUP = "stepreward"
ENV_DISABLE = "STEPREWARD_DISABLE_PLUGINS"
ENV_ONLY = "STEPREWARD_PLUGINS"
ENV_TRACE = "STEPREWARD_TRACE"

BUILTIN_PLUGINS = (
    "stepreward.plugins.official",  # tryfirst, answers only for flavor "r1vl-official"
    "stepreward.plugins.extract",
    "stepreward.plugins.gold",
    "stepreward.plugins.equivalence",
    "stepreward.plugins.keystep_matcher",
    "stepreward.plugins.structure",
    "stepreward.plugins.rewards",
)

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_registries: dict[str, dict[str, Any]] | None = None
_errors: list[str] = []
_tracing = False


def get_plugin_manager() -> pluggy.PluginManager:
    """The shared plugin manager, loading plugins on first call."""
    global _pm
    if _pm is not None:
        return _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            for modname in BUILTIN_PLUGINS:
                pm.register(importlib.import_module(modname), name=modname)
            _load_entry_points(pm)
            _pm = pm
            if os.environ.get(ENV_TRACE, "") not in ("", "0"):
                enable_tracing()
    return _pm


def _allowed(name: str) -> bool:
    disable = os.environ.get(ENV_DISABLE, "").strip()
    if disable.lower() in ("1", "all", "*", "true", "yes"):
        return False
    if name in {n.strip() for n in disable.split(",") if n.strip()}:
        return False
    only = os.environ.get(ENV_ONLY, "").strip()
    return not only or name in {n.strip() for n in only.split(",") if n.strip()}


def _report(msg: str) -> None:
    _errors.append(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    log.warning(msg)


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if not _allowed(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as e:  # a broken third-party plugin is reported, never fatal
            _report(f"stepreward plugin {ep.name!r} ({ep.value}) failed to load: {type(e).__name__}: {e}")


def plugin_errors() -> list[str]:
    """Messages for third-party plugins that failed to load or register."""
    get_plugin_manager()
    return list(_errors)


def list_plugins() -> list[str]:
    """Names of all registered plugins (built-in and third-party), in registration order."""
    return [name for name, _ in get_plugin_manager().list_name_plugin()]


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object or module at run time (tests, notebooks). Returns its name."""
    with _lock:
        pm = get_plugin_manager()
        registered = pm.register(plugin, name=name)
        _invalidate()
        return registered or (name or pm.get_name(plugin) or "")


def unregister_plugin(name_or_plugin: str | object) -> None:
    """Remove a plugin registered with :func:`register_plugin` (or any plugin, by name)."""
    with _lock:
        pm = get_plugin_manager()
        if isinstance(name_or_plugin, str):
            pm.unregister(name=name_or_plugin)
        else:
            pm.unregister(name_or_plugin)
        _invalidate()


def reset() -> None:
    """Forget the plugin manager and registries (the next use reloads everything)."""
    global _pm, _registries
    with _lock:
        _pm, _registries = None, None
        _errors.clear()


def _invalidate() -> None:
    global _registries
    _registries = None
    from . import scoring  # the gold cache depends on the registered plugins

    scoring.clear_caches()


# --- register-callback hooks ---------------------------------------------------------------------


def _collect(hook_name: str, key: Callable[..., str], make: Callable[..., Any], builtins: dict) -> dict:
    """Call each implementation of a register hook separately, isolating failures.

    Implementations run in registration order, so built-ins claim their names first and a
    third-party plugin cannot silently replace ``step_rar``; a duplicate is reported and ignored.
    """
    out: dict[str, Any] = dict(builtins)
    hook = getattr(get_plugin_manager().hook, hook_name)
    for impl in hook.get_hookimpls():

        def register(*args: Any, _plugin: str = impl.plugin_name) -> None:
            item = make(*args)
            name = key(*args)
            if name in out:
                _report(f"plugin {_plugin!r}: {hook_name} name {name!r} is already registered; ignored")
                return
            out[name] = item

        try:
            impl.function(register=register)
        except Exception as e:
            _report(f"plugin {impl.plugin_name!r}: {hook_name} failed: {type(e).__name__}: {e}")
    return out


def _build_registries() -> dict[str, dict[str, Any]]:
    from .config import BUILTIN_PRESETS, RewardConfig
    from .schema import BUILTIN_SCHEMAS

    def preset_item(name: str, cfg: RewardConfig) -> RewardConfig:
        return cfg if isinstance(cfg, RewardConfig) else RewardConfig.model_validate(cfg)

    return {
        "components": _collect("stepreward_register_components", lambda c: c.name, lambda c: c, {}),
        "schemas": _collect("stepreward_register_schemas", lambda s: s.name, lambda s: s, BUILTIN_SCHEMAS),
        "presets": _collect("stepreward_register_presets", lambda n, c: n, preset_item, BUILTIN_PRESETS),
    }


def _registry(kind: str) -> dict[str, Any]:
    global _registries
    if _registries is None:
        with _lock:
            if _registries is None:
                _registries = _build_registries()
    return _registries[kind]


def registered_components() -> dict[str, Any]:
    """Reward components by name (built-in and from plugins)."""
    return _registry("components")


def registered_schemas() -> dict[str, Any]:
    """Format schemas by name (built-in and from plugins)."""
    return _registry("schemas")


def registered_presets() -> dict[str, Any]:
    """Reward presets by name (built-in and from plugins)."""
    return _registry("presets")


# --- calling firstresult hooks with failure isolation -------------------------------------------


def call_first(hook_name: str, *, failures: list[Failure] | None = None, **kwargs: Any) -> Any:
    """Call a ``firstresult`` hook implementation by implementation.

    Same order and semantics as pluggy (first non-``None`` result wins), except that an
    implementation that raises is recorded in ``failures`` and skipped, so the next one (usually
    the built-in) still answers.
    """
    hook = getattr(get_plugin_manager().hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):
        t0 = time.perf_counter() if _tracing else 0.0
        try:
            result = impl.function(*map(kwargs.__getitem__, impl.argnames))
        except Exception as e:
            msg = f"{impl.plugin_name}: {type(e).__name__}: {e}"[:500]
            if failures is not None:
                reason = "timeout" if isinstance(e, TimeoutError) else "error"
                failures.append(Failure(where=hook_name, reason=reason, message=msg))
            log.debug("hook %s raised in %s", hook_name, msg)
            result = None
        if _tracing:
            dt = (time.perf_counter() - t0) * 1e3
            print(f"[stepreward] {hook_name} <- {impl.plugin_name} ({dt:.2f} ms): {result!r:.200}", file=sys.stderr)
        if result is not None:
            return result
    return None


def enable_tracing(enabled: bool = True) -> None:
    """Print every hook call (implementation, time, result) to stderr."""
    global _tracing
    _tracing = enabled
