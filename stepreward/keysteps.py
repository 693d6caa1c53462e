"""Parse the ``key_steps`` column of a record into :class:`~stepreward.types.KeyStep` tuples.

Accepted shapes (SPEC §3):

- a list whose items are a string (one form) or a list of strings (alternative forms):
  ``["6/3=2", ["x = 3", "x=3.0"]]``;
- the official dict ``{"Steps": [...]}`` (key ``"steps"`` accepted too) holding such a list;
- a JSON string of either;
- ``None``, ``""``, ``[]``, ``{"Steps": []}`` -> no key steps;
- an already-parsed ``tuple[KeyStep, ...]`` is returned unchanged.

Numbers (``12``, ``0.5``) are accepted as forms and turned into strings. Blank alternatives are
dropped and duplicate forms removed (order kept: the first form is the canonical one). Anything
else raises :class:`ValueError` whose message names the field ``key_steps`` and what was expected.
Results are cached: gold key steps repeat once per rollout (×M).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any

from .types import KeyStep

_EXPECTED = (
    'expected a list of strings or lists of alternative strings, a {"Steps": [...]} dict, '
    "or a JSON string of either"
)

_Frozen = tuple[tuple[str, ...] | str | None, ...]
_STR = frozenset({str})


def _err(msg: str) -> ValueError:
    return ValueError(f"key_steps: {msg}; {_EXPECTED}")


def _form(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _err(f"{where} is a {type(value).__name__}")


def _freeze(value: Any) -> _Frozen:
    """A hashable copy of the list of steps (validating item types on the way)."""
    if isinstance(value, dict):
        keys = [k for k in value if isinstance(k, str) and k.lower() == "steps"]
        if not keys:
            raise _err(f"dict without a 'Steps' key (keys: {sorted(map(str, value))[:5]})")
        value = value[keys[0]]
        if value is None:
            return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _err(f"got {type(value).__name__}")
    frozen: list[tuple[str, ...] | str | None] = []
    for i, item in enumerate(value):
        if type(item) is str:
            frozen.append(item)
        elif isinstance(item, list | tuple):
            if {*map(type, item)} <= _STR:  # all exactly str: the common case, without building messages
                frozen.append(tuple(item))
            else:
                frozen.append(tuple(_form(alt, f"key_steps[{i}][{j}]") for j, alt in enumerate(item)))
        else:
            frozen.append(_form(item, f"key_steps[{i}]"))
    return tuple(frozen)


@lru_cache(maxsize=4096)
def _build(frozen: _Frozen) -> tuple[KeyStep, ...]:
    steps: list[KeyStep] = []
    for i, item in enumerate(frozen):
        alts = (item,) if isinstance(item, str) else item or ()
        forms = tuple(dict.fromkeys(f.strip() for f in alts if f.strip()))
        if not forms:
            raise _err(f"key_steps[{i}] has no non-empty form")
        steps.append(KeyStep(index=i, forms=forms, raw_forms=tuple(alts)))
    return tuple(steps)


@lru_cache(maxsize=4096)
def _from_json(text: str) -> tuple[KeyStep, ...]:
    try:
        decoded = json.loads(text)
    except ValueError as e:
        raise _err(f"string is not valid JSON ({e.msg} at char {e.pos}): {text[:60]!r}") from None
    if decoded is None:
        return ()
    return _build(_freeze(decoded))


def parse_key_steps(value: Any) -> tuple[KeyStep, ...]:
    """Parse a ``key_steps`` value (see the module docstring) into ``tuple[KeyStep, ...]``."""
    if value is None:
        return ()
    if isinstance(value, tuple) and all(map(isinstance, value, repeat(KeyStep))):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        text = value.strip()
        return _from_json(text) if text else ()
    if isinstance(value, list) and value and all(map(isinstance, value, repeat(KeyStep))):
        return tuple(value)
    return _build(_freeze(value))
