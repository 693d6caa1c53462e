"""Search primitives of the soft key-step matcher (see :mod:`stepreward.plugins.keystep_matcher`).

- :class:`SearchDoc`: the searched part of a completion, normalised once (lowercase), with its
  offset map and, built lazily, its *math runs*: maximal stretches of mathematical notation
  (numbers, single letters, short letter runs glued to maths such as ``2ab``, operators,
  brackets, known LaTeX commands), split at relation operators into chains of sides.
- :func:`analyse_form`: a key-step form classified once (cached) as an equation, an expression or
  a phrase; the mathematical part of a form is found with the same run extractor as the text.
- :func:`find_bounded`: substring search that respects token boundaries (``x=3`` is not found in
  ``x=30``, ``2`` not in ``12``, ``6/3=2`` not in ``16/3=2`` nor in ``1+6/3=2``).
- :func:`symbolic_search`: rapidfuzz locates candidate equations, which are then confirmed side by
  side with :mod:`stepreward.mathexpr` and a hard number gate.
- :func:`phrase_search`: fuzzy alignment for phrases, with number and operator gates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from .guard import GuardRefused
from .mathexpr import Expr, MathParseError, equivalent, gate_numbers, parse_relation_normalised_cached
from .normalize import Normalized, normalize_text

MAX_CONFIRM = 8  # candidates confirmed symbolically per form, best rapidfuzz score first
MIN_FUZZY_CHARS = 5  # shorter phrases must match exactly (after normalisation)

_CMDS = (
    "sqrt|frac|pi|alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda"
    "|mu|nu|xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega"
)
_ATOM = (
    r"(?:\\(?:" + _CMDS + r")(?![a-z])"
    r"|\d+(?:\.\d+)?|\.\d+|[\u03c0\u00b0%\u221a]"
    r"|(?<![a-z])[a-z](?![a-z])"  # a single letter
    r"|(?<=[\d)\]}^*/+\-=<>(_])[a-z]{2,3}(?![a-z])"  # short letter run glued to maths: 2ab
    r"|(?<![a-z\\])[a-z]{2,3}(?=[\d(\[{=<>+\-*/^_])"  # ab=5, ab(
    r"|<=|>=|!=|[-+*/^()\[\]{}=<>_])"
)
_RUN_RE = re.compile(_ATOM + r"(?:" + _ATOM + r"| (?=" + _ATOM + r"))*")
_SIGNIFICANT_RE = re.compile(r"[\d=<>+\-*/^\u03c0\u221a\\]")
_REL_RE = re.compile(r"<=|>=|!=|=|<|>")
_MATHY_RE = re.compile(r"[\d+\-*/^\u03c0\u221a\u00b0%]|\\sqrt|\\frac")
_NUM_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?")
_OP_CHARS_RE = re.compile(r"[=<>+*/^]|(?<![a-z])-|-(?![a-z])")
_MIRROR = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_OPENERS, _CLOSERS = "([{", ")]}"
_LEFT_REJECT = frozenset("_^/*+-")
_RIGHT_REJECT = frozenset("_^/*+-(%")


# --- boundaries ----------------------------------------------------------------------------------


def _left_ok(t: str, s: int, math: bool) -> bool:
    if s == 0:
        return True
    p, f = t[s - 1], t[s]
    if f.isalnum() or f in "\u03c0\u221a\\":
        if p.isalnum() or (math and p in _LEFT_REJECT):
            return False
        if p == "." and f.isdigit() and s >= 2 and t[s - 2].isdigit():
            return False
    return True


def _right_ok(t: str, e: int, math: bool) -> bool:
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
        if _left_ok(text, i, math) and _right_ok(text, i + len(needle), math):
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


def math_chains(t: str, bullets: frozenset[int] = frozenset()) -> list[Chain]:
    """The math runs of a normalised text, split into chains at relation operators.

    ``bullets``: positions of ``-`` characters that are list bullets (dropped from a side).
    """
    chains: list[Chain] = []
    for m in _RUN_RE.finditer(t):
        a, b = m.span()
        if _SIGNIFICANT_RE.search(t, a, b) is None:  # a lone letter of prose ("a triangle")
            continue
        sides: list[tuple[int, int]] = []
        ops: list[str] = []
        pos = a
        for r in _REL_RE.finditer(t, a, b):
            sides.append(_clean(t, pos, r.start()))
            ops.append(r.group())
            pos = r.end()
        sides.append(_clean(t, pos, b))
        if sides[0][0] in bullets:
            sides[0] = _clean(t, sides[0][0] + 1, sides[0][1])
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
            for j in range(i + 1, n):
                if j > i + 1 and ch.ops[j - 1] != "=":
                    break
                if j == i + 1 or ch.ops[i] == "=":
                    out.append(((i, j), (ch.ops[i] if j == i + 1 else "=",)))
        return out
    return [(tuple(range(i, i + k)), ch.ops[i : i + k - 1]) for i in range(n - k + 1)]


@dataclass
class SearchDoc:
    """The searched text, normalised, plus lazily built candidate units."""

    original: str
    norm: Normalized
    _chains: list[Chain] | None = None
    _units: dict[int, tuple[list[str], list[Unit], list[list[str]]]] = field(default_factory=dict)

    @property
    def chains(self) -> list[Chain]:
        if self._chains is None:
            t = self.norm.text
            bullets = frozenset(
                i
                for i in range(len(t))
                if t[i] == "-" and (i == 0 or t[i - 1] == "\n") and self._space_after(i)
            ) if "-" in t else frozenset()
            self._chains = math_chains(t, bullets)
        return self._chains

    def _space_after(self, i: int) -> bool:
        e = self.norm.ends[i]
        return e < len(self.original) and self.original[e] in " \t"

    def side_text(self, side: tuple[int, int]) -> str:
        return self.norm.text[side[0] : side[1]]

    def units(self, k: int) -> tuple[list[str], list[Unit], list[list[str]]]:
        """Candidate units of ``k`` sides: their strings, the units, and their side texts.

        ``k == 1``: single sides containing some mathematics (for expression key steps).
        """
        if k not in self._units:
            strings: list[str] = []
            units: list[Unit] = []
            sides: list[list[str]] = []
            for ch in self.chains:
                texts = [self.side_text(s) for s in ch.sides]
                for idx, ops in _windows(ch, k):
                    parts = [texts[idx[0]]]
                    for o, j in zip(ops, idx[1:], strict=False):
                        parts += [o, texts[j]]
                    s = "".join(parts)
                    if k > 1 or _MATHY_RE.search(s):
                        strings.append(s)
                        units.append(Unit(ch, idx, ops))
                        sides.append([texts[j] for j in idx])
            self._units[k] = (strings, units, sides)
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
    nums = tuple(_NUM_TOKEN_RE.findall(norm))
    opch = "".join(_OP_CHARS_RE.findall(norm))
    chains = [c for c in math_chains(norm) if c.ops or _MATHY_RE.search(norm[c.sides[0][0] : c.sides[0][1]])]
    covered = " ".join(norm[s[0] : s[1]] for c in chains for s in c.sides)
    if len(chains) == 1 and len(_NUM_TOKEN_RE.findall(covered)) == len(nums):
        ch = chains[0]
        texts = [norm[s[0] : s[1]] for s in ch.sides]
        math = "".join(t + (ch.ops[i] if i < len(ch.ops) else "") for i, t in enumerate(texts))
        try:
            rel = parse_relation_normalised_cached(math)
        except (MathParseError, GuardRefused, RecursionError):
            rel = None
        if rel is not None and (rel.ops or _MATHY_RE.search(math)):
            rev_ops = [_MIRROR[o] for o in reversed(rel.ops)]
            rev = [texts[::-1][0]] + [o + t for o, t in zip(rev_ops, texts[::-1][1:], strict=False)]
            return FormInfo(
                raw=form, norm=norm, kind="equation" if rel.ops else "expression", math=math,
                mirror="".join(rev), sides=rel.sides, ops=rel.ops,
                gates=tuple(gate_numbers(s) for s in rel.sides), numbers=nums, op_chars=opch,
            )
    return FormInfo(raw=form, norm=norm, kind="phrase", numbers=nums, op_chars=opch)


# --- symbolic confirmation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A confirmed (or best failed) candidate: normalised span, text, score in [0, 1], why."""

    start: int
    end: int
    text: str
    score: float
    ok: bool
    why: str = ""


