"""The ``r1vl-official`` flavor reproduces the official R1-VL reward code (SPEC §1.4), quirks included.

Each test names one behaviour of the official ``accuracy_reward`` / ``key_step_single`` /
``validity_reward`` (jingyi0000/R1-VL, src/r1-vl/src/open_r1/grpo.py); expected values were
checked against math-verify 0.9.0 called the way the official code calls it.
"""

from __future__ import annotations

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepreward import hookspecs
from stepreward.config import R1VL_OFFICIAL, RewardConfig
from stepreward.plugins import official, structure
from stepreward.schema import MULBERRY
from stepreward.types import Answer, KeyStep, KeyStepReport, StructureReport, Verdict

OFF = R1VL_OFFICIAL
ALPHA = OFF.alpha
H = "### The final answer is:"


@pytest.fixture(scope="module")
def hook():
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(structure)
    pm.register(official)
    return pm.hook


def full(*steps: str, answer: str | None = "5", tail: str = "") -> str:
    """A completion in the official Mulberry format."""
    text = "### Image Description:\nA figure.\n### Rationales:\nReason about it.\n### Let's think step by step.\n"
    text += "".join(f"### Step {i}:\n{s}\n" for i, s in enumerate(steps, 1))
    if answer is not None:
        text += f"{H}\n{answer}"
    return text + tail


def verdict(hook, completion: str, solution: str, config: RewardConfig = OFF) -> Verdict:
    pred = hook.stepreward_extract_answer(text=completion, config=config)
    gold = Answer(text=solution, kind="raw", source="gold_raw")  # what the gold plugin hands over
    return hook.stepreward_compare_answers(pred=pred, gold=gold, config=config)


def keysteps(*groups: str | list[str]) -> list[KeyStep]:
    return [KeyStep(i, (g,) if isinstance(g, str) else tuple(g)) for i, g in enumerate(groups)]


def k_of(hook, text: str, *groups: str | list[str]) -> KeyStepReport:
    return hook.stepreward_match_key_steps(text=text, key_steps=keysteps(*groups), config=OFF)


def r_acc(hook, completion: str, solution: str, *groups: str | list[str]) -> float:
    """The official accuracy reward assembled from our hooks: [correct] + alpha * k, no 0 branch."""
    k = k_of(hook, completion, *groups).score if groups else 0.0
    return (1.0 if verdict(hook, completion, solution).equal else 0.0) + ALPHA * k


# --- flavor gating --------------------------------------------------------------------------------


def test_hooks_answer_only_for_the_official_flavor():
    paper = RewardConfig()
    assert official.stepreward_extract_answer(text="x", config=paper) is None
    assert official.stepreward_compare_answers(pred=Answer("1", "raw", "t"), gold=Answer("1", "raw", "t"), config=paper) is None
    assert official.stepreward_match_key_steps(text="x", key_steps=keysteps("x"), config=paper) is None
    assert official.stepreward_validate_structure(text="x", schema=MULBERRY, config=paper) is None
    for name in ("stepreward_extract_answer", "stepreward_compare_answers",
                 "stepreward_match_key_steps", "stepreward_validate_structure"):
        assert getattr(official, name).stepreward_impl["tryfirst"] is True


# --- answer: the whole completion, no "no answer" branch ------------------------------------------


@pytest.mark.parametrize("text", ["", "no answer here at all", full("a", answer=None)])
def test_extraction_is_the_whole_completion(hook, text):
    ans = hook.stepreward_extract_answer(text=text, config=OFF)
    assert ans.kind == "raw" and ans.text == text and ans.span == (0, len(text))


def test_truncated_completion_whose_last_number_is_the_gold_is_credited(hook):
    truncated = "### Image Description:\nA rectangle 3 by 4.\n### Step 1:\nThe area is 3 * 4 = 12"
    v = verdict(hook, truncated, f"{H}\n12")
    assert v.equal and v.method == "math_verify"
    assert r_acc(hook, truncated, f"{H}\n12", "3 * 4 = 12") == pytest.approx(1 + ALPHA)
    assert not verdict(hook, truncated, f"{H}\n7").equal


def test_bare_answer_header_falls_back_to_the_last_number(hook):
    v = verdict(hook, full("3 + 4 = 7", answer=""), f"{H}\n7")
    assert v.equal and v.method == "math_verify"


