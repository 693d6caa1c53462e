"""Rollout: M samples per prompt behind a small interface.

``HFRollout`` samples with transformers ``generate``. A vLLM backend is the intended extension
point: implement ``Rollout.generate`` (sync weights from the policy before sampling, return the
same ``RolloutBatch``) and register it in ``make_rollout``. It is not provided here because it can
only be run and tested on a GPU.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from transformers import GenerationConfig

from .config import RolloutConfig

VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


@dataclass
class RolloutBatch:
    """Prompt+completion tensors for ``N = prompts × M`` sequences (rows of a group are adjacent)."""

    inputs: dict[str, torch.Tensor]  # prompt tensors repeated ×M (pixel_values per image chunk)
    completion_ids: torch.Tensor  # (N, C), padded after the first EOS
    completion_mask: torch.Tensor  # (N, C) 1 up to and including the first EOS
    truncated: torch.Tensor  # (N,) bool: no EOS within max_completion_length
    completions: list[str]  # decoded text (special tokens skipped)

    @property
    def prompt_length(self) -> int:
        return self.inputs["input_ids"].shape[1]

    def model_inputs(self, rows: slice | None = None) -> dict[str, torch.Tensor]:
        """Teacher-forcing inputs (prompt + completion) for ``rows``; vision inputs sliced per image."""
        rows = rows or slice(0, self.completion_ids.shape[0])
        inp = self.inputs
        ids = torch.cat([inp["input_ids"][rows], self.completion_ids[rows]], dim=1)
        mask = torch.cat([inp["attention_mask"][rows], self.completion_mask[rows].to(inp["attention_mask"].dtype)], 1)
        out = {"input_ids": ids, "attention_mask": mask}
        if "mm_token_type_ids" in inp:
            tt = inp["mm_token_type_ids"][rows]
            out["mm_token_type_ids"] = torch.cat([tt, torch.zeros_like(self.completion_ids[rows])], 1)
        if "pixel_values" in inp and int(inp["images_per_row"][rows].sum()) > 0:  # text-only rows: no vision
            out.update(slice_vision(inp, rows))
        return out


class Rollout(Protocol):
    """Samples completions for a batch of encoded prompts."""

    def generate(self, model: Any, prompts: dict[str, torch.Tensor], num_generations: int) -> RolloutBatch: ...


def image_chunks(grid_thw: torch.Tensor) -> list[int]:
    """Rows of the flat ``pixel_values`` that belong to each image."""
    return grid_thw.prod(-1).tolist()


def images_per_row(input_ids: torch.Tensor, vision_start_id: int) -> list[int]:
    return (input_ids == vision_start_id).sum(1).tolist()


def repeat_prompts(prompts: dict[str, torch.Tensor], m: int, vision_start_id: int) -> dict[str, torch.Tensor]:
    """Repeat every prompt ``m`` times (adjacent); ``pixel_values`` repeated per image chunk, in input order."""
    out = {k: v.repeat_interleave(m, dim=0) for k, v in prompts.items() if k not in ("pixel_values", "image_grid_thw")}
    if "pixel_values" in prompts:
        per_row = images_per_row(prompts["input_ids"], vision_start_id)
        chunks = list(torch.split(prompts["pixel_values"], image_chunks(prompts["image_grid_thw"])))
        grids = list(prompts["image_grid_thw"])
        pv, gr, i = [], [], 0
        for n in per_row:
            for _ in range(m):
                pv += chunks[i:i + n]
                gr += grids[i:i + n]
            i += n
        out["pixel_values"] = torch.cat(pv)
        out["image_grid_thw"] = torch.stack(gr)
        out["images_per_row"] = torch.tensor([n for n in per_row for _ in range(m)])
    return out


def slice_vision(inputs: dict[str, torch.Tensor], rows: slice) -> dict[str, torch.Tensor]:
    """pixel_values / image_grid_thw for a contiguous row range (uses ``images_per_row``)."""
    per_row = inputs["images_per_row"].tolist()
    first = sum(per_row[:rows.start])
    last = first + sum(per_row[rows])
    sizes = image_chunks(inputs["image_grid_thw"])
    start = sum(sizes[:first])
    stop = start + sum(sizes[first:last])
    return {"pixel_values": inputs["pixel_values"][start:stop], "image_grid_thw": inputs["image_grid_thw"][first:last]}


def completion_mask(completion_ids: torch.Tensor, eos_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask up to and including the first EOS; ``truncated`` rows have no EOS."""
    is_eos = torch.isin(completion_ids, torch.tensor(eos_ids, device=completion_ids.device))
    has_eos = is_eos.any(1)
    first = torch.where(has_eos, is_eos.int().argmax(1), torch.full_like(has_eos, completion_ids.shape[1], dtype=torch.long))
    pos = torch.arange(completion_ids.shape[1], device=completion_ids.device)
    mask = (pos[None, :] <= first[:, None]).long()
    return mask, ~has_eos


class HFRollout:
    """Sampling with ``model.generate``; every sampling knob is explicit (the model's own
    generation_config, e.g. Qwen2-VL's top_k=1 / temperature 0.01, is NOT inherited)."""

    def __init__(self, cfg: RolloutConfig, tokenizer: Any, eos_ids: list[int], *, greedy: bool = False,
                 max_new_tokens: int | None = None,
                 gather_ctx: Any = None) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.vision_start_id = tokenizer.convert_tokens_to_ids("<|vision_start|>")
        suppress = [tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS]
        self.gen_config = GenerationConfig(
            do_sample=not greedy,
            temperature=cfg.temperature if not greedy else None,
            top_p=cfg.top_p if not greedy else None,
            top_k=(cfg.top_k or None) if not greedy else None,
            repetition_penalty=cfg.repetition_penalty,
            max_new_tokens=max_new_tokens or cfg.max_completion_length,
            eos_token_id=eos_ids,
            pad_token_id=tokenizer.pad_token_id,
            suppress_tokens=[t for t in suppress if t is not None and t >= 0],
            use_cache=True,
        )
        self.gather_ctx = gather_ctx or (lambda: nullcontext())

    def generate(self, model: Any, prompts: dict[str, torch.Tensor], num_generations: int) -> RolloutBatch:
        inputs = repeat_prompts(prompts, num_generations, self.vision_start_id)
        gen_inputs = {k: v for k, v in inputs.items() if k != "images_per_row"}
        was_training = model.training
        model.eval()
        ctx: AbstractContextManager = self.gather_ctx()
        with torch.no_grad(), ctx:
            out = model.generate(**gen_inputs, generation_config=self.gen_config)
        model.train(was_training)
        completion_ids = out[:, inputs["input_ids"].shape[1]:]
        mask, truncated = completion_mask(completion_ids, self.eos_ids)
        completion_ids = completion_ids.masked_fill(mask == 0, self.tokenizer.pad_token_id)
        texts = self.tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        return RolloutBatch(inputs, completion_ids, mask, truncated, texts)


def make_rollout(cfg: RolloutConfig, tokenizer: Any, eos_ids: list[int], **kwargs: Any) -> Rollout:
    if cfg.backend == "hf":
        return HFRollout(cfg, tokenizer, eos_ids, **kwargs)
    raise ValueError(f"rollout.backend={cfg.backend!r} is not available. Fix: use 'hf'.")
