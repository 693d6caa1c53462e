"""StepRVR structure validator (stepreward flavor): completeness, order, numbering, reward hacks."""

from __future__ import annotations

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepreward import hookspecs
from stepreward.config import R1VL_OFFICIAL, RewardConfig
from stepreward.plugins import structure
from stepreward.plugins.structure import answer_extent, validate_structure
from stepreward.schema import MULBERRY, STEP_LIST, THINK_ANSWER, FormatSchema

PAPER = RewardConfig()

GOOD = """### Image Description:
A right triangle with legs 3 and 4.
### Rationales:
Use the Pythagorean theorem on the two legs.
### Let's think step by step.
### Step 1:
3^2 + 4^2 = 25
### Step 2:
\\sqrt{25} = 5
### The final answer is:
5
"""


def mulberry(*steps: str, answer: str = "5", head: str | None = None) -> str:
    head = head if head is not None else GOOD.split("### Step 1:")[0]
    body = "".join(f"### Step {i}:\n{s}\n" for i, s in enumerate(steps, 1))
    return f"{head}{body}### The final answer is:\n{answer}\n"


def check(text: str, schema: FormatSchema = MULBERRY):
    return validate_structure(text, schema)


# --- the hook -------------------------------------------------------------------------------------


def _pm() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(structure)
    return pm


def test_hook_answers_for_stepreward_flavor_only():
    pm = _pm()
    rep = pm.hook.stepreward_validate_structure(text=GOOD, schema=MULBERRY, config=PAPER)
    assert rep is not None and rep.valid and rep.schema == "mulberry"
    assert pm.hook.stepreward_validate_structure(text=GOOD, schema=MULBERRY, config=R1VL_OFFICIAL) is None


@pytest.mark.parametrize("bad", ["", "\x00\xff" * 50, "#" * 100_000, "### Step " + "9" * 5000 + ":\nx", "é" * 999])
def test_hook_never_raises(bad):
    rep = _pm().hook.stepreward_validate_structure(text=bad, schema=MULBERRY, config=PAPER)
    assert rep is not None and not rep.valid and rep.reasons


def test_non_string_input_is_invalid_with_reason():
    rep = validate_structure(None, MULBERRY)  # type: ignore[arg-type]
    assert (rep.complete, rep.logical) == (False, False) and "NoneType" in rep.reasons[0]


# --- Mulberry: complete and logical ---------------------------------------------------------------


def test_reference_format_is_valid_and_sections_are_reported():
    rep = check(GOOD)
    assert rep.complete and rep.logical and rep.valid and rep.reasons == () and rep.missing == ()
    assert [h.name for h in rep.sections] == ["description", "rationale", "think", "step", "step", "answer"]
    assert [h.step_number for h in rep.sections if h.name == "step"] == [1, 2]
    answer = rep.sections[-1]
    assert GOOD[answer.body_span[0] : answer.body_span[1]].strip() == "5"


def test_header_variants_are_accepted():
    text = GOOD.replace("### Rationales:", "## **Rationale**").replace("### Step 2:", "### Step 2.")
    assert check(text).valid


@pytest.mark.parametrize(
    ("drop", "name"),
    [
        ("### Image Description:\nA right triangle with legs 3 and 4.\n", "description"),
        ("### Rationales:\nUse the Pythagorean theorem on the two legs.\n", "rationale"),
        ("### Let's think step by step.\n", "think"),
    ],
)
def test_missing_background_section_is_incomplete(drop, name):
    rep = check(GOOD.replace(drop, ""))
    assert not rep.complete and rep.logical
    assert rep.missing == (name,)
    assert rep.reasons == (f"missing section {name!r}",)


def test_no_steps_is_incomplete():
    rep = check(mulberry())
    assert not rep.complete and rep.missing == ("step",) and "missing section 'step'" in rep.reasons


def test_missing_or_empty_answer_is_incomplete():
    rep = check(GOOD.split("### The final answer is:")[0])
    assert not rep.complete and rep.missing == ("answer",)
    rep = check(mulberry("a = 1", answer="   "))
    assert not rep.complete and rep.missing == ("answer",) and "section 'answer' is empty" in rep.reasons


