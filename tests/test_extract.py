"""Answer extraction (flavor "stepreward"): every source, multiple choice, truncation, robustness."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepreward.config import R1VL_OFFICIAL, RewardConfig
from stepreward.plugins import extract as ex
from stepreward.plugins.extract import extract, parse_gold

CFG = RewardConfig()
THINK = RewardConfig(format_schema="think_answer")
OFFICIAL = R1VL_OFFICIAL

MULBERRY = """### Image Description:
A bar chart.
### Rationales:
Read the bars.
### Let's think step by step.
### Step 1:
The first bar is \\boxed{3} tall, so 3 + 5 = 8.
### The final answer is:
{answer}"""


def _ans(text: str, config: RewardConfig = CFG):
    a = extract(text, config)
    assert a is not None, text
    if a.span is not None:
        s, e = a.span
        assert 0 <= s <= e <= len(text)
    return a


# --- sources ---------------------------------------------------------------------------------------


def test_answer_section_wins_over_earlier_box():
    a = _ans(MULBERRY.replace("{answer}", "B: 8"))
    assert (a.source, a.kind, a.choice, a.content, a.text) == ("answer_section", "choice", "B", "8", "B: 8")


def test_answer_section_span_points_at_answer():
    text = MULBERRY.replace("{answer}", "  $12$.  \nsome junk after")
    a = _ans(text)
    assert a.text == "12" and a.kind == "number"
    assert text[a.span[0] : a.span[1]] == "$12$."


def test_answer_section_display_block_and_box_inside():
    a = _ans("### The final answer is:\n$$\n\\frac{1}{2}\n$$\n")
    assert (a.text, a.kind, a.source) == ("\\frac{1}{2}", "number", "answer_section")
    a = _ans("### The final answer is:\nSo we get \\boxed{7}.")
    assert (a.text, a.source) == ("7", "answer_section")


def test_several_answer_sections_take_last_non_empty():
    text = "### The final answer is:\n5\n### Step 3:\nmore\n### The final answer is:\n7"
    assert _ans(text).text == "7"
    # a trailing bare header is "no section": the last non-empty one is taken
    text = "### The final answer is:\n5\n### Step 3:\nmore\n### The final answer is:\n"
    assert _ans(text).text == "5"


def test_bare_answer_header_is_no_answer():
    text = "### Step 1:\nWe compute 3 + 5 = 8 and then 8 * 2 = 16.\n### The final answer is:\n"
    assert extract(text, CFG) is None


def test_think_answer_schema_and_unclosed_tag():
    a = _ans("<think>2+2</think><answer> 4 </answer>", THINK)
    assert (a.text, a.source) == ("4", "answer_section")
    a = extract("<think>2+2</think><answer>4", THINK)
    assert a is not None and a.kind == "none" and a.source == "truncated_answer_section" and not a.found


def test_last_complete_box_and_fbox():
    assert _ans("first \\boxed{1} and finally \\fbox{42}").text == "42"
    a = _ans("so \\boxed {\\frac{1}{2}} done")
    assert (a.text, a.kind, a.source) == ("\\frac{1}{2}", "number", "boxed")


def test_self_correction_takes_last_box_not_a_set():
    a = _ans("\\boxed{1} wait no \\boxed{2}")
    assert a.text == "2" and a.kind == "number"
    assert _ans("\\boxed{5} wait, no: \\boxed{7}").text == "7"


@pytest.mark.parametrize(
    "text",
    ["The answer is \\boxed{5}. Hmm, actually \\boxed{7", "\\boxed{7", "x \\boxed{\\frac{1}{2}"],
)
def test_truncated_final_box_is_no_answer(text):
    a = extract(text, CFG)
    assert a is not None and a.kind == "none" and a.source == "truncated_boxed" and not a.found


def test_truncated_box_stops_the_chain_before_anchors():
    a = extract("The answer is 5. Let me write it: \\boxed{5", CFG)
    assert a.kind == "none"


def test_nested_and_escaped_braces_in_boxes():
    assert _ans("\\boxed{\\boxed{5}}").text == "5"
    a = _ans("\\boxed{\\{1, 2\\}}")
    assert a.text == "\\{1, 2\\}" and a.kind == "expression"
    assert _ans("\\boxed{\\frac{\\sqrt{3}}{2}}").text == "\\frac{\\sqrt{3}}{2}"


def test_answer_tags():
    a = _ans("reasoning <answer>\n(C) 12\n</answer>")
    assert (a.source, a.choice, a.content) == ("answer_tag", "C", "12")
    assert _ans("<answer>1</answer> then <answer>2</answer>").text == "2"
    a = extract("<answer>1</answer> then <answer>2", CFG)
    assert a.kind == "none" and a.source == "truncated_answer_tag"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("blah blah. Thus the answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("work...\nFinal answer: 12", "12"),
        ("work...\nAnswer:\n\n  9 \n", "9"),
        ("the answer is 3. The answer is 4 because 2+2=4.", "4"),
        ("**Answer:** 17", "17"),
    ],
)
def test_anchors_last_occurrence(text, expected):
    a = _ans(text)
    assert (a.text, a.source) == (expected, "anchor")


def test_anchor_then_header_is_not_an_answer():
    assert extract("so the final answer is:\n### Step 2:\nmore reasoning that is long", CFG) is None


def test_markdown_bold_is_a_weak_last_resort():
    a = _ans("We find that\n**Step 2:** stuff\nthe total is **42** apples in all, clearly")
    assert (a.text, a.source) == ("42", "bold")
    assert _ans("The total is **42**. \\boxed{41}").text == "41"  # a box beats bold
    assert extract("we know x**2 + y**2 = 25 holds for every point on the circle", CFG) is None


def test_no_last_number_fallback():
    text = "I computed 3 + 4 = 7 and then I was not sure whether it is 8 or 9 in the end"
    assert extract(text, CFG) is None


def test_bare_completion_fallback():
    for text, kind in [("8", "number"), (" B ", "choice"), ("\\frac{1}{2}", "number"), ("Yes.", "yesno")]:
        a = _ans(text)
        assert (a.kind, a.source) == (kind, "bare")
    assert extract("the cat sat on the mat today", CFG) is None  # prose is not a bare answer


# --- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "choice", "content"),
    [
        ("B", "B", None),
        ("(B)", "B", None),
        ("B: 8", "B", "8"),
        ("B. 8", "B", "8"),
        ("B) 8", "B", "8"),
        ("(B) 8", "B", "8"),
        ("Option B", "B", None),
        ("option (b): 8", "B", "8"),
        ("the answer is B", "B", None),
        ("The correct option is (D) 8\\sqrt{10}", "D", "8\\sqrt{10}"),
        ("$\\text{(C)}$", "C", None),
        ("\\textbf{A: 12 cm}", "A", "12 cm"),
    ],
)
def test_multiple_choice_forms(answer, choice, content):
    a = _ans(MULBERRY.replace("{answer}", answer))
    assert (a.kind, a.choice, a.content) == ("choice", choice, content)


@pytest.mark.parametrize("answer", ["A triangle", "I think so", "K", "a", "Because B is larger"])
def test_not_multiple_choice(answer):
    a = _ans(MULBERRY.replace("{answer}", answer))
    assert a.choice is None and a.kind != "choice"


@pytest.mark.parametrize(
    ("answer", "norm"),
    [("Yes", "yes"), ("no.", "no"), ("TRUE", "yes"), ("False", "no"), ("Correct", "yes"),
     ("incorrect", "no"), ("Yes, because the bars match.", "yes")],
)
def test_yes_no(answer, norm):
    a = _ans(MULBERRY.replace("{answer}", answer))
    assert (a.kind, a.text) == ("yesno", norm)


@pytest.mark.parametrize(
    ("answer", "kind", "text"),
    [
        ("$8$.", "number", "8"),
        ("\\(3.5\\)", "number", "3.5"),
        ("-1,000", "number", "-1,000"),
        ("50\\%", "number", "50\\%"),
        ("12 cm", "number", "12 cm"),
        ("25\\pi", "expression", "25\\pi"),
        ("x^2 + 1", "expression", "x^2 + 1"),
        ("[1, 2)", "expression", "[1, 2)"),
        ("No solution", "text", "No solution"),
        ("\\text{red}", "text", "red"),
    ],
)
def test_classification_and_cleaning(answer, kind, text):
    a = _ans(MULBERRY.replace("{answer}", answer))
    assert (a.kind, a.text) == (kind, text)


# --- gold, flavor, hooks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solution", "kind", "text", "choice"),
    [
        ("### The final answer is:\nB: 8", "choice", "B: 8", "B"),
        ("8", "number", "8", None),
        ("\\frac{1}{2}", "number", "\\frac{1}{2}", None),
        ("B", "choice", "B", "B"),
        ("The answer is a long phrase\nthat spans two lines", "text", None, None),
    ],
)
def test_parse_gold(solution, kind, text, choice):
    g = parse_gold(solution, CFG)
    assert g.kind == kind and g.choice == choice and g.found
    if text is not None:
        assert g.text == text


def test_parse_gold_is_cached():
    assert parse_gold("### The final answer is:\n7", CFG) is parse_gold("### The final answer is:\n7", CFG)


def test_hooks_answer_only_for_our_flavor():
    text = "\\boxed{3}"
    assert ex.stepreward_extract_answer(text, OFFICIAL) is None
    assert ex.extract_bare_fallback("3", OFFICIAL) is None
    assert ex.stepreward_extract_answer(text, CFG).text == "3"
    assert ex.stepreward_extract_answer("3", CFG) is None  # the bare answer is the trylast fallback's
    assert ex.extract_bare_fallback("3", CFG).text == "3"


def test_public_api_extract_answer():
    import stepreward

    assert stepreward.extract_answer(MULBERRY.replace("{answer}", "C: 5")) == "C: 5"
    assert stepreward.extract_answer("\\boxed{5} oops \\boxed{6") is None
    assert stepreward.extract_answer("no answer anywhere in this long rambling text 5 6 7") is None


# --- robustness -------------------------------------------------------------------------------------


def test_pathological_inputs_are_fast():
    many = ["\\boxed{" * 30_000, "{" * 100_000 + "\\boxed{1}", "**a** " * 20_000, "answer is " * 20_000,
            "<answer>" * 25_000, "<answer>" * 10_000 + "</answer>" * 10_000, "Answer: " + " " * 150_000 + "x"]
    for text in many:
        t0 = time.perf_counter()
        extract(text, CFG)
        assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("bad", [None, 123, b"\\boxed{1}", "", "\x00\x01\ufffd", "\ud800"])
def test_bad_inputs_never_raise(bad):
    assert extract(bad, CFG) is None or extract(bad, CFG).kind in {"none", "text", "number"}


_ALPHABET = st.sampled_from(list("\\{}()[]$*#:.<>/ \n") + ["boxed", "fbox", "answer", "Answer:", "<answer>",
                            "</answer>", "### The final answer is:", "B", "8", "é", "数", "\u2212", "is "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.lists(_ALPHABET, max_size=40).map("".join)))
def test_extraction_never_raises_and_spans_are_in_text(text):
    for config in (CFG, THINK):
        a = ex.extract_strong(text, config)  # not the never-raise wrapper: the sources themselves
        b = extract(text, config)
        for ans in (a, b):
            if ans is not None:
                assert ans.kind in {"choice", "yesno", "number", "expression", "text", "none"}
                assert ans.span is not None and 0 <= ans.span[0] <= ans.span[1] <= len(text)
                assert ans.found == (ans.kind != "none")
