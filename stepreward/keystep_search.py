"""Search primitives of the soft key-step matcher (see :mod:`stepreward.plugins.keystep_matcher`).

- :class:`SearchDoc`: the searched part of a completion, normalised on first use (lowercase), with
  the way back to original offsets and, built lazily, its math runs split into chains of sides
  (:mod:`stepreward.mathruns`) and the candidate units made of them.
- :func:`analyse_form`: a key-step form classified once (cached) as an equation or expression
  (the whole form is one chain of mathematics, found with the same extractor as the text) or
  else a phrase (``4 circles``, ``area of the triangle = 12``).
- :func:`find_bounded`: substring search that respects token boundaries (``x=3`` is not found in
  ``x=30``, ``2`` not in ``12``, ``6/3=2`` not in ``16/3=2`` nor in ``1+6/3=2``).

Confirmation (symbolic and fuzzy) lives in :mod:`stepreward.keystep_confirm`.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import islice
from operator import le
from typing import NamedTuple

from .guard import GuardRefused
from .mathexpr import Expr, MathParseError, gate_numbers, parse_relation_normalised_cached
from .mathruns import Chain, context_free, math_chains
from .normalize import normalize, normalize_text
from .textedits import Normalized, NormalizedJoin, concat
from .types import Span

MAX_CHAIN_SPAN = 4  # a = b = c = d = e: a pair of sides at most this far apart in a chain
_FEW_SPANS = 1  # up to this many spans, exact search goes span by span
_NL_DASH_RE = re.compile(r"\n-")  # with a "-" at the very start: a "-" starting a line
_MATHY_RE = re.compile(r"[\d+\-*/^\u03c0\u221a\u00b0%]|\\sqrt|\\frac")
NUM_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?")
OP_CHARS_RE = re.compile(r"[=<>+*/^]|(?<![a-z])-|-(?![a-z])")
MIRROR = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_LEFT_REJECT = frozenset("_^/*+-")
_RIGHT_REJECT = frozenset("_^/*+-(%")


# --- boundaries ----------------------------------------------------------------------------------


def left_ok(t: str, s: int, math: bool) -> bool:
    if s == 0:
        return True
    p, f = t[s - 1], t[s]
    if f.isalnum() or f in "\u03c0\u221a\\":
        if p.isalnum() or (math and p in _LEFT_REJECT):
            return False
        if p == "." and f.isdigit() and s >= 2 and t[s - 2].isdigit():
            return False
    return True


def right_ok(t: str, e: int, math: bool) -> bool:
    if e >= len(t):
        return True
    n, last = t[e], t[e - 1]
    if last.isalnum() or last in ")]}\u03c0\u00b0":
        if n.isalnum() or (math and n in _RIGHT_REJECT):
            return False
        if n == "." and last.isdigit() and e + 1 < len(t) and t[e + 1].isdigit():
            return False
    return True


def find_bounded(text: str, needle: str, *, math: bool, start: int = 0, end: int | None = None) -> int:
    """Index of the first occurrence of ``needle`` in ``text[start:end]`` on token boundaries, or -1."""
    if not needle:
        return -1
    end = len(text) if end is None else end
    i = text.find(needle, start, end)
    while i >= 0:
        if left_ok(text, i, math) and right_ok(text, i + len(needle), math):
            return i
        i = text.find(needle, i + 1, end)
    return -1


def occurrences(text: str, needle: str, start: int = 0, end: int | None = None) -> Iterator[int]:
    """Start of every occurrence of ``needle`` inside ``text[start:end]``, in order (none if empty)."""
    if not needle:
        return
    i = text.find(needle, start, end)
    while i >= 0:
        yield i
        i = text.find(needle, i + 1, end)


def first_bounded(text: str, needle: str, candidates: Iterable[int], form: str) -> int:
    """The first of ``candidates`` (occurrences of ``needle``) on token boundaries, as
    :func:`find_bounded` with ``math`` true unless the key-step ``form`` is a phrase; the form is
    classified (:func:`analyse_form`) only when the answer depends on it (that costs far more).

    Math boundaries are stricter than phrase boundaries: the first occurrence good for a phrase
    decides unless it fails as mathematics, and only then does the kind matter.
    """
    n = len(needle)
    if not n:
        return -1
    it = iter(candidates)
    for i in it:
        if left_ok(text, i, True) and right_ok(text, i + n, True):
            return i  # good for either kind (and no earlier occurrence was good for a phrase)
        if left_ok(text, i, False) and right_ok(text, i + n, False):
            if analyse_form(form).kind == "phrase":
                return i
            return next((j for j in it if left_ok(text, j, True) and right_ok(text, j + n, True)), -1)
    return -1


# --- the searched document -----------------------------------------------------------------------


class Unit(NamedTuple):
    """A candidate: some sides of one chain (by index) and the operators between them."""

    chain: Chain
    idx: tuple[int, ...]
    ops: tuple[str, ...]

    @property
    def start(self) -> int:
        return self.chain.sides[self.idx[0]][0]

    @property
    def end(self) -> int:
        return self.chain.sides[self.idx[-1]][1]


def _windows(ch: Chain, k: int) -> list[tuple[tuple[int, ...], tuple[str, ...]]]:
    """Consecutive windows of ``k`` sides; for ``k == 2`` also any two sides of an ``=`` chain
    (``c = \\sqrt{100} = 10`` states ``c = 10``)."""
    n = len(ch.sides)
    if k == 2:
        out = []
        for i in range(n - 1):
            for j in range(i + 1, min(n, i + 1 + MAX_CHAIN_SPAN)):
                if j > i + 1 and ch.ops[j - 1] != "=":
                    break
                if j == i + 1 or ch.ops[i] == "=":
                    out.append(((i, j), (ch.ops[i] if j == i + 1 else "=",)))
        return out
    return [(tuple(range(i, i + k)), ch.ops[i : i + k - 1]) for i in range(n - k + 1)]


@dataclass
class SearchDoc:
    """The searched spans of a text, normalised on first use, plus lazily built candidate units."""

    original: str
    spans: list[Span]
    _norm: Normalized | NormalizedJoin | None = None
    _chains: list[Chain] | None = None
    _units: dict[int, tuple[list[str], list[Unit], list[list[str]]]] = field(default_factory=dict)
    _starts: list[int] | None = None  # span starts when many, ordered and disjoint, else []

    @property
    def norm(self) -> Normalized | NormalizedJoin:
        """The searched spans, normalised (lowercase) and joined by newlines."""
        if self._norm is None:
            t, n = self.original, len(self.original)
            if len(self.spans) == 1:
                a, b = self.spans[0]
                self._norm = normalize(t[a:b], lower=True, offset=a, source_len=n)
                return self._norm
            pieces = [t[a:b] for a, b in self.spans]
            seen = dict.fromkeys(pieces)  # a repeated section is normalised once
            for piece in seen:
                seen[piece] = normalize(piece, lower=True, source_len=n)
            self._norm = concat(list(map(seen.__getitem__, pieces)), shifts=[a for a, _ in self.spans])
        return self._norm

    def occurrences(self, needle: str) -> Iterator[int]:
        """Occurrences of ``needle`` wholly inside a searched span, span by span (so that, with
        :func:`first_bounded`, the first span holding a good occurrence wins). Many ordered
        spans are searched in one pass over the text."""
        spans, t = self.spans, self.original
        if not self._ordered_starts():
            for a, b in spans:
                yield from occurrences(t, needle, a, b)
            return
        if not needle:
            return
        starts, n, hi = self._starts, len(needle), spans[-1][1]
        i = t.find(needle, spans[0][0], hi)
        while i >= 0:
            if i + n <= spans[bisect_right(starts, i) - 1][1]:
                yield i
            i = t.find(needle, i + 1, hi)

    def _ordered_starts(self) -> list[int]:
        """Span starts when there are more than a few spans, ordered and disjoint, else ``[]``."""
        if self._starts is None:
            spans = self.spans
            flat = [x for span in spans for x in span]  # a, b, a, b, ...: ordered and disjoint if sorted
            ordered = len(spans) > _FEW_SPANS and all(map(le, flat, islice(flat, 1, None)))
            self._starts = [a for a, _ in spans] if ordered else []
        return self._starts

    def yields_first(self, i: int, n: int) -> bool:
        """Whether :meth:`occurrences` yields ``i`` first, given that ``i`` is the first occurrence
        of an ``n``-character needle in the whole text: it lies wholly inside a span, and no span
        searched before that one can hold an occurrence (one span, or ordered disjoint spans)."""
        spans = self.spans
        if len(spans) == 1:
            a, b = spans[0]
            return a <= i and i + n <= b
        starts = self._ordered_starts()
        k = bisect_right(starts, i) - 1
        return k >= 0 and i + n <= spans[k][1]

    @property
    def chains(self) -> list[Chain]:
        if self._chains is None:
            bullets = self._bullets()
            # repeats add no candidate; repeated sections are not even scanned
            self._chains = math_chains(self.norm.text, bullets, distinct=True, skip=self._repeats(bullets))
        return self._chains

    def _bullets(self) -> frozenset[int]:
        """Positions of list bullets: a ``-`` starting a line, followed by a blank in the original."""
        t = self.norm.text
        dashes = [m.end() - 1 for m in _NL_DASH_RE.finditer(t)]  # a "-" starting a line
        if t.startswith("-"):
            dashes.append(0)
        return frozenset(i for i in dashes if self._space_after(i))

    def _repeats(self, bullets: frozenset[int]) -> list[tuple[int, int]]:
        """Ranges of the joined text that repeat an earlier searched section whose math runs do not
        depend on their surroundings (:func:`stepreward.mathruns.context_free`), with its bullets in
        the same places: their chains are all duplicates. Adjacent ranges are merged."""
        norm = self._norm
        if not isinstance(norm, NormalizedJoin) or len(norm.parts) < 2:
            return []
        parts, starts = norm.parts, norm.part_starts
        ids = list(map(id, parts))
        first = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))  # id -> first index
        if len(first) == len(ids):
            return []  # no section repeats
        free: dict[int, bool] = {}  # id -> context-free, for the pieces that repeat
        marks = sorted(bullets)
        out: list[tuple[int, int]] = []
        lo = hi = -2  # the range being merged
        for i, k in enumerate(ids):
            j = first[k]
            if j == i:
                continue
            if k not in free:
                free[k] = context_free(parts[j].text)
            start = starts[i]
            end = start + len(parts[i].text)
            if not free[k] or (marks and _marks_in(marks, start, end) != _marks_in(marks, starts[j], starts[j] + end - start)):
                continue
            if hi + 1 >= start:  # only the separator between: one range
                hi = end
                continue
            if hi >= 0:
                out.append((lo, hi))
            lo, hi = start, end
        if hi >= 0:
            out.append((lo, hi))
        return out

    def _space_after(self, i: int) -> bool:
        e = self.norm.span(i, i + 1)[1]
        return e < len(self.original) and self.original[e] in " \t"

    def units(self, k: int) -> tuple[list[str], list[Unit], list[list[str]]]:
        """Candidate units of ``k`` sides: their strings, the units, and per side position the
        side texts (``columns[i][u]`` is side ``i`` of unit ``u``). Duplicate strings are kept once.

        ``k == 1``: single sides containing some mathematics (for expression key steps).
        """
        if k not in self._units:
            seen: set[str] = set()
            strings: list[str] = []
            units: list[Unit] = []
            columns: list[list[str]] = [[] for _ in range(k)]
            t = self.norm.text
            seen_chains: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
            for ch in self.chains:
                texts = tuple([t[a:b] for a, b in ch.sides])
                if (texts, ch.ops) in seen_chains:
                    continue  # an identical chain earlier gave the same strings: all seen
                seen_chains.add((texts, ch.ops))
                for idx, ops in _windows(ch, k):
                    parts = [texts[idx[0]]]
                    for o, j in zip(ops, idx[1:], strict=False):
                        parts += [o, texts[j]]
                    s = "".join(parts)
                    if s in seen or (k == 1 and not _MATHY_RE.search(s)):
                        continue
                    seen.add(s)
                    strings.append(s)
                    units.append(Unit(ch, idx, ops))
                    for i, j in enumerate(idx):
                        columns[i].append(texts[j])
            self._units[k] = (strings, units, columns)
        return self._units[k]


def _marks_in(marks: list[int], a: int, b: int) -> list[int]:
    """The sorted ``marks`` inside ``[a, b)``, relative to ``a``."""
    return [m - a for m in marks[bisect_left(marks, a) : bisect_left(marks, b)]]


# --- key-step forms ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormInfo:
    """A key-step form, analysed once."""

    raw: str
    norm: str  # normalised, lowercase
    kind: str  # "equation" | "expression" | "phrase"
    math: str = ""  # the normalised mathematical part ("equation"/"expression")
    mirror: str = ""  # the math part with sides reversed
    sides: tuple[Expr, ...] = ()
    ops: tuple[str, ...] = ()
    gates: tuple[tuple[object, ...], ...] = ()
    numbers: tuple[str, ...] = ()  # number tokens (phrase gate)
    op_chars: str = ""  # operator characters (phrase gate)


@lru_cache(maxsize=8192)
def form_norm(form: str) -> str:
    """A key-step form normalised (lowercase, stripped): :attr:`FormInfo.norm` without the rest."""
    return normalize_text(form, lower=True).strip()


@lru_cache(maxsize=8192)
def analyse_form(form: str) -> FormInfo:
    """Classify and pre-parse a key-step form (cached: gold key steps repeat once per rollout;
    forms that normalise alike share the analysis)."""
    info = _analyse_norm(form_norm(form))
    return info if info.raw == form else replace(info, raw=form)


@lru_cache(maxsize=8192)
def _analyse_norm(norm: str) -> FormInfo:
    """:func:`analyse_form` of a normalised form (``raw`` is the normal form itself)."""
    nums = tuple(NUM_TOKEN_RE.findall(norm))
    opch = "".join(OP_CHARS_RE.findall(norm))
    chains = math_chains(norm)
    # pure mathematics only: no word or number outside the one chain ("4 circles" is a phrase)
    lo, hi = (chains[0].sides[0][0], chains[0].sides[-1][1]) if len(chains) == 1 else (0, 0)
    if hi > lo and not any(c.isalnum() for c in norm[:lo] + norm[hi:]):
        ch = chains[0]
        texts = [norm[s[0] : s[1]] for s in ch.sides]
        math = "".join(t + (ch.ops[i] if i < len(ch.ops) else "") for i, t in enumerate(texts))
        try:
            rel = parse_relation_normalised_cached(math)
        except (MathParseError, GuardRefused, RecursionError):
            rel = None
        if rel is not None and (rel.ops or _MATHY_RE.search(math)):
            rev_ops = [MIRROR[o] for o in reversed(rel.ops)]
            rev = [texts[::-1][0]] + [o + t for o, t in zip(rev_ops, texts[::-1][1:], strict=False)]
            return FormInfo(
                raw=norm, norm=norm, kind="equation" if rel.ops else "expression", math=math,
                mirror="".join(rev), sides=rel.sides, ops=rel.ops,
                gates=tuple(gate_numbers(s) for s in rel.sides), numbers=nums, op_chars=opch,
            )
    return FormInfo(raw=norm, norm=norm, kind="phrase", numbers=nums, op_chars=opch)
