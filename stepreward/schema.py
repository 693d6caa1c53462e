"""Reasoning-format schemas: section headers as data, not code.

A :class:`FormatSchema` lists the sections of a well-formed completion in their required order.
Each section is found by a header regex (matched at a line start, case-insensitive); a section's
body runs to the next recognised header (or to its ``close`` tag for tagged formats). Numbered
step sections use a named group ``n`` in the header regex.

:func:`split_sections` is shared by the structure validator (StepRVR), the key-step matcher (to
restrict the search to step sections) and the answer extractor (to find the answer section).
"""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .types import SectionHit


class SectionSpec(BaseModel):
    """One section of a format."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Stable name used in reports, e.g. 'description', 'step', 'answer'.")
    header: str = Field(
        description="Regex for the header, case-insensitive; matched at a line start unless `close` is set."
    )
    close: str | None = Field(default=None, description="Regex closing the section (tagged formats).")
    required: bool = True
    numbered: bool = Field(default=False, description="Repeated section numbered 1..N (group 'n').")
    non_empty: bool = Field(default=True, description="A required section must have a non-blank body.")

    @field_validator("header", "close")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regex {v!r}: {e}. Fix: escape special characters.") from e
        return v

    @model_validator(mode="after")
    def _numbered_has_group(self) -> SectionSpec:
        if self.numbered and "(?P<n>" not in self.header:
            raise ValueError(
                f"section {self.name!r} is numbered but its header regex has no (?P<n>\\d+) group"
            )
        return self


class FormatSchema(BaseModel):
    """An ordered list of sections plus the rules StepRVR checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sections: tuple[SectionSpec, ...]
    answer_section: str = Field(description="Name of the section holding the final answer.")
    step_section: str | None = Field(default=None, description="Name of the numbered step section.")
    answer_last: bool = Field(default=True, description="Nothing but whitespace may follow the answer.")
    answer_once: bool = Field(default=True, description="The answer section may appear only once.")
    max_answer_chars: int = Field(default=300, description="Longer answer bodies count as junk.")

    @model_validator(mode="after")
    def _names_exist(self) -> FormatSchema:
        names = [s.name for s in self.sections]
        if len(set(names)) != len(names):
            raise ValueError(f"schema {self.name!r}: section names must be unique, got {names}")
        if self.answer_section not in names:
            raise ValueError(f"schema {self.name!r}: answer_section {self.answer_section!r} not in {names}")
        if self.step_section is not None and self.step_section not in names:
            raise ValueError(f"schema {self.name!r}: step_section {self.step_section!r} not in {names}")
        return self

    def section(self, name: str) -> SectionSpec:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(name)


_H = r"[ \t]*#{1,6}[ \t]*\**[ \t]*"  # markdown header prefix, optional bold

MULBERRY = FormatSchema(
    name="mulberry",
    sections=(
        SectionSpec(name="description", header=_H + r"image\s+description\s*:?\**"),
        SectionSpec(name="rationale", header=_H + r"rationales?\s*:?\**"),
        SectionSpec(name="think", header=_H + r"let'?s\s+think\s+step\s+by\s+step\.?\**", non_empty=False),
        SectionSpec(name="step", header=_H + r"step\s*(?P<n>\d+)\s*[:.]?\**", numbered=True),
        SectionSpec(name="answer", header=_H + r"the\s+final\s+answer\s+is\s*:?\**"),
    ),
    answer_section="answer",
    step_section="step",
)

THINK_ANSWER = FormatSchema(
    name="think_answer",
    sections=(
        SectionSpec(name="think", header=r"[ \t]*<think>", close=r"</think>"),
        SectionSpec(name="answer", header=r"[ \t]*<answer>", close=r"</answer>"),
    ),
    answer_section="answer",
    step_section=None,
)

STEP_LIST = FormatSchema(
    name="step_list",
    sections=(
        SectionSpec(name="step", header=r"[ \t]*\**step\s*(?P<n>\d+)\s*[:.)]\**", numbered=True),
        SectionSpec(name="answer", header=r"[ \t]*\**(?:final\s+)?answer\s*:\**"),
    ),
    answer_section="answer",
    step_section="step",
)

BUILTIN_SCHEMAS: dict[str, FormatSchema] = {s.name: s for s in (MULBERRY, THINK_ANSWER, STEP_LIST)}


@lru_cache(maxsize=64)
def _compiled(schema: FormatSchema) -> tuple[re.Pattern[str], tuple[re.Pattern[str] | None, ...]]:
    # plain headers must start a line; tagged sections (with a close tag) may start anywhere
    parts = [
        f"(?:{'' if spec.close else '^'}(?P<s{i}>{spec.header}))" for i, spec in enumerate(schema.sections)
    ]
    headers = re.compile("|".join(parts), re.IGNORECASE | re.MULTILINE)
    closes = tuple(
        re.compile(spec.close, re.IGNORECASE) if spec.close else None for spec in schema.sections
    )
    return headers, closes


def split_sections(text: str, schema: FormatSchema) -> list[SectionHit]:
    """Find every section header of ``schema`` in ``text``, in text order.

    The body of a section runs from the end of its header to the start of the next header, or to
    its closing tag when the section has one (the tag itself is excluded). Bodies are raw spans of
    ``text``; strip them yourself.
    """
    headers, closes = _compiled(schema)
    found: list[tuple[int, int, int, int | None]] = []  # (header start, header end, spec idx, n)
    for m in headers.finditer(text):
        idx = next(int(k[1:]) for k, v in m.groupdict().items() if v is not None and k.startswith("s"))
        spec = schema.sections[idx]
        n = None
        if spec.numbered:
            # the named group 'n' of this alternative: re-match the single header to read it
            single = re.match(spec.header, text[m.start() : m.end()], re.IGNORECASE)
            digits = single.group("n") if single else None
            # more than 18 digits is no step number (and int() refuses > 4300 digits)
            n = int(digits) if digits and len(digits) <= 18 else None
        found.append((m.start(), m.end(), idx, n))
    hits: list[SectionHit] = []
    for j, (hs, he, idx, n) in enumerate(found):
        end = found[j + 1][0] if j + 1 < len(found) else len(text)
        close = closes[idx]
        if close is not None:
            c = close.search(text, he)
            end = c.start() if c is not None else end
        hits.append(
            SectionHit(
                name=schema.sections[idx].name,
                header_span=(hs, he),
                body_span=(he, max(he, end)),
                step_number=n,
            )
        )
    return hits
