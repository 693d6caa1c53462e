"""Cleaning and classifying one answer string (no expression parsing here).

:func:`clean_answer` strips the wrappers models put around an answer (``$…$``, ``\\(…\\)``,
``\\text{…}``, ``**…**``, a trailing period, a leading "the answer is"). :func:`classify` decides
the answer's kind: ``choice`` (multiple-choice letter A–J, with optional content), ``yesno``,
``number`` (a numeric *literal*, see :func:`parse_number`), ``expression`` (anything mathematical
that is not a plain literal; its meaning is decided later by :mod:`stepreward.mathexpr`) or
``text``.

Multiple-choice forms recognised (letters A–J): ``B``, ``(B)``, ``B: 8``, ``B. 8``, ``B) 8``,
``(B) 8``, ``Option B``, ``Choice (B): 8``. A letter followed by a space and a word (``A triangle``)
is *not* a choice. Lower-case letters count only in the explicit forms ``(b)`` and ``option b``.

Yes/no: ``yes``/``true``/``correct`` normalise to ``"yes"``, ``no``/``false``/``incorrect`` to
``"no"``, case-insensitively, alone or followed by punctuation and more text (``Yes, because…``).
``No solution`` is text, not ``no``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .._shortcache import cached_when_short
from ..normalize import normalize_text

MAX_ANSWER_CHARS = 2_000  # longer "answers" are kept as text and never parsed
LETTERS = "ABCDEFGHIJ"

_WRAPPERS = re.compile(r"^\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{(.*)\}$", re.S)
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mbox)\s*\{([^{}]*)\}")
_PREFIX = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\s*,?\s*)?(?:the\s+)?(?:final\s+)?(?:correct\s+)?"
    r"(?:answer|option|choice)\s*(?:is|:)\s*:?\s*",
    re.I,
)
_SPACES = re.compile(r"\s+")
_BOXED = re.compile(r"^\\(?:boxed|fbox)\s*\{(.*)\}$", re.S)
_PREFIX_FIRST = frozenset("sthfcoa")  # first letters of every _PREFIX match (it needs "answer", ...)

# --- multiple choice --------------------------------------------------------------------------
_CHOICE_FORMS = (
    re.compile(r"^\(?([A-J])\)?$"),  # B, (B), B)
    re.compile(r"^\(([A-Ja-j])\)$"),  # (b)
    re.compile(r"^\(([A-Ja-j])\)\s*[:.]?\s*(\S.*)$", re.S),  # (B) 8, (B): 8
    re.compile(r"^([A-J])\s*[:.)]\s*(\S.*)$", re.S),  # B: 8, B. 8, B) 8
    re.compile(r"^([A-J])\s*[:.]$"),  # B. / B:
    re.compile(r"^(?:option|choice)\s*\(?([A-Ja-j])\)?(?:\s*[:.)]?\s*(\S.*))?$", re.S | re.I),
)

# --- yes / no ---------------------------------------------------------------------------------
_YESNO = re.compile(r"^(yes|no|true|false|correct|incorrect)(?:\s*[,.;:!]\s*.*)?$", re.I | re.S)
_YESNO_MAP = {"yes": "yes", "true": "yes", "correct": "yes", "no": "no", "false": "no", "incorrect": "no"}

# --- number literals --------------------------------------------------------------------------
_SIGN = r"(?P<sign>[+\-\u2212]?)"
_DEC = r"(?P<dec>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_NUM_RE = re.compile(rf"^{_SIGN}\s*{_DEC}\s*(?P<pct>\\?%)?$")
_FRAC_RE = re.compile(
    rf"^{_SIGN}\s*(?:\\[dt]?frac\s*\{{\s*(?P<a>\d+)\s*\}}\s*\{{\s*(?P<b>\d+)\s*\}}|(?P<c>\d+)\s*/\s*(?P<d>\d+))"
    r"\s*(?P<pct>\\?%)?$"
)
# trailing units (after a number only): LaTeX text, degrees, common measurement words
_UNIT_RE = re.compile(
    r"^(?P<num>.*?\d)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree|"
    r"(?:square\s+|sq\.?\s*|cubic\s+)?(?:cm|mm|km|m|in|inch(?:es)?|ft|feet|yd|mi|miles?|kg|g|mg|lbs?|"
    r"l|ml|s|sec|seconds?|min|minutes?|h|hrs?|hours?|days?|years?|degrees?|units?|meters?|"
    r"centimeters?|millimeters?|kilometers?|grams?|kilograms?|liters?|dollars?|cents?|yuan|people|"
    r"students?|items?)(?:\s*\^\s*\{?[23]\}?|[²³])?)\.?$",
    re.I,
)
_CURRENCY = re.compile(r"^(?:\\\$|\$|€|£|¥|USD\s*)(?=\s*[\d.])")


@dataclass(frozen=True)
class NumberLiteral:
    """A numeric literal: exact value, decimal places written (``None`` for fractions), percent."""

    value: Fraction
    places: int | None
    percent: bool


def _unwrap_once(s: str) -> str:
    s = s.strip()
    if s.startswith("*") or s.endswith("*"):  # markdown emphasis left over ("**B**", "B**")
        return s.strip("*").strip()
    for a, b in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"), ("**", "**"), ('"', '"')):
        if len(s) > len(a) + len(b) - 1 and s.startswith(a) and s.endswith(b):
            return s[len(a) : len(s) - len(b)].strip()
    if s.startswith("\\"):  # both wrapper patterns start with a backslash
        m = _WRAPPERS.match(s)
        if m and _balanced(m.group(1)):
            return m.group(1).strip()
        m = _BOXED.match(s)
        if m and _balanced(m.group(1)):
            return m.group(1).strip()
    if s.endswith((".", "。")) and not s.endswith(".."):
        return s[:-1].rstrip()
    if s[:1].isascii() and s[:1].lower() not in _PREFIX_FIRST:
        return s  # (non-ASCII first letters may case-fold onto one, "ſo": the regex decides)
    m = _PREFIX.match(s)
    if m and m.end() < len(s):
        return s[m.end() :]
    return s


def _balanced(s: str) -> bool:
    depth = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


_CACHED_CHARS = 256  # answers up to this long are cleaned once (LRU)


def clean_answer(s: str) -> str:
    """Strip presentation wrappers from an answer string (idempotent). Short strings are cached:
    an answer is cleaned by extraction and comparison alike, and a group's answers repeat."""
    if not isinstance(s, str):
        return ""
    return _clean_answer(s)


