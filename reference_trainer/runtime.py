"""Shared run setup: logging, seeds, optimiser + scheduler + engine, batch arithmetic."""

from __future__ import annotations

import logging
import os
import random
import sys
from typing import Any

import torch

from .config import RunConfig
from .distributed import Engine, make_engine

log = logging.getLogger("reference_trainer")


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is now (pytest and notebooks replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(rank: int = 0) -> None:
    level = logging.INFO if rank == 0 else logging.WARNING
    if not log.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass


def build_engine(model: Any, cfg: RunConfig, *, micro_batches: int, total_updates: int,
                 text_only_data: bool = False) -> Engine:
    """AdamW + scheduler wrapped by accelerate (DDP) or DeepSpeed, per the config/launcher."""
    from transformers import get_scheduler

    t = cfg.train
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=t.learning_rate, betas=t.adam_betas, weight_decay=t.weight_decay)
    scheduler = get_scheduler(t.lr_scheduler, optimizer, num_warmup_steps=t.warmup_steps,
                              num_training_steps=total_updates)
    return make_engine(model, optimizer, scheduler, precision=cfg.model.precision,
                       deepspeed_config=t.deepspeed_config, micro_batch_size=t.micro_batch_size,
                       accumulation=micro_batches, max_grad_norm=t.max_grad_norm,
                       find_unused_parameters=text_only_data and not cfg.model.freeze_vision_tower)


def batch_arithmetic(cfg: RunConfig, world_size: int, dataset_size: int) -> str:
    t, m = cfg.train, cfg.rollout.num_generations
    per_device = t.prompts_per_device * m
    global_prompts = t.prompts_per_device * world_size
    micro = per_device // t.micro_batch_size
    epochs = t.max_steps * global_prompts / max(dataset_size, 1)
    return (
        f"batch arithmetic: {global_prompts} prompts/step ({t.prompts_per_device}/device × {world_size} devices) "
        f"× M={m} rollouts = {global_prompts * m} completions/step; {per_device} completions/device in {micro} "
        f"micro-batch(es) of {t.micro_batch_size} (gradient accumulation {micro}); "
        f"{cfg.grpo.num_iterations} optimiser update(s) per rollout; {t.max_steps} steps = "
        f"{epochs:.2f} epoch(s) over {dataset_size} prompts")