def test_wrong_choice_letter_with_right_number_is_correct(hook):
    v = verdict(hook, full("compute", answer="C: 8"), f"{H}\nB: 8")
    assert v.equal and v.method == "math_verify"


def test_value_without_pi_equals_gold_with_pi(hook):
    v = verdict(hook, full("compute", answer="25"), f"{H}\n25\\pi")
    assert v.equal and v.method == "math_verify"


def test_choice_with_content_vs_bare_letter_is_wrong(hook):
    v = verdict(hook, full("compute", answer="B: 8"), f"{H}\nB")
    assert not v.equal and v.method == "exact_string" and "'B: 8' != 'B'" in v.reason


def test_yes_vs_yes_is_case_sensitive(hook):
    assert not verdict(hook, full("look", answer="Yes"), f"{H}\nyes").equal
    v = verdict(hook, full("look", answer="yes"), f"{H}\nyes")
    assert v.equal and v.method == "exact_string"


def test_unparseable_answer_falls_back_to_the_last_number_of_the_text(hook):
    # nothing parses after the anchor ("Yes", "B"), so math-verify takes the right-most number
    # anywhere: the "1" of "### Step 1:", the "8" at the end of the last step
    v = verdict(hook, full("look", answer="Yes"), f"{H}\n1")
    assert v.equal and v.method == "math_verify"
    v = verdict(hook, full("2 * 4 = 8", answer="B"), f"{H}\nB: 8")
    assert v.equal and v.method == "math_verify"


def test_self_correction_boxes_read_as_a_set(hook):
    text = full("think", answer="\\boxed{5} wait, no: \\boxed{7}")
    assert not verdict(hook, text, f"{H}\n7").equal
    assert not verdict(hook, text, f"{H}\n5").equal
    v = verdict(hook, text, f"{H}\n$\\{{5, 7\\}}$")
    assert v.equal and v.method == "math_verify" and "'5,7' (completion)" in v.reason


def test_latex_gold_without_dollars_parses_to_nothing(hook):
    # math-verify extracts nothing from a bare \sqrt{3}: only the exact string can credit it
    v = verdict(hook, full("s", answer="\\sqrt{3}"), f"{H}\n\\sqrt{{3}}")
    assert v.equal and v.method == "exact_string"
    assert not verdict(hook, full("s", answer="$\\sqrt{3}$"), f"{H}\n\\sqrt{{3}}").equal
    # a bare \frac does parse
    assert verdict(hook, full("s", answer="0.5"), f"{H}\n\\frac{{1}}{{2}}").method == "math_verify"


@pytest.mark.parametrize(("first", "second", "method"), [("5", "9", "exact_string"), ("9", "5", "math_verify")])
def test_two_answer_sections_either_right_is_credited(hook, first, second, method):
    text = full("x", answer=first, tail=f"\n{H}\n{second}")
    v = verdict(hook, text, f"{H}\n5")
    assert v.equal and v.method == method
    assert not verdict(hook, full("x", answer="8", tail=f"\n{H}\n9"), f"{H}\n5").equal


def test_exact_string_takes_first_nonblank_line_and_strips(hook):
    solution = f"{H}\n\n   Yes  \nbecause of the figure"
    assert verdict(hook, full("look", answer="Yes\nmore text"), solution).equal
    assert verdict(hook, f"{H}    Yes", solution).equal  # answer on the header line
    # without a header on either side, the whole stripped texts are compared
    assert verdict(hook, "  Yes \n", "Yes").equal
    assert official.official_answer_line("abc") == "abc" and official.official_answer_line(f"{H}\n") == ""


def test_math_verify_timeout_is_not_correct_but_exact_string_still_runs(hook):
    cfg = OFF.model_copy(update={"timeout_s": 1.0})
    tower = "$9^{9^{9^{9}}} - 9^{9^{9^{9}}}$"
    v = verdict(hook, full("x", answer=tower), f"{H}\n0", cfg)
    assert not v.equal and v.method == "timeout" and "exceeded 1.0s" in v.reason
    # math-verify reads the last answer section (0) and times out; the first one matches exactly
    v = verdict(hook, full("x", answer=tower, tail=f"\n{H}\n0"), f"{H}\n{tower}", cfg)
    assert v.equal and v.method == "exact_string" and "exceeded 1.0s" in v.reason


