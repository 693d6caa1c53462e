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
from functools import lru_cache
from itertools import accumulate

from .textedits import (
    Deletions,
    Layer,
    Normalized,
    NormalizedJoin,
    Pieces,
    Repl,
    apply_edits,
    apply_matches,
    concat,
    sub,
)

__all__ = ["Normalized", "NormalizedJoin", "concat", "normalize", "normalize_text"]

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


NON_ASCII_RUN_RE = re.compile("[^\x00-\x7f]+")
_SUPERSCRIPT_RE = re.compile("[" + "".join(_SUPERSCRIPTS) + "]")
_SUPERSCRIPT_RUN_RE = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")


# from this many non-ASCII characters on, in runs this long on average, _uni_translate is the
# faster way (many short runs, as in binary junk, cost it a call per run and a regex per text)
_MANY_NON_ASCII = 64
_LONG_RUNS = 8


def _uni_translate(text: str, runs: list[re.Match[str]], layers: list[Layer]) -> str:
    """:func:`_uni_pass` for text with many non-ASCII characters and no superscripts left (``runs``:
    the matches of :data:`NON_ASCII_RUN_RE`): the non-ASCII stretches are rewritten by
    ``str.translate`` and the layer records only the replacements that change the length (a
    one-character replacement maps offsets exactly as no edit does)."""
    table = {c: r for c in set("".join(m.group() for m in runs)) if (r := _uni_char(c)) != c}
    if not table:
        return text
    tr = {ord(c): r for c, r in table.items()}
    pieces, pos = [], 0
    for run in runs:
        pieces += (text[pos : run.start()], run.group().translate(tr))
        pos = run.end()
    pieces.append(text[pos:])
    out = "".join(pieces)
    resized = [c for c, r in table.items() if len(r) != 1]
    if resized:
        in_a = [m.start() for m in re.finditer("[" + re.escape("".join(resized)) + "]", text)]
        sizes = [len(table[text[i]]) for i in in_a]
        shift = list(accumulate((n - 1 for n in sizes), initial=0))
        out_a = [i + d for i, d in zip(in_a, shift, strict=False)]
        layers.append(Layer(out_a, [o + n for o, n in zip(out_a, sizes, strict=True)], in_a, [i + 1 for i in in_a]))
    return out


def _uni_pass(text: str, layers: list[Layer]) -> str:
    """``sub(_UNI_RE, _uni_repl, ...)`` without the edits that change nothing.

    A character that NFKC and the map leave alone (``π``, ``é``) would be an edit of one
    character into itself, which maps offsets exactly as no edit does; skipping those lets runs
    of non-ASCII text be handled a run at a time instead of a regex match per character.
    Superscript runs (``²³`` -> ``^{23}``) are rewritten first, in a pass of their own: they are
    found in the text as given (so a deleted zero-width character between two of them cannot merge
    them), and what is left has none, so the rest can go through ``str.translate``.
    """
    if _SUPERSCRIPT_RE.search(text) is not None:
        text = sub(_SUPERSCRIPT_RUN_RE, _uni_repl, text, layers)
    runs = list(NON_ASCII_RUN_RE.finditer(text))
    size = sum(m.end() - m.start() for m in runs)
    if size >= _MANY_NON_ASCII and size >= _LONG_RUNS * len(runs):
        return _uni_translate(text, runs, layers)
    edits: list[tuple[int, int, str]] = []
    for run in runs:
        a = run.start()
        edits += [(a + k, a + k + 1, r) for k, c in enumerate(run.group()) if (r := _uni_char(c)) != c]
    return apply_edits(text, edits, layers)


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
# Every alternative starts with a literal character (backslash, ^, $ or {), so the regex engine scans for
# those quickly instead of trying the whole pattern at every position.
_LATEX_RE = re.compile(
    r"\\(?P<word>" + "|".join(sorted(_TOKENS, key=len, reverse=True)) + ")" + _NW
    + r"|\\(?:left|right|[bB]igg?[lr]?)" + _NW + r"\s*(?P<delim>\\[{}]|\\[lr]?[vV]ert|\\langle|\\rangle|[()\[\]|.])"
    + r"|\^\s*(?:\{\s*\\circ\s*\}|\\circ" + _NW + ")"
    + r"|\\(?:" + _UNWRAP + ")" + _NW + r"\s*\{(?P<inner>[^{}]*)\}"
    + r"|\\(?P<space>[,;:! ])"
    + r"|\\%|\\\$|\$|\{,\}|\\[()\[\]]"
)
_DELIMS = {".": "", "\\{": "{", "\\}": "}", "\\langle": "(", "\\rangle": ")"}


