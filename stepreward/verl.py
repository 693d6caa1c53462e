"""verl / EasyR1 adapter.

Point verl's ``custom_reward_function.path`` at this file's module and ``name`` at
``compute_score``::

    custom_reward_function:
      path: <site-packages>/stepreward/verl.py
      name: compute_score

``ground_truth`` is the gold answer text, or a dict/JSON with ``solution`` and ``key_steps``;
``extra_info`` may carry ``key_steps`` and ``stepreward_preset``. The return value is a dict with
``score`` (verl) and ``overall`` (EasyR1) plus one float per component and the decisions behind it,
so they appear in verl's reward metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import lru_cache
from typing import Any

from .adapters import BatchScorer

DEFAULT_PRESET_ENV = "STEPREWARD_PRESET"


@lru_cache(maxsize=16)
def _scorer(preset: str) -> BatchScorer:
    return BatchScorer(preset)


def _record(ground_truth: Any, extra_info: dict[str, Any] | None) -> tuple[Any, Any]:
    key_steps = (extra_info or {}).get("key_steps")
    gt = ground_truth
    if isinstance(gt, str) and gt.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            gt = json.loads(gt)
    if isinstance(gt, dict):
        return gt.get("solution", gt.get("answer")), gt.get("key_steps", key_steps)
    return gt, key_steps


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """verl's reward-function signature; returns ``{"score": total, ...components}``."""
    preset = (extra_info or {}).get("stepreward_preset") or os.environ.get(DEFAULT_PRESET_ENV, "paper")
    solution, key_steps = _record(ground_truth, extra_info)
    r = _scorer(preset).score([solution_str], [solution], [key_steps])[0]
    if r is None:
        return {"score": 0.0, "overall": 0.0, "record_error": 1.0}
    out = {"score": float(r.total), "overall": float(r.total)}
    out.update({k: float(v) for k, v in r.components.items()})
    out["acc"] = 1.0 if r.correct else 0.0
    if r.key_steps is not None:
        out["keystep_match"] = float(r.key_steps.score)
    if r.structure is not None:
        out["valid"] = 1.0 if r.structure.valid else 0.0
    out["failures"] = float(len(r.failures))
    return out
