"""Warm-up SFT (stage 1 of StepGRPO): cross-entropy on the assistant turn of Mulberry sharegpt records,
reflective samples excluded. Small on purpose: same config, engine, logging and checkpoints as GRPO."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from . import checkpoint as ckpt
from .config import RunConfig
from .data import PromptSampler, configure_processor, encode_prompts, load_examples, prompt_text
from .metrics import MetricsLogger
from .modeling import load_model, load_processor, resolve_model_path
from .runtime import build_engine, env_rank, seed_everything, setup_logging

log = logging.getLogger("reference_trainer")


def sft_batch(processor: Any, examples: list, device: torch.device) -> dict[str, torch.Tensor]:
    """Prompt + response + <|im_end|>; labels are -100 on the prompt and on padding."""
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    texts = [prompt_text(processor, e) + e.response + "<|im_end|>" for e in examples]
    batch = encode_prompts(processor, examples, texts)  # left padded
    prompts = encode_prompts(processor, examples)
    prompt_len = prompts["attention_mask"].sum(1)
    full_len = batch["attention_mask"].sum(1)
    labels = batch["input_ids"].clone()
    width = labels.shape[1]
    pos = torch.arange(width)[None, :]
    start = width - full_len + prompt_len  # first response token (left padding)
    labels[pos < start[:, None]] = -100
    assert (labels[:, -1] == eos).all(), "the last label must be <|im_end|>"
    batch["labels"] = labels
    return {k: v.to(device) for k, v in batch.items()}


def train_sft(cfg: RunConfig) -> list[dict[str, float]]:
    t = cfg.train
    setup_logging(env_rank())
    seed_everything(t.seed)
    path = resolve_model_path(cfg.model, t.output_dir, env_rank() == 0)
    processor = load_processor(path)
    configure_processor(processor, cfg.data)
    engine = build_engine(load_model(path, cfg.model), cfg, micro_batches=t.gradient_accumulation_steps,
                          total_updates=t.max_steps)
    if not cfg.data.train_file:
        raise ValueError("data.train_file is not set. Fix: a Mulberry sharegpt JSONL.")
    examples = load_examples(cfg.data.train_file, cfg.data, sft=True)
    sampler = PromptSampler(len(examples), t.seed, cfg.data.shuffle)
    logger = MetricsLogger(t.output_dir, engine.is_main, cfg.log.tensorboard)
    log.info("SFT: %d examples; %d sequences/device × %d accumulation × %d devices per step",
             len(examples), t.micro_batch_size, t.gradient_accumulation_steps, engine.world_size)
    history = []
    for step in range(1, t.max_steps + 1):
        t0, total = time.perf_counter(), 0.0
        for j in range(t.gradient_accumulation_steps):
            idx = sampler.next_batch(t.micro_batch_size * engine.world_size, engine.rank, t.micro_batch_size)
            batch = sft_batch(processor, [examples[i] for i in idx], engine.device)
            with engine.autocast():
                loss = engine.model(**batch, use_cache=False).loss / t.gradient_accumulation_steps
            engine.backward(loss, last=j == t.gradient_accumulation_steps - 1)
            total += loss.item()
        metrics = {"loss": engine.sum(total) / engine.world_size, "grad_norm": engine.step(),
                   "learning_rate": float(engine.scheduler.get_last_lr()[0]), "step_time": time.perf_counter() - t0}
        history.append(metrics)
        logger.log(step, metrics)
        if step % cfg.log.log_steps == 0:
            log.info("sft step %d/%d loss=%.4f", step, t.max_steps, metrics["loss"])
        if step % t.save_steps == 0 or step == t.max_steps:
            ckpt.save_checkpoint(engine, processor, t.output_dir, step, {"sampler": sampler.state_dict()},
                                 t.save_total_limit)
    logger.close()
    return history
