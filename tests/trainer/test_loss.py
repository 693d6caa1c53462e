"""Loss types, k3 KL, clipping and advantages against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from reference_trainer.config import GRPOConfig
from reference_trainer.loss import loss_mask, policy_loss
from reference_trainer.rewards import group_advantages

# Two completions, three positions; the last token of row 0 is padding.
LOGPS = [[-1.0, -2.0, -0.5], [-0.2, -0.3, -0.4]]
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
ADV = torch.tensor([1.0, -0.5])


def _logps() -> torch.Tensor:
    return torch.tensor(LOGPS, requires_grad=True)


@pytest.mark.parametrize(
    ("loss_type", "kwargs", "expected"),
    [
        # ratio = 1 -> per-token loss = -A: row 0 = [-1, -1], row 1 = [0.5, 0.5, 0.5]
        ("grpo", {}, (-1.0 + 0.5) / 2),  # mean per sequence, then mean over sequences
        ("bnpo", {}, (-2.0 + 1.5) / 5),  # all tokens / token count
        ("dr_grpo", {"max_completion_length": 4}, (-2.0 + 1.5) / (2 * 4)),
        ("dapo", {"num_tokens": 10.0}, (-2.0 + 1.5) / 10),  # normaliser = global token count
    ],
)
def test_loss_types_hand_computed(loss_type: str, kwargs: dict, expected: float) -> None:
    loss, stats = policy_loss(_logps(), ADV, MASK, GRPOConfig(loss_type=loss_type, beta=0.0), **kwargs)
    assert loss.item() == pytest.approx(expected, abs=1e-7)
    assert stats["clip_ratio"].item() == 0.0 and stats["kl"].item() == 0.0


def test_grpo_gradient_is_advantage_over_length() -> None:
    logps = _logps()
    loss, _ = policy_loss(logps, ADV, MASK, GRPOConfig(beta=0.0))
    loss.backward()
    # d/d logp = -A / |o_i| / n_sequences ; padding gets no gradient
    expected = torch.tensor([[-1 / 2 / 2, -1 / 2 / 2, 0.0], [0.5 / 3 / 2] * 3])
    assert torch.allclose(logps.grad, expected, atol=1e-7)


def test_k3_kl_with_beta() -> None:
    ref = torch.tensor([[-1.5, -2.0, 0.0], [-0.2, -0.1, -0.4]])
    k3_a = math.exp(-0.5) + 0.5 - 1  # delta = ref - logp = -0.5
    k3_b = math.exp(0.2) - 0.2 - 1  # delta = +0.2
    loss, stats = policy_loss(_logps(), ADV, MASK, GRPOConfig(beta=0.04), ref_logps=ref)
    row0 = (-1 + 0.04 * k3_a - 1) / 2
    row1 = (0.5 + 0.5 + 0.04 * k3_b + 0.5) / 3
    assert loss.item() == pytest.approx((row0 + row1) / 2, abs=1e-7)
    assert stats["kl"].item() == pytest.approx((k3_a + k3_b) / 5, abs=1e-7)  # masked token ignored


def test_beta_positive_requires_reference() -> None:
    with pytest.raises(ValueError, match="ref_logps"):
        policy_loss(_logps(), ADV, MASK, GRPOConfig(beta=0.04))


@pytest.mark.parametrize(("eps_high", "row0_first"), [(None, 1.2), (0.28, 1.28)])
def test_clipped_ratio(eps_high: float | None, row0_first: float) -> None:
    logps = _logps()
    # ratio row 0 = [e^0.5 = 1.65, 1, -]; row 1 = [1, e^-0.3 = 0.74, 1]
    old = torch.tensor([[-1.5, -2.0, -0.5], [-0.2, 0.0, -0.4]])
    cfg = GRPOConfig(beta=0.0, epsilon=0.2, epsilon_high=eps_high, num_iterations=2)
    loss, stats = policy_loss(logps, ADV, MASK, cfg, old_logps=old)
    row0 = (-row0_first - 1.0) / 2  # A=+1: ratio clipped at 1+eps_high
    row1 = (0.5 + 0.8 * 0.5 + 0.5) / 3  # A=-0.5: min(0.74*-0.5, 0.8*-0.5) = -0.4 -> +0.4
    assert loss.item() == pytest.approx((row0 + row1) / 2, abs=1e-6)
    assert stats["clip_ratio/high"].item() == pytest.approx(1 / 5)
    assert stats["clip_ratio/low"].item() == pytest.approx(1 / 5)
    loss.backward()
    assert logps.grad[0, 0].item() == 0.0 and logps.grad[1, 1].item() == 0.0  # clipped: no gradient
    assert logps.grad[0, 1].item() == pytest.approx(-1 / 2 / 2)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_micro_batches_add_up_to_the_batch_loss(loss_type: str) -> None:
    torch.manual_seed(0)
    logps, mask = torch.randn(6, 5), (torch.rand(6, 5) > 0.3).float()
    mask[:, 0] = 1
    adv, ref = torch.randn(6), torch.randn(6, 5)
    cfg = GRPOConfig(loss_type=loss_type)
    common = {"ref_logps": ref, "max_completion_length": 5}
    full, _ = policy_loss(logps, adv, mask, cfg, **common)
    parts = sum(
        policy_loss(logps[s], adv[s], mask[s], cfg, ref_logps=ref[s], max_completion_length=5, num_seqs=6,
                    num_tokens=mask.sum())[0]
        for s in (slice(0, 2), slice(2, 6))
    )
    assert parts.item() == pytest.approx(full.item(), abs=1e-6)


def test_mask_truncated_completions_and_dropped_rows() -> None:
    cm = torch.ones(3, 2, dtype=torch.long)
    truncated = torch.tensor([False, True, False])
    assert loss_mask(cm, truncated, False).tolist() == [[1, 1], [1, 1], [1, 1]]
    assert loss_mask(cm, truncated, True).tolist() == [[1, 1], [0, 0], [1, 1]]
    drop = torch.tensor([True, False, False])
    assert loss_mask(cm, truncated, True, drop).tolist() == [[0, 0], [0, 0], [1, 1]]


def test_group_advantages_hand_computed() -> None:
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    adv, zero = group_advantages(r, 4, "group", 1e-4)
    # group 1: mean 0.25, unbiased std 0.5
    assert adv[:4].tolist() == pytest.approx([0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001])
    assert adv[4:].tolist() == [0.0] * 4
    assert zero.tolist() == [False] * 4 + [True] * 4
    adv_b, _ = group_advantages(r, 4, "batch", 1e-4)
    batch_std = math.sqrt(6.875 / 7)  # unbiased std of the 8 rewards (mean 1.125)
    assert adv_b[0].item() == pytest.approx(0.75 / (batch_std + 1e-4))
    adv_n, _ = group_advantages(r, 4, "none")
    assert adv_n.tolist() == [0.75, -0.25, -0.25, -0.25, 0.0, 0.0, 0.0, 0.0]


def test_group_advantages_sum_to_zero_per_group() -> None:
    torch.manual_seed(1)
    adv, _ = group_advantages(torch.rand(12), 3, "group")
    assert adv.view(4, 3).sum(1).abs().max().item() < 1e-5


def test_suppressed_tokens_are_masked_in_logprobs():
    """Log-probs renormalise over the tokens the sampler can emit (the vision tokens are suppressed)."""
    from types import SimpleNamespace

    from reference_trainer.loss import completion_logprobs

    logits = torch.tensor([[[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]]])  # (B=1, C+1=2, V=4)

    def model(**kw):
        return SimpleNamespace(logits=logits)

    ids = torch.tensor([[1]])
    full, _ = completion_logprobs(model, {}, ids)
    masked, ent = completion_logprobs(model, {}, ids, suppress_ids=[3], with_entropy=True)
    assert full.item() == pytest.approx(1.0 - torch.logsumexp(torch.tensor([0.0, 1.0, 2.0, 3.0]), 0).item())
    assert masked.item() == pytest.approx(1.0 - torch.logsumexp(torch.tensor([0.0, 1.0, 2.0]), 0).item())
    assert torch.isfinite(ent).all()
