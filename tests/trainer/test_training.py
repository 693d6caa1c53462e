"""In-process training on the tiny model: learning, resume, checkpoints, CLI (tiny-cpu preset, plot, sft, eval)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from reference_trainer import checkpoint as ckpt
from reference_trainer.__main__ import main
from reference_trainer.config import load_config
from reference_trainer.grpo import GRPOTrainer

pytestmark = pytest.mark.slow

EXAMPLE_DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "mulberry_rl.jsonl"


def _overrides(model_dir: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [f"model.model_name_or_path={model_dir}", f"data.train_file={data}", "data.max_pixels=12544",
            f"train.output_dir={out}", "train.prompts_per_device=2", "train.micro_batch_size=4",
            "rollout.max_completion_length=12", "rollout.temperature=1.0", "rewards.preset=null",
            "rewards.funcs=[{func: _trainer_rewards:digit_share}]", "train.learning_rate=1e-2",
            "log.tensorboard=false", "train.save_steps=1000", *extra]


def test_mean_reward_rises(tiny_model_dir: Path, rl_data: Path, tmp_path: Path) -> None:
    # reward = share of digit characters: dense (random text has a few), learnt in ~20 steps for every
    # seed we tried (0-7: the last-5 mean reached 0.5-1.0 from < 0.1)
    cfg = load_config(overrides=_overrides(tiny_model_dir, rl_data, tmp_path, "train.max_steps=30", "grpo.beta=0",
                                           "rewards.funcs=[{func: _trainer_rewards:digit_share}]"))
    trainer = GRPOTrainer(cfg)
    assert trainer.ref_model is None  # beta = 0 loads no reference model
    rewards = [m["reward"] for m in trainer.train()]
    first, last = statistics.mean(rewards[:5]), statistics.mean(rewards[-5:])
    assert first < 0.2 and last > first + 0.3, rewards


@pytest.mark.parametrize("extra", [("grpo.num_iterations=2", "grpo.loss_type=dapo", "grpo.epsilon_high=0.28"),
                                   ("grpo.drop_zero_std_groups=true", "grpo.mask_truncated_completions=true",
                                    "grpo.loss_type=dr_grpo", "grpo.scale_rewards=batch"),
                                   ("model.gradient_checkpointing=true", "model.freeze_vision_tower=true",
                                    "grpo.loss_type=bnpo", "grpo.beta=0")])
def test_other_loss_settings_train(tiny_model_dir: Path, rl_data: Path, tmp_path: Path, extra: tuple) -> None:
    cfg = load_config(overrides=_overrides(tiny_model_dir, rl_data, tmp_path, "train.max_steps=3", *extra))
    trainer = GRPOTrainer(cfg)
    visual = trainer.engine.unwrap().model.visual
    before = visual.patch_embed.proj.weight.detach().clone()
    history = trainer.train()
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    frozen = cfg.model.freeze_vision_tower
    assert torch.equal(before, visual.patch_embed.proj.weight) == frozen
    assert {"kl", "clip_ratio", "entropy", "frac_reward_zero_std", "completions/clipped_ratio"} <= set(history[0])


def test_resume_reproduces_the_uninterrupted_run(tiny_model_dir: Path, rl_data: Path, tmp_path: Path) -> None:
    def cfg(out: Path, *extra: str):
        return load_config(overrides=_overrides(tiny_model_dir, rl_data, out, "train.max_steps=4", *extra))

    full = [m["loss"] for m in GRPOTrainer(cfg(tmp_path / "a")).train()]
    interrupted = GRPOTrainer(cfg(tmp_path / "b"))
    for _ in range(2):  # "stopped" after step 2
        interrupted.train_step()
    saved = interrupted.save()
    params = {k: v.clone() for k, v in interrupted.engine.unwrap().state_dict().items()}
    resumed = GRPOTrainer(cfg(tmp_path / "b", "train.resume_from=auto"))
    assert resumed.step == 2 and resumed.resume_path == saved
    later = [m["loss"] for m in resumed.train()]
    assert later == pytest.approx(full[2:], abs=1e-6)
    assert any(abs(x) > 1e-6 for x in full[2:])  # the comparison is not between zeros

    # the checkpoint is a Hugging Face folder: from_pretrained gives the weights at step 2
    from transformers import AutoModelForImageTextToText

    loaded = AutoModelForImageTextToText.from_pretrained(saved).state_dict()
    assert all(torch.equal(loaded[k], params[k]) for k in params)
    assert json.loads((saved / "trainer_state.json").read_text())["sampler"]["position"] == 4


def test_checkpoint_save_is_atomic(tiny_model_dir: Path, rl_data: Path, tmp_path: Path) -> None:
    trainer = GRPOTrainer(load_config(overrides=_overrides(tiny_model_dir, rl_data, tmp_path, "train.max_steps=2")))
    trainer.train_step()
    first = trainer.save()
    trainer.train_step()

    def crash(*a, **k):
        raise OSError("disk full")

    trainer.processor.save_pretrained = crash
    with pytest.raises(OSError):
        trainer.save()
    assert ckpt.list_checkpoints(tmp_path) == [first]  # the half-written step-2 folder is not a checkpoint
    assert ckpt.resolve_resume("auto", tmp_path) == first
    assert (first / "model.safetensors").exists() and (first / "optimizer.pt").exists()


def test_tiny_cpu_preset_end_to_end_and_plot(tmp_path: Path, rl_data: Path, capsys) -> None:
    data = EXAMPLE_DATA if EXAMPLE_DATA.exists() else rl_data
    out = tmp_path / "run"
    rc = main(["grpo", "--preset", "tiny-cpu", f"data.train_file={data}", f"train.output_dir={out}",
               "train.max_steps=4", "train.save_steps=2", "rollout.max_completion_length=48"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "batch arithmetic: 2 prompts/step" in printed
    # random weights earn no reward: the run says why the loss is 0 instead of looking broken
    assert "no reward signal" in printed and "warm up first" in printed
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert {"rewards/step_rar/mean", "rewards/step_rvr/mean", "rewards/accuracy", "rewards/validity_rate",
            "reward_failures", "tokens_per_second", "step_time"} <= set(rows[0])
    assert [p.name for p in ckpt.list_checkpoints(out)] == ["checkpoint-2", "checkpoint-4"]
    table = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert {"prompt", "completion", "step_rar", "step_rvr", "reward", "advantage"} <= set(table[0])
    assert list((out / "tensorboard").iterdir())
    assert main(["plot", str(out)]) == 0
    assert (out / "plots" / "reward.png").stat().st_size > 1000


def test_sft_then_eval(tmp_path: Path, rl_data: Path) -> None:
    from PIL import Image

    Image.new("RGB", (56, 56), (10, 200, 10)).save(tmp_path / "g.png")
    answer = "### Step 1:\n3+4=7\n### The final answer is:\n7"
    rec = {"messages": [{"role": "user", "content": "<image>What is 3+4?"},
                        {"role": "assistant", "content": answer}], "images": ["g.png"]}
    (tmp_path / "sft.jsonl").write_text(json.dumps(rec) + "\n")
    out = tmp_path / "sft"
    common = ["model.tiny=true", f"train.output_dir={out}", "data.max_pixels=12544", "log.tensorboard=false"]
    rc = main(["sft", *common, f"data.train_file={tmp_path / 'sft.jsonl'}", "train.max_steps=40",
               "train.micro_batch_size=2", "train.learning_rate=1e-2", "train.save_steps=40", "rewards.preset=null",
               "rewards.funcs=[{func: _trainer_rewards:count_sevens}]"])
    assert rc == 0
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.3 * losses[0]  # memorises the one answer
    from reference_trainer.evaluate import evaluate

    result = evaluate(load_config(overrides=[
        f"model.model_name_or_path={out / 'checkpoint-40'}", f"data.eval_file={tmp_path / 'sft.jsonl'}",
        "data.max_pixels=12544", f"train.output_dir={tmp_path / 'eval'}", "eval.max_new_tokens=24",
        "rewards.preset=null", "rewards.funcs=[{func: _trainer_rewards:count_sevens}]"]))
    assert result["n"] == 1 and result["count_sevens"] > 0  # greedy decoding reproduces the learnt "7"s
