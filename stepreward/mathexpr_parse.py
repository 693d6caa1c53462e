"""Tokenizer and recursive-descent parser behind :mod:`stepreward.mathexpr`.

Safe by construction: the grammar below is all it understands (no ``eval``, no sympy), and cheap
pre-guards refuse inputs that could not be evaluated quickly (see the ``MAX_*`` constants; a
refusal raises :class:`~stepreward.guard.GuardRefused`).

Grammar (after :func:`stepreward.normalize.normalize`, so ``\\frac``, ``\\cdot``, ``÷`` ... are
already rewritten)::

    relation := expr (("=" | "<" | ">" | "<=" | ">=" | "!=") expr)*
    expr     := term (("+" | "-") term)*
    term     := unary (("*" | "/" | <implicit>) unary)*      # 1/2x == (1/2)*x, left to right
    unary    := ("-" | "+") unary | power
    power    := postfix (("^" | "**") unary)?                # right-associative; 2^10 == 1024
    postfix  := atom ("%" | "°")*                            # 50% == 1/2; 30° == 30 (a unit mark)
    atom     := number | variable | "π" | "\\pi" | "e" | "(" expr ")" | "[" expr "]" | "{" expr "}"
              | ("\\sqrt" | "√" | "sqrt") ("[" expr "]")? postfix | "\\frac" atom atom

Numbers are decimal literals (exact), optionally in scientific notation without spaces (``1e-3``).
Variables are letters or Greek letters (``\\alpha``), with an optional simple subscript (``x_1``,
``x_{12}``, ``a_n``). A run of two or three letters is ONE name, not a product: in geometry
``AB``, ``ABC`` name segments and angles, and ``∠ABC`` is not ``∠ACB`` (write ``2a b`` or
``2a*b`` for a product); longer runs are words and refused. ``e`` alone is always Euler's number
(as in math-verify), never a variable. Implicit multiplication between an operand
and a following letter, constant, root or bracket; two bare numbers in a row (``2 3``) are refused.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, NamedTuple

from ._shortcache import cached_when_short
from .guard import GuardRefused
from .normalize import normalize

MAX_CHARS = 2000  # normalised input length
MAX_TOKENS = 600
MAX_DIGITS = 100  # per number literal
MAX_SCI_DIGITS = 3  # scientific-notation exponent: 1e999 at most
MAX_EXPONENT = 10**5  # a literal exponent of "^" at least this large is refused
MAX_DEPTH = 48  # bracket / operator nesting
MAX_TOWER = 2  # a^b^c is fine, a^b^c^d (5^{5^{5^5}}) is refused
MAX_LETTER_RUN = 3  # "AB" / "ABC" are names; "area" is a word, not maths


class MathParseError(ValueError):
    """The text is not an expression of the supported grammar."""


class Expr(NamedTuple):
    """An immutable AST node: ``op`` and its ``args``.

    ``num`` (Fraction,) | ``sym`` (name,) | ``const`` ("pi" | "e",) | ``neg`` (x,) | ``+ - * / ^``
    (a, b) | ``sqrt`` (x, index or None) | ``pct`` (x,) | ``deg`` (x,).
    """

    op: str
    args: tuple[Any, ...]

    def __str__(self) -> str:
        return to_str(self)


class Relation(NamedTuple):
    """``sides[0] ops[0] sides[1] ops[1] sides[2] ...``; a bare expression has one side, no ops."""

    sides: tuple[Expr, ...]
    ops: tuple[str, ...]

    def __str__(self) -> str:
        out = [to_str(self.sides[0])]
        for op, side in zip(self.ops, self.sides[1:], strict=False):
            out += [op, to_str(side)]
        return " ".join(out)


def to_str(e: Expr) -> str:
    """A readable, fully parenthesised rendering (for reports and debugging)."""
    op, a = e.op, e.args
    if op == "num":
        return str(a[0])
    if op in ("sym", "const"):
        return "π" if a[0] == "pi" else str(a[0])
    if op == "neg":
        return f"-{to_str(a[0])}"
    if op == "sqrt":
        return f"sqrt({to_str(a[0])})" if a[1] is None else f"root[{to_str(a[1])}]({to_str(a[0])})"
    if op == "pct":
        return f"{to_str(a[0])}%"
    if op == "deg":
        return f"{to_str(a[0])}°"
    return f"({to_str(a[0])} {op} {to_str(a[1])})"


_GREEK = frozenset(
    ["alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "varrho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"]
)
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+(?![\d.]))?)"
    r"|(?P<cmd>\\[a-zA-Z]+)"
    r"|(?P<rel><=|>=|!=|==|=|<|>)"
    r"|(?P<op>\*\*|[-+*/^()\[\]{}%\u00b0_\u221a\u03c0])"
    r"|(?P<letters>[a-zA-Z]+)"
)
_FUNCTIONS = frozenset(["sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "lg", "exp", "lim", "max", "min", "gcd", "lcm", "mod", "det", "arg", "deg"])
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_ATOM_START_OPS = frozenset("([{\u221a\u03c0")

Token = tuple[str, Any, int]  # (kind, value, position)


@cached_when_short(32)  # numbers repeat (a Fraction is immutable; refusals raise, uncached)
def _number(text: str) -> Fraction:
    mant, _, exp = text.lower().partition("e")
    if len(mant) > MAX_DIGITS + 1:
        raise GuardRefused(f"number with more than {MAX_DIGITS} digits")
    if len(exp.lstrip("+-")) > MAX_SCI_DIGITS:
        raise GuardRefused("scientific exponent too large")
    if not exp and "." not in mant:
        return Fraction(int(mant))  # an integer: 4x faster than Fraction's string parser, same value
    return Fraction(text)


def tokenize(text: str) -> list[Token]:
    """Tokens of an already-normalised text."""
    if len(text) > MAX_CHARS:
        raise GuardRefused(f"expression longer than {MAX_CHARS} characters")
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    for m in _TOKEN_RE.finditer(text):  # every character is in some token: a gap is an error
        start = m.start()
        if start != pos:
            break
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        s = m.group()
        if kind == "num":
            append(("num", _number(s), start))
        elif kind == "letters":
            if s.lower() == "sqrt":  # plain-text sqrt(2), as \sqrt
                append(("cmd", "\\sqrt", start))
            elif len(s) > MAX_LETTER_RUN or s.lower() in _FUNCTIONS:
                raise MathParseError(f"word {s[:20]!r} is not an expression of this grammar")
            else:
                append(("letter", s, start))
        else:
            append((kind, s, start))  # type: ignore[arg-type]
        if len(tokens) > MAX_TOKENS:
            raise GuardRefused(f"expression longer than {MAX_TOKENS} tokens")
    if pos != len(text):
        raise MathParseError(f"unexpected character {text[pos]!r} at {pos}")
    return tokens


def _num(v: Fraction) -> Expr:
    return Expr("num", (v,))


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0
        self.depth = 0
        self.tower = 0

    # -- helpers
    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise MathParseError("unexpected end of expression")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise MathParseError(f"expected {value!r} at {tok[2]}, found {tok[1]!r}")

    def is_op(self, *values: str) -> bool:
        i, toks = self.i, self.toks  # (peek() inlined: the parser's most frequent call)
        return i < len(toks) and toks[i][0] == "op" and toks[i][1] in values

    # -- grammar
    def relation(self) -> Relation:
        sides = [self.expr()]
        ops: list[str] = []
        while (tok := self.peek()) is not None and tok[0] == "rel":
            self.i += 1
            ops.append("=" if tok[1] == "==" else tok[1])
            sides.append(self.expr())
        if self.peek() is not None:
            tok = self.toks[self.i]
            raise MathParseError(f"unexpected {tok[1]!r} at {tok[2]}")
        return Relation(tuple(sides), tuple(ops))

    def expr(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise GuardRefused(f"expression nested deeper than {MAX_DEPTH}")
        left = self.term()
        while self.is_op("+", "-"):
            op = self.take()[1]
            left = Expr(op, (left, self.term()))
        self.depth -= 1
        return left

    def starts_atom(self) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        kind, val = tok[0], tok[1]
        return kind in ("num", "letter", "cmd") or (kind == "op" and val in _ATOM_START_OPS)

    def term(self) -> Expr:
        left = self.unary()
        while True:
            if self.is_op("*", "/"):
                op = self.take()[1]
                left = Expr(op, (left, self.unary()))
            elif self.starts_atom():
                tok = self.toks[self.i]
                if tok[0] == "num" and self.toks[self.i - 1][0] == "num":
                    raise MathParseError(f"two numbers in a row at {tok[2]}")
                left = Expr("*", (left, self.power()))
            else:
                return left

    def unary(self) -> Expr:
        if self.is_op("-", "+"):
            op = self.take()[1]
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise GuardRefused(f"expression nested deeper than {MAX_DEPTH}")
            inner = self.unary()
            self.depth -= 1
            return Expr("neg", (inner,)) if op == "-" else inner
        return self.power()

    def power(self) -> Expr:
        base = self.postfix()
        if self.is_op("^", "**"):
            self.i += 1
            self.tower += 1
            if self.tower > MAX_TOWER:
                raise GuardRefused(f"exponent tower higher than {MAX_TOWER}")
            exp = self.unary()
            self.tower -= 1
            if exp.op == "num" and abs(exp.args[0]) >= MAX_EXPONENT:
                raise GuardRefused("exponent too large")
            return Expr("^", (base, exp))
        return base

    def postfix(self) -> Expr:
        e = self.atom()
        while self.is_op("%", "\u00b0"):
            e = Expr("pct" if self.take()[1] == "%" else "deg", (e,))
        return e

    def group(self) -> Expr:
        open_ = self.take()[1]
        self.depth += 1
        inner = self.expr()
        self.depth -= 1
        self.expect(_CLOSE[open_])
        return inner

    def atom(self) -> Expr:
        tok = self.peek()
        if tok is None:
            raise MathParseError("unexpected end of expression")
        kind, val, pos = tok
        if kind == "num":
            self.i += 1
            return _num(val)
        if kind == "op" and val in _CLOSE:
            return self.group()
        if kind == "op" and val == "\u03c0":
            self.i += 1
            return Expr("const", ("pi",))
        if kind == "op" and val == "\u221a":
            self.i += 1
            return self.sqrt_rest()
        if kind == "letter":
            self.i += 1
            if val == "e":
                return Expr("const", ("e",))
            return Expr("sym", (self.subscript(val),))
        if kind == "cmd":
            self.i += 1
            name = val[1:]
            if name == "sqrt":
                return self.sqrt_rest()
            if name == "frac":
                num = self.atom()
                return Expr("/", (num, self.atom()))
            if name == "pi":
                return Expr("const", ("pi",))
            if name in _GREEK:
                return Expr("sym", (self.subscript(name),))
            raise MathParseError(f"unsupported command {val!r} at {pos}")
        raise MathParseError(f"unexpected {val!r} at {pos}")

    def sqrt_rest(self) -> Expr:
        index = None
        if self.is_op("["):
            index = self.group()
        return Expr("sqrt", (self.postfix(), index))

    def subscript(self, base: str) -> str:
        if not self.is_op("_"):
            return base
        self.i += 1
        tok = self.take()
        if tok[0] == "num" and tok[1].denominator == 1:
            return f"{base}_{tok[1]}"
        if tok[0] == "letter":
            return f"{base}_{tok[1]}"
        if tok[0] == "op" and tok[1] == "{":
            parts: list[str] = []
            while (t := self.take())[1] != "}":
                if t[0] not in ("num", "letter"):
                    raise MathParseError(f"unsupported subscript at {t[2]}")
                parts.append(str(t[1]))
            if parts:
                return f"{base}_{''.join(parts)}"
        raise MathParseError(f"unsupported subscript at {tok[2]}")


def parse_relation_normalised(text: str) -> Relation:
    """Parse an already-normalised text (no caching; see :mod:`stepreward.mathexpr`)."""
    tokens = tokenize(text)
    if not tokens:
        raise MathParseError("empty expression")
    return _Parser(tokens).relation()


def parse_relation_raw(text: str) -> Relation:
    """Normalise (case kept) and parse."""
    if len(text) > 4 * MAX_CHARS:
        raise GuardRefused(f"expression longer than {MAX_CHARS} characters")
    return parse_relation_normalised(normalize(text).text)
