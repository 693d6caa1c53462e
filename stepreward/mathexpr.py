"""A small, safe expression language: parse, evaluate exactly, compare.

No ``eval``, no sympy: a hand-written parser over a restricted grammar (see
:mod:`stepreward.mathexpr_parse`) with cheap pre-guards (length, digits per number, exponent size,
exponent towers, nesting depth) that raise :class:`~stepreward.guard.GuardRefused` before any work
that could blow up. Everything runs in-process in microseconds, so it is safe on model text.

- :func:`parse` / :func:`parse_relation` accept plain and LaTeX forms (``6/3``, ``\\frac{6}{3}``,
  ``6 ÷ 3``, ``3\\sqrt{2}``, ``2\\pi r``, ``50\\%``, ``x_1^2``, ``a = b = c``, ``x \\le 3``).
- :func:`value` evaluates exactly (:class:`~fractions.Fraction`) whenever the result is rational,
  falling back to ``float`` (irrational roots, ``π``, ``e``) or ``complex`` (even roots of
  negatives); ``None`` for free variables, division by zero, or results too large to represent.
- :func:`equivalent` compares exactly when both sides are rational constants (so ``1/2^99`` and
  ``1/2^98`` differ), by relative tolerance otherwise (no absolute tolerance: tiny values never
  collapse to zero), and for expressions with variables by evaluating both sides at several
  deterministic pseudo-random rational points (Schwartz-Zippel): ``x+1`` ~ ``1+x`` but not ``x-1``.
"""

from __future__ import annotations

import cmath
import math
import random
import zlib
from fractions import Fraction
from functools import lru_cache

from .guard import GuardRefused
from .mathexpr_parse import (
    Expr,
    MathParseError,
    Relation,
    parse_relation_normalised,
    parse_relation_raw,
    to_str,
)

__all__ = [
    "Expr", "MathParseError", "Relation", "Value", "equivalent", "free_symbols", "gate_numbers",
    "numbers", "parse", "parse_normalised", "parse_relation", "parse_relation_normalised_cached",
    "to_str", "value",
]

Value = Fraction | float | complex

MAX_BITS = 100_000  # exact powers larger than this are not evaluated
N_POINTS = 6  # random evaluation points for expressions with variables
MIN_POINTS = 3  # points where both sides must be defined (and agree)


# --- parsing (cached; failures are cached too, as exception types and messages) ------------------


@lru_cache(maxsize=16384)
def _rel_cached(text: str, normalised: bool) -> Relation | tuple[type[ValueError], str]:
    try:
        return parse_relation_normalised(text) if normalised else parse_relation_raw(text)
    except (MathParseError, GuardRefused) as e:
        return (type(e), str(e))
    except RecursionError:
        return (GuardRefused, "expression nested too deeply")


def _rel(text: str, normalised: bool) -> Relation:
    if not isinstance(text, str):
        raise MathParseError(f"expected a string, got {type(text).__name__}")
    r = _rel_cached(text, normalised)
    if isinstance(r, Relation):
        return r
    raise r[0](r[1])


def parse_relation(text: str) -> Relation:
    """Parse ``a = b``, chains ``a = b = c``, and ``<``, ``>``, ``\\le``, ``\\ge``, ``\\neq``.

    A text without a relation gives a one-sided ``Relation`` (``ops == ()``). Raises
    :class:`MathParseError` outside the grammar, ``GuardRefused`` when a pre-guard trips.
    """
    return _rel(text, False)


def parse(text: str) -> Expr:
    """Parse a single expression (no relation operator). See :func:`parse_relation`."""
    r = _rel(text, False)
    if r.ops:
        raise MathParseError(f"{text[:40]!r} is a relation, not an expression; use parse_relation")
    return r.sides[0]


def parse_relation_normalised_cached(text: str) -> Relation:
    """:func:`parse_relation` for text already passed through :func:`stepreward.normalize.normalize`."""
    return _rel(text, True)


