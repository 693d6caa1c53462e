"""Built-in answer extraction (flavor ``"stepreward"``).

Sources, first hit wins:

1. **Answer section** of the configured format schema (Mulberry: ``### The final answer is:``).
   With several answer sections the *last* one whose body is non-blank is taken; a bare header
   counts as no section. The answer is the first non-blank line of the body (a ``$$``/``\\[``
   display block is read to its closing delimiter); if the body holds a ``\\boxed{}``, the last
   box of the body is the answer instead. A tagged section (``<answer>``) whose closing tag is
   missing at the end of the text is truncated: *no answer*.
2. The last **complete** ``\\boxed{…}``/``\\fbox{…}`` (brace counting). If the final box is
   unclosed (truncated generation), the result is an explicit *no answer*
   (``kind="none"``, ``source="truncated_boxed"``): an earlier box is never credited.
   ``\\boxed{1} wait no \\boxed{2}`` gives ``2``, never the set ``{1, 2}``.
3. The last complete ``<answer>…</answer>`` (an unclosed final ``<answer>`` is truncated: *no answer*).
4. The last anchor ``the answer is`` / ``final answer:`` / ``Answer:`` followed by text on its
   line (or, if the line is empty, on the next non-blank line that is not a header).
5. The last markdown bold ``**…**`` (short, not a label ending in ``:``, not in a header): weak.

A ``trylast`` fallback then accepts a completion that *is* a bare answer (one line, at most
:data:`BARE_MAX_CHARS` characters). Unlike the official code, we never read "the last number of
arbitrary text": a long completion with none of the above has no answer.

The answer text is classified by :func:`stepreward.answers.literals.classify`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..answers.latex import find_boxes
from ..answers.literals import classify
from ..config import RewardConfig
from ..hookspecs import hookimpl
from ..schema import BUILTIN_SCHEMAS, MULBERRY, FormatSchema, find_sections, resolve_schema
from ..types import Answer

FLAVOR = "stepreward"
BARE_MAX_CHARS = 80
BARE_MAX_WORDS = 4
BOLD_MAX_CHARS = 100
ANCHOR_MAX_CHARS = 1_000  # text read after an anchor
_DISPLAY_MAX_LINES = 8

_ANCHOR = re.compile(
    r"\b(?:(?:the\s+)?(?:final\s+)?answer\s+is\b\s*:?|final\s+answer\s*:|answer\s*:)\**", re.I
)
_ANSWER_TAGS = re.compile(r"</?answer>", re.I)
_ANSWER_OPEN = re.compile(r"<answer>", re.I)
# markdown bold: not inside a word (``x**2 + y**2`` is Python power, not bold)
# (the opening "**" comes first and its "not inside a word" test after it: a literal start lets the
# regex engine skip through the text fast)
_BOLD = re.compile(rf"\*\*(?<![\w*]\*\*)(?=\S)([^*\n]{{1,{BOLD_MAX_CHARS}}}?)(?<=\S)\*\*(?![\w*])")
_HEADER_LINE = re.compile(r"^\s*#")
_SENTENCE_END = re.compile(r"\.\s+(?=\S)|\s+(?:because|since|as)\s+", re.I)
_LONE_CHOICE = re.compile(r"^\W*(?:\(?[A-Ja-j]\)?|option\s+[A-Ja-j])$", re.I)


def _schema(config: RewardConfig) -> FormatSchema:
    try:
        return resolve_schema(config)
    except Exception:  # plugin registry unavailable: fall back to the built-in schemas
        fs = config.format_schema
        return fs if isinstance(fs, FormatSchema) else BUILTIN_SCHEMAS.get(fs, MULBERRY)


def _make(text: str, start: int, end: int, source: str) -> Answer | None:
    """Classify ``text[start:end]`` as an answer; ``None`` when nothing is left after cleaning."""
    raw = text[start:end]
    lead = len(raw) - len(raw.lstrip())
    start, end = start + lead, start + len(raw.rstrip())
    kind, clean, choice, content = classify(text[start:end])
    if kind == "none":
        return None
    return Answer(text=clean, kind=kind, source=source, span=(start, end), choice=choice, content=content)


def _none(source: str, start: int, end: int) -> Answer:
    return Answer(text="", kind="none", source=source, span=(start, end))


def _last_box(text: str, start: int, end: int, source: str) -> Answer | None:
    """The last top-level box in ``text[start:end]``; an unclosed final box is *no answer*."""
    boxes = find_boxes(text[start:end])
    if not boxes:
        return None
    box = boxes[-1]
    if not box.complete:
        return _none("truncated_boxed", start + box.start, end)
    return _make(text, start + box.content[0], start + box.content[1], source) or _none(
        "empty_boxed", start + box.start, start + box.content[1] + 1
    )


def _first_line(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Span of the first non-blank line in ``text[start:end]`` (a display block is kept whole)."""
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl == -1 else nl
        line = text[pos:line_end].strip()
        if line:
            for op, cl in (("$$", "$$"), ("\\[", "\\]")):
                if line.startswith(op) and cl not in line[len(op) :]:
                    close = text.find(cl, pos + text[pos:line_end].find(op) + len(op), end)
                    if close != -1 and text.count("\n", pos, close) <= _DISPLAY_MAX_LINES:
                        return pos, close + len(cl)
            return pos, line_end
        pos = line_end + 1
    return None


