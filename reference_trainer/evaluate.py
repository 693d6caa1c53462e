"""Greedy evaluation: generate one completion per prompt, score it with the configured rewards."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig
from .data import configure_processor, encode_prompts, load_examples, prompt_text
from .modeling import eos_token_ids, load_model, load_processor, resolve_model_path
from .rewards import load_reward_funcs, score
from .rollout import HFRollout
from .runtime import setup_logging

log = logging.getLogger("reference_trainer")


def evaluate(cfg: RunConfig) -> dict[str, Any]:
    """Mean of every reward component (and reward details) over ``data.eval_file`` (or train_file)."""
    setup_logging()
    path = resolve_model_path(cfg.model, cfg.train.output_dir)
    processor = load_processor(path)
    configure_processor(processor, cfg.data)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(path, cfg.model, trainable=False).to(device)
    funcs, weights = load_reward_funcs(cfg.rewards)
    data_file = cfg.data.eval_file or cfg.data.train_file
    if not data_file:
        raise ValueError("data.eval_file is not set. Fix: data.eval_file=path/to/records.jsonl")
    examples = load_examples(data_file, cfg.data)
    rollout = HFRollout(cfg.rollout, processor.tokenizer, eos_token_ids(model, processor.tokenizer),
                        greedy=True, max_new_tokens=cfg.eval.max_new_tokens)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    rows = []
    for i in range(0, len(examples), cfg.eval.batch_size):
        chunk = examples[i:i + cfg.eval.batch_size]
        texts = [prompt_text(processor, e) for e in chunk]
        prompts = {k: v.to(device) for k, v in encode_prompts(processor, chunk, texts).items()}
        batch = rollout.generate(model, prompts, 1)
        keys = sorted({k for e in chunk for k in e.columns})
        columns = {k: [e.columns.get(k) for e in chunk] for k in keys}
        s = score(funcs, weights, texts, batch.completions, columns, timeout_s=cfg.rewards.timeout_s)
        for name, values in {"reward": s.total, **s.components}.items():
            ok = values[~torch.isnan(values.double())]
            sums[name] = sums.get(name, 0.0) + float(ok.sum())
            counts[name] = counts.get(name, 0) + ok.numel()
        for k, v in s.details.items():  # batch means -> weighted by batch size
            sums[k] = sums.get(k, 0.0) + v * len(chunk)
            counts[k] = counts.get(k, 0) + len(chunk)
        rows += [{"completion": c, "reward": float(r), **{n: float(v[j]) for n, v in s.components.items()}}
                 for j, (c, r) in enumerate(zip(batch.completions, s.total, strict=True))]
    result = {"n": len(examples), **{k: sums[k] / max(counts[k], 1) for k in sums}}
    out = Path(cfg.eval.output_file or Path(cfg.train.output_dir) / "eval.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    log.info("eval on %s (%d prompts, greedy): %s", data_file, len(examples),
             " ".join(f"{k}={v:.4g}" for k, v in result.items()))
    return result
