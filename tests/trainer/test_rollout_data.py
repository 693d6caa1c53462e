"""Data loading, long-prompt filtering, rollout tensors (pixel_values order, completion mask)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reference_trainer.config import DataConfig, RolloutConfig
from reference_trainer.data import (
    PromptSampler,
    configure_processor,
    encode_prompts,
    filter_long_prompts,
    load_examples,
    prompt_length,
)
from reference_trainer.loss import completion_logprobs
from reference_trainer.modeling import eos_token_ids, load_model, load_processor
from reference_trainer.rollout import HFRollout, completion_mask, repeat_prompts


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    from reference_trainer.config import ModelConfig

    processor = load_processor(str(tiny_model_dir))
    configure_processor(processor, DataConfig(max_pixels=12544))
    return processor, load_model(str(tiny_model_dir), ModelConfig(tiny=True))


def test_completion_mask_up_to_and_including_first_eos() -> None:
    ids = torch.tensor([[5, 9, 2, 9], [5, 5, 5, 5], [9, 1, 1, 9]])
    mask, truncated = completion_mask(ids, [9])
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert truncated.tolist() == [False, True, False]


def test_prompt_length_prediction_and_filtering(tiny, rl_data: Path) -> None:
    processor, _ = tiny
    cfg = DataConfig(max_pixels=12544)
    examples = load_examples(rl_data, cfg)
    lengths = [prompt_length(processor, e, cfg) for e in examples]
    actual = [int(encode_prompts(processor, [e])["attention_mask"].sum()) for e in examples]
    assert lengths == actual  # predicted from the image header = what the processor produces
    limit = max(lengths) - 1
    n_long = sum(n > limit for n in lengths)
    assert 0 < n_long < len(lengths)
    kept, dropped = filter_long_prompts(examples, processor, cfg.model_copy(update={"max_prompt_length": limit}))
    assert dropped == n_long and len(kept) == len(lengths) - n_long
    with pytest.raises(ValueError, match="max_prompt_length"):
        filter_long_prompts(examples, processor, cfg.model_copy(update={"max_prompt_length": 5}))


def test_sharegpt_records_and_reflective_filter(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (56, 56)).save(tmp_path / "a.png")
    rows = [{"messages": [{"role": "user", "content": "<image>What is 2+2?"},
                          {"role": "assistant", "content": "### Step 1:\n2+2=4\n### The final answer is:\n4"}],
             "images": ["a.png"]},
            {"messages": [{"role": "user", "content": "<image>Q"},
                          {"role": "assistant", "content": "x. I think I have made a mistake. Let me rethink it. y"}],
             "images": ["a.png"]}]
    (tmp_path / "s.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    sft = load_examples(tmp_path / "s.jsonl", DataConfig(), sft=True)
    assert len(sft) == 1
    assert sft[0].messages[-1]["content"] == [{"type": "image"}, {"type": "text", "text": "What is 2+2?"}]
    assert sft[0].images == [str(tmp_path / "a.png")]
    assert sft[0].columns["solution"].endswith("4")
    assert len(load_examples(tmp_path / "s.jsonl", DataConfig(exclude_reflective=False), sft=True)) == 2


def test_pixel_values_repeated_per_image_chunk_in_order(tiny, rl_data: Path) -> None:
    processor, model = tiny
    examples = load_examples(rl_data, DataConfig(max_pixels=12544))[:2]  # two different image sizes
    prompts = encode_prompts(processor, examples)
    sizes = prompts["image_grid_thw"].prod(-1).tolist()
    assert sizes[0] != sizes[1]
    vs = processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")
    rep = repeat_prompts(prompts, 3, vs)
    chunks = torch.split(prompts["pixel_values"], sizes)
    expected = torch.cat([chunks[0]] * 3 + [chunks[1]] * 3)
    assert torch.equal(rep["pixel_values"], expected)
    assert rep["image_grid_thw"].tolist() == [prompts["image_grid_thw"][0].tolist()] * 3 + \
        [prompts["image_grid_thw"][1].tolist()] * 3


def test_rollout_then_micro_batched_logprobs_match_full_batch(tiny, rl_data: Path) -> None:
    processor, model = tiny
    torch.manual_seed(0)
    examples = load_examples(rl_data, DataConfig(max_pixels=12544))[:2]
    prompts = encode_prompts(processor, examples)
    rollout = HFRollout(RolloutConfig(max_completion_length=10, temperature=1.0), processor.tokenizer,
                        eos_token_ids(model, processor.tokenizer))
    batch = rollout.generate(model, prompts, 2)
    assert batch.completion_ids.shape[0] == 4 and len(batch.completions) == 4
    vision = [processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|vision_start|>")]
    assert not torch.isin(batch.completion_ids, torch.tensor(vision)).any()  # suppressed while sampling
    with torch.no_grad():
        full, _ = completion_logprobs(model, batch.model_inputs(), batch.completion_ids)
        part, _ = completion_logprobs(model, batch.model_inputs(slice(1, 3)), batch.completion_ids[1:3])
    m = batch.completion_mask.bool()
    assert torch.allclose(full[1:3][m[1:3]], part[m[1:3]], atol=1e-5)  # rows 1 and 2 span both prompts


def test_rollout_overrides_model_generation_config(tiny) -> None:
    processor, model = tiny
    cfg = RolloutConfig(temperature=0.7, top_p=0.9, top_k=50)
    gc = HFRollout(cfg, processor.tokenizer, [1]).gen_config
    assert (gc.do_sample, gc.temperature, gc.top_p, gc.top_k) == (True, 0.7, 0.9, 50)
    greedy = HFRollout(cfg, processor.tokenizer, [1], greedy=True).gen_config
    assert greedy.do_sample is False


def test_sampler_is_resumable_and_splits_ranks() -> None:
    r0, r1 = PromptSampler(5, seed=3), PromptSampler(5, seed=3)
    a, b = r0.next_batch(4, 0, 2), r1.next_batch(4, 1, 2)  # two ranks share one global batch of 4
    assert len(set(a) | set(b)) == 4
    state = r0.state_dict()
    nxt = r0.next_batch(4, 0, 2)  # crosses the epoch boundary (5 prompts)
    resumed = PromptSampler(5, seed=3)
    resumed.load_state_dict(state)
    assert resumed.next_batch(4, 0, 2) == nxt
    assert r0.epoch == 1


@pytest.mark.parametrize("checkpointing", [False, True])
def test_policy_loads_in_train_mode_so_gradient_checkpointing_takes_effect(tiny_model_dir: Path, checkpointing: bool) -> None:
    # from_pretrained returns eval mode, where transformers skips gradient checkpointing: the
    # policy must come back in train mode, and a checkpointed layer then runs again in backward
    from reference_trainer.config import ModelConfig

    model = load_model(str(tiny_model_dir), ModelConfig(tiny=True, gradient_checkpointing=checkpointing))
    assert model.training
    layer = next(m for m in model.modules() if type(m).__name__.endswith("DecoderLayer"))
    calls: list[int] = []
    # a pre-hook inside the checkpointed forward (recomputation stops early, before forward hooks)
    layer.mlp.register_forward_pre_hook(lambda *_: calls.append(1))
    ids = torch.randint(0, 100, (1, 8))
    model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float().mean().backward()
    assert len(calls) == (2 if checkpointing else 1)