def from_answer_section(text: str, schema: FormatSchema) -> Answer | None:
    """Source 1: the last non-blank answer section of ``schema`` (see module docstring)."""
    spec = schema.section(schema.answer_section)
    close = re.compile(spec.close, re.I) if spec.close else None
    name = schema.answer_section
    hits = [h for h in find_sections(text, schema) if h.name == name]
    for hit in reversed(hits):
        s, e = hit.body_span
        if not text[s:e].strip():
            continue  # a bare header is no answer section
        if close is not None and not close.match(text, e):
            return _none("truncated_answer_section", hit.header_span[0], e)
        boxed = _last_box(text, s, e, "answer_section")
        if boxed is not None:
            return boxed
        line = _first_line(text, s, e)
        if line is not None:
            ans = _make(text, *line, "answer_section")
            if ans is not None:
                return ans
    return None


def from_boxed(text: str) -> Answer | None:
    """Source 2: the last complete top-level box; an unclosed final box is *no answer*."""
    return _last_box(text, 0, len(text), "boxed")


def from_answer_tag(text: str) -> Answer | None:
    """Source 3: the last complete ``<answer>…</answer>`` (an unclosed final tag is *no answer*).

    One linear scan over the tags (a regex ``<answer>(.*?)</answer>`` is quadratic on many
    unclosed tags).
    """
    last_open: int | None = None  # end of the most recent unmatched <answer>
    last_pair: tuple[int, int] | None = None
    for m in _ANSWER_TAGS.finditer(text):
        if m.group(0)[1] != "/":
            last_open = m.end()
        elif last_open is not None:
            last_pair, last_open = (last_open, m.start()), None
    if last_open is not None:
        return _none("truncated_answer_tag", last_open - len("<answer>"), len(text))
    if last_pair is None:
        return None
    line = _first_line(text, *last_pair)
    return _make(text, *line, "answer_tag") if line else None


def _cut_sentence(text: str, start: int, end: int) -> int:
    """End of the first sentence of ``text[start:end]`` (``B. 8`` is not cut after ``B``)."""
    for m in _SENTENCE_END.finditer(text, start, end):
        if not _LONE_CHOICE.match(text[start : m.start()].strip()):
            return m.start()
    return end


def from_anchor(text: str) -> Answer | None:
    """Source 4: the text after the last "answer is" / "final answer:" / "Answer:" anchor."""
    last = None
    if text.isascii() and "answer" not in text.lower():
        return None  # every anchor holds the word (in non-ASCII text re.I also folds e.g. "ſ" to "s")
    for last in _ANCHOR.finditer(text):  # noqa: B007
        pass
    if last is None:
        return None
    line_end = text.find("\n", last.end())
    line_end = len(text) if line_end == -1 else line_end
    span: tuple[int, int] | None = (last.end(), line_end)
    rest = text[last.end() : line_end].strip()
    if rest.startswith((",", "?", ";")):  # "not sure what the answer is, so ..." is no anchor
        return None
    if not rest:
        span = _first_line(text, line_end, len(text))
        if span is None or _HEADER_LINE.match(text[span[0] : span[1]]):
            return None
    s, e = span[0], min(span[1], span[0] + ANCHOR_MAX_CHARS)
    return _make(text, s, _cut_sentence(text, s, e), "anchor")


