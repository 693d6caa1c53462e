"""Built-in answer equivalence (flavor ``"stepreward"``).

Decision order for :func:`compare`:

1. **Multiple choice.** Both answers have a letter: the letters decide (``C: 8`` ≠ ``B: 8``,
   ``B: 8`` = ``B``). Only the gold has one: the prediction is compared with the gold's content
   (``8`` = ``B: 8``); a bare gold letter is compared as text. Only the prediction has one: its
   content is compared with the gold (a bare predicted letter with a letterless gold is wrong).
2. **Values** (:func:`values_equal`), first rule that applies:

   - identical cleaned strings → equal;
   - yes/no (``yes``/``true``/``correct`` vs ``no``/``false``/``incorrect``);
   - prose on either side → case-/space-insensitive text (``config.answer.case_sensitive``);
   - ``x = 3`` vs ``3``: a single-variable assignment is compared by its right-hand side;
   - sets, intervals, tuples, unions, matrices: same structure required (``[1,2]`` ≠ ``(1,2)``,
     ``(1,2)`` ≠ ``(2,1)``, ``\\{1,2\\}`` = ``\\{2,1\\}``), then item by item; a bare list
     (``1, 2``, ``x=2 or x=3``) is unordered;
   - relations (``=``, ``<``, ``\\le`` ...): side by side with the same operators, or one operator
     mirrored (``x > 3`` = ``3 < x``); ``6/3=2`` ≠ ``6/3=3``, and ``x+1=0`` ≠ ``-x-1=0``
     (equivalent equations that differ by a factor are *not* recognised); never math-verify;
   - numbers: exact rationals (``0.5`` = ``1/2`` = ``\\frac{1}{2}``; ``1/2^99`` ≠ ``1/2^98``);
     a non-rational value (``\\sqrt{2}``) with ``rel_tol``; percentages by ``config.answer.percent``;
     ``round_to_gold`` (below);
   - expressions: :func:`stepreward.mathexpr.equivalent` (``25`` ≠ ``25\\pi``, ``2`` ≠ ``2\\sqrt3``);
   - what our parser cannot read (``\\log_2 8``, ``\\sin``): math-verify in a guarded worker
     (:mod:`stepreward.answers.mv`): never for percentages, relations, prose or malformed text
     (it reads ``5`` out of ``5x +``); for a set/interval/tuple only once our structure check
     has matched and an item is beyond our parser; numeric ``True`` verdicts re-checked at 50
     digits. A timeout/crash is *not equal* (``method="timeout"``/``"error"``);
   - otherwise normalised text.

``round_to_gold``: when the **gold** is a decimal literal with ``d >= 1`` decimal places, a
prediction whose value rounds (half away from zero) to the gold at ``d`` places is equal: gold
``0.33`` / pred ``0.333`` or ``1/3`` → equal; gold ``0.333`` / pred ``0.33`` → not equal; an integer
gold never rounds (gold ``3`` / pred ``3.4`` → not equal). This is the one asymmetric rule.

Percentages: ``"number"``: ``50%`` = ``50``; ``"fraction"``: ``50%`` = ``0.5``; ``"either"``: both.
Two percentages compare as written. ``0.5`` ≠ ``50`` under every setting.
"""

from __future__ import annotations

import cmath
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

from .. import mathexpr, normalize
from ..answers.latex import Compound, parse_compound
from ..answers.literals import (
    MAX_ANSWER_CHARS,
    clean_answer,
    looks_like_math,
    looks_like_text,
    parse_number,
    parse_yesno,
    text_key,
)
from ..answers.mv import mv_equal
from ..config import AnswerConfig, RewardConfig
from ..guard import GuardError, GuardRefused, GuardTimeout, run_limited
from ..hookspecs import hookimpl
from ..types import Answer, Verdict