def _latex_repl(m: re.Match[str]) -> str | Pieces:
    word = m.group("word")
    if word is not None:
        return _TOKENS[word]
    delim = m.group("delim")
    if delim is not None:
        return _DELIMS.get(delim, "|" if "vert" in delim.lower() else delim)
    if m.group("inner") is not None:
        return (m.re.groupindex["inner"],)
    if m.group("space") is not None:
        return "" if m.group("space") == "!" else " "
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


def _frac_pass(text: str, layers: list[Layer]) -> str:
    for _ in range(4):  # innermost first; each round removes one nesting level

        def repl(m: re.Match[str], text: str = text) -> Pieces:
            idx = m.re.groupindex
            ga = idx["a"] if m.group("a") is not None else idx["a1"]
            gb = idx["b"] if m.group("b") is not None else idx["b1"]
            num: Pieces = (m.group(ga).strip(),) if _FRAC_ATOM.fullmatch(m.group(ga)) else ("(", ga, ")")
            den: Pieces = (m.group(gb).strip(),) if _FRAC_ATOM.fullmatch(m.group(gb)) else ("(", gb, ")")
            head = text[max(0, m.start() - 16) : m.start()].rstrip()
            before = head[-1:]
            after = text[m.end() : m.end() + 8].lstrip()[:1]
            # a lone letter before is a variable (implicit product); a word before is prose
            letter = before.isalpha() and (not head[-2:-1].isalpha() or _CMD_END.search(head) is not None)
            core: Pieces = (*num, "/", *den)
            if letter or (before and before in _UNSAFE_BEFORE) or (after and after in _UNSAFE_AFTER):
                return ("(", *core, ")")
            return core

        new = sub(_FRAC_RE, repl, text, layers)
        if new is text:
            break
        text = new
    return text


# --- 4. thousands, 5. whitespace -----------------------------------------------------------------

_THOUSANDS_RE = re.compile(r"(?=\d)(?<![\d.,])\d{1,3}(?:,\d{3})+(?!\d|,\d)")
_THOUSANDS_HINT = re.compile(r",(?<=\d,)\d{3}")  # in every match of _THOUSANDS_RE; scans fast
# only whitespace that changes: newline runs, longer runs, tabs etc., spaces beside a non-alnum
_WS = "[ \t\n\r\f\v]"
_WS_RE = re.compile(f"{_WS}(?:{_WS}+|(?<![^\\W_]{_WS})|(?![^\\W_])|(?<=[^ ]))")
# The same matches when the only whitespace is " " and "\n", less the lone newlines (which
# _ws_pass leaves as they are), from three patterns that start with a literal character: the
# regex engine scans for a literal several times faster than for a character class.
_LONE_SPACE_RE = re.compile(r" (?![ \n])(?<![ \n] )(?:(?<![^\W_] )|(?![^\W_]))")
_SPACE_RUN_RE = re.compile(r" (?<![ \n] )[ \n]+")
_NEWLINE_RUN_RE = re.compile(r"\n(?<![ \n]\n)[ \n]+")
# "\n\n", " \n" or "\n " somewhere: led by a literal, one scan instead of three
_NEWLINE_RUN_HINT = re.compile(r"\n(?:[\n ]|(?<= \n))")
# ...and, in ASCII text without runs (a space's neighbours are not whitespace), exactly the lone
# spaces _ws_pass deletes: beside a non-alphanumeric, but not between a "." or "," and a digit
# ("end. 6" must not read ".6"). Each condition is one negative lookahead that first reads the
# next character and only then looks behind the space: most spaces sit between two letters and
# fail at the first test (a third faster than a branch of two lookarounds).
_LONE_SPACE_CUT_RE = re.compile(r" (?![A-Za-z0-9](?<=[A-Za-z0-9] .))(?![0-9](?<=[.,] .))(?![.,](?<=[0-9] .))")
# ...and the same for text with non-ASCII letters or symbols but no non-ASCII digit: [^\W_] is
# exactly str.isalnum() for one character (tests/test_fast_paths.py checks every code point), and
# with no non-ASCII digit around, [0-9] is str.isdigit()
_LONE_SPACE_CUT_U_RE = re.compile(r" (?![^\W_](?<=[^\W_] .))(?![0-9](?<=[.,] .))(?![.,](?<=[0-9] .))")


def _ws_repl(text: str) -> Repl:
    """The whitespace rule for one match of :data:`_WS_RE` in ``text``."""
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

    return repl


def _ws_pass_generic(text: str, layers: list[Layer]) -> str:
    """Step 5 for any text (the reference for :func:`_ws_pass`'s faster paths)."""
    return sub(_WS_RE, _ws_repl(text), text, layers)


