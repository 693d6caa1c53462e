"""Run by the distributed tests under torchrun: train a few steps, dump this rank's parameters.

usage: torchrun --standalone --nproc_per_node 2 dist_driver.py OUT_DIR override ...
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).parent)]
os.environ.setdefault("ACCELERATE_USE_CPU", "true")

import torch  # noqa: E402

from reference_trainer.config import load_config  # noqa: E402
from reference_trainer.grpo import GRPOTrainer  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    trainer = GRPOTrainer(load_config(overrides=sys.argv[2:]))
    seen = []
    orig = trainer.generate

    def spy(examples):
        seen.append([e.columns["problem"] for e in examples])
        return orig(examples)

    trainer.generate = spy
    history = trainer.train()
    rank = trainer.engine.rank
    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in trainer.engine.unwrap().parameters()])
    torch.save(flat, out / f"params_{rank}.pt")
    (out / f"rank_{rank}.json").write_text(json.dumps({
        "world_size": trainer.engine.world_size, "prompts": seen, "engine": type(trainer.engine).__name__,
        "losses": [h["loss"] for h in history], "grad_norms": [h["grad_norm"] for h in history]}))


if __name__ == "__main__":
    main()
