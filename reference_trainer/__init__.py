"""reference_trainer: a compact, readable GRPO / StepGRPO trainer for Qwen2-VL (R1-VL's RL stage).

Heavy imports (torch, transformers) happen in the submodules; this package imports cheaply.
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError, RunConfig, load_config

__all__ = ["ConfigError", "GRPOTrainer", "RunConfig", "load_config"]


def __getattr__(name: str) -> Any:
    if name == "GRPOTrainer":
        from .grpo import GRPOTrainer

        return GRPOTrainer
    raise AttributeError(name)