def _ws_pass(text: str, layers: list[Layer]) -> str:
    if "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        return _ws_pass_generic(text, layers)
    runs: list[re.Match[str]] = []
    double = "  " in text
    if double or _NEWLINE_RUN_HINT.search(text) is not None:
        if double or " \n" in text:  # (a run led by a space starts with one of those)
            runs += _SPACE_RUN_RE.finditer(text)
        runs += _NEWLINE_RUN_RE.finditer(text)
        runs.sort(key=lambda m: m.start())
    ascii_text = text.isascii()
    if not ascii_text and _has_non_ascii_digit(text):
        matches = sorted([*_LONE_SPACE_RE.finditer(text), *runs], key=lambda m: m.start())
        return apply_matches(matches, _ws_repl(text), text, layers)
    if runs:
        # Runs first (each becomes "\n", " " or nothing), then the lone spaces of the result as
        # below. A run is maximal, so its neighbours are not whitespace: rewriting it changes no
        # lone space's neighbours, and a run kept as " " is kept again by the regex below (the
        # same rule), so the two passes edit what one pass over all matches would.
        text = apply_matches(runs, _ws_repl(text), text, layers)
    # Single spaces and newlines only now. Every edit deletes one space, and the regex decides
    # which (no non-ASCII digit: str.isdigit() is [0-9]), so no Python runs per match.
    pattern = _LONE_SPACE_CUT_RE if ascii_text else _LONE_SPACE_CUT_U_RE
    pieces = pattern.split(text)  # (no group in the pattern: just the text between cut spaces)
    if len(pieces) == 1:
        return text
    at = list(accumulate(map(len, pieces)))  # where each deletion falls in the result
    at.pop()
    layers.append(Deletions(at))
    return "".join(pieces)


# A superset of the non-ASCII characters with str.isdigit(): decimal digits (\d) and the other
# digit-valued ones (superscripts, subscripts, circled, Ethiopic, Kharoshthi, ...), each candidate
# confirmed by isdigit() (tests/test_fast_paths.py checks every code point)
_DIGIT_SUPERSET_RE = re.compile(
    "(?![0-9])[\\d\u00b2\u00b3\u00b9\u1369-\u1371\u19da\u2070-\u2089\u2460-\u24ff\u2776-\u2793"
    "\U00010a40-\U00010a43\U00010e60-\U00010e68\U00011052-\U0001105a\U0001f100-\U0001f10a]"
)


def _has_non_ascii_digit(text: str) -> bool:
    """Whether some non-ASCII character of ``text`` is a digit to ``str.isdigit()``."""
    return any(m.group().isdigit() for m in _DIGIT_SUPERSET_RE.finditer(text))


def _lower(text: str) -> str:
    """``text.lower()``, except that a character whose lowercase is longer (``İ``) stays as it is."""
    low = text.lower()
    if len(low) == len(text):
        return low
    keep = "".join(c for c in set(text) if len(c.lower()) != 1)
    if "\u03a3" in text:  # (final sigma: lowercasing depends on the neighbours, so one at a time)
        return "".join(c if c in keep else c.lower() for c in text)
    parts = re.split(f"([{re.escape(keep)}])", text)  # the kept characters at odd indices
    parts[::2] = [p.lower() for p in parts[::2]]
    return "".join(parts)


def normalize(text: str, *, lower: bool = False, offset: int = 0, source_len: int | None = None) -> Normalized:
    """Normalise ``text`` (see the module docstring) keeping the way back to the original.

    For a slice ``whole[offset:offset + len(text)]`` pass ``offset`` (and ``len(whole)`` as
    ``source_len``) so that spans index ``whole``.
    """
    layers: list[Layer] = []
    total = offset + len(text) if source_len is None else source_len
    t = text
    if not t.isascii():
        t = _uni_pass(t, layers)
    if "\\" in t or "$" in t or "{," in t:
        t = sub(_LATEX_RE, _latex_repl, t, layers)
        if "\\frac" in t:
            t = _frac_pass(t, layers)
    if "," in t and _THOUSANDS_HINT.search(t):
        t = sub(_THOUSANDS_RE, lambda m: m.group().replace(",", ""), t, layers)
    t = _ws_pass(t, layers)
    if lower:
        t = _lower(t)  # length-preserving: no layer
    return Normalized(t, total, offset, tuple(layers))


@lru_cache(maxsize=8192)
def normalize_text(text: str, *, lower: bool = False) -> str:
    """Just the normalised string (cached; for short, repeated inputs such as key-step forms)."""
    return normalize(text, lower=lower).text
