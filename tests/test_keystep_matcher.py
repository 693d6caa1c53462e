"""The built-in soft key-step matcher (stepreward.plugins.keystep_matcher)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepreward.config import RewardConfig
from stepreward.keysteps import parse_key_steps
from stepreward.plugins.keystep_matcher import match_key_steps, stepreward_match_key_steps
from stepreward.testing import (
    changed_number,
    equations,
    latex_rewrites,
    mulberry_completion,
    plain_rewrites,
    whitespace_variants,
)
from stepreward.types import KeyStepReport

CFG = RewardConfig.from_preset("paper", keysteps={"scope": "completion"})
AUTO = RewardConfig()  # paper defaults: scope "auto", Mulberry schema
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one(text: object, form: object, cfg: RewardConfig = CFG):
    report = match_key_steps(text, [form], cfg)
    assert isinstance(report, KeyStepReport) and len(report.steps) == 1
    return report.steps[0]


# --- SPEC §1.1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "form", "method", "matched_text"),
    [
        ("We get \\frac{6}{3}=2 here.", "6/3 = 2", "normalised", "\\frac{6}{3}=2"),
        ("So 6 / 3 = 2.", "6/3 = 2", "normalised", "6 / 3 = 2"),
        ("So 6 ÷ 3 = 2.", "6/3 = 2", "normalised", "6 ÷ 3 = 2"),
        ("So $\\dfrac{6}{3} = 2$.", "6/3 = 2", "normalised", "\\dfrac{6}{3} = 2"),
        ("then 12/2 = 6 apples", "12/2=6", "normalised", "12/2 = 6"),
        ("then \\frac{12}{2}=6", "12/2=6", "normalised", "\\frac{12}{2}=6"),
        ("hence 6 ÷ 2 = 3", "6/2 = 3", "normalised", "6 ÷ 2 = 3"),
        ("so x = 3.0 is the root", "x=3", "symbolic", "x = 3.0"),
        ("Thus 2 = 6/3.", "6/3 = 2", "symbolic", "2 = 6/3"),
        ("Thus 6/3 = 2 = 2.0.", "6/3 = 2", "exact", "6/3 = 2"),
        ("Thus 6/3 = 2.0 = 2.", "6/3 = 2", "symbolic", "6/3 = 2.0"),
        ("so c = \\sqrt{100} = 10 cm", "c = 10", "symbolic", "c = \\sqrt{100} = 10"),
        ("we get 1 + x = 0", "x + 1 = 0", "symbolic", "1 + x = 0"),
        ("**Step 1:** 2 × 3 = 6", "2*3=6", "symbolic", "2 × 3 = 6"),
        ("we find x = 1/2.", "x = 0.5", "symbolic", "x = 1/2"),
        ("- 6/3 = 2", "6/3=2", "symbolic", "6/3 = 2"),
        ("area = 1/2 × 6 × 4 = 12 units", "\\frac{1}{2}\\cdot 6 \\cdot 4 = 12", "normalised", "1/2 × 6 × 4 = 12"),
        ("Note (6/3 = 2).", "6 / 3 = 2", "normalised", "6/3 = 2"),
        ("if x \\le 3 then", "x <= 3", "normalised", "x \\le 3"),
        ("since 3 \\geq x we", "x <= 3", "symbolic", "3 \\geq x"),
        ("so ∠ABC = 30^\\circ.", "∠ABC = 30°", "normalised", "∠ABC = 30^\\circ"),
        ("so ∠ABC = 30.0°.", "∠ABC = 30°", "symbolic", "ABC = 30.0°"),
        ("By the Pythagorean theorem we", "pythagorean theorems", "fuzzy", "Pythagorean theorem"),
        ("then 6 divided by 3 equals 2.", "6 divided by 3 equals 2", "exact", "6 divided by 3 equals 2"),
    ],
)
def test_matches(text: str, form: str, method: str, matched_text: str) -> None:
    m = one(text, form)
    assert m.matched, m.reason
    assert m.method == method
    assert m.matched_text == matched_text
    assert text[m.span[0] : m.span[1]] == matched_text
    assert m.form == form
    assert 0.0 <= m.score <= 1.0


@pytest.mark.parametrize(
    ("text", "form", "why"),
    [
        ("So 6/3 = 3 here", "6/3 = 2", "failed number gate"),
        ("So 4/2 = 2 here", "6/3 = 2", "failed number gate"),
        ("So 7 = 7 here", "6/3 = 2", "no candidate"),
        ("So 2 = 2 here", "6/3 = 2", "failed number gate"),
        ("x = 30", "x = 3", "failed number gate"),
        ("x = 3/4", "x = 3", "failed number gate"),
        ("the value is 12", "2", "failed number gate"),
        ("so 16/3=2", "6/3=2", "failed number gate"),
        ("so 1+6/3=3", "6/3=3", "failed number gate"),
        ("so -6/3 = -2", "6/3=-2", "not equivalent"),
        ("so x + 1 = 0 gives", "x - 1 = 0", "not equivalent"),
        ("so y = 3", "x = 3", "not equivalent"),
        ("so x < 3", "x > 3", "operator differs"),
        ("so ∠ACB = 30°", "∠ABC = 30^\\circ", "not equivalent"),
        ("then 6 divided by 3 equals 20.", "6 divided by 3 equals 2", "failed number gate"),
        ("the parameter is known", "perimeter", "similarity below"),
        ("option A or C", "B", "no candidate"),
        ("option AB", "B", "no candidate"),
    ],
)
def test_non_matches(text: str, form: str, why: str) -> None:
    m = one(text, form)
    assert not m.matched
    assert m.span is None and m.method is None
    assert why in m.reason
    assert 0.0 <= m.score <= 1.0


def test_reason_names_the_closest_candidate() -> None:
    m = one("So 6/3 = 3 here", "6/3 = 2")
    assert m.reason == "closest candidate '6/3 = 3' for form '6/3 = 2' (score 0.80) failed number gate"
    assert m.score == pytest.approx(0.8)


def test_alternative_forms_and_report_score() -> None:
    text = "We compute 6 \\div 3 = 2. Then the Pythagorean theorem gives c = 5."
    report = match_key_steps(text, {"Steps": [["3*2=6", "6/3=2"], "c = 5", "x = 9", "pythagorean theorem"]}, CFG)
    got = [(s.matched, s.form, s.method) for s in report.steps]
    assert got == [
        (True, "6/3=2", "normalised"),
        (True, "c = 5", "exact"),
        (False, None, None),
        (True, "pythagorean theorem", "normalised"),
    ]
    assert report.score == pytest.approx(0.75)
    assert report.n_matched == 3


def test_symbolic_can_be_disabled() -> None:
    cfg = RewardConfig.from_preset("paper", keysteps={"scope": "completion", "symbolic": False})
    assert not one("so x = 3.0", "x = 3", cfg).matched
    assert one("so x = 3", "x = 3", cfg).matched


# --- scope ---------------------------------------------------------------------------------------

MULBERRY_TEXT = (
    "### Image Description:\nThe image shows 6/3 = 2 written on a board.\n"
    "### Rationales:\nWe need the quotient.\n"
    "### Let's think step by step.\n"
    "### Step 1:\nDivide: 8 / 4 = 2.\n"
    "### Step 2:\nSo x = 3.\n"
    "### The final answer is:\n2\n"
)


def test_scope_auto_searches_step_sections_only() -> None:
    report = match_key_steps(MULBERRY_TEXT, ["6/3=2", "8/4=2", "x = 3"], AUTO)
    assert [s.matched for s in report.steps] == [False, True, True]
    assert report.scope == "steps"
    assert len(report.searched_spans) == 2
    m = report.steps[1]
    assert MULBERRY_TEXT[m.span[0] : m.span[1]] == "8 / 4 = 2"
    for a, b in report.searched_spans:
        assert MULBERRY_TEXT[a:b].strip() in ("Divide: 8 / 4 = 2.", "So x = 3.")


def test_scope_completion_and_steps() -> None:
    completion = RewardConfig.from_preset("paper", keysteps={"scope": "completion"})
    assert match_key_steps(MULBERRY_TEXT, ["6/3=2"], completion).steps[0].matched
    steps = RewardConfig.from_preset("paper", keysteps={"scope": "steps"})
    no_steps = "The image shows 6/3 = 2.\n### The final answer is:\n2"
    report = match_key_steps(no_steps, ["6/3=2"], steps)
    assert report.scope == "steps" and report.searched_spans == ()
    assert not report.steps[0].matched and report.steps[0].reason == "nothing to search"
    auto = match_key_steps(no_steps, ["6/3=2"], AUTO)  # auto: no step sections -> whole text
    assert auto.scope == "completion" and auto.steps[0].matched


def test_schema_without_step_section_searches_everything() -> None:
    cfg = RewardConfig(format_schema="think_answer", keysteps={"scope": "steps"})
    report = match_key_steps("<think>6 ÷ 3 = 2</think><answer>2</answer>", ["6/3=2"], cfg)
    assert report.scope == "completion" and report.steps[0].matched


# --- plumbing and robustness ---------------------------------------------------------------------


def test_hookimpl_answers_only_for_stepreward_flavor() -> None:
    steps = parse_key_steps(["6/3=2"])
    assert stepreward_match_key_steps("6/3=2", steps, CFG).steps[0].matched
    official = RewardConfig.from_preset("r1vl-official")
    assert stepreward_match_key_steps("6/3=2", steps, official) is None


def test_public_api_goes_through_the_hook() -> None:
    import stepreward

    report = stepreward.match_key_steps("so 6 ÷ 3 = 2", [["6/3=2"]])
    assert report.steps[0].matched and report.steps[0].method == "normalised"


@pytest.mark.parametrize("text", [None, 123, b"6/3=2 \xff", "", "\x00\x01" * 50, "{" * 5000, "5^{5^{5^5}} = 1"])
def test_odd_text_never_raises(text: object) -> None:
    report = match_key_steps(text, ["6/3=2", "x=5^{5^{5^5}}", "phrase here"], CFG)
    assert len(report.steps) == 3
    assert all(0.0 <= s.score <= 1.0 for s in report.steps)


def test_malformed_key_steps_raise_naming_the_field() -> None:
    with pytest.raises(ValueError, match="key_steps"):
        match_key_steps("text", 42, CFG)


def test_large_completion_is_handled() -> None:
    text = ("Some reasoning about the figure, with x = 1 and y = 2. " * 4000) + "Finally 6/3 = 2.0."
    report = match_key_steps(text, ["6/3=2", "z = 7"], CFG)
    assert [s.matched for s in report.steps] == [True, False]


# --- properties ----------------------------------------------------------------------------------

_rewrite = equations().flatmap(
    lambda eq: st.tuples(st.just(eq), st.one_of(plain_rewrites(eq), latex_rewrites(eq)))
)


@given(_rewrite.flatmap(lambda p: st.tuples(st.just(p[0]), whitespace_variants(p[1]))), st.data())
@PROPS
def test_rewrites_keep_the_match(pair, data) -> None:
    eq, text_form = pair
    completion = data.draw(mulberry_completion([text_form]))
    m = match_key_steps(completion, [eq.plain()], AUTO).steps[0]
    assert m.matched, (completion, m.reason)
    assert m.score == 1.0


@given(_rewrite.flatmap(lambda p: st.tuples(st.just(p[0]), changed_number(p[1]))), st.data())
@PROPS
def test_changing_any_number_breaks_the_match(pair, data) -> None:
    eq, changed = pair
    completion = data.draw(mulberry_completion([changed]))
    m = match_key_steps(completion, [eq.plain()], AUTO).steps[0]
    assert not m.matched, (completion, m.method, m.matched_text)


_forms = st.one_of(st.text(max_size=30), st.sampled_from(["6/3=2", "x = 3", "\\frac{1}{2}", "theorem", "2"]))


@given(st.text(max_size=400), st.lists(st.one_of(_forms, st.lists(_forms, min_size=1, max_size=3)), max_size=4))
@settings(max_examples=150, deadline=None)
def test_arbitrary_input_never_raises_and_scores_are_bounded(text: str, steps: list) -> None:
    try:
        parsed = parse_key_steps(steps)
    except ValueError:
        return  # blank forms: a malformed record, reported at parse time
    report = match_key_steps(text, parsed, CFG)
    assert 0.0 <= report.score <= 1.0
    for s in report.steps:
        assert 0.0 <= s.score <= 1.0
        assert s.matched == (s.span is not None)
        if s.matched:
            assert s.span is not None and 0 <= s.span[0] <= s.span[1] <= len(text)
            assert text[s.span[0] : s.span[1]] == s.matched_text
        else:
            assert s.reason and not s.reason.startswith("matcher error")
