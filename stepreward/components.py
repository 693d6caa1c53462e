"""Reward components and the per-completion scoring context they read from.

A :class:`RewardComponent` is a named function of a :class:`ScoringContext`. The context computes
each intermediate decision at most once (extracted answer, gold answer, verdict, key-step report,
structure report) through the plugin hooks, so StepRAR and the outcome reward share one answer
extraction, and every intermediate result ends up in the score's explanation.

Plugins contribute components through the ``stepreward_register_components`` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .config import RewardConfig
from .schema import resolve_schema
from .types import Answer, Failure, KeyStep, KeyStepReport, StructureReport, Verdict

ComponentFn = Callable[["ScoringContext"], "float | tuple[float, dict[str, Any]]"]
_T = TypeVar("_T")


class _ComputedOnce(Generic[_T]):
    """``functools.cached_property`` without its lock (Python < 3.12 holds one lock per property
    for all instances): a context belongs to one ``score`` call, hence to one thread."""

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> _T:
        if obj is None:
            return self  # type: ignore[return-value]
        value = self.fn(obj)
        obj.__dict__[self.name] = value  # later reads find it there, not here
        return value


@dataclass(frozen=True)
class RewardComponent:
    """A named reward term. ``fn(ctx)`` returns a value or ``(value, details)``.

    ``bounds`` documents (and is enforced on) the value range; ``fallback`` is the value used when
    the component fails (raises, times out or returns a non-finite number).
    """

    name: str
    fn: ComponentFn
    description: str = ""
    bounds: tuple[float, float] = (0.0, 1.0)
    fallback: float = 0.0


class ScoringContext:
    """Lazily computed facts about one completion, shared by all components.

    Each property calls its hook once. A hook that raises is recorded in ``failures`` and the
    property takes a defined value (``None``), so one broken plugin never stops the others.
    """

    def __init__(
        self,
        completion: str,
        solution: str,
        key_steps: tuple[KeyStep, ...],
        config: RewardConfig,
        call_first: Callable[..., Any],
        failures: list[Failure],
    ) -> None:
        self.completion = completion
        self.solution = solution
        self.key_steps = key_steps
        self.config = config
        self._call_first = call_first
        self.failures = failures

    def _hook(self, name: str, **kwargs: Any) -> Any:
        return self._call_first(name, failures=self.failures, **kwargs)

    @_ComputedOnce
    def extraction(self) -> Answer | None:
        """What extraction returned, including an explicit *no answer* (``kind="none"``)."""
        return self._hook("stepreward_extract_answer", text=self.completion, config=self.config)

    @property
    def answer(self) -> Answer | None:
        """The extracted answer, or ``None`` when there is none."""
        ans = self.extraction
        return ans if isinstance(ans, Answer) and ans.found else None

    @_ComputedOnce
    def gold(self) -> Answer | None:
        """The gold answer parsed from the solution."""
        return self._hook("stepreward_parse_gold", solution=self.solution, config=self.config)

    @_ComputedOnce
    def verdict(self) -> Verdict | None:
        """Comparison of answer and gold; ``None`` when either is missing."""
        if self.answer is None or self.gold is None:
            return None
        return self._hook("stepreward_compare_answers", pred=self.answer, gold=self.gold, config=self.config)

    @property
    def correct(self) -> bool:
        return bool(self.verdict is not None and self.verdict.equal)

    @_ComputedOnce
    def keystep_report(self) -> KeyStepReport | None:
        """Key-step matches; ``None`` when the record has no key steps."""
        if not self.key_steps:
            return None
        return self._hook(
            "stepreward_match_key_steps", text=self.completion, key_steps=self.key_steps, config=self.config
        )

    @_ComputedOnce
    def structure(self) -> StructureReport | None:
        """StepRVR's structure report for the configured format schema."""
        return self._hook(
            "stepreward_validate_structure",
            text=self.completion,
            schema=resolve_schema(self.config),
            config=self.config,
        )
