"""Text normalisation shared by the key-step matcher and answer comparison.

:func:`normalize` rewrites the many ways a model writes the same mathematics into one spelling,
and keeps, for every character of the result, the span of the original text it came from, so
that reports can point into the text that was actually scored.

What it does, in order (each pass is one precompiled regex and is skipped when it finds nothing):

1. Unicode: NFKC per non-ASCII character; minus signs and dashes -> ``-``; ``×``, ``·``, ``⋅``,
   ``∗`` -> ``*``; ``÷``, ``⁄`` -> ``/``; ``≤`` ``≥`` ``≠`` -> ``<=`` ``>=`` ``!=``; ``º`` -> ``°``;
   superscript digits -> ``^2`` / ``^{23}``; curly quotes -> straight quotes; zero-width and
   other format characters removed.
2. LaTeX tokens: ``$``, ``\\$``, ``\\(``, ``\\)``, ``\\[``, ``\\]`` removed; ``\\left(`` / ``\\right)`` (and ``\\bigl`` etc.) ->
   the bare delimiter; ``\\dfrac`` / ``\\tfrac`` / ``\\cfrac`` -> ``\\frac``; ``\\cdot``, ``\\times``,
   ``\\ast`` -> ``*``; ``\\div`` -> ``/``; ``\\le``/``\\leq``, ``\\ge``/``\\geq``, ``\\ne``/``\\neq``;
   ``\\pi`` -> ``π``; ``^\\circ``, ``^{\\circ}``, ``\\degree`` -> ``°``; ``\\%`` -> ``%``; spacing
   commands (``\\,`` ``\\!`` ``\\;`` ``\\quad`` ...) -> a space; ``\\text{..}``, ``\\mathrm{..}``,
   ``\\textbf{..}``, ``\\operatorname{..}`` ... -> their content; ``{,}`` -> ``,``.
3. ``\\frac{a}{b}`` -> ``a/b`` when ``a`` and ``b`` are single numbers or letters, else
   ``(a)/(b)``; the result is wrapped in parentheses when its neighbours would otherwise change
   its meaning (``2\\frac{1}{2}``, ``1/\\frac{2}{3}``, ``\\frac{1}{2}^2``). Innermost first, up to
   four levels of nesting.
4. Thousands separators: ``1,000`` / ``12,345,678`` -> digits only, but only for a real grouping
   (1-3 digits, then groups of exactly three, not part of a longer comma list such as ``1,2,345``).
5. Whitespace: a run containing a newline -> ``\\n``; other runs -> one space between two
   alphanumeric characters (or a digit and a ``.``/``,``), nothing otherwise
   (``6 / 3 = 2`` -> ``6/3=2``; ``is 6`` and ``end. 6`` stay).
6. Optionally lowercase (length-preserving).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .types import Span

# A replacement is a literal string, or a tuple of literal strings and group numbers (the group's
# text), or None for "leave this match as it is".
_Pieces = tuple[str | int, ...]
_Repl = Callable[[re.Match[str]], "str | _Pieces | None"]


@dataclass(frozen=True)
class _Layer:
    """One rewriting pass: edit ``i`` replaced input ``[in_a[i], in_b[i])`` by output
    ``[out_a[i], out_b[i])``; text between edits was copied unchanged."""

    out_a: list[int]
    out_b: list[int]
    in_a: list[int]
    in_b: list[int]

    def start(self, p: int) -> int:
        """Input position where output character (or insertion point) ``p`` starts."""
        i = bisect_right(self.out_a, p) - 1
        if i < 0:
            return p
        if p < self.out_b[i]:
            return self.in_a[i]
        return p + self.in_b[i] - self.out_b[i]

    def end(self, p: int) -> int:
        """Input position where output character ``p`` ends (exclusive)."""
        i = bisect_right(self.out_a, p) - 1
        if i < 0:
            return p + 1
        if p < self.out_b[i]:
            return self.in_b[i]
        return p + 1 + self.in_b[i] - self.out_b[i]


@dataclass(frozen=True, eq=False)
class Normalized:
    """A normalised text that can map its spans back to the original text.

    Offsets are computed on demand from the (few) edits each pass made, so normalising costs
    about as much as the regex passes themselves.
    """

    text: str
    source_len: int
    offset: int = 0
    layers: tuple[_Layer, ...] = ()

    def char_start(self, p: int) -> int:
        """Original offset where normalised character (or insertion point) ``p`` starts."""
        for layer in reversed(self.layers):
            p = layer.start(p)
        return p + self.offset

    def char_end(self, p: int) -> int:
        """Original offset where normalised character ``p`` ends (exclusive)."""
        for layer in reversed(self.layers):
            p = layer.end(p) - 1
        return p + 1 + self.offset

    def span(self, start: int, end: int) -> Span:
        """Map the normalised span ``[start, end)`` to a span of the original text."""
        n = len(self.text)
        start = max(0, min(start, n))
        end = max(start, min(end, n))
        if start == end:
            pos = self.char_start(start)
            return (pos, pos)
        return (self.char_start(start), self.char_end(end - 1))


@dataclass(frozen=True, eq=False)
class NormalizedJoin:
    """Several :class:`Normalized` pieces of one original text joined by a separator."""

    text: str
    parts: tuple[Normalized, ...]
    part_starts: tuple[int, ...]  # index in ``text`` where each part begins
    source_len: int

    def _locate(self, p: int) -> tuple[Normalized, int]:
        i = max(0, bisect_right(self.part_starts, p) - 1)
        return self.parts[i], p - self.part_starts[i]

    def span(self, start: int, end: int) -> Span:
        """Map the joined span ``[start, end)`` to a span of the original text."""
        n = len(self.text)
        start = max(0, min(start, n))
        end = max(start, min(end, n))
        part, ls = self._locate(start)
        s = part.char_start(min(ls, len(part.text)))
        if start == end:
            return (s, s)
        part, le = self._locate(end - 1)
        e = part.char_end(le) if le < len(part.text) else part.char_start(len(part.text))
        return (s, max(s, e))


def _sub(pat: re.Pattern[str], repl: _Repl, text: str, layers: list[_Layer]) -> str:
    """``re.sub`` that records its edits as a new layer in ``layers``."""
    out: list[str] = []
    oa: list[int] = []
    ob: list[int] = []
    ia: list[int] = []
    ib: list[int] = []
    pos = opos = 0
    for m in pat.finditer(text):
        r = repl(m)
        if r is None:
            continue
        if not isinstance(r, str):
            r = "".join(p if isinstance(p, str) else m.group(p) for p in r)
        a, b = m.span()
        out.append(text[pos:a])
        opos += a - pos
        oa.append(opos)
        out.append(r)
        opos += len(r)
        ob.append(opos)
        ia.append(a)
        ib.append(b)
        pos = b
    if not ia:
        return text
    out.append(text[pos:])
    layers.append(_Layer(oa, ob, ia, ib))
    return "".join(out)


# --- 1. unicode ----------------------------------------------------------------------------------

_UNI_MAP = {
    **dict.fromkeys("\u2212\u2010\u2011\u2012\u2013\u2014\u2015\u2043\ufe63\uff0d", "-"),
    **dict.fromkeys("\u00d7\u00b7\u22c5\u2219\u2217\u2715\u2716", "*"),
    **dict.fromkeys("\u00f7\u2044\u2215", "/"),
    "\u2264": "<=", "\u2a7d": "<=", "\u2265": ">=", "\u2a7e": ">=", "\u2260": "!=",
    "\u00ba": "\u00b0", "\u2218": "\u00b0",
    **dict.fromkeys("\u2018\u2019\u201a\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u2033", '"'),
}
_SUPERSCRIPTS = {c: str(i) for i, c in enumerate("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")}
_SUPERSCRIPTS.update({"\u207b": "-", "\u207a": "+"})
_UNI_RE = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+|[^\x00-\x7f]")


@lru_cache(maxsize=4096)
def _uni_char(ch: str) -> str:
    if ch in _UNI_MAP:
        return _UNI_MAP[ch]
    if unicodedata.category(ch) == "Cf":  # zero-width joiners, BOMs, bidi marks
        return ""
    return "".join(_UNI_MAP.get(c, c) for c in unicodedata.normalize("NFKC", ch))


def _uni_repl(m: re.Match[str]) -> str:
    s = m.group()
    if s[0] in _SUPERSCRIPTS:
        digits = "".join(_SUPERSCRIPTS[c] for c in s)
        return "^" + digits if len(digits) == 1 else "^{" + digits + "}"
    return _uni_char(s)


# --- 2. LaTeX tokens -----------------------------------------------------------------------------

_NW = r"(?![a-zA-Z])"  # end of a LaTeX control word
_TOKENS: dict[str, str] = {
    "cdot": "*", "times": "*", "ast": "*", "div": "/", "pi": "\u03c0",
    "le": "<=", "leq": "<=", "leqslant": "<=", "ge": ">=", "geq": ">=", "geqslant": ">=",
    "ne": "!=", "neq": "!=", "degree": "\u00b0", "circ": "\u00b0",
    "dfrac": "\\frac", "tfrac": "\\frac", "cfrac": "\\frac",
    "quad": " ", "qquad": " ", "displaystyle": "", "textstyle": "",
}
_UNWRAP = r"text|textrm|textbf|textit|textnormal|mathrm|mathbf|mathit|mathsf|operatorname|boldsymbol|mbox|rm|bf"
_LATEX_RE = re.compile(
    r"(?=[\\^${])"  # every alternative starts with one of these: lets the scan skip fast
    r"(?:\\(?P<word>" + "|".join(sorted(_TOKENS, key=len, reverse=True)) + ")" + _NW
    + r"|\\(?:left|right|[bB]igg?[lr]?)" + _NW + r"\s*(?P<delim>\\[{}]|\\[lr]?[vV]ert|\\langle|\\rangle|[()\[\]|.])"
    + r"|\^\s*(?:\{\s*\\circ\s*\}|\\circ" + _NW + ")"
    + r"|\\(?:" + _UNWRAP + ")" + _NW + r"\s*\{(?P<inner>[^{}]*)\}"
    + r"|(?P<space>\\[,;:! ])"
    + r"|\\%|\\?\$|\{,\}|\\[()\[\]])"
)
_DELIMS = {".": "", "\\{": "{", "\\}": "}", "\\langle": "(", "\\rangle": ")"}


def _latex_repl(m: re.Match[str]) -> str | _Pieces:
    word = m.group("word")
    if word is not None:
        return _TOKENS[word]
    delim = m.group("delim")
    if delim is not None:
        return _DELIMS.get(delim, "|" if "vert" in delim.lower() else delim)
    if m.group("inner") is not None:
        return (m.re.groupindex["inner"],)
    if m.group("space") is not None:
        return "" if m.group("space") == "\\!" else " "
    s = m.group()
    if s == "\\%":
        return "%"
    if s == "{,}":
        return ","
    if s in ("\\(", "\\)", "\\[", "\\]"):
        return " "  # inline / display maths delimiters
    if s.startswith("^"):
        return "\u00b0"
    return ""  # dollars


# --- 3. fractions --------------------------------------------------------------------------------

_FRAC_RE = re.compile(r"\\frac\s*(?:\{(?P<a>[^{}]*)\}|(?P<a1>\d))\s*(?:\{(?P<b>[^{}]*)\}|(?P<b1>\d))")
_FRAC_ATOM = re.compile(r"\s*-?(?:\d+(?:\.\d+)?|[A-Za-z\u03c0])\s*")
_UNSAFE_BEFORE = frozenset("/^)]}!\u03c0\u00b00123456789")
_UNSAFE_AFTER = frozenset("^%\u00b0!")
_CMD_END = re.compile(r"\\[a-zA-Z]+$")


def _frac_pass(text: str, layers: list[_Layer]) -> str:
    for _ in range(4):  # innermost first; each round removes one nesting level

        def repl(m: re.Match[str], text: str = text) -> _Pieces:
            idx = m.re.groupindex
            ga = idx["a"] if m.group("a") is not None else idx["a1"]
            gb = idx["b"] if m.group("b") is not None else idx["b1"]
            num: _Pieces = (m.group(ga).strip(),) if _FRAC_ATOM.fullmatch(m.group(ga)) else ("(", ga, ")")
            den: _Pieces = (m.group(gb).strip(),) if _FRAC_ATOM.fullmatch(m.group(gb)) else ("(", gb, ")")
            head = text[max(0, m.start() - 16) : m.start()].rstrip()
            before = head[-1:]
            after = text[m.end() : m.end() + 8].lstrip()[:1]
            # a lone letter before is a variable (implicit product); a word before is prose
            letter = before.isalpha() and (not head[-2:-1].isalpha() or _CMD_END.search(head) is not None)
            core: _Pieces = (*num, "/", *den)
            if letter or (before and before in _UNSAFE_BEFORE) or (after and after in _UNSAFE_AFTER):
                return ("(", *core, ")")
            return core

        new = _sub(_FRAC_RE, repl, text, layers)
        if new is text:
            break
        text = new
    return text


# --- 4. thousands, 5. whitespace -----------------------------------------------------------------

_THOUSANDS_RE = re.compile(r"(?=\d)(?<![\d.,])\d{1,3}(?:,\d{3})+(?!\d|,\d)")
# only whitespace that changes: newline runs, longer runs, tabs etc., spaces beside a non-alnum
_WS = "[ \t\n\r\f\v]"
_WS_RE = re.compile(f"{_WS}(?:{_WS}+|(?<![^\\W_]{_WS})|(?![^\\W_])|(?<=[^ ]))")


def _ws_pass(text: str, layers: list[_Layer]) -> str:
    n_text = len(text)

    def repl(m: re.Match[str]) -> str | None:
        g = m.group()
        if "\n" in g:
            return None if g == "\n" else "\n"
        a, b = m.span()
        if a == 0 or b >= n_text:
            return ""
        p, n = text[a - 1], text[b]
        if (p.isalnum() and n.isalnum()) or (p in ".," and n.isdigit()) or (n in ".," and p.isdigit()):
            return None if g == " " else " "  # keep words apart, and "end. 6" from becoming ".6"
        return ""

    return _sub(_WS_RE, repl, text, layers)


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def normalize(text: str, *, lower: bool = False, offset: int = 0, source_len: int | None = None) -> Normalized:
    """Normalise ``text`` (see the module docstring) keeping the way back to the original.

    For a slice ``whole[offset:offset + len(text)]`` pass ``offset`` (and ``len(whole)`` as
    ``source_len``) so that spans index ``whole``.
    """
    layers: list[_Layer] = []
    total = offset + len(text) if source_len is None else source_len
    t = text
    if not t.isascii():
        t = _sub(_UNI_RE, _uni_repl, t, layers)
    if "\\" in t or "$" in t or "{," in t:
        t = _sub(_LATEX_RE, _latex_repl, t, layers)
        if "\\frac" in t:
            t = _frac_pass(t, layers)
    if "," in t:
        t = _sub(_THOUSANDS_RE, lambda m: m.group().replace(",", ""), t, layers)
    t = _ws_pass(t, layers)
    if lower:
        t = _lower(t)  # length-preserving: no layer
    return Normalized(t, total, offset, tuple(layers))


@lru_cache(maxsize=8192)
def normalize_text(text: str, *, lower: bool = False) -> str:
    """Just the normalised string (cached; for short, repeated inputs such as key-step forms)."""
    return normalize(text, lower=lower).text


def concat(parts: list[Normalized], sep: str = "\n") -> Normalized | NormalizedJoin:
    """Join normalised pieces of one original text (a separator maps to the end of the piece before)."""
    if len(parts) == 1:
        return parts[0]
    starts: list[int] = []
    pos = 0
    for p in parts:
        starts.append(pos)
        pos += len(p.text) + len(sep)
    source_len = parts[0].source_len if parts else 0
    return NormalizedJoin(sep.join(p.text for p in parts), tuple(parts), tuple(starts), source_len)