def test_empty_description_and_empty_step_are_incomplete():
    rep = check(GOOD.replace("A right triangle with legs 3 and 4.\n", ""))
    assert not rep.complete and rep.missing == ("description",)
    rep = check(mulberry("a = 1", "  ", "b = 2"))
    assert not rep.complete and rep.missing == () and rep.reasons == ("section step 2 is empty",)


def test_empty_think_header_is_fine():
    assert check(GOOD).sections[2].name == "think" and check(GOOD).valid  # think body is empty


# --- order and numbering --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ([1, 3], "step numbers [1, 3] are not consecutive"),
        ([2, 3], "step numbers [2, 3] do not start at 1"),
        ([1, 2, 2, 3], "step numbers [1, 2, 2, 3] repeat [2]"),
        ([2, 1], "step numbers [2, 1] do not start at 1"),
        ([1, 3, 2], "step numbers [1, 3, 2] are out of order"),
    ],
)
def test_step_numbering(steps, reason):
    head = GOOD.split("### Step 1:")[0]
    body = "".join(f"### Step {n}:\nwork {n}\n" for n in steps)
    rep = check(f"{head}{body}### The final answer is:\n5")
    assert rep.complete and not rep.logical
    assert rep.reasons == (reason,)


def test_rationale_after_description_order():
    swapped = GOOD.replace("### Image Description:", "### TMP:").replace("### Rationales:", "### Image Description:")
    swapped = swapped.replace("### TMP:", "### Rationales:")
    rep = check(swapped)
    assert rep.complete and not rep.logical
    assert rep.reasons == ("section 'description' appears after 'rationale'",)


def test_section_between_steps_breaks_order():
    text = mulberry("a = 1", "### Rationales:\nactually, more rationale", "b = 2")
    rep = check(text)
    assert not rep.logical
    assert "section 'rationale' appears after 'step'" in rep.reasons and "'rationale' appears 2 times" in rep.reasons


def test_steps_after_answer_break_order():
    text = GOOD + "### Step 3:\nmore\n"
    rep = check(text)
    assert rep.complete and not rep.logical
    assert rep.reasons == ("section 'step' after the final answer",)


# --- reward hacks: junk after the answer, repeated sections, long answers -------------------------


@pytest.mark.parametrize("junk", ["I hope this helps!", "\n\nAlso, C could be right.", "B: 8"])
def test_text_after_the_final_answer_fails(junk):
    rep = check(GOOD + junk)
    assert rep.complete and not rep.logical
    assert len(rep.reasons) == 1 and rep.reasons[0].startswith("text after the final answer")


def test_trailing_whitespace_after_answer_is_fine():
    assert check(GOOD + "\n   \n\t").valid


def test_repeated_answer_section_fails():
    rep = check(GOOD + "### The final answer is:\n6\n")
    assert rep.complete and not rep.logical
    assert rep.reasons == ("'answer' appears 2 times",)


def test_repeated_image_description_fails():
    text = GOOD.replace("### Rationales:", "### Image Description:\nA triangle again.\n### Rationales:")
    rep = check(text)
    assert rep.complete and not rep.logical
    assert rep.reasons == ("'description' appears 2 times",)


def test_overlong_answer_fails():
    rep = check(mulberry("a = 1", answer="7" * 301))
    assert not rep.logical and rep.reasons == ("answer is 301 characters long (max 300)",)
    assert check(mulberry("a = 1", answer="7" * 300)).valid


def test_multiline_latex_answer_is_one_answer():
    matrix = "\\begin{pmatrix} 1 & 2 \\\\\n3 & 4 \\end{pmatrix}"
    assert check(mulberry("a = 1", answer=matrix)).valid
    assert check(mulberry("a = 1", answer="$x = \n 3$")).valid
    rep = check(mulberry("a = 1", answer="(8\nand some junk"))  # an opener that never closes
    assert rep.reasons == ("text after the final answer: 'and some junk'",)


def test_answer_extent():
    assert answer_extent("  B: 8\nbecause") == (2, 6)
    assert answer_extent("[1, 2)\n") == (0, 6)
    assert answer_extent("\\{1,\n2\\}") == (0, 4)  # escaped braces are not brackets
    assert answer_extent("") == (0, 0)


