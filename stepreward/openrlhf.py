"""OpenRLHF adapter: ``--remote_rm_url /path/to/stepreward/openrlhf.py`` (a reward-function file).

OpenRLHF calls ``reward_func(queries, prompts, labels)`` where ``queries`` are prompt + response
texts. ``labels`` are gold answers, or JSON objects with ``solution`` and ``key_steps``. The preset
comes from ``STEPREWARD_PRESET`` (default ``paper``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .adapters import summary_metrics
from .verl import _record, _scorer


def _response(query: str, prompt: str) -> str:
    return query[len(prompt) :] if prompt and query.startswith(prompt) else query


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """Return ``{"rewards", "scores", "extra_logs"}`` (torch tensors when torch is installed)."""
    scorer = _scorer(os.environ.get("STEPREWARD_PRESET", "paper"))
    recs = [_record(lab, None) for lab in labels]
    results = scorer.score(
        [_response(q, p) for q, p in zip(queries, prompts, strict=False)], [s for s, _ in recs], [k for _, k in recs]
    )
    rewards = [0.0 if r is None else float(r.total) for r in results]
    logs: dict[str, Any] = {
        name: [0.0 if r is None else float(r.components.get(name, 0.0)) for r in results]
        for name in scorer.config.weights
    }
    logs.update({k: [v] for k, v in summary_metrics(results).items()})
    try:
        import torch

        return {
            "rewards": torch.tensor(rewards),
            "scores": torch.tensor(rewards),
            "extra_logs": {k: torch.tensor(v) for k, v in logs.items()},
        }
    except ImportError:
        return {"rewards": rewards, "scores": rewards, "extra_logs": logs}