FLAVOR = "stepreward"
MAX_DEPTH = 4  # nesting of compound answers
MAX_ITEMS = 64  # items per compound answer compared pairwise
MV_MAX_CHARS = 400
_RELATION = re.compile(r"[=<>]|!=")  # after normalisation (\\le -> <=, ≠ -> !=)
UNDECIDED = "undecided"  # internal: an item of a compound answer our parser cannot read
_ASSIGN = re.compile(r"^\s*([A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?)\s*=\s*([^=<>]+)$")
_RISKY = re.compile(r"\d{40,}|\^\s*\{?[^{}^]*\^\s*\{?[^{}^]*\^")  # huge literals, exponent towers

Num = Fraction | float | complex


class _Refused(Exception):
    """mathexpr's pre-guards refused an input (towers, huge numbers)."""


@dataclass(frozen=True)
class _NumVal:
    value: Num
    places: int | None = None  # decimal places as written (literals only)
    percent: bool = False


class _Side:
    """One answer string with lazily computed readings (parsed at most once).

    ``text`` is the cleaned answer (LaTeX kept: structure detection and math-verify read it);
    ``norm`` is its :func:`stepreward.normalize.normalize_text` form (unicode, ``\\dfrac``,
    ``\\left(``, thousands separators, spacing), read by the number and expression parsers.
    """

    def __init__(self, text: str) -> None:
        self.text = clean_answer(text)
        try:
            self.norm = normalize.normalize_text(self.text).strip()
        except Exception:
            self.norm = self.text

    @cached_property
    def expr(self) -> Any:
        if len(self.text) > MAX_ANSWER_CHARS:
            return None
        try:
            return mathexpr.parse(self.text)
        except GuardRefused as e:
            raise _Refused(str(e)) from e
        except Exception:
            return None

    @cached_property
    def num(self) -> _NumVal | None:
        lit = parse_number(self.norm)
        if lit is not None:
            return _NumVal(lit.value, lit.places, lit.percent)
        if self.expr is None or "%" in self.norm:
            return None
        try:
            if mathexpr.free_symbols(self.expr):
                return None
            v = mathexpr.value(self.expr)
        except Exception:
            return None
        return None if v is None else _NumVal(v)


# --- numbers ---------------------------------------------------------------------------------------


def _scaled(n: _NumVal, mode: str) -> list[tuple[Num, int | None]]:
    """Readings of a number under the percent rule: ``(value, decimal places)``."""
    if not n.percent or mode == "number":
        return [(n.value, n.places)]
    frac = (n.value / 100, None if n.places is None else n.places + 2)
    return [frac] if mode == "fraction" else [(n.value, n.places), frac]


def _close(a: Num, b: Num, rel_tol: float) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    try:
        return cmath.isclose(complex(a), complex(b), rel_tol=rel_tol, abs_tol=0.0)
    except (OverflowError, ValueError):
        return False


def _rounds_to(pred: Num, gold: Num, places: int) -> bool:
    """``pred`` rounded half away from zero to ``places`` decimals equals ``gold``."""
    if isinstance(pred, complex) or not isinstance(gold, Fraction):
        return False
    if isinstance(pred, float) and not math.isfinite(pred):
        return False
    p = Fraction(pred)
    q = 10**places
    r = Fraction(math.floor(abs(p) * q + Fraction(1, 2)), q)
    return (r if p >= 0 else -r) == gold


def numbers_equal(pred: _NumVal, gold: _NumVal, cfg: AnswerConfig) -> Verdict:
    """Compare two numbers under the percent, tolerance and round-to-gold rules."""
    if pred.percent and gold.percent:
        pairs = [((pred.value, pred.places), (gold.value, gold.places))]
    else:
        pairs = [(p, g) for p in _scaled(pred, cfg.percent) for g in _scaled(gold, cfg.percent)]
    for (pv, _), (gv, gplaces) in pairs:
        if _close(pv, gv, cfg.rel_tol):
            exact = isinstance(pv, Fraction) and isinstance(gv, Fraction)
            return Verdict(True, "numeric", "equal as exact rationals" if exact else f"within rel_tol {cfg.rel_tol}")
        if cfg.round_to_gold and gplaces and _rounds_to(pv, gv, gplaces):
            return Verdict(True, "numeric", f"prediction rounds to the gold's {gplaces} decimal places")
    return Verdict(False, "numeric", f"{_show(pred.value)} != {_show(gold.value)}")