# --- other shipped schemas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "valid", "reasons"),
    [
        ("<think>3 + 4 = 7</think>\n<answer>7</answer>", True, ()),
        ("<think>3 + 4 = 7</think><answer>7</answer> junk", False, ("text after the final answer: 'junk'",)),
        ("<think>x</think><answer>7</answer><answer>8</answer>", False, ("'answer' appears 2 times",)),
        ("<answer>7</answer><think>x</think>", False, ("section 'think' after the final answer",)),
        ("<think>x<answer>7</answer>", False, ("section 'think' is not closed",)),
        ("<think>x</think>", False, ("missing section 'answer'",)),
        ("<think></think><answer>7</answer>", False, ("section 'think' is empty",)),
        ("<think>x</think><answer>7\nbecause x</answer>", False, ("text after the final answer: 'because x'",)),
    ],
)
def test_think_answer_schema(text, valid, reasons):
    rep = check(text, THINK_ANSWER)
    assert rep.valid is valid and rep.reasons == reasons


@pytest.mark.parametrize(
    ("text", "reasons"),
    [
        ("Step 1: 3 + 4 = 7\nStep 2: 7 * 2 = 14\nAnswer: 14", ()),
        ("Step 1: 3 + 4 = 7\nStep 3: 7 * 2 = 14\nAnswer: 14", ("step numbers [1, 3] are not consecutive",)),
        ("Answer: 14", ("missing section 'step'",)),
        ("Step 1) a\nFinal answer: 14\nStep 2) b", ("section 'step' after the final answer",)),
    ],
)
def test_step_list_schema(text, reasons):
    rep = check(text, STEP_LIST)
    assert rep.reasons == reasons and rep.valid is (reasons == ())


def test_user_defined_schema_as_data():
    schema = FormatSchema.model_validate(
        {
            "name": "plan_solve",
            "sections": [
                {"name": "plan", "header": r"PLAN:"},
                {"name": "check", "header": r"CHECK:", "required": False},
                {"name": "move", "header": r"Move\s+#(?P<n>\d+)", "numbered": True},
                {"name": "result", "header": r"RESULT:"},
            ],
            "answer_section": "result",
            "step_section": "move",
            "max_answer_chars": 10,
        }
    )
    good = "PLAN:\nadd then double\nMove #1 3 + 4 = 7\nMove #2 7 * 2 = 14\nRESULT: 14"
    assert check(good, schema).valid
    rep = check(good.replace("Move #2", "Move #1"), schema)
    assert rep.reasons == ("move numbers [1, 1] repeat [1]",)
    rep = check("Move #1 x\nRESULT: 14", schema)
    assert rep.missing == ("plan",) and not rep.complete and rep.logical
    rep = check(good.replace("RESULT: 14", "RESULT: 14 or maybe 15"), schema)
    assert rep.reasons == ("answer is 14 characters long (max 10)",)
    # the optional section is checked for order when present, not required when absent
    assert check(good.replace("Move #1", "CHECK: fine\nMove #1"), schema).valid
    assert check(good.replace("RESULT:", "CHECK: fine\nRESULT:"), schema).reasons == (
        "section 'check' appears after 'move'",
    )
    cfg = RewardConfig(format_schema=schema)
    assert _pm().hook.stepreward_validate_structure(text=good, schema=cfg.schema_obj, config=cfg).valid


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=6))
def test_property_numbering_valid_iff_one_to_n(numbers):
    head = GOOD.split("### Step 1:")[0]
    body = "".join(f"### Step {n}:\nwork\n" for n in numbers)
    rep = check(f"{head}{body}### The final answer is:\n5")
    assert rep.complete
    assert rep.logical is (numbers == list(range(1, len(numbers) + 1)))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_property_anything_after_answer_only_passes_if_whitespace(tail):
    rep = check(GOOD + "\n" + tail)
    # whatever the tail is (junk, a new or empty header, a second answer) it fails unless blank
    assert rep.valid is (tail.strip() == "")
    assert bool(rep.reasons) is (tail.strip() != "")
