"""benchmarks/bench_gpu.py runs end to end on the CPU (tiny model), as its own script, and reports every measure.

The GPU run (``--size 2b``) needs an accelerator; this is the same code path with the tiny model, so a
change to the trainer that breaks the benchmark fails here, in CI, without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def test_bench_gpu_tiny_cpu(tmp_path: Path) -> None:
    out = tmp_path / "bench_gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--size", "tiny", "--device", "cpu",
           "--warmup", "1", "--steps", "1", "--prompts", "2", "--m", "4", "--max-new-tokens", "16",
           "--scoring-replays", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for row in ("generation (HF generate)", "scoring (stepreward paper)", "reference log-probs", "policy update",
                "optimiser step (wall)", "generation: completion tokens / s", "policy update: training tokens / s",
                "scoring share with realistic completions"):
        assert row in proc.stdout, proc.stdout[-3000:]

    d = json.loads(out.read_text())
    assert d["complete"] and "error" not in d
    assert d["run"]["engine"] == "AccelerateEngine" and d["run"]["world_size"] == 1
    assert d["run"]["reward_funcs"] == ["step_rar", "step_rvr"]  # the stepreward paper preset
    assert [s["warmup"] for s in d["steps"]] == [True, False]
    step = d["steps"][-1]
    assert step["completion_tokens"] == 2 * 4 * 16  # min_new_tokens = max_new_tokens: fixed length
    assert abs(sum(step["stages_s"].values()) + step["other_s"] - step["wall_s"]) < 1e-6
    assert all(v > 0 for k, v in step["stages_s"].items() if k != "advantages")
    s = d["summary"]
    assert s["timed_steps"] == 1 and s["generation_tokens_per_s"] > 0 and s["training_tokens_per_s"] > 0
    assert 0 < s["scoring_share"] < 1 and 0 < s["scoring_share_realistic"] < 1
    assert d["scoring_realistic"]["batches"] == 1 and d["scoring_realistic"]["completions_per_batch"] == 8
    assert [b["role"] for b in d["model"]["built"]] == ["policy", "reference"]  # beta > 0: a reference model
    assert d["model"]["vocab_size"] == d["model"]["tokenizer_size"]