def _show(v: Num) -> str:
    s = str(v)
    return s if len(s) <= 40 else s[:37] + "..."


# --- compound answers --------------------------------------------------------------------------------

_UNORDERED = {"set", "list", "union"}


def _compound_equal(cp: Compound, cg: Compound, config: RewardConfig, depth: int) -> Verdict:
    same_family = cp.kind == cg.kind or {cp.kind, cg.kind} == {"set", "list"}
    if not same_family or (cp.left, cp.right) != (cg.left, cg.right):
        return Verdict(False, "structure", f"{_describe(cp)} vs {_describe(cg)}")
    if cp.kind == "matrix":
        if [len(r) for r in cp.items] != [len(r) for r in cg.items]:
            return Verdict(False, "structure", "matrix shapes differ")
        pi = [x for row in cp.items for x in row]
        gi = [x for row in cg.items for x in row]
    else:
        pi, gi = list(cp.items), list(cg.items)
    if cp.kind in _UNORDERED:
        pi, gi = list(dict.fromkeys(pi)), list(dict.fromkeys(gi))
    if len(pi) != len(gi):
        return Verdict(False, "structure", f"{len(pi)} items vs {len(gi)}")
    if len(pi) > MAX_ITEMS:
        return Verdict(False, "structure", f"more than {MAX_ITEMS} items")
    if cp.kind not in _UNORDERED:
        for k, (a, b) in enumerate(zip(pi, gi, strict=True)):
            v = values_equal(a, b, config, depth + 1)
            if not v.equal:
                return Verdict(False, v.method if v.method == UNDECIDED else "structure", f"item {k + 1}: {v.reason}")
        return Verdict(True, "structure", f"{_describe(cp)} equal item by item")
    unmatched = list(gi)
    for a in pi:  # greedy matching; items of a valid set are pairwise distinct values
        verdicts = [(b, values_equal(a, b, config, depth + 1)) for b in unmatched]
        hit = next((b for b, v in verdicts if v.equal), None)
        if hit is None:
            method = UNDECIDED if any(v.method == UNDECIDED for _, v in verdicts) else "structure"
            return Verdict(False, method, f"item {a!r:.40} has no equal in the gold")
        unmatched.remove(hit)
    return Verdict(True, "structure", f"{_describe(cp)} equal as unordered collections")


def _describe(c: Compound) -> str:
    if c.kind == "seq":
        return f"{c.left}…{c.right} (interval/tuple)"
    return {"matrix": "determinant" if c.left == "v" else "matrix"}.get(c.kind, c.kind)


# --- values ----------------------------------------------------------------------------------------

_MV_CACHE: dict[tuple[str, str, float], bool | None] = {}
_MV_CACHE_MAX = 4096


def _math_verify(p: str, g: str, config: RewardConfig) -> Verdict | None:
    """Guarded math-verify; ``None`` when it cannot decide (does not parse)."""
    key = (p, g, config.answer.rel_tol)
    if key not in _MV_CACHE:
        try:
            result = run_limited(mv_equal, p, g, config.answer.rel_tol, timeout=config.timeout_s)
        except GuardTimeout as e:
            return Verdict(False, "timeout", f"math-verify exceeded {config.timeout_s}s: {e}")
        except GuardError as e:
            return Verdict(False, "error", f"math-verify failed: {e}"[:300])
        if len(_MV_CACHE) >= _MV_CACHE_MAX:
            _MV_CACHE.clear()
        _MV_CACHE[key] = result
    result = _MV_CACHE[key]
    return None if result is None else Verdict(result, "math_verify", "decided by math-verify (guarded)")