def _confirm(form: FormInfo, sides: list[str], ops: list[str]) -> tuple[bool, str]:
    """Side-by-side check, direct then mirrored; the reason is the direct orientation's."""
    why = ""
    for mirrored in (False, True):
        want_ops = [_MIRROR[o] for o in reversed(form.ops)] if mirrored else list(form.ops)
        if ops != want_ops:
            why = why or "operator differs"
            continue
        f_sides = form.sides[::-1] if mirrored else form.sides
        f_gates = form.gates[::-1] if mirrored else form.gates
        try:
            parsed = [parse_relation_normalised_cached(s) for s in sides]
        except (MathParseError, GuardRefused, RecursionError):
            return False, "does not parse"
        if any(p.ops for p in parsed):
            return False, "does not parse"
        for p, fs, fg in zip(parsed, f_sides, f_gates, strict=False):
            if gate_numbers(p.sides[0]) != fg:
                why = why or "failed number gate"
                break
            if not equivalent(p.sides[0], fs):
                why = why or "not equivalent"
                break
        else:
            return True, ""
    return False, why


def _prefilter(doc: SearchDoc, form: FormInfo, cutoff: float) -> dict[int, float]:
    """rapidfuzz scores (0-100) of the candidate units at or above ``cutoff``.

    A unit scores the best of ``fuzz.ratio`` against the form and against its mirror image and,
    for equations, of the per-side ratios (mean, and 3/4 of the best side), so that ``x = 1/2``
    still finds ``x = 0.5``. Scores only rank candidates; the symbolic check decides.
    """
    k = len(form.sides)
    strings, _, sides_of = doc.units(k)
    scores: dict[int, float] = {}
    for query in {form.math, form.mirror} - {""}:
        for _, sc, idx in process.extract(query, strings, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None):
            scores[idx] = max(sc, scores.get(idx, 0.0))
    if k > 1:
        for mirrored in (False, True):
            per = [[0.0] * len(strings) for _ in range(k)]
            for i, w in enumerate(_REL_RE.split(form.mirror if mirrored else form.math)):
                for _, sc, idx in process.extract(w, [s[i] for s in sides_of], scorer=fuzz.ratio, limit=None):
                    per[i][idx] = sc
            for idx in range(len(strings)):
                col = [per[i][idx] for i in range(k)]
                sc = max(sum(col) / k, 0.75 * max(col))
                if sc >= cutoff:
                    scores[idx] = max(sc, scores.get(idx, 0.0))
    return scores