# --- key steps: lowercase substring inside "### Step N:" sections ---------------------------------


def test_substring_credits_x_equals_3_inside_x_equals_30(hook):
    rep = k_of(hook, full("so x = 30"), "x = 3")
    assert rep.score == 1.0 and rep.steps[0].method == "substring"
    text = full("so x = 30")
    s, e = rep.steps[0].span
    assert text[s:e] == "x = 3" and rep.steps[0].matched_text == "x = 3"


def test_key_steps_are_searched_only_in_step_sections(hook):
    text = full("the area is 12", answer="12").replace("Reason about it.", "3 + 4 = 7")
    rep = k_of(hook, text, "3 + 4 = 7", "area is 12", "12")
    assert [m.matched for m in rep.steps] == [False, True, True]
    # the step text stops at the next "\n###": the answer section is not searched
    assert rep.steps[2].span[1] <= text.index(H)
    assert rep.score == pytest.approx(2 / 3) and rep.scope == "steps"


def test_lowercase_any_alternative_and_case_preserving_span(hook):
    text = full("Hence AB = 5 CM")
    rep = k_of(hook, text, ["ab=5", "ab = 5 cm"], "BC = 2")
    assert rep.steps[0].matched and rep.steps[0].form == "ab = 5 cm" and rep.steps[0].matched_text == "AB = 5 CM"
    assert not rep.steps[1].matched and rep.steps[1].reason
    # the official matcher has no normalisation: a spacing difference is a miss
    assert not k_of(hook, full("12/2 = 6"), "12/2=6").steps[0].matched


def test_step_texts_are_joined_with_a_space(hook):
    text = full("so x =", "3 is the root")
    rep = k_of(hook, text, "x = 3")
    assert rep.score == 1.0
    s, e = rep.steps[0].span
    assert text[s:e] == "x =\n### Step 2:\n3"  # the matched span straddles the join


def test_unanchored_step_headers_count(hook):
    assert k_of(hook, "Intro ### Step 1: x = 3", "x = 3").score == 1.0
    rep = k_of(hook, "no step headers, x = 3", "x = 3")
    assert rep.score == 0.0 and "no step sections" in rep.steps[0].reason


def test_missing_key_steps_give_bonus_zero(hook):
    rep = hook.stepreward_match_key_steps(text=full("x = 3"), key_steps=[], config=OFF)
    assert rep.score == 0.0 and rep.steps == ()
    assert r_acc(hook, full("x = 3", answer="3"), f"{H}\n3") == 1.0  # 1 + alpha * 0


def test_wrong_answer_still_gets_the_key_step_bonus(hook):
    text = full("3 + 4 = 7", answer="8")
    assert r_acc(hook, text, f"{H}\n7", "3 + 4 = 7", "7 * 2 = 14") == pytest.approx(ALPHA * 0.5)


def test_empty_alternative_always_matches(hook):
    assert k_of(hook, full("anything"), "").score == 1.0


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=40), st.text(min_size=1, max_size=6))
def test_property_matches_the_official_substring_rule(body, form):
    text = f"### Step 1:\n{body}"
    rep = official.stepreward_match_key_steps(text=text, key_steps=keysteps(form), config=OFF)
    step_text = text[len("### Step 1:") :].lstrip()
    if "\n###" in step_text:
        step_text = step_text[: step_text.index("\n###")]
    m = rep.steps[0]
    assert m.matched is (form.lower() in step_text.lower())
    if m.matched:
        s, e = m.span
        assert len("### Step 1:") <= s <= e <= len(text)
        if form.isascii() and body.isascii():
            assert text[s:e].lower() == form.lower() == m.matched_text.lower()


# --- validity: the official StepRVR ----------------------------------------------------------------


def validity(hook, text: str) -> StructureReport:
    return hook.stepreward_validate_structure(text=text, schema=MULBERRY, config=OFF)


def test_official_validity_accepts_the_reference_format(hook):
    rep = validity(hook, full("a", "b"))
    assert rep.valid and rep.schema == "r1vl-official" and rep.reasons == ()
    assert [h.name for h in rep.sections] == ["description", "rationale", "step", "step", "answer"]


