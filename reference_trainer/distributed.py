"""Two ways to run the same loop: accelerate (single process / DDP) or DeepSpeed ZeRO-2/3.

``Engine`` hides the differences the trainer cares about: backward with gradient accumulation over
micro-batches, the optimiser step with clipping, gathers for global statistics, the context that
makes full parameters available to ``generate`` (ZeRO-3) and saving optimiser state. DeepSpeed is
driven through ``deepspeed.initialize`` with a torch optimiser (launch with ``torchrun``,
``deepspeed`` or ``accelerate launch --config_file configs/accelerate/zero{2,3}.yaml``).
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


def use_bf16(precision: str) -> bool:
    if precision == "bf16":
        return True
    return precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def deepspeed_config_from_env(explicit: str | None) -> str | None:
    """The DeepSpeed JSON to use: explicit config, or the one ``accelerate launch`` exported."""
    if explicit:
        return explicit
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    return None


class Engine:
    """Common interface; see ``AccelerateEngine`` and ``DeepSpeedEngine``."""

    model: Any  # wrapped (DDP / DeepSpeed engine) model used for forward/backward
    optimizer: torch.optim.Optimizer
    scheduler: Any
    device: torch.device
    rank: int = 0
    world_size: int = 1
    bf16: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def unwrap(self) -> Any:
        return getattr(self.model, "module", self.model)

    def autocast(self) -> AbstractContextManager:
        if self.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def barrier(self) -> None:
        if dist.is_available() and dist.is_initialized():
            dist.barrier()

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Concatenate equal-shaped tensors from all ranks along dim 0 (rank order)."""
        if self.world_size == 1:
            return t
        out = [torch.empty_like(t) for _ in range(self.world_size)]
        dist.all_gather(out, t.contiguous())
        return torch.cat(out)

    def sum(self, x: float) -> float:
        if self.world_size == 1:
            return x
        t = torch.tensor([x], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.item()

    def generation_context(self) -> AbstractContextManager:
        return nullcontext()


class AccelerateEngine(Engine):
    def __init__(self, model: Any, optimizer: Any, scheduler: Any, precision: str,
                 find_unused_parameters: bool = False) -> None:
        from accelerate import Accelerator, DistributedDataParallelKwargs

        self.bf16 = use_bf16(precision)
        # text-only micro-batches leave the vision tower unused: DDP must be told
        ddp = DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp],
                                       mixed_precision="bf16" if self.bf16 else "no")
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.scheduler = scheduler
        self.device = self.accelerator.device
        self.rank, self.world_size = self.accelerator.process_index, self.accelerator.num_processes
        self.max_grad_norm: float | None = None

    def autocast(self) -> AbstractContextManager:
        return self.accelerator.autocast()

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        """``last``: the final micro-batch of an optimiser step (DDP all-reduces only then)."""
        ctx = nullcontext() if last or self.world_size == 1 else self.accelerator.no_sync(self.model)
        with ctx:
            self.accelerator.backward(loss)

    def step(self) -> float:
        norm = self.accelerator.clip_grad_norm_(self.model.parameters(), self.max_grad_norm or float("inf"))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def save_training_state(self, folder: Path) -> None:
        if self.is_main:  # DDP: the optimiser state is the same on every rank
            torch.save(self.optimizer.state_dict(), folder / "optimizer.pt")

    def load_training_state(self, folder: Path) -> None:
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=False))

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        return self.accelerator.get_state_dict(self.model)


class DeepSpeedEngine(Engine):
    def __init__(self, model: Any, optimizer: Any, scheduler: Any, precision: str, config_path: str, *,
                 micro_batch_size: int, accumulation: int, max_grad_norm: float | None) -> None:
        import deepspeed

        for key, default in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"),
                             ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29511")):
            os.environ.setdefault(key, default)
        self.bf16 = use_bf16(precision)
        config = fill_deepspeed_config(json.loads(Path(config_path).read_text()), micro_batch_size=micro_batch_size,
                                       accumulation=accumulation, world_size=int(os.environ["WORLD_SIZE"]),
                                       max_grad_norm=max_grad_norm, bf16=self.bf16)
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
        self.model, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=config)
        self.zero_stage = config.get("zero_optimization", {}).get("stage", 0)
        self.device = self.model.device
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def autocast(self) -> AbstractContextManager:
        return nullcontext()  # DeepSpeed casts the model itself

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        self.model.backward(loss, scale_wrt_gas=False)  # our loss is already normalised over micro-batches
        self.model.step()  # only updates at the accumulation boundary

    def step(self) -> float:
        norm = self.model.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def generation_context(self) -> AbstractContextManager:
        if self.zero_stage == 3:
            import deepspeed

            return deepspeed.zero.GatheredParameters(list(self.unwrap().parameters()), modifier_rank=None)
        return nullcontext()

    def save_training_state(self, folder: Path) -> None:
        """Collective: DeepSpeed's own checkpoint (each rank writes its optimiser shard)."""
        self.model.save_checkpoint(str(folder / "deepspeed"), tag="state", save_latest=False)

    def load_training_state(self, folder: Path) -> None:
        self.model.load_checkpoint(str(folder / "deepspeed"), tag="state", load_optimizer_states=True,
                                   load_lr_scheduler_states=True)

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        if self.zero_stage == 3:
            return self.model._zero3_consolidated_16bit_state_dict()
        return self.unwrap().state_dict()


def fill_deepspeed_config(config: dict[str, Any], *, micro_batch_size: int, accumulation: int, world_size: int,
                          max_grad_norm: float | None, bf16: bool) -> dict[str, Any]:
    """Replace ``"auto"`` values with the run's batch arithmetic; explicit values must agree."""
    wanted = {"train_micro_batch_size_per_gpu": micro_batch_size, "gradient_accumulation_steps": accumulation,
              "train_batch_size": micro_batch_size * accumulation * world_size,
              "gradient_clipping": max_grad_norm or 0.0}
    for key, value in wanted.items():
        if config.get(key, "auto") == "auto":
            config[key] = value
        elif config[key] != value:
            raise ValueError(f"DeepSpeed config {key}={config[key]} but the run needs {value}. Fix: set it to 'auto'.")
    if config.setdefault("bf16", {}).get("enabled", "auto") == "auto":
        config["bf16"]["enabled"] = bf16
    config.pop("optimizer", None)  # we pass a torch optimiser (no fused_adam JIT build)
    config.pop("scheduler", None)
    return config


def make_engine(model: Any, optimizer: Any, scheduler: Any, *, precision: str, deepspeed_config: str | None,
                micro_batch_size: int, accumulation: int, max_grad_norm: float | None,
                find_unused_parameters: bool = False) -> Engine:
    ds = deepspeed_config_from_env(deepspeed_config)
    if ds:
        return DeepSpeedEngine(model, optimizer, scheduler, precision, ds, micro_batch_size=micro_batch_size,
                               accumulation=accumulation, max_grad_norm=max_grad_norm)
    engine = AccelerateEngine(model, optimizer, scheduler, precision, find_unused_parameters)
    engine.max_grad_norm = max_grad_norm
    return engine