@cached_when_short(_CACHED_CHARS)
def _clean_answer(s: str) -> str:
    s = s[:MAX_ANSWER_CHARS].strip()
    for _ in range(8):
        t = _unwrap_once(s)
        if t == s:
            break
        s = t
    # math delimiters left inside the answer ("is $8$", "\(x\)")
    s = s.replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    if s.count("$") and not _CURRENCY.match(s):
        s = s.replace("$$", "").replace("\\$", "\x00").replace("$", "").replace("\x00", "\\$")
    s = _TEXT_CMD.sub(lambda m: " " + m.group(1).strip() + " ", s)
    s = s.replace("{,}", ",").replace("\\!", "").replace("\\,", " ").replace("\\;", " ").replace("~", " ")
    s = _SPACES.sub(" ", s).strip()
    for _ in range(4):
        t = _unwrap_once(s)
        if t == s:
            break
        s = t
    return s


def strip_units(s: str) -> str:
    """``5 cm`` -> ``5``, ``30^\\circ`` -> ``30``, ``$5`` -> ``5``; other strings unchanged."""
    s = _CURRENCY.sub("", s).strip()
    m = _UNIT_RE.match(s)
    return m.group("num").strip() if m else s


def parse_number(s: str) -> NumberLiteral | None:
    """Parse a plain numeric literal: ``-3``, ``1,000``, ``0.50``, ``.5``, ``3/4``, ``\\frac{3}{4}``,
    ``50%`` (units such as ``cm`` or ``^\\circ`` after the number are ignored). ``None`` otherwise.
    Cached (the result is immutable)."""
    if not isinstance(s, str) or len(s) > 200:
        return None
    return _parse_number(s)


