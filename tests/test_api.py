"""The public API: composition of StepRAR + StepRVR, explanations, bad input."""

from __future__ import annotations

import math

import pytest
from _samples import GOOD, KEY_STEPS, SOLUTION
from hypothesis import given, settings
from hypothesis import strategies as st

import stepreward
from stepreward import RecordError, RewardConfig


def test_correct_complete_completion_gets_full_reward():
    r = stepreward.score(GOOD, solution=SOLUTION, key_steps=KEY_STEPS)
    assert r.correct is True
    assert r.key_steps is not None and r.key_steps.score == 1.0
    assert r.structure is not None and r.structure.valid
    assert r.components == pytest.approx({"step_rar": 1.1, "step_rvr": 1.0})
    assert r.total == pytest.approx(2.1)


def test_wrong_answer_keeps_key_step_credit():
    r = stepreward.score(GOOD.replace("B: 4", "C: 5"), solution=SOLUTION, key_steps=KEY_STEPS)
    assert r.correct is False
    assert r.components["step_rar"] == pytest.approx(0.1)
    assert r.components["step_rvr"] == 1.0


def test_no_answer_is_zero_in_paper_but_not_in_official():
    text = GOOD.split("### The final answer is:")[0]
    paper = stepreward.score(text, solution=SOLUTION, key_steps=KEY_STEPS)
    assert paper.answer is None
    assert paper.components["step_rar"] == 0.0
    assert paper.components["step_rvr"] == 0.0  # answer section missing
    official = stepreward.score(text, solution=SOLUTION, key_steps=KEY_STEPS, preset="r1vl-official")
    assert official.components["step_rar"] >= 0.1 - 1e-9  # alpha*k is always added there


def test_half_the_key_steps():
    text = GOOD.replace("6/3 = 2", "we divide")
    r = stepreward.score(text, solution=SOLUTION, key_steps=KEY_STEPS)
    assert r.key_steps.score == 0.5
    assert r.components["step_rar"] == pytest.approx(1.05)
    assert r.total == pytest.approx(2.05)


def test_explain_names_every_decision():
    text = GOOD.replace("6/3 = 2", "we divide")
    r = stepreward.score(text, solution=SOLUTION, key_steps=KEY_STEPS)
    out = r.explain(text)
    assert "total = 2.0500" in out
    assert "1/2 matched" in out
    assert "not found" in out  # the missing key step is named
    assert "CORRECT" in out
    assert "structure (mulberry): valid" in out
    d = r.to_dict()
    assert d["key_steps"]["steps"][1]["matched"] is True
    assert d["key_steps"]["steps"][1]["span"] is not None


def test_missing_section_is_explained():
    text = GOOD.replace("### Rationales:\nThe area of one column is the total area divided by the number of columns.\n", "")
    r = stepreward.score(text, solution=SOLUTION, key_steps=KEY_STEPS)
    assert r.components["step_rvr"] == 0.0
    assert not r.structure.complete
    assert any("rationale" in m for m in r.structure.missing)
    assert "rationale" in r.explain()


@pytest.mark.parametrize("bad", [None, 12, 3.5, b"\xff\xfe junk", ["not", "chat"], "\x00" * 10])
def test_malformed_completion_gets_defined_reward(bad):
    r = stepreward.score(bad, solution=SOLUTION, key_steps=KEY_STEPS)
    assert math.isfinite(r.total)
    assert 0.0 <= r.total <= 2.1


def test_non_string_completion_records_reason():
    r = stepreward.score(None, solution=SOLUTION)
    assert r.total == 0.0
    assert any(f.reason == "malformed_completion" for f in r.failures)


def test_huge_completion_is_cut_and_recorded():
    cfg = RewardConfig.from_preset("paper", max_completion_chars=1000)
    r = stepreward.score(GOOD + "x" * 5000, solution=SOLUTION, config=cfg)
    assert any(f.reason == "truncated_input" for f in r.failures)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"solution": None}, "solution"), ({"solution": "4", "key_steps": 7}, "key_steps"),
     ({"solution": "4", "key_steps": {"steps": "x"}}, "key_steps")],
)
def test_malformed_record_names_the_field(kwargs, field):
    with pytest.raises(RecordError, match=field):
        stepreward.score(GOOD, **kwargs)


def test_config_errors_name_field_and_fix():
    with pytest.raises(ValueError, match="alpha"):
        RewardConfig(alpha=-1)
    with pytest.raises(ValueError, match="Fix"):
        RewardConfig(weights={})
    with pytest.raises(ValueError, match="unknown preset"):
        stepreward.score(GOOD, solution="4", preset="nope")
    with pytest.raises(ValueError, match="format_schema"):
        RewardConfig(format_schema="nope")


def test_config_from_preset_overrides_nested():
    cfg = RewardConfig.from_preset("paper", alpha=0.2, keysteps={"scope": "completion"})
    assert cfg.alpha == 0.2 and cfg.keysteps.scope == "completion"
    assert cfg.keysteps.phrase_threshold == RewardConfig().keysteps.phrase_threshold


def test_unknown_component_is_a_recorded_failure():
    cfg = RewardConfig(weights={"step_rar": 1.0, "nonexistent": 1.0})
    r = stepreward.score(GOOD, solution=SOLUTION, key_steps=KEY_STEPS, config=cfg)
    assert r.components["nonexistent"] == 0.0
    assert any(f.reason == "unknown_component" for f in r.failures)


def test_outcome_preset():
    assert stepreward.score(GOOD, solution=SOLUTION, preset="outcome").total == 1.0
    assert stepreward.score(GOOD.replace("B: 4", "A: 3"), solution=SOLUTION, preset="outcome").total == 0.0


def test_helpers():
    assert stepreward.extract_answer(GOOD) == "B: 4"
    assert stepreward.extract_answer("no answer here at all") is None
    assert stepreward.answers_equal("B: 4", "B")
    assert not stepreward.answers_equal("0.5", "50")
    rep = stepreward.match_key_steps("so 6 ÷ 3 = 2 here", [["6/3=2"]])
    assert rep.score == 1.0 and rep.steps[0].matched_text == "6 ÷ 3 = 2"
    rep = stepreward.match_key_steps("hence x = 3.0 here", [["x=3"]])
    assert rep.score == 1.0 and rep.steps[0].method == "symbolic"
    assert stepreward.match_key_steps("so 6/3 = 3 here", ["6/3=2"]).score == 0.0
    assert stepreward.validate_structure(GOOD).valid


def test_think_answer_preset():
    text = "<think>6/3 = 2, and 2 \\times 2 = 4</think><answer>B</answer>"
    r = stepreward.score(text, solution=SOLUTION, key_steps=KEY_STEPS, preset="think_answer")
    assert r.correct and r.structure.valid
    assert r.total == pytest.approx(2.1)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_total_is_finite_and_bounded(text):
    r = stepreward.score(GOOD[:150] + text, solution=SOLUTION, key_steps=KEY_STEPS)
    assert math.isfinite(r.total)
    assert 0.0 <= r.total <= 2.0 + 0.1 + 1e-9
