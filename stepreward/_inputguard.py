"""Linear-time checks that refuse text a parser or sympy could not finish with (private).

Public entry point: :func:`stepreward.guard.check_input`. Everything here is regex scans plus
small loops over bracket and caret positions only, so it costs microseconds on a 4,000-character
completion and can run in-process before anything is sent to a guard worker.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple


class InputLimits(NamedTuple):
    """Thresholds for :func:`find_refusal` (see :func:`stepreward.guard.check_input`)."""

    max_chars: int = 20_000
    max_digits: int = 1_000
    max_exponent_depth: int = 2
    max_nesting: int = 40
    max_exponent: float = 100_000
    max_factorial: int = 1_000


DEFAULT_LIMITS = InputLimits()

_DIGIT_RUN = re.compile(r"\d{2,}")
_CARET = re.compile(r"\^|\*\*")
_BRACKET = re.compile(r"[{}()\[\]]")
_OPEN = "{(["
_INNERMOST = re.compile(r"[{(\[][})\]]")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_ATOM = re.compile(r"[-+]?\s*(?:[0-9][0-9.]*|[A-Za-z])")
_FACTORIAL = re.compile(r"(\d+)\s*!(?!=)")
_STRIP = re.compile(r"[\s{}()\[\]]")
_NUMERIC_TOWER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:(?:\^|\*\*)[-+]?\d+(?:\.\d+)?)*")
_LOG10_MAX = 300.0


def find_refusal(text: str, limits: InputLimits = DEFAULT_LIMITS) -> str | None:
    """Why ``text`` must not be parsed, or ``None`` when it is safe enough."""
    if not isinstance(text, str):
        return f"not a string: {type(text).__name__}"
    if len(text) > limits.max_chars:
        return f"{len(text)} characters > max_chars={limits.max_chars}"
    if any(len(run) > limits.max_digits for run in _DIGIT_RUN.findall(text)):
        return f"a number with more than max_digits={limits.max_digits} digits"
    if "!" in text:
        for m in _FACTORIAL.finditer(text):
            digits = m.group(1)
            if len(digits) > 9 or int(digits) > limits.max_factorial:
                return f"factorial of {digits[:20]} > max_factorial={limits.max_factorial}"
    if sum(map(text.count, _OPEN)) > limits.max_nesting:
        depth = _nesting_depth(text, limits.max_nesting)
        if depth > limits.max_nesting:
            return f"brackets nested deeper than max_nesting={limits.max_nesting}"
    if "^" in text or "**" in text:
        return _scan_exponents(text, limits)
    return None


def _nesting_depth(text: str, cap: int) -> int:
    """Bracket nesting depth (an upper bound when brackets are unbalanced), counted up to ``cap + 1``.

    Works on the brackets alone: each round deletes every innermost ``()``-like pair (any opener
    with any closer, as in the interval ``[1, 2)``), so the number of rounds is the depth.
    """
    s = "".join(_BRACKET.findall(text))
    rounds = 0
    while rounds <= cap:
        shorter = _INNERMOST.sub("", s)
        if shorter == s:
            break
        s, rounds = shorter, rounds + 1
    return rounds + sum(map(s.count, _OPEN))


def _group_end(text: str, start: int) -> int:
    """End (exclusive) of the bracket group opening at ``start``; end of text if unclosed."""
    depth = 0
    for m in _BRACKET.finditer(text, start):
        if text[m.start()] in _OPEN:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return len(text)


def _skip_spaces(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    return i


def _scan_exponents(text: str, limits: InputLimits) -> str | None:
    """Depth of exponent nesting and size of numeric exponents, one right-to-left pass over carets.

    An exponent is the bracket group, ``\\command{..}{..}`` or atom after a caret; ``a^b^c`` chains
    right-associatively. Carets are visited right to left keeping a stack of ``(position, depth)``
    ordered by position, so every caret inside an exponent has been scored before its owner.
    """
    carets = [(m.start(), m.end()) for m in _CARET.finditer(text)]
    n = len(text)
    ends: list[int] = [0] * len(carets)
    stack: list[tuple[int, int]] = []
    log_limit = math.log10(max(limits.max_exponent, 1.0))
    min_digits = int(log_limit) + 1 if math.isfinite(log_limit) else n + 1
    for k in range(len(carets) - 1, -1, -1):
        pos, after = carets[k]
        j = _skip_spaces(text, after)
        end = j
        if j < n and text[j] in _OPEN:
            end = _group_end(text, j)
        elif j < n and text[j] == "\\" and (cm := _COMMAND.match(text, j)):
            end = cm.end()
            while end < n and text[end] == "{":
                end = _group_end(text, end)
        elif am := _ATOM.match(text, j):
            end = am.end()
            nxt = _skip_spaces(text, end)
            if k + 1 < len(carets) and carets[k + 1][0] == nxt:
                end = ends[k + 1]  # a^b^c: the exponent of the first caret is b^c
        ends[k] = end
        inner = 0
        while stack and stack[-1][0] < end:
            inner = max(inner, stack.pop()[1])
        depth = inner + 1
        if depth > limits.max_exponent_depth:
            return f"exponents nested {depth} deep > max_exponent_depth={limits.max_exponent_depth}"
        stack.append((pos, depth))
        if depth == 1 and end - j < min_digits:
            continue  # too short to hold a number above max_exponent
        log10_value = _numeric_log10(text[j:end])
        if log10_value is not None and log10_value > log_limit:
            return f"a numeric exponent above max_exponent={limits.max_exponent:g}"
    return None


def _numeric_log10(expr: str) -> float | None:
    """log10 of ``|expr|`` when it is a number or a numeric power tower like ``5^{5^5}``, else None."""
    flat = _STRIP.sub("", expr)
    if len(flat) > 2_000 or not _NUMERIC_TOWER.fullmatch(flat):
        return None
    parts = [abs(float(p)) for p in _CARET.split(flat) if p]
    if not parts:
        return None
    log_v = _log10(parts[-1])
    for base in reversed(parts[:-1]):
        if base <= 1.0:  # 1^x, 0^x and fractional bases do not grow
            log_v = 0.0
            continue
        exponent = 10.0**log_v if log_v < _LOG10_MAX else math.inf
        log_v = exponent * math.log10(base) if exponent != math.inf else math.inf
    return log_v


def _log10(x: float) -> float:
    if x == math.inf:
        return math.inf
    return math.log10(x) if x > 0 else -math.inf