def parse_normalised(text: str) -> Expr:
    """:func:`parse` for already-normalised text."""
    r = _rel(text, True)
    if r.ops:
        raise MathParseError("a relation, not an expression")
    return r.sides[0]


# --- inspection ----------------------------------------------------------------------------------


def _walk(e: Expr):  # type: ignore[no-untyped-def]
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        if node.op not in ("num", "sym", "const"):
            stack.extend(reversed([a for a in node.args if isinstance(a, Expr)]))


@lru_cache(maxsize=16384)
def free_symbols(expr: Expr) -> frozenset[str]:
    """Names of the variables in ``expr`` (``π`` and ``e`` are constants, not symbols)."""
    return frozenset(n.args[0] for n in _walk(expr) if n.op == "sym")


def numbers(expr: Expr) -> tuple[Fraction, ...]:
    """The literal numbers of ``expr`` in reading order, as written (``-3`` gives ``3``)."""
    return tuple(n.args[0] for n in _walk(expr) if n.op == "num")


def _is_int_lit(e: Expr) -> bool:
    return e.op == "num" and e.args[0].denominator == 1


@lru_cache(maxsize=16384)
def gate_numbers(expr: Expr) -> tuple[Fraction, ...]:
    """The sorted multiset of number *atoms* the key-step number gate compares.

    Literal numbers, except that a quotient of two integer literals in lowest terms counts as the
    one number it denotes: ``1/2`` and ``0.5`` both give ``(1/2,)``, while an unreduced ``6/3``
    gives ``(3, 6)`` -- so ``x = 1/2`` matches ``x = 0.5`` but ``4/2`` never stands in for ``6/3``.
    """
    out: list[Fraction] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if node.op == "num":
            out.append(node.args[0])
        elif node.op == "/" and _is_int_lit(node.args[0]) and _is_int_lit(node.args[1]):
            a, b = node.args[0].args[0], node.args[1].args[0]
            if b != 0 and math.gcd(a.numerator, b.numerator) == 1:
                out.append(a / b)
            else:
                out += [a, b]
        elif node.op not in ("sym", "const"):
            stack.extend(a for a in node.args if isinstance(a, Expr))
    return tuple(sorted(out))


# --- evaluation ----------------------------------------------------------------------------------


class _NoValue(Exception):
    pass


def _finite(v: float | complex) -> float | complex:
    if isinstance(v, complex):
        if not (math.isfinite(v.real) and math.isfinite(v.imag)):
            raise _NoValue
        return v.real if v.imag == 0 else v
    if not math.isfinite(v):
        raise _NoValue
    return v


