"""Built-in StepRVR: completeness and logical order of a completion, driven by a format schema.

A completion is **complete** when every required section of the schema is present with a
non-blank body (where the section is ``non_empty``; the answer section always), with at least one
step when the schema has a step section, and every tagged section is closed.

It is **logical** when

- the sections appear in schema order (e.g. description -> rationale -> think -> Step 1..N ->
  answer) and no non-numbered section repeats (two ``Image Description`` blocks fail);
- numbered sections run 1..N in text order, consecutively, without repeats;
- the answer section appears once (``answer_once``) and last (``answer_last``): no section after
  it, and nothing but whitespace after the answer itself;
- the answer is at most ``max_answer_chars`` characters.

*The answer itself* is the first line of the answer body; it continues over further lines only
while a bracket, ``\\begin{..}`` environment or ``$`` math span opened on it is still open and
closes later (multi-line matrices pass, ``B: 8\\nBecause ...`` does not). Text before the first
section is allowed. Every failure adds a human-readable reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import islice
from operator import attrgetter, le

from ..config import RewardConfig
from ..hookspecs import hookimpl
from ..schema import FormatSchema, SectionSpec, find_sections
from ..types import SectionHit, StructureReport

FLAVOR = "stepreward"
_MAX_LISTED = 20  # longest number list quoted in a reason
_OPEN, _CLOSE = "([{", ")]}"
_EXTENT_TOKENS = re.compile(r"\\[\s\S]|\$\$?|[()\[\]{}\n]")  # an escape, $$ or $, a bracket, a newline


def _listed(numbers: list[int | None]) -> str:
    shown = ", ".join(str(n) for n in numbers[:_MAX_LISTED])
    return f"[{shown}{', ...' if len(numbers) > _MAX_LISTED else ''}]"


def _snippet(s: str, n: int = 40) -> str:
    s = " ".join(s.split())
    return repr(s if len(s) <= n else s[: n - 3] + "...")


def answer_extent(body: str) -> tuple[int, int]:
    """``(start, end)`` of the answer proper inside an answer section's body.

    The answer is the first non-blank line; it continues past a newline only while a bracket,
    ``\\begin``/``\\end`` environment or ``$`` span is open there *and* closes before the body
    ends (an unclosed opener does not license trailing text).
    """
    start = len(body) - len(body.lstrip())
    first_nl = body.find("\n", start)
    if first_nl < 0:  # one line: it is the answer, whatever its brackets
        return start, len(body)
    first_line_end = first_nl
    depth = env = 0
    math = False
    for m in _EXTENT_TOKENS.finditer(body, start):  # only these characters matter: jump between them
        c = m.group()[0]
        if c == "\\":  # an escape: the escaped character is skipped (\{, \$, \\ ...)
            if body.startswith("\\begin{", m.start()):
                env += 1
            elif body.startswith("\\end{", m.start()):
                env = max(0, env - 1)
        elif c == "$":  # $ or $$
            math = not math
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        elif not (depth or env or math):  # a newline outside brackets, environments and maths
            return start, m.start()
    if depth or env or math:  # never closed: only the first line is the answer
        return start, first_line_end
    return start, len(body)


def _body(text: str, hit: SectionHit) -> str:
    return text[hit.body_span[0] : hit.body_span[1]]


def _label(hit: SectionHit) -> str:
    return f"{hit.name!r}" if hit.step_number is None else f"{hit.name} {hit.step_number}"


def _closed(text: str, hit: SectionHit, spec: SectionSpec) -> re.Match[str] | None:
    """The closing tag right at the end of a tagged section's body, if there is one."""
    if spec.close is None:
        return None
    return re.compile(spec.close, re.IGNORECASE).match(text, hit.body_span[1])


_NAME = attrgetter("name")


def _by_name(hits: Sequence[SectionHit]) -> dict[str, list[SectionHit]]:
    """The hits of each section name, in text order."""
    out: dict[str, list[SectionHit]] = {}
    for h in hits:
        out.setdefault(h.name, []).append(h)
    return out


def _completeness(
    text: str, schema: FormatSchema, hits: Sequence[SectionHit], by_name: dict[str, list[SectionHit]] | None = None
) -> tuple[list[str], list[str]]:
    missing: list[str] = []
    reasons: list[str] = []
    by_name = _by_name(hits) if by_name is None else by_name
    for spec in schema.sections:
        found = by_name.get(spec.name, [])
        essential = spec.required or spec.name in (schema.answer_section, schema.step_section)
        if not found:
            if essential:
                missing.append(spec.name)
                reasons.append(f"missing section {spec.name!r}")
            continue
        if spec.close is not None:
            for h in found:
                if _closed(text, h, spec) is None:
                    reasons.append(f"section {_label(h)} is not closed")
        if not (essential and (spec.non_empty or spec.name == schema.answer_section)):
            continue
        # blank bodies: not text[a:b].strip(), without the stripped copy
        empty = [h for h in found if (s := h.body_span)[1] <= s[0] or text[s[0] : s[1]].isspace()]
        if len(empty) == len(found):
            missing.append(spec.name)
            reasons.append(f"section {spec.name!r} is empty")
        else:
            reasons.extend(f"section {_label(h)} is empty" for h in empty[:_MAX_LISTED])
    return missing, reasons


