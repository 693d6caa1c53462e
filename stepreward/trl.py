"""TRL adapter: reward functions for ``trl.GRPOTrainer(reward_funcs=...)``.

Each returned function follows TRL's convention,
``f(prompts, completions, *, completion_ids=None, trainer_state=None, **columns) -> list[float | None]``,
reads the dataset columns ``solution`` and ``key_steps`` (names configurable), accepts plain-text
and conversational completions, and is named after its component so TRL logs
``rewards/step_rar/mean`` and ``rewards/step_rvr/mean``. All functions returned by one call share
one scorer, so each completion is scored once per batch. Values are the preset's *weighted*
contributions: with TRL's default ``reward_weights`` their sum is ``ScoreResult.total``.

The functions also expose ``.scorer.last_results`` (full :class:`~stepreward.ScoreResult` objects)
and ``.metrics()`` (accuracy, key-step match rate, validity rate of the last batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .adapters import BatchScorer, component_values, summary_metrics
from .config import RewardConfig

RewardFunc = Callable[..., list[float | None]]


def reward_funcs(
    preset: str = "paper",
    config: RewardConfig | dict[str, Any] | None = None,
    *,
    components: Sequence[str] | None = None,
    total: bool = False,
    workers: int = 0,
    timeout_s: float | None = None,
    strict_records: bool = False,
    solution_column: str = "solution",
    key_steps_column: str = "key_steps",
) -> list[RewardFunc]:
    """One TRL reward function per component of the preset (or one for the ``total``).

    ``workers > 1`` scores each batch in that many worker processes; ``timeout_s`` sets a hard
    per-completion deadline (worker processes, killed when late): use it when third-party plugins
    might hang. A late completion gets the components' fallback values and a recorded timeout.
    """
    scorer = BatchScorer(preset, config, workers=workers, timeout_s=timeout_s, strict_records=strict_records)
    names = ["total"] if total else list(components or scorer.config.weights)

    def make(name: str) -> RewardFunc:
        def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
            if solution_column not in columns:
                raise KeyError(
                    f"stepreward reward {name!r} needs the dataset column {solution_column!r} "
                    f"(got columns {sorted(columns)}). Fix: add it or pass solution_column=..."
                )
            results = scorer.score(completions, columns[solution_column], columns.get(key_steps_column))
            if name == "total":
                return [None if r is None else float(r.total) for r in results]
            return component_values(results, name)

        reward.__name__ = reward.__qualname__ = name
        reward.scorer = scorer  # type: ignore[attr-defined]
        reward.metrics = lambda: summary_metrics(scorer.last_results)  # type: ignore[attr-defined]
        return reward

    return [make(n) for n in names]