def _iroot(k: int, n: int) -> int | None:
    """Exact integer n-th root of k >= 0, or None."""
    if k < 2:
        return k
    if k.bit_length() > 4 * MAX_BITS:
        return None
    r = int(round(math.exp(math.log(k) / n))) if k.bit_length() < 1000 else 1 << (k.bit_length() // n)
    for _ in range(200):  # Newton from the float estimate (a few steps in practice)
        nr = ((n - 1) * r + k // (r ** (n - 1) or 1)) // n
        if abs(nr - r) <= 1:
            break
        r = nr
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**n == k:
            return c
    return None


def _root(v: Value, n: int) -> Value:
    if isinstance(v, Fraction):
        neg = v < 0
        if neg and n % 2 == 0:
            return _finite(cmath.sqrt(float(v))) if n == 2 else _finite(complex(float(v)) ** (1 / n))
        a, b = _iroot(abs(v.numerator), n), _iroot(v.denominator, n)
        if a is not None and b is not None:
            return Fraction(-a if neg else a, b)
        f = abs(float(v)) ** (1 / n)
        return -f if neg else f
    return _finite(complex(v) ** (1 / n) if isinstance(v, complex) or v < 0 else v ** (1 / n))


def _pow(a: Value, b: Value) -> Value:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        if b.denominator == 1:
            k = b.numerator
            if a == 0 and k < 0:
                raise _NoValue
            size = max(a.numerator.bit_length(), a.denominator.bit_length())
            if abs(k) * size > MAX_BITS:
                raise _NoValue
            return a**k
        if b.denominator <= 64 and (a >= 0 or b.denominator % 2):
            r = _root(a, b.denominator)
            if isinstance(r, Fraction):
                return _pow(r, Fraction(b.numerator))
    try:
        base: float | complex = float(a) if isinstance(a, Fraction) else a
        exp: float | complex = float(b) if isinstance(b, Fraction) else b
        return _finite(base**exp)
    except (OverflowError, ZeroDivisionError) as e:
        raise _NoValue from e


def _ev(e: Expr, env: dict[str, Fraction]) -> Value:
    op, a = e.op, e.args
    if op == "num":
        return a[0]
    if op == "sym":
        if a[0] in env:
            return env[a[0]]
        raise _NoValue
    if op == "const":
        return math.pi if a[0] == "pi" else math.e
    if op == "neg":
        return -_ev(a[0], env)
    if op in ("pct", "deg"):
        v = _ev(a[0], env)
        return v / 100 if op == "pct" else v
    if op == "sqrt":
        n: Value = 2 if a[1] is None else _ev(a[1], env)
        if not (isinstance(n, int | Fraction) and n == int(n) and 1 <= n <= 64):
            raise _NoValue
        return _root(_ev(a[0], env), int(n))
    x, y = _ev(a[0], env), _ev(a[1], env)
    if op == "+":
        r = x + y
    elif op == "-":
        r = x - y
    elif op == "*":
        r = x * y
    elif op == "/":
        if y == 0:
            raise _NoValue
        r = x / y
    else:
        return _pow(x, y)
    return r if isinstance(r, Fraction) else _finite(r)


def _evaluate(e: Expr, env: dict[str, Fraction]) -> Value | None:
    try:
        return _ev(e, env)
    except (_NoValue, OverflowError, ZeroDivisionError, ValueError, RecursionError):
        return None


@lru_cache(maxsize=16384)
def value(expr: Expr) -> Value | None:
    """The value of ``expr``: a Fraction when rational, else float/complex; None when undefined.

    ``None`` also for free variables, division by zero, and powers too large to evaluate
    (more than ``MAX_BITS`` bits).
    """
    if free_symbols(expr):
        return None
    return _evaluate(expr, {})


def _close(x: Value, y: Value, rel_tol: float) -> bool:
    if isinstance(x, Fraction) and isinstance(y, Fraction):
        return x == y
    try:
        cx, cy = complex(x), complex(y)
    except OverflowError:
        return False
    return abs(cx - cy) <= rel_tol * max(abs(cx), abs(cy))


def _points(names: frozenset[str]) -> list[dict[str, Fraction]]:
    ordered = sorted(names)
    rng = random.Random(zlib.crc32("|".join(ordered).encode()))
    pts = []
    for _ in range(N_POINTS):
        pts.append({n: Fraction(rng.choice((-1, 1)) * rng.randint(2, 97), rng.randint(1, 13)) for n in ordered})
    return pts


def equivalent(a: Expr, b: Expr, *, rel_tol: float = 1e-9) -> bool:
    """Whether ``a`` and ``b`` denote the same value (or the same function of their variables)."""
    if a == b:
        return True
    names = free_symbols(a) | free_symbols(b)
    if not names:
        va, vb = value(a), value(b)
        return va is not None and vb is not None and _close(va, vb, rel_tol)
    agree = 0
    for env in _points(names):
        va, vb = _evaluate(a, env), _evaluate(b, env)
        if va is None or vb is None:
            if (va is None) != (vb is None):
                return False  # defined on one side only: different functions
            continue
        if not _close(va, vb, rel_tol):
            return False
        agree += 1
    return agree >= MIN_POINTS