def from_bold(text: str) -> Answer | None:
    """Source 5 (weak): the last short markdown bold that is not a label or a header."""
    for m in reversed(list(_BOLD.finditer(text))):
        inner = m.group(1).strip()
        line_start = text.rfind("\n", 0, m.start()) + 1
        if not inner or inner.endswith(":") or _HEADER_LINE.match(text[line_start : m.start()]):
            continue
        return _make(text, m.start(1), m.end(1), "bold")
    return None


def from_bare(text: str) -> Answer | None:
    """Fallback: a completion that is itself a short one-line answer (``8``, ``B``, ``\\frac12``).

    Not a header or anchor line, and not prose (text answers of more than
    :data:`BARE_MAX_WORDS` words are refused).
    """
    stripped = text.strip()
    if not stripped or "\n" in stripped or len(stripped) > BARE_MAX_CHARS:
        return None
    if _HEADER_LINE.match(stripped) or _ANCHOR.search(stripped) or _ANSWER_OPEN.search(stripped):
        return None
    ans = _make(text, 0, len(text), "bare")
    if ans is not None and ans.kind == "text" and len(ans.text.split()) > BARE_MAX_WORDS:
        return None
    return ans


def extract_strong(text: str, config: RewardConfig) -> Answer | None:
    """Sources 1-5 in order; ``None`` when none of them finds anything."""
    if not isinstance(text, str) or not text:
        return None
    return _strong(text[: config.max_completion_chars], _schema(config))


def _strong(text: str, schema: FormatSchema) -> Answer | None:
    for source in (
        lambda: from_answer_section(text, schema),
        lambda: from_boxed(text),
        lambda: from_answer_tag(text),
        lambda: from_anchor(text),
        lambda: from_bold(text),
    ):
        ans = source()
        if ans is not None:
            return ans
    return None


def extract(text: str, config: RewardConfig) -> Answer | None:
    """The full built-in chain (sources 1-5, then the bare-answer fallback). Never raises."""
    try:
        return _extract(text, _schema(config), config.max_completion_chars)
    except Exception:  # defensive: a reward must never take training down
        return None


def _extract(text: str, schema: FormatSchema, max_chars: int) -> Answer | None:
    try:
        ans = _strong(text[:max_chars], schema) if isinstance(text, str) and text else None
        if ans is None and isinstance(text, str):
            ans = from_bare(text[:max_chars])
        return ans
    except Exception:  # defensive: a reward must never take training down
        return None


def parse_gold(solution: str, config: RewardConfig) -> Answer:
    """Parse a gold solution (``### The final answer is:\\nB: 8``, ``8``, ``\\frac{1}{2}``, ``B``).

    Uses the extraction chain; when it finds nothing (or only a truncated box), the whole solution
    is the gold answer. Cached: the gold repeats for the M completions of a group.
    """
    text = solution if isinstance(solution, str) else ""
    try:
        return _parse_gold_cached(text, _schema(config), config.max_completion_chars)
    except Exception:
        return Answer(text="", kind="none", source="gold_error", span=(0, len(text)))


@lru_cache(maxsize=4096)
def _parse_gold_cached(text: str, schema: FormatSchema, max_chars: int) -> Answer:
    ans = _extract(text, schema, max_chars)
    if ans is not None and ans.found:
        return ans
    whole = _make(text, 0, len(text), "gold_raw")
    return whole or Answer(text="", kind="none", source="empty_gold", span=(0, len(text)))


# --- hooks ----------------------------------------------------------------------------------------


@hookimpl
def stepreward_extract_answer(text: str, config: RewardConfig) -> Answer | None:
    """Sources 1-5 for flavor ``"stepreward"``."""
    if config.flavor != FLAVOR:
        return None
    try:
        return extract_strong(text, config)
    except Exception:
        return None


@hookimpl(specname="stepreward_extract_answer", trylast=True)
def extract_bare_fallback(text: str, config: RewardConfig) -> Answer | None:
    """Weak fallback for flavor ``"stepreward"``: the whole completion if it is a bare answer."""
    if config.flavor != FLAVOR or not isinstance(text, str):
        return None
    try:
        return from_bare(text[: config.max_completion_chars])
    except Exception:
        return None

