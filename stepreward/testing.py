"""Hypothesis strategies for testing stepreward plugins (and stepreward itself).

Requires ``hypothesis`` (part of the ``test`` extra: ``pip install stepreward[test]``); this module
imports it at the top and does not need torch.

Key-step strategies:

- :func:`equations` -- random arithmetic key steps (:class:`Equation`, with their true value);
- :func:`plain_rewrites` / :func:`latex_rewrites` -- equivalent spellings of an equation
  (``6/3 = 2``, ``6 ÷ 3 = 2``, ``2 = 6/3``, ``\\frac{6}{3}=2``, ``$6 \\div 3 = 2$`` ...);
- :func:`whitespace_variants` -- the same text with whitespace added or removed where it does not
  change the tokens;
- :func:`changed_number` -- the text with one number replaced by a different one;
- :func:`mulberry_completion` -- a completion in the Mulberry format whose steps contain the given
  texts between filler sentences (no digits in the filler).

Example::

    from hypothesis import given
    from stepreward.testing import equations, latex_rewrites

    @given(equations().flatmap(lambda eq: latex_rewrites(eq).map(lambda s: (eq, s))))
    def test_my_matcher(pair):
        eq, text = pair
        assert my_match(text, eq.plain())
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from hypothesis import strategies as st

__all__ = [
    "Equation", "changed_number", "equations", "latex_rewrites", "mulberry_completion",
    "plain_rewrites", "whitespace_variants",
]

_OPS = ("+", "-", "*", "/")


@dataclass(frozen=True)
class Equation:
    """``a op b = result`` with small non-negative integers (``result`` exact)."""

    a: int
    op: str
    b: int

    @property
    def result(self) -> Fraction:
        a, b = Fraction(self.a), Fraction(self.b)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[self.op]

    @property
    def result_text(self) -> str:
        r = self.result
        return str(r.numerator) if r.denominator == 1 else f"{r.numerator}/{r.denominator}"

    def plain(self) -> str:
        """The canonical plain form, e.g. ``6/3 = 2``."""
        return f"{self.a}{self.op}{self.b} = {self.result_text}"


@st.composite
def equations(draw: st.DrawFn, max_value: int = 999) -> Equation:
    """Arithmetic equations with integer results (``/`` only when it divides exactly)."""
    op = draw(st.sampled_from(_OPS))
    if op == "/":
        b = draw(st.integers(1, 99))
        q = draw(st.integers(0, max(1, max_value // b)))
        return Equation(b * q, "/", b)
    a = draw(st.integers(0, max_value))
    b = draw(st.integers(0, max_value))
    if op == "-" and b > a:
        a, b = b, a
    return Equation(a, op, b)


_PLAIN_OPS = {"+": ["+"], "-": ["-", "\u2212"], "*": ["*", "\u00d7", "\u00b7"], "/": ["/", "\u00f7"]}
_LATEX_OPS = {"+": ["+"], "-": ["-"], "*": ["\\times", "\\cdot"], "/": ["\\div"]}


def plain_rewrites(eq: Equation) -> st.SearchStrategy[str]:
    """Plain-text spellings of ``eq``: operator glyphs, spacing, mirrored, ``.0`` on integers."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        op = draw(st.sampled_from(_PLAIN_OPS[eq.op]))
        sp = draw(st.sampled_from(["", " "]))
        res = eq.result_text
        if eq.result.denominator == 1 and draw(st.booleans()):
            res += ".0"
        lhs = f"{eq.a}{sp}{op}{sp}{eq.b}"
        return f"{res} = {lhs}" if draw(st.booleans()) else f"{lhs} = {res}"

    return build()


def latex_rewrites(eq: Equation) -> st.SearchStrategy[str]:
    """LaTeX spellings of ``eq``: ``\\frac``/``\\dfrac``/``\\div``, ``\\times``/``\\cdot``, ``$..$``."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        if eq.op == "/" and draw(st.booleans()):
            cmd = draw(st.sampled_from(["\\frac", "\\dfrac", "\\tfrac"]))
            lhs = f"{cmd}{{{eq.a}}}{{{eq.b}}}"
        else:
            op = draw(st.sampled_from(_LATEX_OPS[eq.op]))
            lhs = f"{eq.a} {op} {eq.b}"
        res = eq.result_text
        if eq.result.denominator != 1:
            res = f"\\frac{{{eq.result.numerator}}}{{{eq.result.denominator}}}"
        body = f"{lhs} = {res}"
        wrap = draw(st.sampled_from(["{}", "${}$", "\\({}\\)", "$$ {} $$"]))
        return wrap.format(body)

    return build()


_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?|\\[a-zA-Z]+|[A-Za-z]+|\S")


def _wordy_end(tok: str) -> bool:
    return tok[-1].isalnum()


def _wordy_start(tok: str) -> bool:
    return tok[0].isalnum()


def whitespace_variants(s: str) -> st.SearchStrategy[str]:
    """``s`` with spaces and tabs added or removed between tokens, never splitting or joining them."""
    tokens = _TOKEN_RE.findall(s)

    @st.composite
    def build(draw: st.DrawFn) -> str:
        out = [tokens[0]] if tokens else []
        for prev, tok in zip(tokens, tokens[1:], strict=False):
            # two words, two numbers, or a command then a letter must stay apart
            must = (_wordy_end(prev) and _wordy_start(tok)) or (prev.startswith("\\") and tok[0].isalpha())
            choices = [" ", "  ", "\t"] if must else ["", "", " ", "  ", "\t", " \t "]
            out.append(draw(st.sampled_from(choices)))
            out.append(tok)
        return "".join(out)

    return build()


_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def changed_number(text: str) -> st.SearchStrategy[str]:
    """``text`` with one of its numbers replaced by an integer of a different value."""
    found = list(_NUMBER_RE.finditer(text))
    if not found:
        return st.just(text)

    @st.composite
    def build(draw: st.DrawFn) -> str:
        m = draw(st.sampled_from(found))
        old = Fraction(m.group())
        new = draw(st.integers(0, 9999).filter(lambda v: Fraction(v) != old))
        return text[: m.start()] + str(new) + text[m.end() :]

    return build()


_FILLER = (
    "We look at the figure carefully.", "The diagram shows the quantities we need.",
    "Next we combine the known values.", "This follows from the previous step.",
    "Let us check the units once more.", "So we continue with the computation.",
)


@st.composite
def mulberry_completion(draw: st.DrawFn, steps: list[str], answer: str = "42") -> str:
    """A Mulberry-format completion with one ``### Step N:`` section per item of ``steps``."""
    filler = st.lists(st.sampled_from(_FILLER), min_size=0, max_size=3).map(" ".join)
    parts = [
        "### Image Description:\n" + (draw(filler) or _FILLER[0]),
        "### Rationales:\n" + (draw(filler) or _FILLER[1]),
        "### Let's think step by step.",
    ]
    for i, body in enumerate(steps, 1):
        parts.append(f"### Step {i}:\n{draw(filler)} {body} {draw(filler)}".rstrip())
    parts.append(f"### The final answer is:\n{answer}")
    return "\n".join(parts) + "\n"