def symbolic_search(doc: SearchDoc, form: FormInfo, cutoff: float) -> Found | None:
    """Best candidate for an equation/expression form: a confirmed match, or the closest failure."""
    k = len(form.sides)
    strings, units, sides_of = doc.units(k)
    if not strings:
        return None
    scores = _prefilter(doc, form, cutoff)
    best: Found | None = None
    for idx in sorted(scores, key=lambda i: (-scores[i], i))[:MAX_CONFIRM]:
        u = units[idx]
        ok, why = _confirm(form, sides_of[idx], list(u.ops))
        found = Found(u.start, u.end, strings[idx], 1.0 if ok else scores[idx] / 100, ok, why)
        if ok:
            return found
        best = best or found
    return best


# --- phrases -------------------------------------------------------------------------------------


def _word_edges(t: str, a: int, b: int) -> list[tuple[int, int]]:
    """Windows around ``t[a:b]`` on word boundaries: each edge widened or narrowed to a whole word."""

    def inword(i: int) -> bool:
        return 0 <= i < len(t) and t[i].isalnum()

    lefts, rights = {a}, {b}
    x = a
    while x > 0 and inword(x - 1) and inword(x):
        x -= 1
    lefts.add(x)
    x = a
    while x < b and inword(x - 1) and inword(x):
        x += 1
    lefts.add(x)
    y = b
    while y < len(t) and inword(y - 1) and inword(y):
        y += 1
    rights.add(y)
    y = b
    while y > a and inword(y - 1) and inword(y):
        y -= 1
    rights.add(y)
    return [(lo, hi) for lo in lefts for hi in rights if hi > lo and _left_ok(t, lo, False) and _right_ok(t, hi, False)]


def phrase_search(doc: SearchDoc, form: FormInfo, threshold: float) -> Found | None:
    """Fuzzy phrase match on word boundaries; numbers and operators of the phrase must appear."""
    t = doc.norm.text
    if len(form.norm) < MIN_FUZZY_CHARS or not t:
        return None
    al = fuzz.partial_ratio_alignment(form.norm, t, score_cutoff=threshold * 0.8)
    if al is None:
        return None
    best = (-1.0, al.dest_start, al.dest_end)
    for a, b in _word_edges(t, al.dest_start, al.dest_end):
        a2, b2 = a + len(t[a:b]) - len(t[a:b].lstrip()), b - len(t[a:b]) + len(t[a:b].rstrip())
        sc = fuzz.ratio(form.norm, t[a2:b2])
        if sc > best[0]:
            best = (sc, a2, b2)
    score, a, b = best
    window = t[a:b]
    if score < threshold:
        return Found(a, b, window, max(score, 0.0) / 100, False, f"similarity below {threshold / 100:.2f}")
    if sorted(_NUM_TOKEN_RE.findall(window)) != sorted(form.numbers):
        return Found(a, b, window, score / 100, False, "failed number gate")
    if "".join(_OP_CHARS_RE.findall(window)) != form.op_chars:
        return Found(a, b, window, score / 100, False, "failed operator gate")
    return Found(a, b, window, score / 100, True)
