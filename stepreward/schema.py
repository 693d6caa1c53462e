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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .types import SectionHit, section_hit


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


_registered_schemas: Callable[[], dict[str, FormatSchema]] | None = None


def resolve_schema(config: Any) -> FormatSchema:
    """``config.schema_obj``: the config's schema, a name looked up among the registered schemas.

    The same lookup without the property's per-call import (it runs several times per score).
    """
    fs = config.format_schema
    if isinstance(fs, FormatSchema):
        return fs
    global _registered_schemas
    if _registered_schemas is None:
        from .manager import registered_schemas

        _registered_schemas = registered_schemas
    return _registered_schemas()[fs]


# lookarounds, anchors, word boundaries: what lets a regex see past the text it matches
_LOOKS_OUT = re.compile(r"\(\?<?[=!]|\\[bBAZ]|[$^]")


@dataclass(frozen=True)
class _Compiled:
    headers: re.Pattern[str]  # all headers, one named group ``s<i>`` per section
    closes: tuple[re.Pattern[str] | None, ...]
    singles: tuple[re.Pattern[str] | None, ...]  # own header of a numbered section, to read 'n'
    by_group: dict[int, int]  # group index of ``s<i>`` -> section index ``i``
    after_newline: re.Pattern[str] | None  # "\n" + headers, when every header starts a line
    names: tuple[str, ...]  # section names, by index
    numbered: tuple[bool, ...]


def _alternation(schema: FormatSchema, anchor: str) -> str:
    """The headers of ``schema`` as one alternation, one named group ``s<i>`` per section.

    When every header is :data:`_H` followed by a letter, the prefix is matched once instead of
    once per alternative (several times faster on header-dense text). The result is the same: a
    letter can only start where the prefix ends (``#``, blanks and ``*`` are not letters), so the
    prefix has exactly one way to match before any alternative, and the alternatives are still
    tried in schema order. ``tests/test_fast_paths.py`` checks it against the plain alternation.
    """
    specs = schema.sections
    rests = [spec.header[len(_H):] for spec in specs if spec.header.startswith(_H)]
    if len(rests) == len(specs) and all(r[:1].isalpha() for r in rests):
        return anchor + _H + "(?:" + "|".join(f"(?P<s{i}>{r})" for i, r in enumerate(rests)) + ")"
    return "|".join(f"(?:{anchor}(?P<s{i}>{spec.header}))" for i, spec in enumerate(specs))


@lru_cache(maxsize=64)
def _compile(schema: FormatSchema) -> _Compiled:
    flags = re.IGNORECASE | re.MULTILINE
    if any(spec.close for spec in schema.sections):
        # plain headers must start a line; tagged sections (with a close tag) may start anywhere
        alts = "|".join(
            f"(?:{'' if spec.close else '^'}(?P<s{i}>{spec.header}))" for i, spec in enumerate(schema.sections)
        )
        headers, after_newline = re.compile(alts, flags), None
    else:
        headers = re.compile(_alternation(schema, "^"), flags)
        after_newline = re.compile(_alternation(schema, "\\n"), flags)
    closes = tuple(
        re.compile(spec.close, re.IGNORECASE) if spec.close else None for spec in schema.sections
    )
    # A header regex that cannot look past its own match (no lookaround, anchor or boundary)
    # matches its own text exactly as it did inside the text: read 'n' from the match itself.
    singles = tuple(
        re.compile(spec.header, re.IGNORECASE) if spec.numbered and _LOOKS_OUT.search(spec.header) else None
        for spec in schema.sections
    )
    by_group = {headers.groupindex[f"s{i}"]: i for i in range(len(schema.sections))}
    names = tuple(spec.name for spec in schema.sections)
    numbered = tuple(spec.numbered for spec in schema.sections)
    return _Compiled(headers, closes, singles, by_group, after_newline, names, numbered)


def _header_matches(comp: _Compiled, text: str) -> list[tuple[int, int, re.Match[str]]]:
    """``(start, end, match)`` of every header, as ``comp.headers.finditer(text)`` finds them.

    When every header must start a line, a second pattern led by a literal ``\n`` finds the
    headers that start the following lines: the regex engine scans for a literal fast but has no
    fast scan for ``^`` (several times faster on long texts). The match object is the one of
    whichever pattern found the header (its groups are numbered alike). A header that ends with
    a newline (the next header may then start right after it) takes the general loop; an empty
    header match (odd custom regex) falls back to ``finditer``'s semantics.
    """
    if comp.after_newline is None:
        return [(m.start(), m.end(), m) for m in comp.headers.finditer(text)]
    out: list[tuple[int, int, re.Match[str]]] = []
    pos = 0
    first = comp.headers.match(text)
    if first is not None:
        if first.end() == 0 or text[first.end() - 1] == "\n":
            return _header_loop(comp, text)
        out.append((0, first.end(), first))
        pos = first.end()
    append = out.append
    for m in comp.after_newline.finditer(text, pos):
        a, end = m.span()
        if end == a + 1 or text[end - 1] == "\n":
            return _header_loop(comp, text)
        append((a + 1, end, m))
    return out


