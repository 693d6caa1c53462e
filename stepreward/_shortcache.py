"""An LRU cache for pure functions of one string that skips long strings (private).

Scoring calls some pure string functions once per piece of a completion, and a group's rollouts
repeat the short pieces (answers, ``6/3 = 2``). Long strings are computed each time: caching them
would rarely hit and would keep large texts alive.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar

R = TypeVar("R")


def cached_when_short(limit: int, maxsize: int = 8192) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """Decorate ``fn(s)`` so that calls with ``len(s) <= limit`` go through an LRU cache."""

    def decorate(fn: Callable[[str], R]) -> Callable[[str], R]:
        cached = lru_cache(maxsize=maxsize)(fn)

        @wraps(fn)
        def call(s: str) -> R:
            return cached(s) if len(s) <= limit else fn(s)

        return call

    return decorate
