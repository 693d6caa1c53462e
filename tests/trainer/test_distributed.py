"""Two gloo ranks on CPU (torchrun): DDP through accelerate and DeepSpeed ZeRO-2 stay in sync.

``accelerate launch --cpu --num_processes 2`` starts one process on this kind of machine, so the
ranks are started with ``torchrun --standalone --nproc_per_node 2`` (see ENVIRONMENT.md). The
DeepSpeed run JIT-compiles a communication op on first use (~30-45 s, cached in
TORCH_EXTENSIONS_DIR, which we point at a persistent folder so later runs skip it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).with_name("dist_driver.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _run(tmp: Path, model: Path, data: Path, *extra: str, port: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{Path(__file__).parent}", "OMP_NUM_THREADS": "1",
           "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR",
                                                  str(Path.home() / ".cache" / "stepreward_torch_extensions"))}
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", f"--master_port={port}", str(DRIVER), str(tmp),
           f"model.model_name_or_path={model}", f"data.train_file={data}", "data.max_pixels=12544",
           f"train.output_dir={tmp / 'run'}", "train.max_steps=3", "train.prompts_per_device=1",
           "train.micro_batch_size=2", "rollout.max_completion_length=8", "rewards.preset=null",
           "rewards.funcs=[{func: _trainer_rewards:count_sevens}]", "train.learning_rate=1e-2", "log.tensorboard=false",
           "train.save_steps=1", "train.save_total_limit=2", *extra]
    proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((tmp / f"rank_{r}.json").read_text()) for r in (0, 1)]


def _check_in_sync(tmp: Path, ranks: list[dict], model: Path, engine: str) -> None:
    assert [r["world_size"] for r in ranks] == [2, 2] and {r["engine"] for r in ranks} == {engine}
    p0, p1 = torch.load(tmp / "params_0.pt"), torch.load(tmp / "params_1.pt")
    assert torch.equal(p0, p1)  # identical parameters on both ranks after the steps
    from transformers import AutoModelForImageTextToText

    init = torch.cat([p.detach().reshape(-1) for p in AutoModelForImageTextToText.from_pretrained(model).parameters()])
    assert (p0 - init).abs().max() > 1e-4  # ... and they did train
    prompts0 = {q for step in ranks[0]["prompts"] for q in step}
    prompts1 = {q for step in ranks[1]["prompts"] for q in step}
    assert not prompts0 & prompts1  # each rank took its own slice of the global batch
    assert ranks[0]["losses"] == ranks[1]["losses"]  # global metrics are reduced over ranks
    ckpt = tmp / "run" / "checkpoint-3"
    assert (ckpt / "model.safetensors").exists() and (ckpt / "rng_state_1.pt").exists()
    assert (ckpt / "optimizer.pt").exists() or (ckpt / "deepspeed").is_dir()


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, tiny_model_dir: Path, rl_data: Path) -> tuple[Path, list[dict]]:
    tmp = tmp_path_factory.mktemp("ddp")
    return tmp, _run(tmp, tiny_model_dir, rl_data, port=29531)


def test_ddp_two_ranks_stay_in_sync(ddp_run, tiny_model_dir: Path) -> None:
    tmp, ranks = ddp_run
    _check_in_sync(tmp, ranks, tiny_model_dir, "AccelerateEngine")


def _checkpoint_params(path: Path) -> torch.Tensor:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(path)
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_two_ranks_match_ddp(stage: str, ddp_run, tmp_path: Path, tiny_model_dir: Path,
                                       rl_data: Path) -> None:
    pytest.importorskip("deepspeed")
    config = REPO / "reference_trainer" / "configs" / "accelerate" / f"{stage}.json"
    ranks = _run(tmp_path, tiny_model_dir, rl_data, f"train.deepspeed_config={config}",
                 port=29532 if stage == "zero2" else 29533)
    assert {r["engine"] for r in ranks} == {"DeepSpeedEngine"} and ranks[0]["world_size"] == 2
    if stage == "zero2":  # ZeRO-3 partitions parameters: the full weights are compared via the checkpoint
        _check_in_sync(tmp_path, ranks, tiny_model_dir, "DeepSpeedEngine")
        # resume the sharded optimiser from checkpoint-2 and reproduce step 3
        resume = tmp_path / "resume"
        resume.mkdir()
        (tmp_path / "run" / "checkpoint-3").rename(tmp_path / "checkpoint-3-full")
        resumed = _run(resume, tiny_model_dir, rl_data, f"train.deepspeed_config={config}",
                       f"train.resume_from={tmp_path / 'run' / 'checkpoint-2'}", f"train.output_dir={tmp_path / 'run'}",
                       port=29534)
        assert resumed[0]["losses"] == pytest.approx(ranks[0]["losses"][2:], abs=1e-6)
    # same seeds, data and maths as the DDP run: the same losses, gradient norms and saved weights
    ddp_tmp, ddp = ddp_run
    assert ranks[0]["losses"] == pytest.approx(ddp[0]["losses"], abs=1e-6)
    assert ranks[0]["grad_norms"] == pytest.approx(ddp[0]["grad_norms"], rel=1e-4)
    ours = _checkpoint_params(tmp_path / "run" / "checkpoint-3")
    ddp_params, init = _checkpoint_params(ddp_tmp / "run" / "checkpoint-3"), _checkpoint_params(tiny_model_dir)
    assert (ddp_params - init).abs().max() > 1e-2  # the updates are ~1e-2 (lr 1e-2, Adam) ...
    assert (ours - ddp_params).abs().max() < 1e-4  # ... and agree up to reduction-order rounding
