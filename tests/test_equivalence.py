"""Answer equivalence (flavor "stepreward"): choice letters, numbers, percent, structures, guards."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepreward.config import R1VL_OFFICIAL, AnswerConfig, RewardConfig
from stepreward.guard import GuardError, GuardTimeout
from stepreward.plugins import equivalence as eqv
from stepreward.plugins.equivalence import compare
from stepreward.plugins.extract import extract, parse_gold
from stepreward.types import Answer

CFG = RewardConfig()


@pytest.fixture(autouse=True)
def _fresh_math_verify_cache():
    """Verdicts cached while ``run_limited`` is monkeypatched must not leak into other tests."""
    eqv._MV_CACHE.clear()
    yield
    eqv._MV_CACHE.clear()


def cfg(**answer) -> RewardConfig:
    return RewardConfig(answer=AnswerConfig(**answer))


def verdict(pred: str, gold: str, config: RewardConfig = CFG):
    return compare(parse_gold(pred, config), parse_gold(gold, config), config)


def eq(pred: str, gold: str, config: RewardConfig = CFG) -> bool:
    return verdict(pred, gold, config).equal


# --- SPEC §1.4, judged our way -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [("C: 8", "B: 8", False), ("25", "25\\pi", False), ("B: 8", "B", True), ("Yes", "yes", True)],
)
def test_official_quirks_judged_ours(pred, gold, expected):
    assert eq(pred, gold) is expected


def test_verdict_explains_letter_decision():
    v = verdict("C: 8", "### The final answer is:\nB: 8")
    assert (v.equal, v.method) == (False, "choice_letter") and "C" in v.reason and "B" in v.reason


# --- multiple choice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("(B)", "B: 8", True),
        ("(b) 9", "B: 8", True),  # letters decide, content ignored
        ("8", "B: 8", True),  # gold has a letter, pred only content: compare with the content
        ("9", "B: 8", False),
        ("\\frac{16}{2}", "B: 8", True),
        ("B: 8", "8", True),  # gold has no letter: pred's content vs gold
        ("B: 9", "8", False),
        ("B", "8", False),  # a bare letter cannot match a letterless gold
        ("Option C", "(C) 12", True),
        ("A triangle", "A: triangle", False),
        ("triangle", "A: Triangle", True),
    ],
)
def test_multiple_choice_rules(pred, gold, expected):
    assert eq(pred, gold) is expected


# --- text and yes/no ---------------------------------------------------------------------------------


def test_text_is_case_and_space_insensitive_unless_configured():
    assert eq("New   York", "new york")
    assert not eq("New York", "new york", cfg(case_sensitive=True))
    assert not eq("red", "blue")
    assert not eq("No solution", "No")


@pytest.mark.parametrize(("pred", "gold", "expected"), [("True", "Yes", True), ("correct", "yes", True),
                                                        ("No.", "false", True), ("Yes", "No", False)])
def test_yes_no_normalised(pred, gold, expected):
    v = verdict(pred, gold)
    assert v.equal is expected


# --- numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("0.5", "1/2", True),
        ("\\frac{1}{2}", "0.5", True),
        ("\\dfrac{2}{4}", "0.50", True),
        ("-3", "\u22123", True),
        ("1,000", "1000", True),
        ("12 cm", "12", True),
        ("30^\\circ", "30", True),
        ("0.5", "50", False),
        ("50", "0.5", False),
        ("3", "3.0", True),
        ("3.4", "3", False),
        ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False),
        ("1/2^99", "1/2^98", False),
        ("2", "2\\sqrt{3}", False),
        ("25\\pi", "25", False),
        ("x = 3", "3", True),
        ("x = 3", "4", False),
    ],
)
def test_numbers(pred, gold, expected):
    assert eq(pred, gold) is expected


def test_exact_rationals_beat_float_tolerance():
    # within rel_tol 1e-6 as floats, but exact rationals must be equal exactly
    assert not eq("1.0000001", "1")
    v = verdict("0.25", "\\frac{1}{4}")
    assert (v.equal, v.method) == (True, "numeric") and "exact" in v.reason


def test_irrational_within_rel_tol():
    assert eq("\\sqrt{2}", "1.41421356237")
    assert not eq("\\sqrt{2}", "1.41421356237", cfg(rel_tol=1e-15, round_to_gold=False))


@pytest.mark.parametrize(
    ("pred", "gold", "round_to_gold", "expected"),
    [
        ("0.333", "0.33", True, True),
        ("1/3", "0.33", True, True),
        ("0.335", "0.34", True, True),  # half away from zero
        ("-0.335", "-0.34", True, True),
        ("0.33", "0.333", True, False),  # only the prediction is rounded
        ("0.34", "0.33", True, False),
        ("3.4", "3", True, False),  # an integer gold never rounds
        ("2.96", "3", True, False),
        ("0.333", "0.33", False, False),
    ],
)
def test_round_to_gold(pred, gold, round_to_gold, expected):
    assert eq(pred, gold, cfg(round_to_gold=round_to_gold)) is expected


@pytest.mark.parametrize(
    ("pred", "gold", "mode", "expected"),
    [
        ("50%", "50", "number", True),
        ("50\\%", "0.5", "number", False),
        ("50%", "0.5", "fraction", True),
        ("50%", "50", "fraction", False),
        ("50%", "50", "either", True),
        ("0.5", "50\\%", "either", True),
        ("50%", "50\\%", "fraction", True),
        ("0.5", "50", "either", False),  # never without a percent sign
        ("33.3%", "0.333", "fraction", True),
    ],
)
def test_percent_rule(pred, gold, mode, expected):
    assert eq(pred, gold, cfg(percent=mode)) is expected


# --- expressions and structures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("[1,2]", "(1,2)", False),
        ("[1, 2)", "\\left[1,2\\right)", True),
        ("(1,2)", "(2,1)", False),
        ("(1, 2)", "(1,2)", True),
        ("\\{1,2\\}", "\\{2,1\\}", True),
        ("\\{1,2\\}", "\\{1,3\\}", False),
        ("\\{1,2\\}", "(1,2)", False),
        ("\\{1,2\\}", "1, 2", True),
        ("3, 1", "1, 3", True),
        ("\\{\\frac{1}{2}, 2\\}", "\\{2, 0.5\\}", True),
        ("(-\\infty,3)\\cup(4,\\infty)", "(4,\\infty)\\cup(-\\infty,3)", True),
        ("(-\\infty,3]\\cup(4,\\infty)", "(-\\infty,3)\\cup(4,\\infty)", False),
        ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}", True),
        ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}", False),
        ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", False),
        ("\\emptyset", "\\{\\}", True),
        ("[1,2]", "1", False),
    ],
)
def test_structures(pred, gold, expected):
    assert eq(pred, gold) is expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True),
        ("2\\sqrt{3}", "\\sqrt{12}", True),
        ("x^2+2x+1", "(x+1)^2", True),
        ("x^2+2x+1", "(x-1)^2", False),
        ("\\log_2 8", "3", True),  # beyond our parser: math-verify, guarded
        ("\\log_2 8", "4", False),
    ],
)
def test_expressions(pred, gold, expected):
    assert eq(pred, gold) is expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("6/3=2", "6/3=3", False),  # math-verify says equal; relations never go to it
        ("x+1=0", "x-1=0", False),
        ("x > 3", "3 < x", True),
        ("x \\geq 3", "x >= 3", True),
        ("x \\le 3", "x < 3", False),
        ("y = 2x+1", "y = 1 + 2x", True),
        ("x = 3.0", "x = 3", True),
        ("x = 2 or x = 3", "x = 3 \\text{ or } x = 2", True),
        ("x = 2 or x = 3", "x = 2 or x = 4", False),
    ],
)
def test_relations_side_by_side(monkeypatch, pred, gold, expected):
    monkeypatch.setattr(eqv, "run_limited", lambda *a, **k: True)  # math-verify would say "equal"
    assert eq(pred, gold) is expected


# --- guards and failure handling ----------------------------------------------------------------------


def test_math_verify_timeout_and_error_are_not_equal(monkeypatch):
    eqv._MV_CACHE.clear()

    def timeout(*a, **k):
        raise GuardTimeout("slow")

    def error(*a, **k):
        raise GuardError("boom")

    monkeypatch.setattr(eqv, "run_limited", timeout)
    v = verdict("\\log_2 16", "4")
    assert (v.equal, v.method) == (False, "timeout")
    monkeypatch.setattr(eqv, "run_limited", error)
    v = verdict("\\log_2 16", "4")
    assert (v.equal, v.method) == (False, "error")


def test_math_verify_never_asked_about_percent_or_structures(monkeypatch):
    calls = []
    monkeypatch.setattr(eqv, "run_limited", lambda *a, **k: calls.append(a) or True)
    eqv._MV_CACHE.clear()
    assert not eq("50\\%", "0.5")  # math-verify would say True
    assert not eq("[1,2]", "(1,2)")
    assert not eq("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}")
    assert calls == []


@pytest.mark.parametrize(("pred", "gold"), [("5x +", "5"), ("\\log_2 8)", "8"), ("2^{", "2"), ("\\sqrt{", "\\sqrt{2}")])
def test_no_number_is_read_out_of_a_malformed_answer(pred, gold):
    v = verdict(pred, gold)
    assert v.equal is False and v.method in {"text", "math_verify"}, v


def test_our_parser_decides_before_math_verify(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("math-verify must not be needed here")

    monkeypatch.setattr(eqv, "run_limited", forbidden)
    eqv._MV_CACHE.clear()
    cases = [
        ("25", "25\\pi", False, "numeric"),
        ("2", "2\\sqrt{3}", False, "numeric"),
        ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False, "numeric"),
        ("x^2+2x+1", "(x+1)^2", True, "symbolic"),
        ("2x", "x", False, "symbolic"),
    ]
    for pred, gold, equal, method in cases:
        v = verdict(pred, gold)
        assert (v.equal, v.method) == (equal, method), (pred, gold, v)


def test_math_verify_can_be_disabled():
    v = verdict("\\log_2 8", "3", cfg(use_math_verify=False))
    assert (v.equal, v.method) == (False, "text")


def test_exponent_tower_is_refused_quickly():
    t0 = time.perf_counter()
    v = verdict("5^{5^{5^5}}", "5")
    assert (v.equal, v.method) == (False, "refused") and time.perf_counter() - t0 < 1
    assert verdict("5^{5^{5^5}}", "5^{5^{5^5}}").equal  # identical strings need no evaluation


def test_missing_answers_and_flavor():
    none = Answer(text="", kind="none", source="truncated_boxed")
    gold = parse_gold("8", CFG)
    assert compare(none, gold, CFG) == compare(none, gold, CFG)
    assert compare(none, gold, CFG).method == "no_answer" and not compare(none, gold, CFG).equal
    assert eqv.stepreward_compare_answers(gold, gold, R1VL_OFFICIAL) is None
    assert eqv.stepreward_compare_answers(gold, gold, CFG).equal
    assert compare("8", gold, CFG).equal is False  # wrong types never raise


def test_public_api_answers_equal():
    import stepreward

    assert stepreward.answers_equal("\\frac{1}{2}", "0.5")
    assert not stepreward.answers_equal("C: 8", "### The final answer is:\nB: 8")


# --- properties ----------------------------------------------------------------------------------------

_NO_ROUND = cfg(round_to_gold=False)


def _spell(q: Fraction, style: int) -> str:
    if style == 0 or q.denominator == 1:
        return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"
    sign = "-" if q < 0 else ""
    if style == 1:
        return f"{sign}\\frac{{{abs(q.numerator)}}}{{{q.denominator}}}"
    return f"{float(q):.6g}"


_numbers = st.builds(
    _spell, st.fractions(min_value=-1000, max_value=1000, max_denominator=50), st.integers(0, 2)
)


@settings(max_examples=150, deadline=None)
@given(_numbers, _numbers)
def test_number_equivalence_is_symmetric(a, b):
    assert verdict(a, b, _NO_ROUND).equal == verdict(b, a, _NO_ROUND).equal


@settings(max_examples=60, deadline=None)
@given(st.fractions(min_value=-1000, max_value=1000, max_denominator=50))
def test_number_spellings_agree(q):
    assert eq(_spell(q, 0), _spell(q, 1))


_pieces = st.sampled_from(["\\boxed{", "}", "B: ", "(C)", "8", "1/2", "\\frac{1}{2}", "x^2", "\\{1,2\\}", "[1,2)",
                           "Yes", "Answer: ", " ", "\n", "50\\%", "\\sqrt{3}", "é", "$", "**", "text"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(_pieces, max_size=12).map("".join), st.text(max_size=40)))
def test_equivalence_is_reflexive_for_extracted_answers(text):
    ans = extract(text, CFG)
    if ans is not None and ans.found:
        v = compare(ans, ans, CFG)
        assert v.equal, (text, ans, v)


def test_compound_items_beyond_our_parser_ask_math_verify_once(monkeypatch):
    calls = []
    real = eqv.run_limited

    def spy(fn, *args, **kw):
        calls.append(args[:2])
        return real(fn, *args, **kw)

    monkeypatch.setattr(eqv, "run_limited", spy)
    eqv._MV_CACHE.clear()
    assert eq("\\{\\log_2 8, 1\\}", "\\{1, 3\\}")
    assert not eq("\\{\\log_2 8, 1\\}", "\\{1, 4\\}")
    assert not eq("[\\log_2 8, 5]", "(3, 5)")  # structure decides first, no math-verify
    assert calls == [("\\{\\log_2 8, 1\\}", "\\{1, 3\\}"), ("\\{\\log_2 8, 1\\}", "\\{1, 4\\}")]


def test_no_code_execution_or_unguarded_latex_parsing_in_answer_modules():
    import inspect

    from stepreward.answers import latex, literals, mv
    from stepreward.plugins import extract as ex

    for mod in (latex, literals, ex, eqv):
        src = inspect.getsource(mod)
        for banned in ("eval(", "exec(", "sympify", "parse_expr", "latex2sympy", "import math_verify",
                       "from math_verify"):
            assert banned not in src, (mod.__name__, banned)
    assert "from math_verify import" in inspect.getsource(mv)  # only the guarded worker module
    assert "run_limited(mv_equal" in inspect.getsource(eqv)


def test_verdicts_are_cached_per_answer_pair_but_guard_failures_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from stepreward.types import Verdict

    calls: list[str] = []

    def fake(pred: Answer, gold: Answer, config: RewardConfig) -> Verdict:
        calls.append(pred.text)
        return Verdict(False, "timeout", "cut off") if len(calls) == 1 else Verdict(True, "exact", "same")

    monkeypatch.setattr(eqv, "_VERDICTS", {})
    monkeypatch.setattr(eqv, "_compare", fake)
    cfg = RewardConfig()
    pred, gold = Answer("7", "number", "answer_section", (0, 1)), Answer("7", "number", "gold")
    assert compare(pred, gold, cfg).method == "timeout"  # not kept: the next call decides again
    assert compare(pred, gold, cfg).method == "exact"
    moved = Answer("7", "number", "boxed", (40, 41))  # found elsewhere: the same decision, cached
    assert compare(moved, gold, cfg).method == "exact" and len(calls) == 2
    assert compare(pred, gold, RewardConfig()).method == "exact" and len(calls) == 3  # another config
    assert compare(Answer("8", "number", "x"), gold, cfg).method == "exact" and calls[-1] == "8"
