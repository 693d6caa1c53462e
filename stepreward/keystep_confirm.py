"""Confirming key-step candidates (see :mod:`stepreward.plugins.keystep_matcher`).

- :func:`symbolic_search`: rapidfuzz ranks the candidate equations of a :class:`SearchDoc`, which
  are then confirmed side by side with :mod:`stepreward.mathexpr` and a hard number gate.
- :func:`phrase_search`: fuzzy alignment for phrases, widened to word boundaries, with number and
  operator gates.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process

from .guard import GuardRefused
from .keystep_search import (
    MIRROR,
    NUM_TOKEN_RE,
    OP_CHARS_RE,
    FormInfo,
    SearchDoc,
    left_ok,
    right_ok,
)
from .mathexpr import MathParseError, equivalent, gate_numbers, parse_relation_normalised_cached
from .mathruns import REL_RE

MAX_CONFIRM = 8  # candidates confirmed symbolically per form, best rapidfuzz score first
MIN_FUZZY_CHARS = 5  # shorter phrases must match exactly (after normalisation)


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
        want_ops = [MIRROR[o] for o in reversed(form.ops)] if mirrored else list(form.ops)
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
    strings, _, columns = doc.units(k)
    scores: dict[int, float] = {}
    for query in {form.math, form.mirror} - {""}:
        for _, sc, idx in process.extract(query, strings, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None):
            scores[idx] = max(sc, scores.get(idx, 0.0))
    if k > 1:
        for mirrored in (False, True):
            want = REL_RE.split(form.mirror if mirrored else form.math)
            # a unit can only reach the cutoff if one of its sides does
            hits = {
                idx
                for i, w in enumerate(want)
                for _, _, idx in process.extract(w, columns[i], scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
            }
            for idx in hits:
                col = [fuzz.ratio(w, columns[i][idx]) for i, w in enumerate(want)]
                sc = max(sum(col) / k, 0.75 * max(col))
                if sc >= cutoff:
                    scores[idx] = max(sc, scores.get(idx, 0.0))
    return scores


def symbolic_search(doc: SearchDoc, form: FormInfo, cutoff: float) -> Found | None:
    """Best candidate for an equation/expression form: a confirmed match, or the closest failure."""
    k = len(form.sides)
    strings, units, columns = doc.units(k)
    if not strings:
        return None
    scores = _prefilter(doc, form, cutoff)
    best: Found | None = None
    # sides written next to each other first, then pairs across a chain (c = \sqrt{100} = 10)
    order = sorted(scores, key=lambda i: (units[i].idx[-1] - units[i].idx[0] >= len(units[i].idx), -scores[i], i))
    for idx in order[:MAX_CONFIRM]:
        u = units[idx]
        ok, why = _confirm(form, [c[idx] for c in columns], list(u.ops))
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
    return [(lo, hi) for lo in lefts for hi in rights if hi > lo and left_ok(t, lo, False) and right_ok(t, hi, False)]


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
    if sorted(NUM_TOKEN_RE.findall(window)) != sorted(form.numbers):
        return Found(a, b, window, score / 100, False, "failed number gate")
    if "".join(OP_CHARS_RE.findall(window)) != form.op_chars:
        return Found(a, b, window, score / 100, False, "failed operator gate")
    return Found(a, b, window, score / 100, True)