@lru_cache(maxsize=8192)
def _parse_number(s: str) -> NumberLiteral | None:
    s = strip_units(s.strip())
    m = _NUM_RE.match(s)
    if m:
        dec = m.group("dec").replace(",", "")
        places = len(dec.split(".")[1]) if "." in dec else 0
        value = Fraction(dec)
    else:
        m = _FRAC_RE.match(s)
        if not m:
            return None
        a, b = (m.group("a"), m.group("b")) if m.group("a") is not None else (m.group("c"), m.group("d"))
        if int(b) == 0 or len(a) > 100 or len(b) > 100:
            return None
        value, places = Fraction(int(a), int(b)), None
    if m.group("sign") in ("-", "\u2212"):
        value = -value
    return NumberLiteral(value=value, places=places, percent=m.group("pct") is not None)


def parse_choice(s: str) -> tuple[str, str | None] | None:
    """``(letter, content)`` if ``s`` (already cleaned) is a multiple-choice answer."""
    for rx in _CHOICE_FORMS:
        m = rx.match(s)
        if m:
            content = m.group(2) if (m.re.groups >= 2 and m.group(2)) else None
            return m.group(1).upper(), clean_answer(content) if content else None
    return None


def parse_yesno(s: str) -> str | None:
    """``"yes"``/``"no"`` if ``s`` is a yes/no style answer (see module docstring)."""
    m = _YESNO.match(s)
    return _YESNO_MAP[m.group(1).lower()] if m else None


_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_MATH_WORDS = frozenset(
    ["sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "log", "ln", "exp", "sqrt", "frac", "dfrac", "tfrac", "pi", "infty", "inf", "cdot", "times", "div", "circ", "left", "right", "pm", "mp", "cup", "cap", "emptyset", "varnothing", "begin", "end", "pmatrix", "bmatrix", "matrix", "vmatrix", "max", "min", "gcd", "lcm", "mod", "deg"]
)


def looks_like_text(s: str) -> bool:
    """True when ``s`` has a word (3+ letters, not a LaTeX command or math function name)."""
    return any(w.lower() not in _MATH_WORDS for w in _WORD.findall(s))


def looks_like_math(s: str) -> bool:
    """Cheap test: digits, operators, brackets or LaTeX commands, and no prose words."""
    if not s or looks_like_text(s):
        return False
    return bool(re.search(r"[\d\\^=+\-*/(){}\[\]<>]|^[A-Za-z]{1,2}$", s))


def text_key(s: str, case_sensitive: bool = False) -> str:
    """Text comparison key: cleaned, normalised (unicode, LaTeX spelling), whitespace collapsed,
    outer punctuation dropped, case folded unless ``case_sensitive``."""
    s = clean_answer(s)
    with contextlib.suppress(Exception):  # normalisation is best effort
        s = normalize_text(s)
    s = _SPACES.sub(" ", s).strip(" .,;:!?\"'`")
    return s if case_sensitive else s.casefold()


def classify(s: str) -> tuple[str, str, str | None, str | None]:
    """Clean ``s`` and return ``(kind, text, choice, content)``.

    ``text`` is the cleaned answer (for ``yesno`` the normalised ``"yes"``/``"no"``); ``choice`` and
    ``content`` are set for multiple choice only. Kinds are decided cheaply, without parsing:
    ``expression`` means "looks mathematical"; whether it parses is decided at comparison time.
    Results for short strings are cached (the completions of a group mostly give the same answers).
    """
    if isinstance(s, str) and len(s) <= _CLASSIFY_CACHED_CHARS:
        return _classify_cached(s)
    return _classify(s)


_CLASSIFY_CACHED_CHARS = 256


@lru_cache(maxsize=8192)
def _classify_cached(s: str) -> tuple[str, str, str | None, str | None]:
    return _classify(s)


def _classify(s: str) -> tuple[str, str, str | None, str | None]:
    text = clean_answer(s)
    if not text:
        return "none", "", None, None
    mc = parse_choice(text)
    if mc is not None:
        return "choice", text, mc[0], mc[1]
    yn = parse_yesno(text)
    if yn is not None:
        return "yesno", yn, None, None
    if parse_number(text) is not None:
        return "number", text, None, None
    if len(text) <= MAX_ANSWER_CHARS and looks_like_math(text):
        return "expression", text, None, None
    return "text", text, None, None
