"""R1-VL's two-stage recipe end to end: warm-up SFT -> StepGRPO -> greedy evaluation.

``python -m reference_trainer pipeline --preset tiny-cpu`` writes into ``train.output_dir``::

    sft_data.jsonl          warm-up records (when built from ``warmup.completions_file``)
    sft/                    stage 1: SFT metrics + checkpoint (the RL policy's start and KL reference)
    grpo/                   stage 2: StepGRPO metrics, completions table, checkpoints
    eval-{init,sft,grpo}.jsonl   greedy completions of the evaluation set after each stage
    pipeline.json           the summary printed at the end

A random-weight model earns no reward on the paper's rewards (every group ties, so GRPO has nothing
to learn from); the warm-up teaches the Mulberry format first, which is why R1-VL has stage 1.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from . import checkpoint as ckpt
from .config import ConfigError, RunConfig, with_updates
from .modeling import resolve_model_path
from .runtime import setup_logging

log = logging.getLogger("reference_trainer")

EVAL_KEYS = ("reward", "rewards/accuracy", "rewards/validity_rate", "rewards/keystep_match_rate")


def warmup_file(cfg: RunConfig, run_dir: Path) -> Path:
    """The warm-up sharegpt file: ``warmup.train_file``, or records built from ``warmup.completions_file``."""
    w = cfg.warmup
    if w.train_file:
        return Path(w.train_file)
    if not w.completions_file or not cfg.data.train_file:
        raise ConfigError("pipeline needs warm-up data. Fix: warmup.train_file=<sharegpt.jsonl>, or "
                          "warmup.completions_file=<completions.jsonl> with data.train_file=<its questions>.")
    from .sftdata import sharegpt_records, write_sharegpt

    records = sharegpt_records(cfg.data.train_file, w.completions_file, w.labels, image_root=cfg.data.image_root,
                               max_questions=cfg.data.max_samples)
    log.info("warm-up data: %d %s completions from %s", len(records), "/".join(w.labels), w.completions_file)
    return write_sharegpt(records, run_dir / "sft_data.jsonl")


def stage_configs(cfg: RunConfig, run_dir: Path, init_model: str, sft_data: Path) -> tuple[RunConfig, RunConfig]:
    """(SFT config, GRPO config without its model path): the run config with each stage's folder and knobs."""
    w = cfg.warmup
    sft = with_updates(cfg, {
        "model": {"model_name_or_path": init_model},
        "data": {"train_file": str(sft_data), "max_samples": None},  # data.max_samples limits the questions
        "train": {"output_dir": str(run_dir / "sft"), "max_steps": w.max_steps, "learning_rate": w.learning_rate,
                  "micro_batch_size": w.micro_batch_size, "gradient_accumulation_steps": w.gradient_accumulation_steps,
                  "save_steps": w.max_steps, "save_total_limit": 1, "resume_from": None, "warmup_steps": 0},
    })
    grpo = with_updates(cfg, {"train": {"output_dir": str(run_dir / "grpo")}})
    return sft, grpo


def _eval(cfg: RunConfig, model: str, run_dir: Path, name: str) -> dict[str, Any]:
    from .evaluate import evaluate

    out = run_dir / f"eval-{name}.jsonl"
    result = evaluate(with_updates(cfg, {"model": {"model_name_or_path": model}, "eval": {"output_file": str(out)},
                                         "train": {"output_dir": str(run_dir)}}))
    return {k: result[k] for k in ("n", *EVAL_KEYS, "step_rar", "step_rvr") if k in result}


