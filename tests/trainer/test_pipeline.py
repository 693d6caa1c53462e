"""Warm-up SFT -> StepGRPO -> eval on the tiny model, the SFT records built from the example data, and the
zero-reward-signal warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from reference_trainer.__main__ import main
from reference_trainer.diagnostics import ZeroSignalMonitor
from reference_trainer.sftdata import sharegpt_records

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def test_sharegpt_records_join_completions_to_their_questions() -> None:
    records = sharegpt_records(DATA / "mulberry_rl.jsonl", DATA / "completions.jsonl")
    assert len(records) == 24  # 12 questions x {correct, correct_latex}
    first = records[0]
    user, assistant = first["messages"]
    assert first["id"].startswith("q01.") and user["role"] == "user" and assistant["role"] == "assistant"
    assert user["content"].startswith("<image>The figure shows a right triangle")
    assert assistant["content"].startswith("### Image Description:")
    assert Path(first["images"][0]).is_absolute() and Path(first["images"][0]).exists()
    text_only = [r for r in records if r["id"].startswith("q08.")]  # the algebra question has no image
    assert len(text_only) == 2 and all(r["images"] == [] and "<image>" not in r["messages"][0]["content"]
                                       for r in text_only)
    two = sharegpt_records(DATA / "mulberry_rl.jsonl", DATA / "completions.jsonl", ["correct"], max_questions=2)
    assert [r["id"].split(".")[0] for r in two] == ["q01", "q02"]
    with pytest.raises(ValueError, match="no completion"):
        sharegpt_records(DATA / "mulberry_rl.jsonl", DATA / "completions.jsonl", ["no-such-label"])


def test_zero_signal_warning_once_then_every_n_steps(caplog: pytest.LogCaptureFixture) -> None:
    monitor = ZeroSignalMonitor(every=3, num_generations=4, temperature=1.2)
    dead = {"frac_reward_zero_std": 1.0, "reward": 0.0, "rewards/step_rar/mean": 0.0}
    live = {"frac_reward_zero_std": 0.5, "reward": 0.7}
    with caplog.at_level(logging.WARNING, logger="reference_trainer"):
        warned = [s for s in range(1, 9) if monitor.update(s, live if s == 2 else dead)]
    assert warned == [1, 4, 7]  # first time, then at most every 3 steps
    assert monitor.zero_steps == 7
    text = caplog.records[0].getMessage()
    for needle in ("frac_reward_zero_std=1", "loss and its gradient are 0", "warm up first", "num_generations, now 4",
                   "temperature (now 1.2)", "denser reward", "drop_zero_std_groups", "No completion earned any reward",
                   "step_rar=0"):
        assert needle in text, needle
    tied = monitor.message(9, {"frac_reward_zero_std": 1.0, "reward": 2.1})
    assert "earned the same reward" in tied and "No completion earned" not in tied
    assert "7/8 steps" in monitor.summary(8)
    assert ZeroSignalMonitor(3, 4, 1.0).summary(5) is None


@pytest.mark.slow
def test_pipeline_sft_then_stepgrpo_has_reward_signal(tmp_path: Path) -> None:
    # one short question (q07, answers of ~150 tokens) keeps this under ~30 s on 2 CPU cores
    q07 = next(line for line in (DATA / "mulberry_rl.jsonl").read_text().splitlines() if '"id": "q07"' in line)
    (tmp_path / "q.jsonl").write_text(q07 + "\n")
    out = tmp_path / "run"
    rc = main(["pipeline", "--preset", "tiny-cpu", f"train.output_dir={out}", f"data.train_file={tmp_path / 'q.jsonl'}",
               f"data.image_root={DATA}", "warmup.max_steps=60", "warmup.micro_batch_size=2", "warmup.learning_rate=5e-3",
               "train.max_steps=2", "train.prompts_per_device=1", "train.micro_batch_size=4", "train.save_steps=2",
               "rollout.max_completion_length=170", "eval.max_new_tokens=170", "eval.batch_size=1",
               "log.tensorboard=false"])
    assert rc == 0
    summary = json.loads((out / "pipeline.json").read_text())
    assert [p.name for p in (out / "sft").glob("checkpoint-*")] == ["checkpoint-60"]
    assert [p.name for p in (out / "grpo").glob("checkpoint-*")] == ["checkpoint-2"]
    sft_data = [json.loads(line) for line in (out / "sft_data.jsonl").read_text().splitlines()]
    assert [r["id"] for r in sft_data] == ["q07.1", "q07.2"]  # correct, correct_latex
    for stage in ("init", "sft", "grpo"):
        assert len((out / f"eval-{stage}.jsonl").read_text().splitlines()) == 1
    ev = summary["eval"]
    assert ev["init"]["reward"] == 0.0  # random weights: no reward, nothing for GRPO to learn from
    assert ev["sft"]["rewards/validity_rate"] == 1.0 and ev["sft"]["reward"] > 1.0  # the warm-up taught the format
    rows = [json.loads(line) for line in (out / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    assert any(r["frac_reward_zero_std"] < 1.0 for r in rows), rows  # a group with non-zero reward std
    assert max(r["rewards/step_rvr/mean"] for r in rows) > 0 and max(r["grad_norm"] for r in rows) > 0
    assert summary["grpo"]["steps_without_signal"] < 2
