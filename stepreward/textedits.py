"""Text rewriting that keeps the way back to the original offsets.

Each rewriting pass records its edits as a :class:`Layer`; a :class:`Normalized` text holds the
layers of all passes and maps any span of the result back to the text it came from, and
:class:`NormalizedJoin` does the same for several pieces of one text joined by a separator.
:func:`sub` is ``re.sub`` that records its edits; :func:`apply_matches` and :func:`apply_edits`
do the same for matches or edits found some other way.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import NamedTuple

from .types import Span

# A replacement is a literal string, or a tuple of literal strings and group numbers (the group's
# text), or None for "leave this match as it is".
Pieces = tuple[str | int, ...]
Repl = Callable[[re.Match[str]], "str | Pieces | None"]


class Layer(NamedTuple):
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


class Deletions(NamedTuple):
    """A pass that only deleted single characters: the ``k``-th deleted character would have
    been at output position ``out[k]`` (non-decreasing). The same mapping as the equivalent
    :class:`Layer`, from one list instead of four."""

    out: list[int]

    def start(self, p: int) -> int:
        return p + bisect_right(self.out, p)

    def end(self, p: int) -> int:
        return p + 1 + bisect_right(self.out, p)


class Normalized:
    """A normalised text that can map its spans back to the original text (read-only).

    Offsets are computed on demand from the (few) edits each pass made, so normalising costs
    about as much as the regex passes themselves. (A plain class with slots, not a frozen
    dataclass: a completion makes several, and this is several times cheaper to construct.)
    """

    __slots__ = ("text", "source_len", "offset", "layers")

    def __init__(self, text: str, source_len: int, offset: int = 0, layers: tuple[Layer | Deletions, ...] = ()) -> None:
        self.text = text
        self.source_len = source_len
        self.offset = offset
        self.layers = layers

    def __repr__(self) -> str:
        return f"Normalized(text={self.text!r}, source_len={self.source_len}, offset={self.offset}, layers={self.layers!r})"

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


class NormalizedJoin:
    """Several :class:`Normalized` pieces of one original text joined by a separator (read-only)."""

    __slots__ = ("text", "parts", "part_starts", "source_len", "shifts")

    def __init__(self, text: str, parts: tuple[Normalized, ...], part_starts: tuple[int, ...], source_len: int,
                 shifts: tuple[int, ...] = ()) -> None:
        self.text = text
        self.parts = parts
        self.part_starts = part_starts  # index in ``text`` where each part begins
        self.source_len = source_len
        self.shifts = shifts  # added to each part's original offsets (a part shared by places)

    def __repr__(self) -> str:
        return f"NormalizedJoin(text={self.text!r}, parts={len(self.parts)}, source_len={self.source_len})"

    def _locate(self, p: int) -> tuple[Normalized, int, int]:
        i = max(0, bisect_right(self.part_starts, p) - 1)
        return self.parts[i], p - self.part_starts[i], self.shifts[i] if self.shifts else 0

    def span(self, start: int, end: int) -> Span:
        """Map the joined span ``[start, end)`` to a span of the original text."""
        n = len(self.text)
        start = max(0, min(start, n))
        end = max(start, min(end, n))
        part, ls, shift = self._locate(start)
        s = part.char_start(min(ls, len(part.text))) + shift
        if start == end:
            return (s, s)
        part, le, shift = self._locate(end - 1)
        e = (part.char_end(le) if le < len(part.text) else part.char_start(len(part.text))) + shift
        return (s, max(s, e))


def sub(pat: re.Pattern[str], repl: Repl, text: str, layers: list[Layer]) -> str:
    """``re.sub`` that records its edits as a new layer in ``layers``."""
    return apply_matches(pat.finditer(text), repl, text, layers)


def apply_edits(text: str, edits: list[tuple[int, int, str]], layers: list[Layer]) -> str:
    """Replace ``text[a:b]`` by ``r`` for each ``(a, b, r)`` of ``edits`` (in text order, not
    overlapping); record the edits as a new layer."""
    if not edits:
        return text
    out: list[str] = []
    oa: list[int] = []
    ob: list[int] = []
    pos = opos = 0
    for a, b, r in edits:
        out.append(text[pos:a])
        opos += a - pos
        oa.append(opos)
        out.append(r)
        opos += len(r)
        ob.append(opos)
        pos = b
    out.append(text[pos:])
    layers.append(Layer(oa, ob, [a for a, _, _ in edits], [b for _, b, _ in edits]))
    return "".join(out)


def apply_matches(matches: Iterable[re.Match[str]], repl: Repl, text: str, layers: list[Layer]) -> str:
    """Replace ``matches`` (non-overlapping, in text order) by ``repl``; record the edits."""
    edits: list[tuple[int, int, str]] = []
    for m in matches:
        r = repl(m)
        if r is None:
            continue
        if not isinstance(r, str):
            r = "".join(p if isinstance(p, str) else m.group(p) for p in r)
        edits.append((m.start(), m.end(), r))
    return apply_edits(text, edits, layers)


def concat(parts: list[Normalized], sep: str = "\n", shifts: list[int] | None = None) -> Normalized | NormalizedJoin:
    """Join normalised pieces of one original text (a separator maps to the end of the piece before).

    With ``shifts``, piece ``i`` stands at ``shifts[i]`` plus its own offsets in the original text,
    so one normalised piece can serve every place where the same text repeats.
    """
    if len(parts) == 1 and not shifts:
        return parts[0]
    texts = [p.text for p in parts]
    starts = tuple(accumulate(map(len(sep).__add__, map(len, texts[:-1])), initial=0))
    source_len = parts[0].source_len if parts else 0
    return NormalizedJoin(sep.join(texts), tuple(parts), starts, source_len, tuple(shifts) if shifts else ())
