"""The ``r1vl-official`` flavor: the official R1-VL reward code's behaviour, quirks included.

Reproduces the reward functions of the official training script (``jingyi0000/R1-VL``,
``src/r1-vl/src/open_r1/grpo.py``: ``accuracy_reward``, ``key_step_single``,
``check_reasoning_completeness`` / ``check_reasoning_logic`` behind ``validity_reward``) so that
published numbers can be compared honestly. The code here is ours; the *behaviour* is theirs
(SPEC §1.4):

- correctness: ``verify(parse(completion), parse(solution))`` with math-verify's default
  extraction on the **whole** completion (argument order as in the official code), or a
  case-sensitive exact match of the first non-blank line after the first
  ``### The final answer is:`` of completion and solution (each falls back to the whole stripped
  text when it has no such header);
- key steps: lowercase substring test of any alternative inside the text of the ``### Step N:``
  sections, each running to the next ``\\n###`` (``x = 3`` is credited inside ``x = 30``);
- validity: the four headers present, ``### Step N:`` numbered 1..N, the first answer header after
  the last step header (check skipped when the text ends with a bare answer header).

Every implementation answers only when ``config.flavor == "r1vl-official"`` and runs first
(``tryfirst``). math-verify runs only in a guarded worker process (:func:`run_limited`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..config import RewardConfig
from ..guard import GuardTimeout, run_limited
from ..hookspecs import hookimpl
from ..schema import FormatSchema
from ..types import Answer, KeyStep, KeyStepMatch, KeyStepReport, SectionHit, Span, StructureReport, Verdict

FLAVOR = "r1vl-official"

ANSWER_HEADER = "### The final answer is:"
REQUIRED_HEADERS: tuple[tuple[str, str], ...] = (
    ("description", "### Image Description:"),
    ("rationale", "### Rationales:"),
    ("step", "### Step 1:"),
    ("answer", ANSWER_HEADER),
)
# the official patterns, verbatim in meaning
_ANSWER_LINE = re.compile(r"### The final answer is:\s*\n?(.*)")
_STEP_BODY = re.compile(r"### Step \d+:\s*(.*?)(?=\n###|\Z)", re.DOTALL)
_STEP_HEADER = re.compile(r"### Step (\d+):")
_ALL_HEADERS = re.compile(
    r"### (?:Image Description:|Rationales:|Step (?P<n>\d+):|The final answer is:)"
)
_HEADER_NAMES = {h: name for name, h in REQUIRED_HEADERS}
_MAX_REASON_ITEMS = 20


def _ours(config: RewardConfig) -> bool:
    return getattr(config, "flavor", None) == FLAVOR


# --- answer: the whole completion is the "answer" ------------------------------------------------


@hookimpl(tryfirst=True)
def stepreward_extract_answer(text: str, config: RewardConfig) -> Answer | None:
    """The official code verifies the whole completion: return it verbatim (kind ``raw``)."""
    if not _ours(config):
        return None
    text = text if isinstance(text, str) else ""
    return Answer(text=text, kind="raw", source="official_whole_completion", span=(0, len(text)))


def official_answer_line(text: str) -> str:
    """First non-blank line after the first ``### The final answer is:``, stripped.

    Without that header the whole text, stripped (the official string-match fallback).
    """
    m = _ANSWER_LINE.search(text)
    return m.group(1).strip() if m else text.strip()


def math_verify_whole(completion: str, solution: str) -> tuple[bool, str, str]:
    """``verify(parse(completion), parse(solution))`` as the official code calls it.

    Runs inside a guarded worker (never call it in-process on model text). Any exception is a
    "not verified", as in the official ``try/except``. Returns the verdict and the strings
    math-verify extracted from each side (for explanations).
    """
    import logging

    from math_verify import parse, verify

    for name in ("math_verify", "math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).disabled = True
    pred, gold = [], []
    try:
        pred = parse(completion)
        gold = parse(solution)
        ok = float(verify(pred, gold)) > 0
    except Exception:
        ok = False
    return ok, _shown(pred), _shown(gold)


def _shown(parsed: object) -> str:
    if isinstance(parsed, list) and parsed:
        return str(parsed[-1])[:120]  # math-verify returns [sympy object, extracted string]
    return ""


@hookimpl(tryfirst=True)
def stepreward_compare_answers(pred: Answer, gold: Answer, config: RewardConfig) -> Verdict | None:
    """math-verify on the whole completion, else exact first answer line (case-sensitive)."""
    if not _ours(config):
        return None
    completion, solution = pred.text, gold.text
    timed_out = False
    mv_note = ""
    try:
        ok, pred_s, gold_s = run_limited(math_verify_whole, completion, solution, timeout=config.timeout_s)
        if ok:
            return Verdict(True, "math_verify", f"math-verify: {pred_s!r} (completion) == {gold_s!r} (solution)")
        mv_note = f"math-verify: {pred_s or 'nothing'!r} vs {gold_s or 'nothing'!r} not equal"
    except GuardTimeout:
        timed_out = True
        mv_note = f"math-verify exceeded {config.timeout_s}s"
    except Exception as e:  # worker died, pool broken: the official code also swallows errors
        mv_note = f"math-verify failed ({type(e).__name__})"
    got, want = official_answer_line(completion), official_answer_line(solution)
    if got == want:
        return Verdict(True, "exact_string", f"{mv_note}; exact string {got[:80]!r} matches")
    return Verdict(
        False,
        "timeout" if timed_out else "exact_string",
        f"{mv_note}; exact string {got[:80]!r} != {want[:80]!r}",
    )


# --- key steps: lowercase substrings of the step sections ---------------------------------------


def _step_pieces(text: str) -> list[Span]:
    """Spans of the step texts the official code joins (``### Step N:`` up to ``\\n###``)."""
    return [m.span(1) for m in _STEP_BODY.finditer(text)]


def _index_maps(text: str, pieces: Sequence[Span]) -> tuple[str, list[int]]:
    """The official lowered search string and, per character of it, an offset into ``text``."""
    combined_map: list[int] = []
    for i, (s, e) in enumerate(pieces):
        if i:
            combined_map.append(pieces[i - 1][1])  # the joining space sits at the previous end
        combined_map.extend(range(s, e))
    combined = " ".join(text[s:e] for s, e in pieces)
    lowered = combined.lower()
    if len(lowered) == len(combined):
        return lowered, combined_map
    lower_map = [combined_map[i] for i, ch in enumerate(combined) for _ in ch.lower()]
    if len(lower_map) != len(lowered):  # context-dependent casing changed lengths: clamp
        lower_map = (lower_map + [len(text)] * len(lowered))[: len(lowered)]
    return lowered, lower_map


def _span(pos: int, length: int, index_map: Sequence[int], text_len: int) -> Span | None:
    if not index_map:
        return None
    start = index_map[pos] if pos < len(index_map) else text_len
    end = index_map[pos + length - 1] + 1 if length else start
    return (start, max(start, end))


@hookimpl(tryfirst=True)
def stepreward_match_key_steps(
    text: str, key_steps: Sequence[KeyStep], config: RewardConfig
) -> KeyStepReport | None:
    """Any alternative, lowercased, is a substring of the lowercased joined step texts."""
    if not _ours(config):
        return None
    pieces = _step_pieces(text)
    haystack, index_map = _index_maps(text, pieces)
    matches: list[KeyStepMatch] = []
    for ks in key_steps:
        found: KeyStepMatch | None = None
        for form in ks.raw_forms or ks.forms:  # unstripped, as the official code tests them
            pos = haystack.find(form.lower())
            if pos >= 0:
                span = _span(pos, len(form.lower()), index_map, len(text))
                found = KeyStepMatch(
                    index=ks.index,
                    forms=ks.forms,
                    matched=True,
                    form=form,
                    span=span,
                    matched_text=text[span[0] : span[1]] if span else "",
                    method="substring",
                    score=1.0,
                )
                break
        if found is None:
            reason = "no step sections ('### Step N:')" if not pieces else "no form is a substring of the steps"
            found = KeyStepMatch(index=ks.index, forms=ks.forms, matched=False, method="substring", reason=reason)
        matches.append(found)
    return KeyStepReport(steps=tuple(matches), scope="steps", searched_spans=tuple(pieces))


# --- validity: the official completeness and logic checks ---------------------------------------


def _official_sections(text: str) -> tuple[SectionHit, ...]:
    found = list(_ALL_HEADERS.finditer(text))
    hits = []
    for j, m in enumerate(found):
        header = m.group(0)
        n = m.group("n")
        name = "step" if n is not None else _HEADER_NAMES[header]
        end = found[j + 1].start() if j + 1 < len(found) else len(text)
        step_n = int(n) if n is not None and len(n) <= 18 else None
        hits.append(SectionHit(name=name, header_span=m.span(), body_span=(m.end(), end), step_number=step_n))
    return tuple(hits)


def _logic_reasons(text: str) -> list[str]:
    """Why ``check_reasoning_logic`` would fail (empty list: it passes)."""
    reasons: list[str] = []
    steps = list(_STEP_HEADER.finditer(text))
    if not text.strip().endswith(ANSWER_HEADER):
        first_answer = text.find(ANSWER_HEADER)
        if first_answer < 0:
            reasons.append(f"no {ANSWER_HEADER!r} header")
        elif steps and first_answer < max(m.end() for m in steps):
            reasons.append(f"the first {ANSWER_HEADER!r} comes before the last step header")
        # (with no step header the official code raises here; unreachable once complete)
    if not steps:
        reasons.append("no '### Step N:' header")
        return reasons
    numbers = [int(m.group(1)) if len(m.group(1)) <= 18 else -1 for m in steps]
    if numbers != list(range(1, len(numbers) + 1)):
        shown = numbers[:_MAX_REASON_ITEMS]
        reasons.append(f"step numbers {shown}{' ...' if len(numbers) > len(shown) else ''} are not 1..N")
    return reasons


@hookimpl(tryfirst=True)
def stepreward_validate_structure(
    text: str, schema: FormatSchema, config: RewardConfig
) -> StructureReport | None:
    """The official StepRVR: fixed headers, whatever ``schema`` says."""
    if not _ours(config):
        return None
    missing = tuple(name for name, header in REQUIRED_HEADERS if header not in text)
    reasons = [f"missing {header!r}" for name, header in REQUIRED_HEADERS if name in missing]
    logic = _logic_reasons(text)
    return StructureReport(
        schema="r1vl-official",
        complete=not missing,
        logical=not logic,
        sections=_official_sections(text),
        missing=missing,
        reasons=tuple(reasons + logic),
    )
