"""Math runs: the stretches of notation in a normalised text, split into chains of sides.

A *math run* is a stretch of numbers, single letters, short letter runs glued to maths such as
``2ab``, operators, brackets and known LaTeX commands; a run containing a digit, operator, root or
command (not a lone prose letter) is split at relation operators into :class:`Chain` s of sides.
:func:`math_chains` finds them for the key-step matcher (candidate equations of a completion) and
for key-step forms (:func:`stepreward.keystep_search.analyse_form`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import NamedTuple

from ._shortcache import cached_when_short

SEED_REACH = 32  # see _runs

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
# A run is atoms, or a space and then an atom. Three speed-ups that find the very same runs:
# - the first atom is tried at every position of a window, so its alternatives are grouped by
#   first character (a letter or not; no two alternatives share one): a letter inside a word is
#   rejected after one test instead of ten;
# - a stretch of digits and + - * / = is a sequence of atoms wherever it starts, so it is taken
#   in one step (a hundred thousand characters of "1+1+..." are one run);
# - nothing follows the repetition, so it never backtracks: a possessive ``*+`` (Python 3.11+)
#   does not save a backtracking point per atom.
_FIRST_ATOM = (
    r"(?:(?=[a-z])(?<![a-z\\])(?:sqrt(?=[({\d\u221a ])|[a-z](?![a-z])"
    r"|(?<=[\d)\]}^*/+\-=<>(_])[a-z]{2,3}(?![a-z])|[a-z]{2,3}(?=[\d(\[{=<>+\-*/^_]))"
    r"|(?![a-z])(?:\d+(?:\.\d+)?|\.\d+|<=|>=|!=|[-+*/^()\[\]{}=<>_\u03c0\u00b0%\u221a]"
    r"|\\(?:" + _CMDS + r")(?![a-z])))"
)
_RUN_RE = re.compile(
    _FIRST_ATOM + r"(?:[\d+\-*/=]+|" + _ATOM + r"| (?=" + _ATOM + r"))*" + ("+" if sys.version_info >= (3, 11) else "")
)
_BRACKET_RE = re.compile(r"[()\[\]{}]")
_SIGNIFICANT_RE = re.compile(r"[\d=<>+\-*/^\u03c0\u221a\\]")
_SEED = r"[\d=<>+\-*/^\u03c0\u221a\\]"
_SEED_CLUSTERS_RE = re.compile(f"{_SEED}+(?:[^{_SEED[1:-1]}]{{1,{2 * SEED_REACH}}}{_SEED}+)*")
_SEED_01 = bytes(49 if re.fullmatch(_SEED, chr(c)) else 48 for c in range(256))  # b"1" / b"0"
# led by a literal "1" (the regex engine scans for it; "1+" would be tried at every position) and
# ones counted in bulk ("1*": a long stretch of seeds is one step): the same clusters as
# _SEED_CLUSTERS_RE, several times faster on prose and on floods of seeds alike
_SEED_CLUSTERS_01 = re.compile(b"11*(?:0{1,%d}11*)*" % (2 * SEED_REACH))
REL_RE = re.compile(r"<=|>=|!=|=|<|>")
_NON_ASCII_DECIMAL_RE = re.compile(r"(?![0-9])\d")
_LONG = 64  # from this length on, a side or run is checked with str.find before a regex scan
_OPENERS, _CLOSERS = "([{", ")]}"


def _clean(t: str, a: int, b: int) -> tuple[int, int]:
    """Trim spaces, markdown ``*`` and unbalanced edge brackets from ``t[a:b]``."""
    while a < b and t[a] in " *":
        a += 1
    while b > a and t[b - 1] in " *":
        b -= 1
    depth = low = 0
    # only brackets move the depth (a long side without any: no regex scan; find runs at memchr speed)
    brackets = b - a < _LONG or any(t.find(c, a, b) >= 0 for c in "()[]{}")
    for c in _BRACKET_RE.findall(t, a, b) if brackets else ():
        if c in _OPENERS:
            depth += 1
        else:
            depth -= 1
            if depth < low:
                low = depth
    while low < 0 and b > a and t[b - 1] in _CLOSERS:  # unmatched closers at the end
        b, low, depth = b - 1, low + 1, depth + 1
    while depth > 0 and a < b and t[a] in _OPENERS:  # unmatched openers at the start
        a, depth = a + 1, depth - 1
    while a < b and t[a] == " ":
        a += 1
    return a, b


_Sides = tuple[tuple[int, int], ...]
_RunChains = list[tuple[_Sides, tuple[str, ...]]]  # a run's chains, positions relative to the run


class Chain(NamedTuple):
    """``sides[0] ops[0] sides[1] ...``; sides are ``(start, end)`` in the normalised text.
    (A named tuple: a completion can hold hundreds, and a tuple is several times cheaper to make
    than a frozen dataclass.)"""

    sides: _Sides
    ops: tuple[str, ...]


def _runs(t: str) -> list[re.Match[str]]:
    """Math runs containing a digit, operator, root or command (not a lone prose letter).

    Python's regex engine is slow on long prose, so the run pattern is only tried in windows
    around such *seed* characters (``SEED_REACH`` characters either side; a run reaching further
    into letters and spaces than that is cut).
    """
    return [m for m in _run_matches(t) if _SIGNIFICANT_RE.search(t, m.start(), m.end())]


def _run_matches(t: str, skip: Sequence[tuple[int, int]] = ()) -> list[re.Match[str]]:
    """Every run in the seed windows, significant or not (:func:`_runs` keeps the significant),
    as a list (a symbol soup has a thousand runs; a generator would resume once for each).

    ``skip``: ordered, disjoint ``[start, end)`` ranges not to scan, each bounded by newlines or
    the text's ends (no run crosses a newline, and every lookaround of the run pattern reads one
    character: the runs outside are found as with a full scan).
    """
    out: list[re.Match[str]] = []
    n, k = len(t), 0
    for a, b in _seed_clusters(t):  # seeds less than 2 * SEED_REACH apart share a window
        pos, end = max(0, a - SEED_REACH), min(n, b + SEED_REACH)
        while k < len(skip) and skip[k][1] <= pos:
            k += 1
        j = k
        while j < len(skip) and skip[j][0] < end:
            if skip[j][0] > pos:
                out += _RUN_RE.finditer(t, pos, skip[j][0])
            pos = max(pos, skip[j][1])
            j += 1
        if pos < end:
            out += _RUN_RE.finditer(t, pos, end)
    return out


def context_free(t: str) -> bool:
    """Whether the runs of ``t`` are the same wherever ``t`` stands as a whole line-bounded piece of
    a longer text: it has no seed, or one seed window spans all of it (no window edge can cut a
    run differently)."""
    clusters = _seed_clusters(t)
    return not clusters or (len(clusters) == 1 and clusters[0][0] <= SEED_REACH and clusters[0][1] + SEED_REACH >= len(t))


def _seed_clusters(t: str) -> list[tuple[int, int]]:
    """Spans of :data:`_SEED_CLUSTERS_RE` in ``t``. The same search runs on a copy with every seed
    character mapped to ``1`` and every other to ``0``: the regex engine scans for a literal
    several times faster than for a character class. Non-ASCII characters become one ``?`` each
    (offsets unchanged), after the two non-ASCII seeds (π, √) became ``+``; a non-ASCII decimal
    digit (also a seed) sends the text to the plain search."""
    if t.isascii():
        b = t.encode("ascii")
    elif _NON_ASCII_DECIMAL_RE.search(t) is None:
        b = t.replace("\u03c0", "+").replace("\u221a", "+").encode("ascii", "replace")
    else:
        return [m.span() for m in _SEED_CLUSTERS_RE.finditer(t)]
    return [m.span() for m in _SEED_CLUSTERS_01.finditer(b.translate(_SEED_01))]


def _split_run(run: str) -> tuple[list[tuple[int, int]], list[str]]:
    """A run's sides (trimmed, relative to the run) and the relation operators between them."""
    sides: list[tuple[int, int]] = []
    ops: list[str] = []
    pos = 0
    lo, hi = 0, len(run)
    if hi > _LONG:  # a long run: scan only from its first to its last "<", ">" or "=" (an op
        # starts at most one character before one of those, "!=", and ends on one)
        found = [i for c in "<=>" if (i := run.find(c)) >= 0]
        lo = max(0, min(found) - 1) if found else hi
        hi = max(run.rfind(c) for c in "<=>") + 1
    for r in REL_RE.finditer(run, lo, max(lo, hi)):
        sides.append(_clean(run, pos, r.start()))
        ops.append(r.group())
        pos = r.end()
    sides.append(_clean(run, pos, len(run)))
    return sides, ops