def _mv_allowed(p: _Side, g: _Side, config: RewardConfig) -> bool:
    return (
        config.answer.use_math_verify
        and "%" not in p.text + g.text
        and max(len(p.text), len(g.text)) <= MV_MAX_CHARS
        and looks_like_math(p.text)
        and looks_like_math(g.text)
        and not (_RISKY.search(p.text) or _RISKY.search(g.text))
    )


def _text_verdict(p: str, g: str, config: RewardConfig) -> Verdict:
    cs = config.answer.case_sensitive
    equal = text_key(p, cs) == text_key(g, cs)
    return Verdict(equal, "text", "same text" if equal else f"{p!r:.60} vs {g!r:.60}")


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}


def _relations_equal(p: _Side, g: _Side, config: RewardConfig) -> Verdict:
    """Relations side by side with the same operators (or one operator mirrored: ``x > 3`` =
    ``3 < x``). Never math-verify, which judges ``6/3=2`` equal to ``6/3=3``."""
    try:
        rp, rg = mathexpr.parse_relation(p.text), mathexpr.parse_relation(g.text)
    except GuardRefused as e:
        return Verdict(False, "refused", f"relation refused by the parser's guards: {e}"[:300])
    except Exception:
        return _text_verdict(p.text, g.text, config)
    tol = config.answer.rel_tol
    readings = [(rp.sides, rp.ops)]
    if len(rp.ops) == 1:
        readings.append((rp.sides[::-1], (_FLIP[rp.ops[0]],)))
    for sides, ops in readings:
        if ops == rg.ops and all(mathexpr.equivalent(a, b, rel_tol=tol) for a, b in zip(sides, rg.sides, strict=True)):
            return Verdict(True, "relation", "same relation, side by side")
    return Verdict(False, "relation", f"{rp} vs {rg}"[:200])


def values_equal(pred: str, gold: str, config: RewardConfig, depth: int = 0) -> Verdict:
    """Compare two answer values (no multiple-choice logic); see the module docstring."""
    p, g = _Side(pred), _Side(gold)
    if not p.text or not g.text:
        return Verdict(False, "empty", "empty answer")
    if p.norm.replace(" ", "") == g.norm.replace(" ", ""):
        return Verdict(True, "exact", "identical after cleaning")
    yp, yg = parse_yesno(p.norm), parse_yesno(g.norm)
    if yp is not None and yg is not None:
        return Verdict(yp == yg, "yesno", f"{yp} vs {yg}")
    if yp or yg or looks_like_text(p.text) or looks_like_text(g.text):
        return _text_verdict(p.text, g.text, config)
    mp, mg = _ASSIGN.match(p.text), _ASSIGN.match(g.text)
    if bool(mp) != bool(mg) and "=" not in (g.text if mp else p.text):
        return values_equal(mp.group(2) if mp else p.text, mg.group(2) if mg else g.text, config, depth)
    if mp and mg and mp.group(1) == mg.group(1):
        return values_equal(mp.group(2), mg.group(2), config, depth)
    lp, lg = parse_number(p.norm), parse_number(g.norm)  # "1,000" is a number, not a list
    cp = parse_compound(p.text) if lp is None else None
    cg = parse_compound(g.text) if lg is None else None
    if cp is not None or cg is not None:
        if cp is None or cg is None:
            return Verdict(False, "structure", f"{_describe(cp or cg)} vs a single value")  # type: ignore[arg-type]
        if depth >= MAX_DEPTH:
            return _text_verdict(p.text, g.text, config)
        v = _compound_equal(cp, cg, config, depth)
        if v.method != UNDECIDED or depth > 0:
            return v
        # same structure, but some items are beyond our parser: math-verify on the whole answer
        mv = _math_verify(p.text, g.text, config) if _mv_allowed(p, g, config) else None
        return mv if mv is not None else _text_verdict(p.text, g.text, config)
    if _RELATION.search(p.norm) or _RELATION.search(g.norm):
        return _relations_equal(p, g, config)
    try:
        if p.num is not None and g.num is not None:
            return numbers_equal(p.num, g.num, config.answer)
        if p.expr is not None and g.expr is not None:
            eq = bool(mathexpr.equivalent(p.expr, g.expr, rel_tol=config.answer.rel_tol))
            return Verdict(eq, "symbolic", "equivalent expressions" if eq else "different values")
    except _Refused as e:
        return Verdict(False, "refused", f"expression refused by the parser's guards: {e}"[:300])
    except Exception as e:  # mathexpr must not raise, but a reward never does either
        return Verdict(False, "error", f"{type(e).__name__}: {e}"[:300])
    if _mv_allowed(p, g, config):
        if depth > 0:  # an item of a compound answer: the caller asks math-verify once, on the whole
            return Verdict(False, UNDECIDED, f"{p.text!r:.40} vs {g.text!r:.40} needs math-verify")
        v = _math_verify(p.text, g.text, config)
        if v is not None:
            return v
    return _text_verdict(p.text, g.text, config)


