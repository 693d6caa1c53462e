"""Compose reward components into one explained score for one completion.

:func:`score` is the hot path (called once per rollout). It never raises because of the
*completion*: malformed, huge or binary completions and failing plugins yield a defined reward and
a recorded :class:`~stepreward.types.Failure`. A malformed *record* (solution, key steps, config)
is a user error and raises :class:`RecordError` naming the field.
"""

from __future__ import annotations

import math
import pickle
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import failures as failure_log
from .components import ScoringContext
from .config import RewardConfig, resolve_config
from .keysteps import parse_key_steps
from .manager import call_first, registered_components
from .types import Answer, ComponentScore, Failure, KeyStep, KeyStepReport, StructureReport, Verdict


class RecordError(ValueError):
    """A record (not a completion) is malformed; the message names the field and the fix."""


@dataclass(frozen=True)
class ScoreResult:
    """A reward with its full explanation."""

    total: float
    components: dict[str, float]  # weighted contribution of each component
    breakdown: dict[str, ComponentScore] = field(default_factory=dict)
    answer: Answer | None = None
    gold: Answer | None = None
    verdict: Verdict | None = None
    key_steps: KeyStepReport | None = None
    structure: StructureReport | None = None
    failures: tuple[Failure, ...] = ()
    preset: str = ""

    @property
    def correct(self) -> bool | None:
        """Whether the answer was judged right (``None`` when no answer or no verdict)."""
        return None if self.verdict is None else self.verdict.equal

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "components": dict(self.components),
            "preset": self.preset,
            "correct": self.correct,
            "answer": self.answer.to_dict() if self.answer else None,
            "gold": self.gold.to_dict() if self.gold else None,
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "key_steps": self.key_steps.to_dict() if self.key_steps else None,
            "structure": self.structure.to_dict() if self.structure else None,
            "breakdown": {k: v.to_dict() for k, v in self.breakdown.items()},
            "failures": [f.to_dict() for f in self.failures],
        }

    def explain(self, completion: str | None = None) -> str:
        """A human-readable account of why the completion got ``total``."""
        from .explain import explain_result

        return explain_result(self, completion)

    # --- pickling: compact, and decoded lazily ---------------------------------------------------
    # Worker processes send results to the parent, which often needs only ``total`` and
    # ``components`` (a trainer's rewards). The explanation (``_LAZY`` fields, ~40 objects) travels
    # as one bytes blob and is decoded on first access, so the parent's cost per result stays
    # small and its garbage collector has a handful of objects to track instead of dozens.

    def __reduce__(self) -> tuple[Any, ...]:
        packed = self.__dict__.get("_packed")
        if packed is None:
            packed = pickle.dumps(tuple(getattr(self, n) for n in _LAZY), protocol=pickle.HIGHEST_PROTOCOL)
        return (_restore, (self.total, self.components, self.failures, self.preset, packed))

    def __getattr__(self, name: str) -> Any:
        """Reached only for a lazy field of an unpickled result that is not decoded yet."""
        packed = self.__dict__.get("_packed") if name in _LAZY else None
        if packed is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        d = self.__dict__
        d.update(zip(_LAZY, pickle.loads(packed), strict=True))
        d.pop("_packed", None)
        return d[name]


_LAZY = ("breakdown", "answer", "gold", "verdict", "key_steps", "structure")
for _name in _LAZY:  # a class-level default would answer before __getattr__ is consulted
    if _name in vars(ScoreResult):
        delattr(ScoreResult, _name)


def _restore(total: float, components: dict[str, float], failures: tuple[Failure, ...], preset: str,
             packed: bytes) -> ScoreResult:
    result = object.__new__(ScoreResult)
    result.__dict__.update(total=total, components=components, failures=failures, preset=preset, _packed=packed)
    return result


# --- input hygiene -------------------------------------------------------------------------------


def _clean_completion(completion: Any, config: RewardConfig, fails: list[Failure]) -> str:
    """Coerce anything to a bounded ``str``; record why when it was not a plain string."""
    if isinstance(completion, str):
        text = completion
    elif isinstance(completion, bytes | bytearray):
        text = bytes(completion).decode("utf-8", errors="replace")
        fails.append(Failure("input", "malformed_completion", "bytes decoded as UTF-8"))
    elif isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        text = str(completion[-1].get("content", ""))  # chat format: last message's content
    elif completion is None:
        fails.append(Failure("input", "malformed_completion", "completion is None"))
        return ""
    else:
        fails.append(Failure("input", "malformed_completion", f"completion is {type(completion).__name__}"))
        return ""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if len(text) > config.max_completion_chars:
        fails.append(Failure("input", "truncated_input", f"{len(text)} chars cut to {config.max_completion_chars}"))
        text = text[: config.max_completion_chars]
    return text