def _assemble(sides: list[tuple[int, int]], ops: list[str]) -> _RunChains:
    """Chains of one run: empty sides break the chain ("area = 12" gives the one-sided chain "12")."""
    out: _RunChains = []
    cur_s: list[tuple[int, int]] = []
    cur_o: list[str] = []
    for i, side in enumerate(sides):
        if side[1] > side[0]:
            cur_s.append(side)
            if i < len(ops) and i + 1 < len(sides) and sides[i + 1][1] > sides[i + 1][0]:
                cur_o.append(ops[i])
                continue
        if cur_s:
            out.append((tuple(cur_s), tuple(cur_o)))
        cur_s, cur_o = [], []
    if cur_s:
        out.append((tuple(cur_s), tuple(cur_o)))
    return out


def math_chains(
    t: str, bullets: frozenset[int] = frozenset(), distinct: bool = False, skip: Sequence[tuple[int, int]] = ()
) -> list[Chain]:
    """The math runs of a normalised text, split into chains at relation operators.

    ``bullets``: positions of ``-`` characters that are list bullets (dropped from a side).
    A run's chains depend only on its text and two facts about its start, so a run that repeats
    (``6/3 = 2`` two thousand times) is analysed once; with ``distinct`` only its first
    occurrence is kept (the later ones have the same side texts). ``skip``: ranges not scanned
    (see :func:`_run_matches`); with ``distinct``, the caller skips only repeats of earlier text
    that would add nothing.
    """
    chains: list[Chain] = []
    memo: dict[tuple[str, bool, bool], _RunChains] = {}
    # runs passed over on sight: not significant, or (with distinct) already taken where neither a
    # bullet nor a word's argument can make a later occurrence differ
    done: set[str] = set()
    for m in _run_matches(t, skip):
        run = m.group()
        if run in done:
            continue
        split = _significant_split(run)
        if split is None:
            done.add(run)
            continue
        a = m.start()
        bullet = split[0][0][0] + a in bullets
        word_arg = a > 0 and t[a - 1].isalpha() and t[a] in _OPENERS  # a word's argument: "sin(30)"
        key = (run, bullet, word_arg)
        rel = memo.get(key)
        if rel is not None and distinct:
            continue
        if rel is None:
            if bullet or word_arg:
                sides, ops = list(split[0]), split[1]
                if bullet:
                    sides[0] = _clean(run, sides[0][0] + 1, sides[0][1])
                if word_arg:
                    sides[0] = (sides[0][0], sides[0][0])
                rel = _assemble(sides, ops)
            else:
                rel = _plain_chains(run)
            memo[key] = rel
            if distinct and not bullets and run[0] not in _OPENERS:
                done.add(run)
        for rs, ro in rel:
            chains.append(Chain(tuple([(x + a, y + a) for x, y in rs]), ro))
    return chains


@cached_when_short(256)
def _significant_split(run: str) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]] | None:
    """:func:`_split_run` of a significant run, or None (both depend on the run's text alone)."""
    if _SIGNIFICANT_RE.search(run) is None:
        return None
    sides, ops = _split_run(run)
    return tuple(sides), tuple(ops)


@cached_when_short(256)
def _plain_chains(run: str) -> _RunChains:
    """:func:`_assemble` of a significant run that is neither a bullet nor a word's argument."""
    split = _significant_split(run)
    assert split is not None
    return _assemble(list(split[0]), list(split[1]))