def _rl_summary(history: list[dict[str, float]], window: int = 5) -> dict[str, Any]:
    def mean(key: str, rows: list[dict[str, float]]) -> float:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return statistics.fmean(vals) if vals else float("nan")

    k = max(1, min(window, len(history) // 2))
    first, last = history[:k], history[-k:]
    return {
        "steps": len(history),
        "window": k,
        "reward_first": mean("reward", first), "reward_last": mean("reward", last),
        "validity_first": mean("rewards/validity_rate", first), "validity_last": mean("rewards/validity_rate", last),
        "accuracy_first": mean("rewards/accuracy", first), "accuracy_last": mean("rewards/accuracy", last),
        "frac_reward_zero_std": mean("frac_reward_zero_std", history),
        "steps_without_signal": sum(1 for r in history if r.get("frac_reward_zero_std", 0.0) >= 1.0 - 1e-9),
        "max_reward_std": max(r.get("reward_std", 0.0) for r in history),
    }


def run_pipeline(cfg: RunConfig) -> dict[str, Any]:
    """Warm-up SFT -> StepGRPO -> evaluation (greedy) after every stage; returns and writes the summary."""
    from .grpo import GRPOTrainer
    from .sft import train_sft

    setup_logging()
    run_dir = Path(cfg.train.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    init = resolve_model_path(cfg.model, str(run_dir))
    sft_cfg, grpo_cfg = stage_configs(cfg, run_dir, init, warmup_file(cfg, run_dir))
    evals = {"init": _eval(grpo_cfg, init, run_dir, "init")}
    timings["eval_init"] = time.perf_counter() - t0

    log.info("== stage 1/2: warm-up SFT (%d steps, lr %g) -> %s", sft_cfg.train.max_steps,
             sft_cfg.train.learning_rate, sft_cfg.train.output_dir)
    t = time.perf_counter()
    sft_history = train_sft(sft_cfg)
    sft_model = str(ckpt.list_checkpoints(sft_cfg.train.output_dir)[-1])
    timings["sft"] = time.perf_counter() - t
    evals["sft"] = _eval(grpo_cfg, sft_model, run_dir, "sft")

    log.info("== stage 2/2: StepGRPO from %s (%d steps) -> %s", sft_model, grpo_cfg.train.max_steps,
             grpo_cfg.train.output_dir)
    t = time.perf_counter()
    grpo_cfg = with_updates(grpo_cfg, {"model": {"model_name_or_path": sft_model}})
    history = GRPOTrainer(grpo_cfg).train()
    grpo_model = str(ckpt.list_checkpoints(grpo_cfg.train.output_dir)[-1])
    timings["grpo"] = time.perf_counter() - t
    evals["grpo"] = _eval(grpo_cfg, grpo_model, run_dir, "grpo")
    timings["total"] = time.perf_counter() - t0

    summary = {"run_dir": str(run_dir), "models": {"init": init, "sft": sft_model, "grpo": grpo_model},
               "sft": {"steps": len(sft_history), "loss_first": sft_history[0]["loss"],
                       "loss_last": sft_history[-1]["loss"]},
               "grpo": _rl_summary(history), "eval": evals, "seconds": timings}
    (run_dir / "pipeline.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("pipeline summary (%s):\n%s", run_dir / "pipeline.json", format_summary(summary))
    return summary


def format_summary(s: dict[str, Any]) -> str:
    """A small table: greedy evaluation after each stage, and the RL reward at the start and end of training."""
    names = ("reward", "accuracy", "validity", "key steps")
    lines = [f"  {'greedy eval':<12}" + "".join(f"{n:>11}" for n in names)]
    for stage, r in s["eval"].items():
        lines.append(f"  {'after ' + stage if stage != 'init' else 'init':<12}"
                     + "".join(f"{r.get(k, float('nan')):>11.3f}" for k in EVAL_KEYS))
    g = s["grpo"]
    lines += [
        f"  SFT loss {s['sft']['loss_first']:.3f} -> {s['sft']['loss_last']:.3f} over {s['sft']['steps']} steps",
        f"  StepGRPO sampled reward (mean of first/last {g['window']} steps) {g['reward_first']:.3f} -> "
        f"{g['reward_last']:.3f}; validity {g['validity_first']:.3f} -> {g['validity_last']:.3f}; "
        f"steps without reward signal {g['steps_without_signal']}/{g['steps']}",
        "  seconds: " + " ".join(f"{k}={v:.0f}" for k, v in s["seconds"].items()),
    ]
    return "\n".join(lines)