def check_record(solution: Any, key_steps: Any) -> tuple[str, tuple[KeyStep, ...]]:
    """Validate a record's fields; raise :class:`RecordError` naming the field otherwise."""
    if not isinstance(solution, str):
        raise RecordError(
            f"field 'solution' must be a string (the gold answer), got {type(solution).__name__}. "
            "Fix: put the reference answer text in 'solution'."
        )
    try:
        return solution, parse_key_steps(key_steps)
    except ValueError as e:
        raise RecordError(str(e)) from e



# --- composition ---------------------------------------------------------------------------------


def score(
    completion: Any,
    *,
    solution: str,
    key_steps: Any = None,
    preset: str | None = "paper",
    config: RewardConfig | dict[str, Any] | None = None,
) -> ScoreResult:
    """Score one completion against its record. See :class:`ScoreResult` for what comes back."""
    cfg = resolve_config(preset, config)
    solution, steps = check_record(solution, key_steps)
    fails: list[Failure] = []
    text = _clean_completion(completion, cfg, fails)
    ctx = ScoringContext(text, solution, steps, cfg, _call_first_cached_gold, fails)
    comps = registered_components()
    breakdown: dict[str, ComponentScore] = {}
    for name, weight in cfg.weights.items():
        comp = comps.get(name)
        if comp is None:
            fails.append(Failure(name, "unknown_component", f"known: {sorted(comps)}"))
            breakdown[name] = ComponentScore(name, 0.0, weight, error="unknown component")
            continue
        breakdown[name] = _run_component(comp, ctx, weight, fails)
    total = math.fsum(c.weighted for c in breakdown.values())
    if fails:
        failure_log.record(fails, text, solution, cfg.preset)
    return ScoreResult(
        total=total,
        components={k: c.weighted for k, c in breakdown.items()},
        breakdown=breakdown,
        answer=ctx.answer,
        gold=ctx.__dict__.get("gold"),
        verdict=ctx.__dict__.get("verdict"),
        key_steps=ctx.__dict__.get("keystep_report"),
        structure=ctx.__dict__.get("structure"),
        failures=tuple(fails),
        preset=cfg.preset,
    )


def _run_component(comp: Any, ctx: ScoringContext, weight: float, fails: list[Failure]) -> ComponentScore:
    try:
        out = comp.fn(ctx)
        value, details = out if isinstance(out, tuple) else (out, {})
        value = float(value)
        lo, hi = comp.bounds
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ValueError(f"value {value!r} outside bounds {comp.bounds}")
        return ComponentScore(comp.name, value, weight, dict(details))
    except Exception as e:
        reason = "timeout" if isinstance(e, TimeoutError) else "error"
        msg = f"{type(e).__name__}: {e}"[:500]
        fails.append(Failure(comp.name, reason, msg))
        return ComponentScore(comp.name, comp.fallback, weight, error=msg)


def fallback_result(config: RewardConfig, failure: Failure) -> ScoreResult:
    """The defined result for a completion whose scoring was cut off (timeout, crashed worker)."""
    comps = registered_components()
    breakdown = {
        name: ComponentScore(name, getattr(comps.get(name), "fallback", 0.0), w, error=failure.reason)
        for name, w in config.weights.items()
    }
    return ScoreResult(
        total=math.fsum(c.weighted for c in breakdown.values()),
        components={k: c.weighted for k, c in breakdown.items()},
        breakdown=breakdown,
        failures=(failure,),
        preset=config.preset,
    )


# --- gold cache: the gold repeats for the M completions of a group ------------------------------

_gold_cache: dict[tuple[str, int], tuple[RewardConfig, Answer | None]] = {}
_gold_lock = threading.Lock()
_GOLD_CACHE_MAX = 4096


def _call_first_cached_gold(hook_name: str, **kwargs: Any) -> Any:
    if hook_name != "stepreward_parse_gold":
        return call_first(hook_name, **kwargs)
    cfg: RewardConfig = kwargs["config"]
    key = (kwargs["solution"], id(cfg))
    hit = _gold_cache.get(key)
    if hit is not None and hit[0] is cfg:
        return hit[1]
    gold = call_first(hook_name, **kwargs)
    with _gold_lock:
        if len(_gold_cache) >= _GOLD_CACHE_MAX:
            _gold_cache.clear()
        _gold_cache[key] = (cfg, gold)  # holding cfg keeps id(cfg) from being reused
    return gold


def clear_caches() -> None:
    """Drop cached gold answers (after registering or removing plugins)."""
    with _gold_lock:
        _gold_cache.clear()
