"""Loading the policy, the frozen reference model and the processor (``from_pretrained`` only)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig

log = logging.getLogger("reference_trainer")


def resolve_model_path(cfg: ModelConfig, output_dir: str, is_main: bool = True, timeout_s: float = 300) -> str:
    """``model.tiny``: the main rank writes the tiny offline model to ``<output_dir>/tiny-init`` (atomically)
    once; every rank then loads it from there with ``from_pretrained``."""
    if cfg.model_name_or_path or not cfg.tiny:  # an explicit path wins (e.g. a tiny run's checkpoint)
        return str(cfg.model_name_or_path)
    path = Path(output_dir) / "tiny-init"
    if is_main and not path.exists():
        from .tiny import save_tiny

        tmp = Path(output_dir) / f".tmp-tiny-init-{os.getpid()}"
        save_tiny(tmp, vocab=cfg.tiny_vocab)
        os.replace(tmp, path)
    deadline = time.time() + timeout_s
    while not path.exists():  # other ranks: no process group exists yet, so poll
        if time.time() > deadline:
            raise TimeoutError(f"{path} did not appear; is rank 0 running?")
        time.sleep(0.2)
    return str(path)


def load_processor(path: str) -> Any:
    """AutoProcessor, falling back to the torchvision-free processor (CPU installs without torchvision)."""
    try:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(path)
        if not hasattr(processor, "image_processor"):
            raise TypeError("not a multimodal processor")
    except Exception:  # noqa: BLE001 - e.g. the video processor needs torchvision
        from .tiny import ImageOnlyQwen2VLProcessor

        processor = ImageOnlyQwen2VLProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "left"
    return processor


def load_model(path: str, cfg: ModelConfig, *, trainable: bool = True) -> Any:
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = {"dtype": torch.float32}  # master weights fp32; bf16 via autocast / DeepSpeed
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if not trainable and torch.cuda.is_available() and cfg.precision != "fp32":
        kwargs["dtype"] = torch.bfloat16
    model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    if not trainable:
        model.eval().requires_grad_(False)
        return model
    # from_pretrained returns eval mode; transformers applies gradient checkpointing only in train
    # mode, so without this `gradient_checkpointing: true` silently did nothing
    model.train()
    if cfg.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if cfg.freeze_vision_tower:
        visual = vision_tower(model)
        visual.requires_grad_(False)
        if hasattr(visual, "merger"):  # the merger projects into the LM: keep it trainable
            visual.merger.requires_grad_(True)
    return model


def vision_tower(model: Any) -> Any:
    inner = getattr(model, "model", model)
    return getattr(inner, "visual", None) or model.visual


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """<|im_end|> (and any other configured EOS); never the pad token alone."""
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if im_end is not None and im_end >= 0 and im_end not in ids:
        ids.append(im_end)
    if not ids:
        ids = [tokenizer.eos_token_id]
    return ids


def param_count(model: Any) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
