"""The plugin manager: loading, env vars, failure isolation, ordering, tracing."""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint

import pytest
from _samples import GOOD, KEY_STEPS, SOLUTION

import stepreward
from stepreward import Verdict, hookimpl, hookspecs, manager


def test_loading_is_lazy_and_idempotent():
    pm = manager.get_plugin_manager()
    assert manager.get_plugin_manager() is pm
    names = manager.list_plugins()
    for builtin in manager.BUILTIN_PLUGINS:
        assert builtin in names
    assert {"step_rar", "step_rvr", "outcome"} <= set(manager.registered_components())


def test_every_hookspec_is_documented_and_typed():
    specs = [f for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("stepreward_")]
    assert len(specs) >= 8
    for f in specs:
        assert f.__doc__ and len(f.__doc__) > 40, f.__name__
        assert "return" in f.__annotations__, f.__name__
    firstresult = {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
                   if getattr(f, "stepreward_spec", {}).get("firstresult")}
    assert {"stepreward_extract_answer", "stepreward_compare_answers", "stepreward_match_key_steps",
            "stepreward_validate_structure", "stepreward_parse_gold"} <= firstresult


class AlwaysRight:
    @hookimpl(tryfirst=True)
    def stepreward_compare_answers(self, pred, gold, config):
        return Verdict(True, "always_right", "test plugin")


class Raises:
    @hookimpl(tryfirst=True)
    def stepreward_extract_answer(self, text, config):
        raise RuntimeError("plugin bug")


def test_runtime_plugin_overrides_and_unregisters(clean_plugins):
    wrong = GOOD.replace("B: 4", "C: 9")
    assert stepreward.score(wrong, solution=SOLUTION).correct is False
    clean_plugins.register_plugin(AlwaysRight(), name="always-right")
    r = stepreward.score(wrong, solution=SOLUTION)
    assert r.correct is True and r.verdict.method == "always_right"
    clean_plugins.unregister_plugin("always-right")
    assert stepreward.score(wrong, solution=SOLUTION).correct is False


def test_raising_plugin_is_skipped_and_recorded(clean_plugins):
    clean_plugins.register_plugin(Raises(), name="raises")
    r = stepreward.score(GOOD, solution=SOLUTION, key_steps=KEY_STEPS)
    assert r.correct is True  # the built-in extractor answered after the broken one
    assert any(f.where == "stepreward_extract_answer" and "plugin bug" in f.message for f in r.failures)


def _fake_eps(*pairs):
    return [EntryPoint(name=n, value=v, group="stepreward") for n, v in pairs]


@pytest.fixture
def fresh_manager(monkeypatch):
    manager.reset()
    yield monkeypatch
    manager.reset()


def test_entry_points_loaded_broken_ones_reported(fresh_manager):
    fresh_manager.setattr(manager, "entry_points", lambda group: _fake_eps(
        ("good", "plugins_fixture.good_plugin"),
        ("missing", "no_such_module_xyz"),
        ("badreg", "plugins_fixture.bad_register"),
    ))
    with pytest.warns(RuntimeWarning):
        names = manager.list_plugins()
        comps = manager.registered_components()
    assert "good" in names and "missing" not in names
    assert "always_half" in comps
    errors = manager.plugin_errors()
    assert any("missing" in e and "failed to load" in e for e in errors)
    assert any("badreg" in e and "boom at registration" in e for e in errors)
    r = stepreward.score(GOOD, solution=SOLUTION, config={"weights": {"always_half": 2.0}})
    assert r.total == 1.0


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [("STEPREWARD_DISABLE_PLUGINS", "1", set()),
     ("STEPREWARD_DISABLE_PLUGINS", "good", {"other"}),
     ("STEPREWARD_PLUGINS", "good", {"good"})],
)
def test_env_vars_block_or_restrict(fresh_manager, env, value, expected):
    fresh_manager.setenv(env, value)
    fresh_manager.setattr(manager, "entry_points", lambda group: _fake_eps(
        ("good", "plugins_fixture.good_plugin"), ("other", "plugins_fixture"),
    ))
    names = set(manager.list_plugins()) - set(manager.BUILTIN_PLUGINS)
    assert names == expected


def test_duplicate_component_name_is_reported(clean_plugins):
    class Dup:
        @hookimpl
        def stepreward_register_components(self, register):
            from stepreward import RewardComponent

            register(RewardComponent("step_rar", lambda ctx: 1.0))

    with pytest.warns(RuntimeWarning, match="already registered"):
        clean_plugins.register_plugin(Dup(), name="dup")
        comps = clean_plugins.registered_components()
    assert comps["step_rar"].fn.__module__ == "stepreward.plugins.rewards"


def test_tracing_prints_hook_calls(capsys):
    manager.enable_tracing(True)
    try:
        stepreward.extract_answer(GOOD)
    finally:
        manager.enable_tracing(False)
    err = capsys.readouterr().err
    assert "stepreward_extract_answer <- stepreward.plugins.extract" in err