@pytest.mark.parametrize("header", ["### Image Description:", "### Rationales:", "### Step 1:", H])
def test_official_validity_requires_the_four_headers(hook, header):
    text = full("a", "b").replace(header, "### Something else:")
    rep = validity(hook, text)
    assert not rep.complete and not rep.valid and f"missing {header!r}" in rep.reasons


def test_lets_think_header_is_not_required(hook):
    assert validity(hook, full("a").replace("### Let's think step by step.\n", "")).valid


def test_official_step_numbering(hook):
    rep = validity(hook, full("a", "b").replace("### Step 2:", "### Step 3:"))
    assert rep.complete and not rep.logical and rep.reasons == ("step numbers [1, 3] are not 1..N",)


def test_first_answer_header_must_follow_the_last_step(hook):
    text = full("a", answer="5").replace("### Step 1:", f"{H} 4\n### Step 1:")
    rep = validity(hook, text)
    assert rep.complete and not rep.logical
    assert rep.reasons == (f"the first {H!r} comes before the last step header",)


def test_order_check_skipped_when_text_ends_with_bare_answer_header(hook):
    text = full("a", answer="5").replace("### Step 1:", f"{H} 4\n### Step 1:") + f"\n{H}\n"
    assert validity(hook, text).valid


def test_description_and_rationale_positions_are_not_checked(hook):
    text = "### Step 1:\nx\n### Rationales:\nr\n### Image Description:\nd\n" + f"{H}\n5"
    assert validity(hook, text).valid


def test_official_validity_does_not_catch_junk_or_repeats(hook):
    # reward hacks the official check lets through (our stepreward flavor rejects them)
    hacked = full("a", answer="5", tail="\nI hope this helps!\n### Image Description:\nagain")
    assert validity(hook, hacked).valid
    ours = structure.validate_structure(hacked, MULBERRY)
    assert not ours.valid and "'description' appears 2 times" in ours.reasons


@pytest.mark.parametrize("bad", ["", "\x00" * 10, "### Step " + "9" * 5000 + ":", H, "### Step 1:" * 10_000])
def test_official_hooks_never_raise(hook, bad):
    assert not validity(hook, bad).valid
    assert k_of(hook, bad, "9").steps[0].index == 0
    assert hook.stepreward_extract_answer(text=bad, config=OFF).text == bad


# --- end to end through the plugin manager ---------------------------------------------------------


def test_score_with_the_official_preset_reproduces_the_official_numbers():
    import stepreward

    text = full("so x = 30", "then 2 * 4 = 8", answer="C: 8", tail="\nI hope this helps!")
    key_steps = {"Steps": [["x = 3", "x=3"], "y = 2"]}
    res = stepreward.score(text, solution=f"{H}\nB: 8", key_steps=key_steps, preset="r1vl-official")
    # accuracy: math-verify 8 == 8 -> 1, plus 0.1 * (1 of 2 key steps, "x = 3" inside "x = 30")
    assert res.components["step_rar"] == pytest.approx(1.05)
    assert res.components["step_rvr"] == 1.0  # junk after the answer passes the official check
    assert res.total == pytest.approx(2.05) and res.verdict.method == "math_verify"
    paper = stepreward.score(text, solution=f"{H}\nB: 8", key_steps=key_steps, preset="paper")
    assert paper.components["step_rvr"] == 0.0 and paper.total < res.total
    # no key steps (the official code would crash): bonus 0; no answer section: still scored
    bare = stepreward.score(full("so x = 3", answer=None), solution=f"{H}\n3", preset="r1vl-official")
    assert bare.components["step_rar"] == 1.0 and bare.components["step_rvr"] == 0.0


def test_key_step_forms_are_tested_unstripped_as_in_the_official_code():
    from stepreward import match_key_steps

    text = "### Step 1:\nso x = 3.\n### The final answer is:\n3"
    official = match_key_steps(text, [["x = 3 "]], preset="r1vl-official")
    assert official.score == 0.0  # "x = 3 " (trailing space) is not a substring of "so x = 3."
    assert match_key_steps(text, [["x = 3 "]], preset="paper").score == 1.0


def test_official_preset_lets_math_verify_limits_act_first():
    from stepreward.config import R1VL_OFFICIAL

    assert R1VL_OFFICIAL.timeout_s > 3 * 5  # parse + parse + verify, 5 s each in math-verify
