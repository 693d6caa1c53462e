"""Scoring and group advantages.

Reward functions follow the TRL convention: ``f(prompts, completions, **columns) -> list[float | None]``
with every dataset column passed as a list aligned with the completions (already repeated ×M).
Failure isolation: a reward that raises, returns the wrong length or NaN scores 0 for the affected
completions; the failure is counted (``rewards/<name>/failures``) and training continues.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import torch

from .config import RewardsConfig

log = logging.getLogger("reference_trainer")
RewardFn = Callable[..., Any]


@dataclass
class Scores:
    """Per-completion rewards: the weighted total, each component (NaN = not applicable), metrics."""

    total: torch.Tensor  # (N,)
    components: dict[str, torch.Tensor]  # name -> (N,), NaN where the function returned None
    failures: dict[str, int]
    details: dict[str, float]  # batch-level metrics a reward exposes (key-step match rate, ...)


def import_callable(path: str) -> RewardFn:
    """``'pkg.module:name'`` or ``'pkg.module.name'`` -> the object."""
    module, sep, name = path.partition(":")
    if not sep:
        module, _, name = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"rewards.funcs: cannot import {path!r} ({e}). Fix: 'package.module:function'.") from None
    if not callable(obj):
        raise ValueError(f"rewards.funcs: {path!r} is not callable.")
    return obj


def load_reward_funcs(cfg: RewardsConfig) -> tuple[list[RewardFn], list[float]]:
    """stepreward preset functions (if ``preset``) plus dotted-path callables, with weights."""
    funcs: list[RewardFn] = []
    weights: list[float] = []
    if cfg.preset:
        try:
            from stepreward.trl import reward_funcs
        except ImportError as e:
            raise ValueError(f"rewards.preset={cfg.preset!r} needs stepreward.trl ({e}). "
                             "Fix: install stepreward, or set rewards.preset=null and list rewards.funcs.") from None
        for f in reward_funcs(preset=cfg.preset):
            funcs.append(f)
            weights.append(cfg.weights.get(reward_name(f), 1.0))
        unknown = set(cfg.weights) - {reward_name(f) for f in funcs}
        if unknown:
            raise ValueError(f"rewards.weights names {sorted(unknown)}, not in preset {cfg.preset!r}. "
                             f"Fix: use {[reward_name(f) for f in funcs]}.")
    for spec in cfg.funcs:
        funcs.append(import_callable(spec.func))
        weights.append(spec.weight)
    return funcs, weights


def reward_name(f: RewardFn) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def _call(f: RewardFn, kwargs: dict[str, Any], timeout_s: float | None) -> Any:
    """Run ``f`` (sync or async). With ``timeout_s`` it runs in a worker thread and is abandoned past the
    deadline; without, in the calling (main) thread, where signal-based timeouts (math-verify) work."""

    def run() -> Any:
        out = f(**kwargs)
        return asyncio.run(_await(out)) if inspect.isawaitable(out) else out

    if timeout_s is None:
        return run()
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(run).result(timeout=timeout_s)
    finally:
        pool.shutdown(wait=False)


async def _await(x: Any) -> Any:
    return await x


def score(funcs: list[RewardFn], weights: list[float], prompts: list[str], completions: list[str],
          columns: dict[str, list[Any]], timeout_s: float | None = None, **extra: Any) -> Scores:
    """Call every reward on the whole batch, isolating failures; total = Σ weight × value (None -> 0)."""
    n = len(completions)
    total = torch.zeros(n, dtype=torch.float64)
    comps: dict[str, torch.Tensor] = {}
    failures: dict[str, int] = {}
    details: dict[str, float] = {}
    for f, w in zip(funcs, weights, strict=True):
        name = reward_name(f)
        values = torch.full((n,), math.nan, dtype=torch.float64)
        try:
            out = _call(f, {"prompts": prompts, "completions": completions, **columns, **extra}, timeout_s)
            if out is None or len(out) != n:
                raise ValueError(f"returned {None if out is None else len(out)} values for {n} completions")
            for i, v in enumerate(out):
                if v is None:
                    continue
                v = float(v)
                if math.isfinite(v):
                    values[i] = v
                else:
                    failures[name] = failures.get(name, 0) + 1
                    values[i] = 0.0
        except Exception as e:  # noqa: BLE001 - a reward must never take training down
            why = f"timed out after {timeout_s}s" if isinstance(e, (TimeoutError, FutureTimeout)) else f"{type(e).__name__}: {e}"
            log.warning("reward %s failed on the batch (scored 0): %s", name, why)
            failures[name] = failures.get(name, 0) + n
            values.fill_(0.0)
        comps[name] = values
        total += w * torch.nan_to_num(values, nan=0.0)
        details.update(_details(f, name))
    return Scores(total.float(), comps, failures, details)


def _details(f: RewardFn, name: str) -> dict[str, float]:
    """Batch metrics a reward exposes via ``f.metrics()`` or a ``f.last_metrics`` dict (stepreward:
    accuracy, keystep_match_rate, validity_rate), logged as ``rewards/<key>``; none -> skipped."""
    provider = getattr(f, "metrics", None)
    try:
        metrics = provider() if callable(provider) else getattr(f, "last_metrics", None)
    except Exception as e:  # noqa: BLE001
        log.warning("reward %s: metrics() failed: %s", name, e)
        return {}
    if not isinstance(metrics, dict):
        return {}
    out = {}
    for k, v in metrics.items():
        try:
            out[f"rewards/{k}"] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def group_advantages(rewards: torch.Tensor, num_generations: int, scale: str = "group",
                     eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """``(r - group mean) / (std + eps)``; std is the group's (``group``), the batch's (``batch``) or 1
    (``none``), unbiased as in the official code. Returns (advantages (N,), zero_std (N,) bool)."""
    groups = rewards.view(-1, num_generations)
    mean = groups.mean(1, keepdim=True)
    group_std = groups.std(1, keepdim=True) if num_generations > 1 else torch.zeros_like(mean)
    zero_std = torch.isclose(group_std, torch.zeros_like(group_std)).expand_as(groups).reshape(-1)
    adv = groups - mean
    if scale == "group":
        adv = adv / (group_std + eps)
    elif scale == "batch":
        adv = adv / (rewards.std() + eps)
    elif scale != "none":
        raise ValueError(f"scale_rewards={scale!r}. Fix: group, batch or none.")
    return adv.reshape(-1), zero_std
