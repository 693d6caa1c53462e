"""Search primitives of the soft key-step matcher (see :mod:`stepreward.plugins.keystep_matcher`).

- :class:`SearchDoc`: the searched part of a completion, normalised on first use (lowercase), with
  the way back to original offsets and, built lazily, its *math runs*: stretches of notation
  (numbers, single letters, short letter runs glued to maths such as ``2ab``, operators,
  brackets, known LaTeX commands), split at relation operators into chains of sides.
- :func:`analyse_form`: a key-step form classified once (cached) as an equation or expression
  (the whole form is one chain of mathematics, found with the same extractor as the text) or
  else a phrase (``4 circles``, ``area of the triangle = 12``).
- :func:`find_bounded`: substring search that respects token boundaries (``x=3`` is not found in
  ``x=30``, ``2`` not in ``12``, ``6/3=2`` not in ``16/3=2`` nor in ``1+6/3=2``).

Confirmation (symbolic and fuzzy) lives in :mod:`stepreward.keystep_confirm`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .guard import GuardRefused
from .mathexpr import Expr, MathParseError, gate_numbers, parse_relation_normalised_cached
from .normalize import Normalized, NormalizedJoin, concat, normalize, normalize_text
from .types import Span

SEED_REACH = 32  # see _runs
MAX_CHAIN_SPAN = 4  # a = b = c = d = e: a pair of sides at most this far apart in a chain

_CMDS = (
    "sqrt|frac|pi|alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda"
    "|mu|nu|xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega"
)
_ATOM = (
    r"(?:\d+(?:\.\d+)?|\.\d+|<=|>=|!=|[-+*/^()\[\]{}=<>_\u03c0\u00b0%\u221a]"
    r"|\\(?:" + _CMDS + r")(?![a-z])"
    r"|(?<![a-z\\])sqrt(?=[({\d\u221a ])"  # plain-text sqrt(2)
    r"|(?<![a-z\\])(?:[a-z](?![a-z])"  # a single letter
    r"|(?<=[\d)\]}^*/+\-=<>(_])[a-z]{2,3}(?![a-z])"  # a short letter run glued to maths: 2ab
    r"|[a-z]{2,3}(?=[\d(\[{=<>+\-*/^_])))"  # ab=5, ab(
)
_RUN_RE = re.compile(_ATOM + r"(?:" + _ATOM + r"| (?=" + _ATOM + r"))*")
_SIGNIFICANT_RE = re.compile(r"[\d=<>+\-*/^\u03c0\u221a\\]")
_SEEDS_RE = re.compile(r"[\d=<>+\-*/^\u03c0\u221a\\]+")
_BULLET_RE = re.compile(r"(?:^|\n)-", re.MULTILINE)
REL_RE = re.compile(r"<=|>=|!=|=|<|>")
_MATHY_RE = re.compile(r"[\d+\-*/^\u03c0\u221a\u00b0%]|\\sqrt|\\frac")
NUM_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?")
OP_CHARS_RE = re.compile(r"[=<>+*/^]|(?<![a-z])-|-(?![a-z])")
MIRROR = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_OPENERS, _CLOSERS = "([{", ")]}"
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


# --- math runs -----------------------------------------------------------------------------------


def _clean(t: str, a: int, b: int) -> tuple[int, int]:
    """Trim spaces, markdown ``*`` and unbalanced edge brackets from ``t[a:b]``."""
    while a < b and t[a] in " *":
        a += 1
    while b > a and t[b - 1] in " *":
        b -= 1
    depth = low = 0
    for c in t[a:b]:
        depth += (c in _OPENERS) - (c in _CLOSERS)
        low = min(low, depth)
    while low < 0 and b > a and t[b - 1] in _CLOSERS:  # unmatched closers at the end
        b, low, depth = b - 1, low + 1, depth + 1
    while depth > 0 and a < b and t[a] in _OPENERS:  # unmatched openers at the start
        a, depth = a + 1, depth - 1
    while a < b and t[a] == " ":
        a += 1
    return a, b


@dataclass(frozen=True)
class Chain:
    """``sides[0] ops[0] sides[1] ...``; sides are ``(start, end)`` in the normalised text."""

    sides: tuple[tuple[int, int], ...]
    ops: tuple[str, ...]


def _runs(t: str) -> list[re.Match[str]]:
    """Math runs containing a digit, operator, root or command (not a lone prose letter).

    Python's regex engine is slow on long prose, so the run pattern is only tried in windows
    around such *seed* characters (``SEED_REACH`` characters either side; a run reaching further
    into letters and spaces than that is cut).
    """
    out: list[re.Match[str]] = []
    lo = hi = -1
    windows: list[tuple[int, int]] = []
    for m in _SEEDS_RE.finditer(t):
        i, j = m.span()
        if i - SEED_REACH > hi:
            if hi >= 0:
                windows.append((lo, hi))
            lo = max(0, i - SEED_REACH)
        hi = min(len(t), j + SEED_REACH)
    if hi >= 0:
        windows.append((lo, hi))
    for lo, hi in windows:
        out += [m for m in _RUN_RE.finditer(t, lo, hi) if _SIGNIFICANT_RE.search(t, m.start(), m.end())]
    return out


def math_chains(t: str, bullets: frozenset[int] = frozenset()) -> list[Chain]:
    """The math runs of a normalised text, split into chains at relation operators.

    ``bullets``: positions of ``-`` characters that are list bullets (dropped from a side).
    """
    chains: list[Chain] = []
    for m in _runs(t):
        a, b = m.span()
        sides: list[tuple[int, int]] = []
        ops: list[str] = []
        pos = a
        for r in REL_RE.finditer(t, a, b):
            sides.append(_clean(t, pos, r.start()))
            ops.append(r.group())
            pos = r.end()
        sides.append(_clean(t, pos, b))
        if sides[0][0] in bullets:
            sides[0] = _clean(t, sides[0][0] + 1, sides[0][1])
        if a > 0 and t[a - 1].isalpha() and t[a] in _OPENERS:  # a word's argument: "sin(30)", "log(2)"
            sides[0] = (sides[0][0], sides[0][0])
        # empty sides break the chain ("area = 12" gives the one-sided chain "12")
        cur_s: list[tuple[int, int]] = []
        cur_o: list[str] = []
        for i, side in enumerate(sides):
            if side[1] > side[0]:
                cur_s.append(side)
                if i < len(ops) and i + 1 < len(sides) and sides[i + 1][1] > sides[i + 1][0]:
                    cur_o.append(ops[i])
                    continue
            if cur_s:
                chains.append(Chain(tuple(cur_s), tuple(cur_o)))
            cur_s, cur_o = [], []
        if cur_s:
            chains.append(Chain(tuple(cur_s), tuple(cur_o)))
    return chains


# --- the searched document -----------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
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

    @property
    def norm(self) -> Normalized | NormalizedJoin:
        """The searched spans, normalised (lowercase) and joined by newlines."""
        if self._norm is None:
            t, n = self.original, len(self.original)
            self._norm = concat([normalize(t[a:b], lower=True, offset=a, source_len=n) for a, b in self.spans])
        return self._norm

    @property
    def chains(self) -> list[Chain]:
        if self._chains is None:
            t = self.norm.text
            bullets = frozenset(m.end() - 1 for m in _BULLET_RE.finditer(t) if self._space_after(m.end() - 1))
            self._chains = math_chains(t, bullets)
        return self._chains

    def _space_after(self, i: int) -> bool:
        e = self.norm.span(i, i + 1)[1]
        return e < len(self.original) and self.original[e] in " \t"

    def side_text(self, side: tuple[int, int]) -> str:
        return self.norm.text[side[0] : side[1]]

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
            for ch in self.chains:
                texts = [self.side_text(s) for s in ch.sides]
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
def analyse_form(form: str) -> FormInfo:
    """Classify and pre-parse a key-step form (cached: gold key steps repeat once per rollout)."""
    norm = normalize_text(form, lower=True).strip()
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
                raw=form, norm=norm, kind="equation" if rel.ops else "expression", math=math,
                mirror="".join(rev), sides=rel.sides, ops=rel.ops,
                gates=tuple(gate_numbers(s) for s in rel.sides), numbers=nums, op_chars=opch,
            )
    return FormInfo(raw=form, norm=norm, kind="phrase", numbers=nums, op_chars=opch)
