"""TRL's GRPOTrainer runs one step on CPU with stepreward's reward functions, unchanged."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from _samples import KEY_STEPS, SOLUTION  # noqa: E402


@pytest.mark.slow
def test_grpo_trainer_one_step_logs_per_component_rewards(tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from reference_trainer.tiny import build_processor, build_tokenizer, save_tiny
    from stepreward.trl import reward_funcs

    model_dir = save_tiny(tmp_path / "tiny")  # saved: TRL rebuilds the reference model from its path
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    data = Dataset.from_list(
        [{"prompt": f"What is {i} + 6/3? Think step by step.", "solution": SOLUTION, "key_steps": KEY_STEPS}
         for i in range(4)]
    )
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=12,
        max_steps=1,
        logging_steps=1,
        learning_rate=1e-6,
        beta=0.04,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=reward_funcs("paper"),
        args=args,
        train_dataset=data,
        processing_class=processor,
    )
    trainer.train()
    logs = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    for name in ("step_rar", "step_rvr"):
        assert f"rewards/{name}/mean" in logs, sorted(logs)
        assert f"rewards/{name}/std" in logs
    # random tiny model: no answer, no sections -> both components exactly 0
    assert logs["rewards/step_rar/mean"] == 0.0 and logs["reward"] == 0.0
