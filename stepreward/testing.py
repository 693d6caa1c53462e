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
        if self.op == "/":
            return a / b
        return a + b if self.op == "+" else a - b if self.op == "-" else a * b

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


_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?|\\[a-zA-Z]+|\\.|[A-Za-z]+|\S")


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


# =================================================================================================
# Hostile-input strategies (fuzzing): a plugin must never raise, hang or return out-of-range values
# on any of these. Used by tests/test_fuzz.py over every built-in plugin and the composed reward.
# =================================================================================================

__all__ += [
    "binary_junk", "deep_braces", "hostile_answers", "hostile_completions", "hostile_key_steps",
    "huge_numbers", "latex_fragments", "markdown_text", "repeated_sections", "unicode_junk",
]

_LATEX_TOKENS = (
    "\\frac{", "\\dfrac{", "}", "{", "^", "_", "\\sqrt{", "\\sqrt[3]{", "\\left(", "\\right)", "(", ")",
    "[", "]", "\\{", "\\}", "\\boxed{", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "=", "<", "\\le",
    "\\pi", "\\infty", "\\log_2", "\\ln", "\\sin", "\\cos", "$", "$$", "\\times", "\\cdot", "\\div", "÷",
    "%", "\\%", "\\text{", "\\mathrm{", "^\\circ", "°", ",", ".", "-", "+", "*", "/", "x", "y", "e", "i",
    "0", "1", "2", "3", "7", "12", "3.14", "1/2", "\\in", "\\cup", "\\emptyset", "\\mathbb{R}", "!",
)
_MULBERRY_HEADERS = (
    "### Image Description:", "### Rationales:", "### Let's think step by step.", "### Step 1:",
    "### Step 2:", "### Step 3:", "### Step 0:", "### Step 10:", "### The final answer is:",
)


def unicode_junk(max_size: int = 400) -> st.SearchStrategy[str]:
    """Any unicode text: control characters, NUL, RTL marks, combining marks, emoji, CJK."""
    return st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=max_size)


def latex_fragments(max_tokens: int = 60) -> st.SearchStrategy[str]:
    """Random, usually malformed LaTeX built from real tokens (unbalanced braces included)."""
    return st.lists(st.sampled_from(_LATEX_TOKENS), max_size=max_tokens).map("".join)


@st.composite
def deep_braces(draw: st.DrawFn, max_depth: int = 600) -> str:
    """Deeply nested (and possibly unbalanced) brackets around a small expression."""
    depth = draw(st.integers(1, max_depth))
    opener, closer = draw(st.sampled_from([("{", "}"), ("(", ")"), ("[", "]"), ("\\left(", "\\right)"),
                                           ("\\frac{1}{", "}"), ("\\sqrt{", "}"), ("^{", "}")]))
    inner = draw(st.sampled_from(["x", "2", "1+1", "", "\\pi"]))
    closing = draw(st.integers(0, depth))
    return opener * depth + inner + closer * closing


@st.composite
def huge_numbers(draw: st.DrawFn) -> str:
    """Numbers that are expensive to read or evaluate: long digit runs, towers, factorials."""
    kind = draw(st.sampled_from(["digits", "decimal", "sci", "tower", "power", "factorial", "fraction"]))
    digits = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=1, max_size=12))) or "7"
    n = draw(st.integers(50, 12_000))
    if kind == "digits":
        return (digits * (n // len(digits) + 1))[:n]
    if kind == "decimal":
        return "0." + "0" * n + digits
    if kind == "sci":
        return f"{digits}e{draw(st.sampled_from(['', '-', '+']))}{n * 97}"
    if kind == "tower":
        levels = draw(st.integers(2, 6))
        base = draw(st.sampled_from(["2", "5", "9", "10", "x", "e"]))
        return "^{".join([base] * levels) + "}" * (levels - 1)
    if kind == "power":
        return f"{draw(st.sampled_from(['2', '9', '10', 'x']))}^{{{n * 10_007}}}"
    if kind == "factorial":
        return f"{n * 1_000}!"
    return f"\\frac{{1}}{{2^{{{n}}}}}"


@st.composite
def markdown_text(draw: st.DrawFn) -> str:
    """Markdown with headers, bold answers, lists, tables, code fences and answer tags."""
    pieces = st.sampled_from([
        "# Title\n", "## Answer\n", "**Answer: B**", "**7**", "- item\n", "1. first\n", "| a | b |\n|---|---|\n",
        "```python\nprint(1)\n```\n", "<answer>42</answer>", "<think>hmm</think>", "The answer is 5.",
        "Answer: (C)", "> quote\n", "\\boxed{3}", "<answer>", "</answer>", "***", "\n\n",
    ])
    return "".join(draw(st.lists(pieces, max_size=30)))


@st.composite
def repeated_sections(draw: st.DrawFn, max_sections: int = 300) -> str:
    """Mulberry headers repeated, shuffled, renumbered, with short bodies (format-reward hacking)."""
    headers = draw(st.lists(st.sampled_from(_MULBERRY_HEADERS), min_size=1, max_size=max_sections))
    bodies = st.sampled_from(["", "6/3 = 2", "x = 3", "B: 4", "4", "\\boxed{4}", "A", "yes", "junk " * 20])
    return "\n".join(f"{h}\n{draw(bodies)}" for h in headers)


def binary_junk(max_size: int = 2_000) -> st.SearchStrategy[str]:
    """Random bytes decoded as UTF-8 with replacement or as Latin-1 (NULs and control bytes kept)."""
    return st.binary(max_size=max_size).flatmap(
        lambda b: st.sampled_from([b.decode("utf-8", errors="replace"), b.decode("latin-1")])
    )


@st.composite
def hostile_completions(draw: st.DrawFn) -> str:
    """A completion from any hostile family, alone or spliced into a well-formed Mulberry text."""
    junk = draw(st.one_of(
        unicode_junk(), latex_fragments(), deep_braces(), huge_numbers(), markdown_text(),
        repeated_sections(), binary_junk(),
    ))
    if not draw(st.booleans()):
        return junk
    base = draw(mulberry_completion(["6/3 = 2", "2 \\times 2 = 4"], answer=draw(st.sampled_from(["B: 4", "4", junk]))))
    cut = draw(st.integers(0, len(base)))
    return base[:cut] + junk + base[cut:]


def hostile_answers() -> st.SearchStrategy[str]:
    """Short answer-like strings: choices, yes/no, numbers, sets, plus the hostile families."""
    plain = st.sampled_from([
        "B", "(B)", "B: 8", "B. 8", "yes", "No", "50%", "0.5", "1/2", "\\frac{1}{2}", "[1,2]", "(1,2)",
        "\\{1,2\\}", "x = 3", "6/3=2", "25\\pi", "\\sqrt{2}", "1e-99", "-0", "inf", "nan", "", " ",
    ])
    return st.one_of(plain, latex_fragments(12), huge_numbers(), deep_braces(80), unicode_junk(40))


def hostile_key_steps() -> st.SearchStrategy[list[str | list[str]]]:
    """Key-step lists (strings or lists of alternatives) with hostile forms among ordinary ones.

    Forms are never blank: a blank key step is a malformed *record*, which raises by design.
    """
    form = st.one_of(
        st.sampled_from(["6/3=2", "x = 3", "total area", "\\frac{6}{3}=2"]), hostile_answers().filter(str.strip)
    )
    return st.lists(st.one_of(form, st.lists(form, min_size=1, max_size=3)), min_size=1, max_size=8)
