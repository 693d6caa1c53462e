"""Atomic, resumable checkpoints in the Hugging Face format.

``<output_dir>/checkpoint-<step>/`` holds ``save_pretrained`` weights + processor (so
``from_pretrained`` loads it), ``optimizer.pt`` (DeepSpeed: a ``deepspeed/`` engine checkpoint with
the sharded optimiser states), ``scheduler.pt``, ``rng_state_<rank>.pt`` and
``trainer_state.json`` (step, data position, config). Everything is written into a hidden
``.tmp-checkpoint-<step>`` folder first and renamed with ``os.replace`` when complete: a crash
mid-save leaves the previous checkpoint untouched.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:
        pass
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _CKPT.match(p.name))]
    return [p for _, p in sorted(found)]


def resolve_resume(resume_from: str | None, output_dir: str | Path) -> Path | None:
    """``'auto'`` -> latest complete checkpoint in ``output_dir`` (or None); else the given folder."""
    if not resume_from:
        return None
    if resume_from == "auto":
        ckpts = list_checkpoints(output_dir)
        return ckpts[-1] if ckpts else None
    path = Path(resume_from)
    if not (path / "trainer_state.json").exists():
        raise ValueError(f"train.resume_from={resume_from!r} is not a checkpoint (no trainer_state.json). "
                         "Fix: point at a checkpoint-<step> folder or use 'auto'.")
    return path


def save_checkpoint(engine: Any, processor: Any, output_dir: str | Path, step: int, state: dict[str, Any],
                    save_total_limit: int | None = None) -> Path | None:
    """Collective: every rank calls it. Returns the final folder on the main rank."""
    root = Path(output_dir)
    tmp, final = root / f".tmp-checkpoint-{step}", root / f"checkpoint-{step}"
    model_state = engine.model_state_dict()  # collective under ZeRO-3
    if engine.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        engine.unwrap().save_pretrained(tmp, state_dict=model_state)
        processor.save_pretrained(tmp)
        torch.save(engine.scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({**state, "step": step}, indent=2, default=str))
    engine.barrier()
    engine.save_training_state(tmp)  # optimiser (DeepSpeed: its own sharded checkpoint)
    torch.save(rng_state(), tmp / f"rng_state_{engine.rank}.pt")
    engine.barrier()
    if engine.is_main:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if save_total_limit:
            for old in list_checkpoints(root)[:-save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    engine.barrier()
    return final if engine.is_main else None


def load_checkpoint(engine: Any, path: str | Path) -> dict[str, Any]:
    """Restore optimiser, scheduler and this rank's RNG; returns trainer_state.json.

    The weights are not loaded here: the trainer builds the policy with ``from_pretrained(path)``
    before wrapping it, so resuming exercises the same loading path as any user of the checkpoint.
    """
    path = Path(path)
    engine.load_training_state(path)
    engine.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    rng = path / f"rng_state_{engine.rank}.pt"
    if rng.exists():
        set_rng_state(torch.load(rng, weights_only=False))
    return json.loads((path / "trainer_state.json").read_text())