# Verdicts by (prediction, gold, config): a group's rollouts mostly give the same few answers to
# one gold. Verdicts of guard failures (timeout, error, refused) are not kept: they are retried.
_VERDICTS: dict[tuple[object, ...], tuple[RewardConfig, Verdict]] = {}
_VERDICTS_MAX = 8192
_UNCACHED = frozenset({"timeout", "error", "refused"})


def _answer_key(a: Answer) -> tuple[object, ...]:
    """What :func:`compare` reads of an answer (not where it was found)."""
    return (a.text, a.kind, a.choice, a.content) if isinstance(a, Answer) else (type(a).__name__,)


def compare(pred: Answer, gold: Answer, config: RewardConfig) -> Verdict:
    """Decide whether ``pred`` equals ``gold`` (see the module docstring). Never raises. Decisions
    are cached per prediction, gold and config (answers are immutable)."""
    key = (*_answer_key(pred), None, *_answer_key(gold), id(config))
    hit = _VERDICTS.get(key)
    if hit is not None and hit[0] is config:
        return hit[1]
    v = _compare(pred, gold, config)
    if v.method not in _UNCACHED:
        if len(_VERDICTS) >= _VERDICTS_MAX:
            _VERDICTS.clear()
        _VERDICTS[key] = (config, v)  # holding config keeps id(config) from being reused
    return v


def _compare(pred: Answer, gold: Answer, config: RewardConfig) -> Verdict:
    try:
        if not isinstance(pred, Answer) or not pred.found:
            return Verdict(False, "no_answer", "no answer was extracted")
        if not isinstance(gold, Answer) or not gold.found:
            return Verdict(False, "no_gold", "the gold answer is empty")
        pl, gl = pred.choice, gold.choice
        if pl and gl:
            eq = pl.upper() == gl.upper()
            return Verdict(eq, "choice_letter", f"option {pl} vs {gl}")
        if gl:
            v = values_equal(pred.text, gold.content or gold.text, config)
            what = "content" if gold.content else "letter"
            return Verdict(v.equal, v.method, f"gold is option {gl}; compared with its {what}: {v.reason}")
        if pl:
            if not pred.content:
                v = values_equal(pred.text, gold.text, config)
                return Verdict(v.equal, v.method, f"bare option {pl} vs a gold without a letter: {v.reason}")
            v = values_equal(pred.content, gold.text, config)
            return Verdict(v.equal, v.method, f"prediction's option content vs gold: {v.reason}")
        return values_equal(pred.text, gold.text, config)
    except Exception as e:  # a reward never takes training down
        return Verdict(False, "error", f"{type(e).__name__}: {e}"[:300])


@hookimpl
def stepreward_compare_answers(pred: Answer, gold: Answer, config: RewardConfig) -> Verdict | None:
    """Answer comparison for flavor ``"stepreward"`` (see :func:`compare`)."""
    if config.flavor != FLAVOR:
        return None
    return compare(pred, gold, config)
