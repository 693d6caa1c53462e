"""The GRPO / StepGRPO loop: generate → score → advantages → reference log-probs → update → log.

One ``step`` samples M completions for ``prompts_per_device`` prompts on every device, scores them,
turns rewards into group-relative advantages and takes ``num_iterations`` optimiser updates on that
batch (micro-batched, gradients accumulated). Every stage is a method that fits on one screen.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from .config import RunConfig
from .data import (
    Example,
    PromptSampler,
    configure_processor,
    encode_prompts,
    filter_long_prompts,
    load_examples,
    prompt_text,
)
from .diagnostics import ZeroSignalMonitor
from .loss import completion_logprobs, loss_mask, policy_loss
from .metrics import MetricsLogger
from .modeling import eos_token_ids, load_model, load_processor, param_count, resolve_model_path
from .rewards import RewardFn, Scores, group_advantages, load_reward_funcs, score
from .rollout import RolloutBatch, make_rollout
from .runtime import batch_arithmetic, build_engine, env_rank, seed_everything, setup_logging

log = logging.getLogger("reference_trainer")


class GRPOTrainer:
    """``GRPOTrainer(cfg).train()``; ``reward_funcs``/``reward_weights`` override ``cfg.rewards``."""

    def __init__(self, cfg: RunConfig, reward_funcs: list[RewardFn] | None = None,
                 reward_weights: list[float] | None = None) -> None:
        self.cfg = cfg
        t = cfg.train
        setup_logging(env_rank())
        seed_everything(t.seed + env_rank())  # ranks sample different completions
        if reward_funcs is None:
            self.reward_funcs, self.reward_weights = load_reward_funcs(cfg.rewards)
        else:
            self.reward_funcs, self.reward_weights = reward_funcs, reward_weights or [1.0] * len(reward_funcs)

        self.resume_path = ckpt.resolve_resume(t.resume_from, t.output_dir)
        self.init_path = resolve_model_path(cfg.model, t.output_dir, env_rank() == 0)
        policy = load_model(str(self.resume_path or self.init_path), cfg.model)
        self.processor = load_processor(self.init_path)
        configure_processor(self.processor, cfg.data)
        self.examples = self._load_data()
        self.micro_batches = t.prompts_per_device * cfg.rollout.num_generations // t.micro_batch_size
        self.engine = build_engine(policy, cfg, micro_batches=self.micro_batches,
                                   total_updates=t.max_steps * cfg.grpo.num_iterations,
                                   text_only_data=any(not e.images for e in self.examples))
        self.ref_model = None
        if cfg.grpo.beta > 0:  # β = 0: no reference model is loaded at all
            ref_path = cfg.model.ref_model_name_or_path or self.init_path
            self.ref_model = load_model(ref_path, cfg.model, trainable=False).to(self.engine.device)

        self.sampler = PromptSampler(len(self.examples), t.seed, cfg.data.shuffle)
        tokenizer = self.processor.tokenizer
        self.rollout = make_rollout(cfg.rollout, tokenizer, eos_token_ids(policy, tokenizer),
                                    gather_ctx=self.engine.generation_context)
        # tokens the sampler never emits are masked in the loss's log-probs too (same distribution)
        self.suppress_ids = list(getattr(getattr(self.rollout, "gen_config", None), "suppress_tokens", None) or [])
        self.logger = MetricsLogger(t.output_dir, self.engine.is_main, cfg.log.tensorboard)
        self.zero_signal = ZeroSignalMonitor(cfg.log.zero_signal_warning_steps, cfg.rollout.num_generations,
                                             cfg.rollout.temperature)
        self.step = 0
        if self.resume_path:
            state = ckpt.load_checkpoint(self.engine, self.resume_path)
            self.step = state["step"]
            self.sampler.load_state_dict(state["sampler"])
            log.info("resumed from %s at step %d", self.resume_path, self.step)
        total, trainable = param_count(policy)
        log.info("model %s: %s parameters (%s trainable); reference model: %s", self.init_path, f"{total:,}",
                 f"{trainable:,}", "none (beta=0)" if self.ref_model is None else "loaded")
        gen = getattr(self.rollout, "gen_config", None)  # HFRollout; other backends may differ
        if gen is not None:
            log.info("sampling: %s", {k: getattr(gen, k) for k in ("temperature", "top_p", "top_k", "max_new_tokens")})
        log.info(batch_arithmetic(cfg, self.engine.world_size, len(self.examples)))
        if cfg.grpo.num_iterations == 1 and cfg.grpo.loss_type == "grpo" and not cfg.grpo.mask_truncated_completions:
            log.info("note: with one update per rollout the logged loss is beta*KL: the policy-gradient term's "
                     "value is 0 by construction (advantages average to 0 in each group) while its gradient "
                     "is not; judge learning by reward, reward_std and grad_norm")

    def _load_data(self) -> list[Example]:
        if not self.cfg.data.train_file:
            raise ValueError("data.train_file is not set. Fix: data.train_file=path/to/records.jsonl")
        examples = load_examples(self.cfg.data.train_file, self.cfg.data)
        examples, self.dropped_prompts = filter_long_prompts(examples, self.processor, self.cfg.data)
        log.info("data: %d prompts (%d dropped as too long)", len(examples), self.dropped_prompts)
        return examples

    # ----------------------------------------------------------------------------------- stages
    def generate(self, examples: list[Example]) -> tuple[RolloutBatch, list[str]]:
        """M samples per prompt; returns the batch and the prompt texts (repeated ×M)."""
        texts = [prompt_text(self.processor, e) for e in examples]
        prompts = encode_prompts(self.processor, examples, texts)
        prompts = {k: v.to(self.engine.device) for k, v in prompts.items()}
        m = self.cfg.rollout.num_generations
        with self.engine.autocast():
            batch = self.rollout.generate(self.engine.unwrap(), prompts, m)
        return batch, [t for t in texts for _ in range(m)]

    def score(self, examples: list[Example], batch: RolloutBatch, prompts: list[str]) -> Scores:
        """Every reward callable on the device's completions; dataset columns repeated ×M."""
        m = self.cfg.rollout.num_generations
        keys = sorted({k for e in examples for k in e.columns})
        columns = {k: [e.columns.get(k) for e in examples for _ in range(m)] for k in keys}
        return score(self.reward_funcs, self.reward_weights, prompts, batch.completions, columns,
                     timeout_s=self.cfg.rewards.timeout_s, completion_ids=_unpadded(batch),
                     trainer_state={"step": self.step})

    def advantages(self, scores: Scores) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Group advantages over the *global* batch (rewards gathered), then this rank's slice.
        Returns (advantages, zero_std rows, all rewards)."""
        g = self.cfg.grpo
        rewards = self.engine.gather(scores.total.to(self.engine.device))
        adv, zero_std = group_advantages(rewards, self.cfg.rollout.num_generations, g.scale_rewards,
                                         g.advantage_eps)
        n = scores.total.shape[0]
        mine = slice(self.engine.rank * n, (self.engine.rank + 1) * n)
        return adv[mine], zero_std[mine], rewards

    @torch.no_grad()
    def batch_logprobs(self, model: Any, batch: RolloutBatch) -> torch.Tensor:
        """Log-probs of all completions under ``model`` (reference or sampling policy), micro-batched."""
        out = []
        for rows in self._micro_slices(batch):
            with self.engine.autocast():
                lp, _ = completion_logprobs(model, batch.model_inputs(rows), batch.completion_ids[rows],
                                            self.cfg.rollout.temperature, suppress_ids=self.suppress_ids)
            out.append(lp.float())
        return torch.cat(out)

    def update(self, batch: RolloutBatch, adv: torch.Tensor, mask: torch.Tensor,
               ref: torch.Tensor | None, old: torch.Tensor | None) -> dict[str, float]:
        """``num_iterations`` optimiser steps over the batch, gradients accumulated over micro-batches."""
        g, e = self.cfg.grpo, self.engine
        # normalisers over the global batch; ×world_size because DDP/DeepSpeed average gradients
        num_seqs = e.sum(float((mask.sum(1) > 0).sum() if g.drop_zero_std_groups else mask.shape[0])) / e.world_size
        num_tokens = mask.sum().clamp(min=1) if g.loss_type == "bnpo" else max(e.sum(float(mask.sum())), 1.0) / e.world_size
        totals: dict[str, float] = {}
        slices = self._micro_slices(batch)
        for it in range(g.num_iterations):
            for j, rows in enumerate(slices):
                with e.autocast():
                    logps, ent = completion_logprobs(e.model, batch.model_inputs(rows), batch.completion_ids[rows],
                                                     self.cfg.rollout.temperature, with_entropy=it == 0,
                                                     suppress_ids=self.suppress_ids)
                loss, stats = policy_loss(
                    logps, adv[rows], mask[rows], g, old_logps=None if old is None else old[rows],
                    ref_logps=None if ref is None else ref[rows], max_completion_length=self.cfg.rollout.max_completion_length,
                    num_seqs=max(num_seqs, 1.0), num_tokens=num_tokens)
                e.backward(loss, last=j == len(slices) - 1)
                # running means over micro-batches (token-weighted) and iterations
                w = float(mask[rows].sum()) / max(float(mask.sum()), 1.0) / g.num_iterations
                for k, v in stats.items():
                    totals[k] = totals.get(k, 0.0) + float(v) * w
                totals["loss"] = totals.get("loss", 0.0) + loss.item() / g.num_iterations
                if ent is not None:
                    cm = batch.completion_mask
                    totals["entropy"] = totals.get("entropy", 0.0) + float((ent * cm[rows]).sum() / cm.sum())
            totals["grad_norm"] = e.step()
        return totals

    # ------------------------------------------------------------------------------------- loop
    def train_step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        cfg, e = self.cfg, self.engine
        idx = self.sampler.next_batch(cfg.train.prompts_per_device * e.world_size, e.rank, cfg.train.prompts_per_device)
        examples = [self.examples[i] for i in idx]
        batch, prompts = self.generate(examples)
        scores = self.score(examples, batch, prompts)
        adv, zero_std, all_rewards = self.advantages(scores)
        drop = zero_std if cfg.grpo.drop_zero_std_groups else None
        mask = loss_mask(batch.completion_mask, batch.truncated, cfg.grpo.mask_truncated_completions, drop)
        ref = self.batch_logprobs(self.ref_model, batch) if self.ref_model is not None else None
        old = self.batch_logprobs(e.model, batch) if cfg.grpo.num_iterations > 1 else None
        stats = self.update(batch, adv, mask, ref, old)
        self.step += 1
        metrics = self.collect_metrics(batch, scores, all_rewards, zero_std, stats, time.perf_counter() - t0)
        if self.step % cfg.log.completions_steps == 0 or self.step == 1:
            self.logger.completions(self.step, self.completion_rows(batch, scores, adv, prompts))
        return metrics

    def train(self) -> list[dict[str, float]]:
        history = []
        t = self.cfg.train
        while self.step < t.max_steps:
            metrics = self.train_step()
            history.append(metrics)
            if self.step % self.cfg.log.log_steps == 0:
                self.logger.log(self.step, metrics)
                log.info("step %d/%d %s", self.step, t.max_steps, _brief(metrics))
            if self.engine.is_main:  # metrics are global: one warning per run, not per rank
                self.zero_signal.update(self.step, metrics)
            if self.step % t.save_steps == 0 or self.step == t.max_steps:
                self.save()
        if self.engine.is_main:
            self.zero_signal.summary(len(history))
        self.logger.close()
        return history

    def save(self) -> Path | None:
        state = {"sampler": self.sampler.state_dict(), "config": self.cfg.model_dump(mode="json"),
                 "init_model": self.init_path}
        return ckpt.save_checkpoint(self.engine, self.processor, self.cfg.train.output_dir, self.step, state,
                                    self.cfg.train.save_total_limit)

    # ---------------------------------------------------------------------------------- helpers
    def _micro_slices(self, batch: RolloutBatch) -> list[slice]:
        n, mb = batch.completion_ids.shape[0], self.cfg.train.micro_batch_size
        return [slice(i, min(i + mb, n)) for i in range(0, n, mb)]

    def collect_metrics(self, batch: RolloutBatch, scores: Scores, rewards: torch.Tensor, zero_std: torch.Tensor,
                        stats: dict[str, float], seconds: float) -> dict[str, float]:
        from .stats import step_metrics

        return step_metrics(self, batch, scores, rewards, zero_std, stats, seconds)

    def completion_rows(self, batch: RolloutBatch, scores: Scores, adv: torch.Tensor,
                        prompts: list[str]) -> list[dict[str, Any]]:
        rows = []
        for i in range(min(self.cfg.log.completions_to_log, len(batch.completions))):
            row: dict[str, Any] = {"prompt": prompts[i][-200:], "completion": batch.completions[i]}
            row.update({name: float(v[i]) for name, v in scores.components.items()})
            row.update({"reward": float(scores.total[i]), "advantage": float(adv[i])})
            rows.append(row)
        return rows


def _unpadded(batch: RolloutBatch) -> list[list[int]]:
    """Completion token ids up to and including EOS (TRL's ``completion_ids``)."""
    lengths = batch.completion_mask.sum(1).tolist()
    return [ids[:n] for ids, n in zip(batch.completion_ids.tolist(), lengths, strict=True)]


def _brief(m: dict[str, float]) -> str:
    keys = ("reward", "reward_std", "loss", "grad_norm", "kl", "entropy", "frac_reward_zero_std",
            "completions/mean_length", "step_time")
    return " ".join(f"{k.split('/')[-1]}={m[k]:.4g}" for k in keys if k in m and m[k] is not None)
