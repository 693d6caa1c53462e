"""Brace-level LaTeX structure: ``\\boxed{}`` spans and compound answers (sets, intervals, ...).

All functions here are linear-time scans over the text (no regex backtracking on nesting), so they
are safe on any input a model can produce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE_TOKENS = re.compile(r"\\.|[{}]", re.S)  # an escape (backslash + any character) or a brace
_OPEN, _CLOSE = "([{", ")]}"


def match_braces(text: str) -> dict[int, int]:
    """Map the index of every ``{`` to the index of its ``}``; unclosed ones are absent.

    A backslash escapes the next character, so ``\\{``/``\\}`` are not braces and ``\\\\{`` is
    a line break followed by a brace.
    """
    out: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_TOKENS.finditer(text):  # only braces and escapes matter: jump between them
        c = m.group()
        if c == "{":
            stack.append(m.start())
        elif c == "}" and stack:
            out[stack.pop()] = m.start()
    return out


@dataclass(frozen=True)
class Box:
    """A top-level ``\\boxed{…}``/``\\fbox{…}``: where it starts, its content span, whether closed."""

    start: int
    content: tuple[int, int]  # content span (to the end of the text when unclosed)
    complete: bool


def find_boxes(text: str) -> list[Box]:
    """All top-level boxes in text order (a box nested in a complete box is skipped)."""
    if _BOX.search(text) is None:
        return []
    closes = match_braces(text)
    boxes: list[Box] = []
    covered_until = -1
    for m in _BOX.finditer(text):
        if m.start() < covered_until:
            continue  # nested inside the previous complete box
        brace = m.end() - 1
        end = closes.get(brace)
        if end is None:
            boxes.append(Box(m.start(), (m.end(), len(text)), False))
        else:
            boxes.append(Box(m.start(), (m.end(), end), True))
            covered_until = end
    return boxes


# --- compound answers ----------------------------------------------------------------------------

_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])\s*")
_MATRIX = re.compile(r"^\\begin\{([pbBvV]?)matrix\}(.*)\\end\{\1matrix\}$", re.S)
_EMPTY = re.compile(r"^(?:\\emptyset|\\varnothing|\\\{\s*\\\}|\{\s*\})$")
_IN_PREFIX = re.compile(r"^[A-Za-z]\s*\\in\s*")
_CONJ = re.compile(r"\s+(?:or|and)\s+|\\(?:text|mbox)\{\s*(?:or|and)\s*\}", re.I)  # "x=2 or x=3" is a list


def _tokens(s: str) -> list[tuple[int, str]]:
    """Positions of bracket tokens: ``\\{``/``\\}`` count as braces; other escapes are skipped."""
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 < len(s) and s[i + 1] in "{}":
                out.append((i, s[i + 1]))
            i += 2
            continue
        if c in _OPEN or c in _CLOSE:
            out.append((i, c))
        i += 1
    return out


@lru_cache(maxsize=64)
def _split_points(sep: str) -> re.Pattern[str]:
    """The characters where :func:`split_top` can do anything: escapes, brackets, ``sep``'s first."""
    return re.compile("[" + re.escape("\\()[]{}" + sep[:1]) + "]")


def split_top(s: str, sep: str) -> list[str]:
    """Split ``s`` on ``sep`` where no bracket is open (brackets of any kind nest together)."""
    if sep not in s:  # nothing to split (most answers): skip the bracket walk
        return [s.strip()]
    depth, parts, last, n = 0, [], 0, len(s)
    points = _split_points(sep)
    m = points.search(s)
    while m is not None:  # every other character just moves on: jump between these
        i = m.start()
        c = s[i]
        if c == "\\" and not s.startswith(sep, i):
            if i + 1 < n and s[i + 1] in "{}":
                depth += 1 if s[i + 1] == "{" else -1
            i += 2
        elif c in _OPEN:
            depth += 1
            i += 1
        elif c in _CLOSE:
            depth -= 1
            i += 1
        elif depth == 0 and s.startswith(sep, i):
            parts.append(s[last:i])
            i += len(sep)
            last = i
        else:
            i += 1
        m = points.search(s, i)
    parts.append(s[last:])
    return [p.strip() for p in parts]


def _outer_group(s: str) -> bool:
    """True when the first bracket of ``s`` closes exactly at its last character."""
    depth = 0
    toks = _tokens(s)
    for k, (_, c) in enumerate(toks):
        depth += 1 if c in _OPEN else -1
        if depth == 0:
            return k == len(toks) - 1
    return False


@dataclass(frozen=True)
class Compound:
    """A structured answer. ``kind``: ``set``, ``seq`` (interval or tuple, ``left``/``right`` are
    its brackets), ``list`` (bare comma list, unordered), ``union`` (unordered parts) or
    ``matrix`` (``items`` are rows; ``left`` is the environment prefix, ``v`` = determinant)."""

    kind: str
    items: tuple
    left: str = ""
    right: str = ""


def parse_compound(s: str) -> Compound | None:
    """Recognise a set, interval, tuple, union, matrix or bare list; ``None`` for anything else."""
    s = _IN_PREFIX.sub("", _SIZING.sub("", s.strip())).strip()
    if not s:
        return None
    if _EMPTY.match(s):
        return Compound("set", ())
    parts = split_top(s, "\\cup")
    if len(parts) > 1:
        return Compound("union", tuple(parts)) if all(parts) else None
    m = _MATRIX.match(s)
    if m:
        rows = [r for r in split_top(m.group(2), "\\\\") if r]
        env = "v" if m.group(1) in ("v", "V") else ""  # |…| and ‖…‖ are determinants/norms
        return Compound("matrix", tuple(tuple(split_top(r, "&")) for r in rows), left=env)
    if s.startswith("\\{") and s.endswith("\\}") and _outer_group(s):
        return Compound("set", tuple(x for x in split_top(s[2:-2], ",") if x))
    if s[0] in "([{" and s[-1] in ")]}" and _outer_group(s):
        inner = split_top(s[1:-1], ",")
        if len(inner) > 1:
            kind = "set" if s[0] == "{" else "seq"
            return Compound(kind, tuple(inner), left=s[0] if kind == "seq" else "", right=s[-1] if kind == "seq" else "")
        return None
    items = split_top(_CONJ.sub(",", s), ",")
    if len(items) > 1 and all(items):
        return Compound("list", tuple(items))
    return None
