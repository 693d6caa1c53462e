"""Fuzzing with hostile inputs: every built-in hook implementation and the composed reward.

Properties: never raises; results have the right type and are finite and within bounds; every
call returns within the hard time limit. Hook implementations are called directly (not through
``call_first``, which would hide an exception as a recorded failure).
"""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stepreward
from stepreward import guard
from stepreward.manager import BUILTIN_PLUGINS, get_plugin_manager
from stepreward.testing import hostile_answers, hostile_completions, hostile_key_steps
from stepreward.types import Answer, KeyStep, KeyStepReport, StructureReport, Verdict

PRESETS = ("paper", "r1vl-official")
SLACK_S = 1.0
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples every run: CI stays deterministic and time-bounded
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
CONFIGS = st.sampled_from([stepreward.get_preset(p) for p in PRESETS])
RESULT_TYPES = {
    "stepreward_extract_answer": Answer,
    "stepreward_parse_gold": Answer,
    "stepreward_compare_answers": Verdict,
    "stepreward_match_key_steps": KeyStepReport,
    "stepreward_validate_structure": StructureReport,
}


@pytest.fixture(scope="module", autouse=True)
def warm_guard():
    guard.warmup(2)  # worker start-up is not part of any deadline; keep it out of the timings


def _builtin_impls(hook_name: str) -> list:
    impls = getattr(get_plugin_manager().hook, hook_name).get_hookimpls()
    found = [i for i in impls if i.plugin_name in BUILTIN_PLUGINS]
    assert found, f"no built-in implementation of {hook_name}"
    return found


def _call_all(hook_name: str, limit_s: float, **kwargs) -> None:
    for impl in _builtin_impls(hook_name):
        t0 = time.monotonic()
        out = impl.function(*[kwargs[a] for a in impl.argnames])
        elapsed = time.monotonic() - t0
        assert elapsed < limit_s + SLACK_S, f"{impl.plugin_name}.{hook_name} took {elapsed:.2f}s"
        assert out is None or isinstance(out, RESULT_TYPES[hook_name]), (impl.plugin_name, type(out))


def _answer(draw_text: str, kind: str) -> Answer:
    choice = draw_text[:1] if kind == "choice" and draw_text[:1].isalpha() else None
    return Answer(text=draw_text, kind=kind, source="fuzz", choice=choice, content=draw_text[2:] or None)


@FUZZ
@given(text=hostile_completions(), config=CONFIGS)
def test_extraction_and_structure_plugins_never_raise(text, config):
    _call_all("stepreward_extract_answer", config.timeout_s, text=text, config=config)
    _call_all("stepreward_parse_gold", config.timeout_s, solution=text, config=config)
    _call_all("stepreward_validate_structure", config.timeout_s, text=text, schema=config.schema_obj,
              config=config)


@FUZZ
@given(
    pred=hostile_answers(),
    gold=hostile_answers(),
    kinds=st.tuples(*[st.sampled_from(["choice", "yesno", "number", "expression", "text", "raw"])] * 2),
    config=CONFIGS,
)
def test_comparison_plugins_never_raise(pred, gold, kinds, config):
    _call_all("stepreward_compare_answers", config.timeout_s, pred=_answer(pred, kinds[0]),
              gold=_answer(gold, kinds[1]), config=config)


@FUZZ
@given(text=hostile_completions(), steps=hostile_key_steps(), config=CONFIGS)
def test_key_step_matchers_never_raise(text, steps, config):
    key_steps = tuple(KeyStep(i, tuple(s) if isinstance(s, list) else (s,)) for i, s in enumerate(steps))
    _call_all("stepreward_match_key_steps", config.timeout_s, text=text, key_steps=key_steps, config=config)


@FUZZ
@given(
    completion=hostile_completions(),
    solution=st.one_of(hostile_answers(), st.sampled_from(["### The final answer is:\nB: 4", "4", "B"])),
    key_steps=st.one_of(st.none(), hostile_key_steps()),
    preset=st.sampled_from(PRESETS),
)
def test_composed_reward_is_finite_bounded_and_on_time(completion, solution, key_steps, preset):
    cfg = stepreward.get_preset(preset)
    t0 = time.monotonic()
    r = stepreward.score(completion, solution=solution, key_steps=key_steps, preset=preset)
    elapsed = time.monotonic() - t0
    assert elapsed < cfg.timeout_s + SLACK_S, f"score took {elapsed:.2f}s"
    assert math.isfinite(r.total)
    assert 0.0 <= r.total <= 2.0 + cfg.alpha + 1e-9
    assert set(r.components) >= {"step_rar", "step_rvr"}
    assert math.isclose(r.total, math.fsum(r.components.values()))


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(completion=hostile_completions(), pred=hostile_answers(), steps=hostile_key_steps())
def test_public_helpers_never_raise(completion, pred, steps):
    ans = stepreward.extract_answer(completion)
    assert ans is None or isinstance(ans, str)
    assert isinstance(stepreward.answers_equal(pred, "4"), bool)
    rep = stepreward.match_key_steps(completion, steps)
    assert 0.0 <= rep.score <= 1.0
    assert isinstance(stepreward.validate_structure(completion), StructureReport | None)
