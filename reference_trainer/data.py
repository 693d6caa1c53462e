"""Data: R1-VL RL records and Mulberry sharegpt records -> Qwen2-VL chat prompts with local images.

Prompts whose length *after image tokens are inserted* exceeds ``max_prompt_length`` are dropped
(and counted) when the data is loaded: left-truncating a processed Qwen2-VL prompt cuts image
tokens and breaks the model ("Image features and image tokens do not match").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import DataConfig

log = logging.getLogger("reference_trainer")

REFLECTION_MARKER = "I think I have made a mistake. Let me rethink it."
IMAGE_PLACEHOLDER = "<image>"


@dataclass
class Example:
    """One prompt: chat messages (images as ``{"type": "image"}`` parts), image files, reward columns."""

    messages: list[dict[str, Any]]
    images: list[str]
    columns: dict[str, Any] = field(default_factory=dict)
    response: str | None = None  # SFT target (assistant text)


def read_jsonl(path: str | Path, max_samples: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not JSON ({e}). Fix: one JSON object per line.") from None
            if max_samples and len(rows) >= max_samples:
                break
    return rows


def _user_content(text: str, n_images: int) -> list[dict[str, Any]]:
    """Sharegpt ``<image>`` placeholders -> image parts in place; missing placeholders go first."""
    parts: list[dict[str, Any]] = []
    pieces = text.split(IMAGE_PLACEHOLDER)
    missing = n_images - (len(pieces) - 1)
    parts += [{"type": "image"} for _ in range(max(missing, 0))]
    for i, piece in enumerate(pieces):
        if i:
            parts.append({"type": "image"})
        if piece.strip():
            parts.append({"type": "text", "text": piece})
    return parts


def _messages(user: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def to_example(rec: dict[str, Any], cfg: DataConfig, root: Path) -> Example:
    """An RL record (``image_path``/``problem``/...) or a sharegpt record (``messages``/``images``)."""
    if "messages" in rec:
        images = [str(root / p) for p in rec.get("images") or []]
        msgs = rec["messages"]
        user = next(m["content"] for m in msgs if m["role"] == "user")
        answer = next((m["content"] for m in msgs if m["role"] == "assistant"), None)
        columns = {"problem": user.replace(IMAGE_PLACEHOLDER, "").strip(), "solution": answer,
                   "key_steps": rec.get("key_steps")}
        return Example(_messages(_user_content(user, len(images)), cfg.system_prompt), images, columns, answer)
    if "problem" not in rec:
        raise ValueError(f"record has neither 'messages' nor 'problem' (keys: {sorted(rec)}). Fix: use R1-VL RL "
                         "records (image_path, problem, solution, key_steps) or sharegpt records.")
    paths = rec.get("image_path") or rec.get("images") or []
    images = [str(root / p) for p in ([paths] if isinstance(paths, str) else paths)]
    text = cfg.prompt_template.format(problem=rec["problem"])
    user = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
    columns = {k: v for k, v in rec.items() if k not in ("image_path", "images")}
    columns.setdefault("key_steps", None)
    return Example(_messages(user, cfg.system_prompt), images, columns)


def load_examples(path: str | Path, cfg: DataConfig, sft: bool = False) -> list[Example]:
    """Read a JSONL file into examples; SFT drops reflective samples when ``exclude_reflective``."""
    path = Path(path)
    root = Path(cfg.image_root) if cfg.image_root else path.parent
    examples = [to_example(r, cfg, root) for r in read_jsonl(path, cfg.max_samples)]
    if sft:
        n = len(examples)
        examples = [e for e in examples if e.response]
        if cfg.exclude_reflective:
            examples = [e for e in examples if REFLECTION_MARKER not in e.response]
        log.info("SFT data: %d records, %d kept (reflective/empty dropped: %d)", n, len(examples), n - len(examples))
    return examples


def configure_processor(processor: Any, cfg: DataConfig) -> None:
    """Apply min/max pixels and left padding (batched generation needs it)."""
    ip = processor.image_processor
    ip.size = {"shortest_edge": cfg.min_pixels, "longest_edge": cfg.max_pixels}
    for name, value in (("min_pixels", cfg.min_pixels), ("max_pixels", cfg.max_pixels)):
        if hasattr(ip, name):
            setattr(ip, name, value)
    processor.tokenizer.padding_side = "left"


def image_tokens(path: str, processor: Any, cfg: DataConfig) -> int:
    """Number of ``<|image_pad|>`` tokens an image becomes (reads only the image header)."""
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    ip = processor.image_processor
    patch, merge = ip.patch_size, ip.merge_size
    with Image.open(path) as img:
        w, h = img.size
    rh, rw = smart_resize(h, w, factor=patch * merge, min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels)
    return (rh // patch) * (rw // patch) // (merge * merge)


def prompt_text(processor: Any, ex: Example) -> str:
    return processor.apply_chat_template(ex.messages, add_generation_prompt=True, tokenize=False)


def prompt_length(processor: Any, ex: Example, cfg: DataConfig) -> int:
    n_text = len(processor.tokenizer(prompt_text(processor, ex), add_special_tokens=False)["input_ids"])
    return n_text + sum(image_tokens(p, processor, cfg) - 1 for p in ex.images)


def filter_long_prompts(examples: list[Example], processor: Any, cfg: DataConfig) -> tuple[list[Example], int]:
    """Drop prompts longer than ``max_prompt_length`` after image-token insertion; returns (kept, dropped)."""
    kept = [e for e in examples if prompt_length(processor, e, cfg) <= cfg.max_prompt_length]
    dropped = len(examples) - len(kept)
    if dropped:
        log.warning("dropped %d/%d prompts longer than max_prompt_length=%d after image tokens "
                    "(never truncated; raise max_prompt_length or lower max_pixels)",
                    dropped, len(examples), cfg.max_prompt_length)
    if not kept:
        raise ValueError("every prompt is longer than data.max_prompt_length. Fix: raise it or lower max_pixels.")
    return kept, dropped


def load_images(ex: Example) -> list[Any]:
    from PIL import Image

    out = []
    for p in ex.images:
        with Image.open(p) as img:
            out.append(img.convert("RGB"))
    return out


def encode_prompts(processor: Any, examples: list[Example], texts: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Left-padded prompt tensors: input_ids, attention_mask, mm_token_type_ids, pixel_values, image_grid_thw."""
    texts = texts or [prompt_text(processor, e) for e in examples]
    images = [img for e in examples for img in load_images(e)]
    enc = processor(text=texts, images=images or None, return_tensors="pt", padding=True)
    return dict(enc)


class PromptSampler:
    """Seeded epoch permutations with a resumable position; each rank takes its slice of a global batch."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch, self.position = 0, 0

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def next_batch(self, global_size: int, rank: int, per_rank: int) -> list[int]:
        """Indices for this rank; the global batch is consumed by all ranks together."""
        out: list[int] = []
        while len(out) < global_size:
            if self.position >= self.n:
                self.epoch, self.position = self.epoch + 1, 0
            order = self._order()
            take = min(global_size - len(out), self.n - self.position)
            out += order[self.position:self.position + take]
            self.position += take
        return out[rank * per_rank:(rank + 1) * per_rank]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "n": self.n}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["n"] != self.n:
            log.warning("dataset size changed since the checkpoint (%d -> %d)", state["n"], self.n)
        self.epoch, self.position = state["epoch"], state["position"]
