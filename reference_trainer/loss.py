"""Per-token log-probabilities of completions and the GRPO policy loss.

Log-probs: the model returns logits only for the completion slice (``logits_to_keep``), and
``log_softmax`` is taken one sequence at a time, so a full ``(batch, length, vocab)`` tensor is never
materialised. Logits are divided by the sampling temperature so that the ratio is taken against the
distribution the samples came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .config import GRPOConfig


def completion_logprobs(model: Any, inputs: dict[str, torch.Tensor], completion_ids: torch.Tensor,
                        temperature: float = 1.0, with_entropy: bool = False,
                        suppress_ids: Sequence[int] = ()) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log π(c_t | prompt, c_<t) for each completion token, shape ``(B, C)``; optional entropy ``(B, C)``.

    ``suppress_ids`` are the token ids the sampler never emits (the vision tokens): they are
    masked here too, so the log-probs are those of the distribution that was actually sampled.
    """
    c = completion_ids.shape[1]
    logits = model(**inputs, logits_to_keep=c + 1, use_cache=False).logits[:, :-1]  # predicts c_0..c_{C-1}
    banned = torch.tensor(list(suppress_ids), dtype=torch.long, device=logits.device) if suppress_ids else None
    logps, ents = [], []
    for row_logits, row_ids in zip(logits, completion_ids, strict=True):  # one sequence at a time
        row = row_logits.float() / temperature
        if banned is not None:
            row = row.index_fill(-1, banned, float("-inf"))
        lse = torch.logsumexp(row, dim=-1)
        logps.append(row.gather(-1, row_ids[:, None]).squeeze(-1) - lse)
        if with_entropy:
            with torch.no_grad():
                p = torch.softmax(row, dim=-1)
                ents.append(lse - (p * row.masked_fill(p == 0, 0.0)).sum(-1))
    return torch.stack(logps), (torch.stack(ents) if with_entropy else None)


def loss_mask(completion_mask: torch.Tensor, truncated: torch.Tensor, mask_truncated: bool,
              drop_rows: torch.Tensor | None = None) -> torch.Tensor:
    """Completion mask with truncated completions (optionally) and dropped rows zeroed."""
    mask = completion_mask.float()
    if mask_truncated:
        mask = mask * (~truncated).float()[:, None]
    if drop_rows is not None:
        mask = mask * (~drop_rows).float()[:, None]
    return mask


def policy_loss(logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, cfg: GRPOConfig, *,
                old_logps: torch.Tensor | None = None, ref_logps: torch.Tensor | None = None,
                max_completion_length: int | None = None, num_seqs: float | None = None,
                num_tokens: float | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """GRPO objective for one micro-batch of ``B`` completions (``logps``/``mask``: ``(B, C)``).

    per-token: ``-min(ρ·A, clip(ρ, 1-ε, 1+ε_high)·A) + β·KL_k3``, ρ = exp(logp - old) (ρ ≡ 1 with
    one update per rollout: ``old_logps=None``). Reduction (``num_seqs`` / ``num_tokens`` are the
    totals of the batch the micro-batch belongs to, so micro-batch losses add up to the batch loss):
      grpo    mean over tokens of each sequence, then sum / num_seqs (paper, official code)
      bnpo    sum over tokens / num_tokens (tokens of this device's batch)
      dr_grpo sum over tokens / (num_seqs × max_completion_length)
      dapo    sum over tokens / num_tokens, with num_tokens counted over all devices (×world size by caller)
    """
    old = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp(logps - old)
    eps_low, eps_high = cfg.epsilon, cfg.epsilon_high if cfg.epsilon_high is not None else cfg.epsilon
    adv = advantages[:, None]
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)
    kl = None
    if cfg.beta > 0:
        if ref_logps is None:
            raise ValueError("beta > 0 needs ref_logps")
        delta = ref_logps - logps
        kl = torch.exp(delta) - delta - 1  # k3 estimator of KL(π_θ ‖ π_ref), ≥ 0
        per_token = per_token + cfg.beta * kl
    num_seqs = logps.shape[0] if num_seqs is None else num_seqs
    num_tokens = mask.sum().clamp(min=1) if num_tokens is None else num_tokens
    masked = (per_token * mask).sum(-1)
    if cfg.loss_type == "grpo":
        loss = (masked / mask.sum(-1).clamp(min=1)).sum() / num_seqs
    elif cfg.loss_type in ("bnpo", "dapo"):
        loss = masked.sum() / num_tokens
    elif cfg.loss_type == "dr_grpo":
        if max_completion_length is None:
            raise ValueError("dr_grpo needs max_completion_length")
        loss = masked.sum() / (num_seqs * max_completion_length)
    else:
        raise ValueError(f"unknown loss_type {cfg.loss_type!r}")
    with torch.no_grad():
        n = mask.sum().clamp(min=1)
        low = ((ratio < 1 - eps_low) & (adv < 0)).float()
        high = ((ratio > 1 + eps_high) & (adv > 0)).float()
        stats = {"clip_ratio/low": (low * mask).sum() / n, "clip_ratio/high": (high * mask).sum() / n,
                 "clip_ratio": ((low + high) * mask).sum() / n,
                 "kl": (kl * mask).sum() / n if kl is not None else torch.zeros(())}
    return loss, stats