def _numbering(name: str, numbers: list[int | None]) -> str | None:
    if None in numbers:
        return f"a {name!r} header has no number"
    nums = [n for n in numbers if n is not None]
    if nums == list(range(1, len(nums) + 1)):
        return None
    repeated = sorted(n for n, c in Counter(nums).items() if c > 1)
    if repeated:
        return f"{name} numbers {_listed(nums)} repeat {_listed(repeated)}"
    if nums[0] != 1:
        return f"{name} numbers {_listed(nums)} do not start at 1"
    if nums != sorted(nums):
        return f"{name} numbers {_listed(nums)} are out of order"
    return f"{name} numbers {_listed(nums)} are not consecutive"


def _order(schema: FormatSchema, hits: Sequence[SectionHit]) -> list[str]:
    rank = {s.name: i for i, s in enumerate(schema.sections)}
    ranks = list(map(rank.__getitem__, map(_NAME, hits)))
    if all(map(le, ranks, islice(ranks, 1, None))):
        return []  # every header ranks at least as late as the one before: nothing out of order
    reasons: list[str] = []
    seen: set[tuple[str, str]] = set()
    top: SectionHit | None = None
    for h in hits:
        if top is not None and rank[h.name] < rank[top.name] and (h.name, top.name) not in seen:
            seen.add((h.name, top.name))
            if top.name == schema.answer_section and schema.answer_last:
                reasons.append(f"section {h.name!r} after the final answer")
            else:
                reasons.append(f"section {h.name!r} appears after {top.name!r}")
        if top is None or rank[h.name] >= rank[top.name]:
            top = h
    return reasons


def _answer_checks(
    text: str, schema: FormatSchema, hits: Sequence[SectionHit], answers: list[SectionHit] | None = None
) -> list[str]:
    if answers is None:
        name = schema.answer_section
        answers = [h for h in hits if h.name == name]
    if not answers:
        return []
    reasons: list[str] = []
    if schema.answer_once and len(answers) > 1:
        reasons.append(f"{schema.answer_section!r} appears {len(answers)} times")
    last = answers[-1]
    body = _body(text, last)
    start, end = answer_extent(body)
    tail = body[end:]
    close = _closed(text, last, schema.section(schema.answer_section))
    if close is not None:  # tagged answer: what follows the closing tag, up to the next section
        later = [h.header_span[0] for h in hits if h.header_span[0] >= close.end()]
        tail += text[close.end() : min(later, default=len(text))]
    if schema.answer_last and tail.strip():
        reasons.append(f"text after the final answer: {_snippet(tail)}")
    size = len(body[start:end].strip())
    if size > schema.max_answer_chars:
        reasons.append(f"answer is {size} characters long (max {schema.max_answer_chars})")
    return reasons


def _logic(
    text: str, schema: FormatSchema, hits: Sequence[SectionHit], by_name: dict[str, list[SectionHit]] | None = None
) -> list[str]:
    reasons = _order(schema, hits)
    by_name = _by_name(hits) if by_name is None else by_name
    for spec in schema.sections:
        found = by_name.get(spec.name, [])
        if spec.numbered and found:
            msg = _numbering(spec.name, [h.step_number for h in found])
            if msg:
                reasons.append(msg)
        elif spec.name != schema.answer_section and len(found) > 1:
            reasons.append(f"{spec.name!r} appears {len(found)} times")
    return reasons + _answer_checks(text, schema, hits, by_name.get(schema.answer_section, []))


def validate_structure(text: str, schema: FormatSchema) -> StructureReport:
    """StepRVR's structure report for ``text`` under ``schema`` (see the module docstring)."""
    if not isinstance(text, str):
        return StructureReport(schema.name, False, False, reasons=(f"completion is {type(text).__name__}",))
    hits = find_sections(text, schema)
    by_name = _by_name(hits)
    missing, incomplete = _completeness(text, schema, hits, by_name)
    illogical = _logic(text, schema, hits, by_name)
    return StructureReport(
        schema=schema.name,
        complete=not incomplete,
        logical=not illogical,
        sections=hits,
        missing=tuple(missing),
        reasons=tuple(incomplete + illogical),
    )


@hookimpl
def stepreward_validate_structure(
    text: str, schema: FormatSchema, config: RewardConfig
) -> StructureReport | None:
    """Schema-driven StepRVR for the ``stepreward`` flavor (the paper's rule, hardened)."""
    if getattr(config, "flavor", None) != FLAVOR:
        return None
    try:
        return validate_structure(text, schema)
    except Exception as e:  # a reward must never take training down
        return StructureReport(schema.name, False, False, reasons=(f"validator error: {type(e).__name__}: {e}",))
