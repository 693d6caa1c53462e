"""Shared fixtures: a tiny Qwen2-VL saved once per session and a small RL dataset with PNG images."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # an editable install made before reference_trainer existed misses it
    sys.path.insert(0, str(REPO))

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

EXAMPLE_DATA = REPO / "examples" / "data" / "mulberry_rl.jsonl"

SOLUTIONS = ["### The final answer is:\n3", "### The final answer is:\n7", "### The final answer is:\nB"]


def write_rl_dataset(root: Path, n: int = 6) -> Path:
    """``n`` RL records with small coloured PNGs (sizes vary, so image-token counts vary)."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        size = (56 + 28 * (i % 2), 56)
        Image.new("RGB", size, color=(40 * i % 255, 90, 200)).save(root / "images" / f"img{i}.png")
        lines.append(json.dumps({
            "image_path": f"images/img{i}.png",
            "problem": f"How many shapes are in the image? Question {i}.",
            "solution": SOLUTIONS[i % len(SOLUTIONS)],
            "key_steps": {"Steps": [["2+1=3", "1+2=3"], "3"]},
        }))
    path = root / "rl.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reference_trainer.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def rl_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rl_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True, scope="session")
def _threads() -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Each trainer gets a fresh accelerate state (TRL's trainer in another test leaves one behind)."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