def _header_loop(comp: _Compiled, text: str) -> list[tuple[int, int, re.Match[str]]]:
    """:func:`_header_matches` one header at a time (a header may end with a newline)."""
    assert comp.after_newline is not None
    out: list[tuple[int, int, re.Match[str]]] = []
    match, search = comp.headers.match, comp.after_newline.search
    pos, line_start = 0, True
    while True:
        if line_start:  # a header may start right here
            m = match(text, pos)
            if m is not None:
                if m.end() == pos:
                    return [(m.start(), m.end(), m) for m in comp.headers.finditer(text)]
                out.append((pos, m.end(), m))
                pos = m.end()
                line_start = text[pos - 1] == "\n"
                continue
        m = search(text, pos)  # the next line start (after pos) where a header starts
        if m is None:
            return out
        start = m.start() + 1
        if m.end() == start:
            return [(m.start(), m.end(), m) for m in comp.headers.finditer(text)]
        out.append((start, m.end(), m))
        pos = m.end()
        line_start = text[pos - 1] == "\n"


# Identity-keyed front of ``_compile`` (hashing a pydantic model on every call costs more than
# the lookup it guards); the entry holds the schema, so its id cannot be reused while cached.
_compiled_by_id: dict[int, tuple[FormatSchema, _Compiled]] = {}
_cache_lock = threading.Lock()


def _compiled(schema: FormatSchema) -> _Compiled:
    hit = _compiled_by_id.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    comp = _compile(schema)
    with _cache_lock:
        if len(_compiled_by_id) >= 64:
            _compiled_by_id.clear()
        _compiled_by_id[id(schema)] = (schema, comp)
    return comp


# --- split cache ---------------------------------------------------------------------------------
# One completion is split by the answer extractor, the key-step matcher and the structure
# validator: the last few results are kept, keyed by (schema identity, text). Bounded (FIFO) and
# lock-protected for writers; enough entries that concurrent scoring threads keep theirs.

SPLIT_CACHE_SIZE = 32
_split_cache: dict[tuple[int, str], tuple[FormatSchema, tuple[SectionHit, ...]]] = {}


def split_sections(text: str, schema: FormatSchema) -> list[SectionHit]:
    """Find every section header of ``schema`` in ``text``, in text order.

    The body of a section runs from the end of its header to the start of the next header, or to
    its closing tag when the section has one (the tag itself is excluded). Bodies are raw spans of
    ``text``; strip them yourself. The last few results are cached (a completion is split by
    several hooks).
    """
    return list(find_sections(text, schema))


def find_sections(text: str, schema: FormatSchema) -> tuple[SectionHit, ...]:
    """:func:`split_sections` as the cached tuple itself (no copy: the hooks of one completion
    share it)."""
    key = (id(schema), text)
    hit = _split_cache.get(key)
    if hit is not None and hit[0] is schema:
        return hit[1]
    hits = tuple(_split(text, schema))
    with _cache_lock:
        while len(_split_cache) >= SPLIT_CACHE_SIZE:
            _split_cache.pop(next(iter(_split_cache)))
        _split_cache[key] = (schema, hits)
    return hits


def _split(text: str, schema: FormatSchema) -> list[SectionHit]:
    comp = _compiled(schema)
    closes, singles, by_group, names, numbered = comp.closes, comp.singles, comp.by_group, comp.names, comp.numbered
    heads = _header_matches(comp, text)
    hits: list[SectionHit] = []
    append = hits.append
    ends = [hs for hs, _, _ in heads]
    ends.append(len(text))
    for (hs, he, m), end in zip(heads, ends[1:], strict=True):  # a body ends where the next header starts
        idx = by_group.get(m.lastindex)  # type: ignore[arg-type]
        if idx is None:  # not reached for well-formed schemas; the general way
            idx = next(int(k[1:]) for k, v in m.groupdict().items() if v is not None and k.startswith("s"))
        n = None
        if numbered[idx]:
            single = singles[idx]
            if single is None:
                digits = m.group("n")
            else:  # re-match the single header to read its group 'n'
                sm = single.match(text[hs:he])
                digits = sm.group("n") if sm else None
            # more than 18 digits is no step number (and int() refuses > 4300 digits)
            n = int(digits) if digits and len(digits) <= 18 else None
        close = closes[idx]
        if close is not None:
            c = close.search(text, he)
            end = c.start() if c is not None else end
        append(section_hit(names[idx], (hs, he), (he, end if end > he else he), n))
    return hits
