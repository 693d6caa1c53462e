"""Per-step metrics (global over devices): rewards and components, KL, clipping, lengths, throughput."""

from __future__ import annotations

from typing import Any

import torch

from .rewards import Scores
from .rollout import RolloutBatch


def _mean_across(engine: Any, values: dict[str, float]) -> dict[str, float]:
    """Average a dict of floats over ranks (same keys everywhere) with one all-reduce."""
    if engine.world_size == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=engine.device)
    t = engine.gather(t[None]).mean(0)
    return dict(zip(keys, t.tolist(), strict=True))


def step_metrics(trainer: Any, batch: RolloutBatch, scores: Scores, rewards: torch.Tensor, zero_std: torch.Tensor,
                 stats: dict[str, float], seconds: float) -> dict[str, float]:
    e, m = trainer.engine, trainer.cfg.rollout.num_generations
    groups = rewards.view(-1, m)
    out: dict[str, float] = {
        "reward": rewards.mean().item(),
        "reward_std": groups.std(1).mean().item() if m > 1 else 0.0,
        "frac_reward_zero_std": e.sum(float(zero_std.float().mean())) / e.world_size,
    }
    for name, values in scores.components.items():
        v = e.gather(values.to(e.device))
        ok = v[~torch.isnan(v)]
        out[f"rewards/{name}/mean"] = ok.mean().item() if ok.numel() else float("nan")
        out[f"rewards/{name}/std"] = ok.std().item() if ok.numel() > 1 else 0.0
        out[f"rewards/{name}/failures"] = e.sum(float(scores.failures.get(name, 0)))
    out["reward_failures"] = e.sum(float(sum(scores.failures.values())))
    lengths = batch.completion_mask.sum(1).float()
    all_len = e.gather(lengths.to(e.device))
    trunc = e.gather(batch.truncated.float().to(e.device))
    terminated = all_len[trunc == 0]
    out.update({
        "completions/mean_length": all_len.mean().item(),
        "completions/min_length": all_len.min().item(),
        "completions/max_length": all_len.max().item(),
        "completions/clipped_ratio": trunc.mean().item(),
        "completions/mean_terminated_length": terminated.mean().item() if terminated.numel() else 0.0,
    })
    out.update(_mean_across(e, {**stats, **scores.details}))
    tokens = e.sum(float(batch.inputs["attention_mask"].sum() + batch.completion_mask.sum()))
    out.update({"step_time": seconds, "tokens_per_second": tokens / max(seconds, 1e-9),
                "prompts_dropped_too_long": float(trainer.dropped_prompts),
                "learning_rate": float(e.scheduler.get_last_lr()[0])})
    return out
