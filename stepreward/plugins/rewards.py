"""Built-in reward components: StepRAR, StepRVR and the outcome reward.

They only combine decisions that the other hooks made (answer, verdict, key-step report,
structure report); swapping a matcher or a validator plugin changes these rewards without
touching this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..components import RewardComponent, ScoringContext
from ..hookspecs import hookimpl


def step_rar(ctx: ScoringContext) -> tuple[float, dict[str, Any]]:
    """Step-wise reasoning accuracy reward (SPEC §1.1).

    ``1 + α·k`` when the answer is right, ``α·k`` when it is wrong, ``0`` when no answer can be
    extracted (unless ``config.no_answer_zero`` is off, as in the official code).
    """
    alpha = ctx.config.alpha
    report = ctx.keystep_report
    k = report.score if report is not None else 0.0
    details: dict[str, Any] = {"k": k, "alpha": alpha, "n_key_steps": len(ctx.key_steps)}
    if ctx.answer is None:
        details["answer"] = "none"
        if ctx.config.no_answer_zero:
            details["rule"] = "no answer extracted -> 0"
            return 0.0, details
        details["rule"] = "no answer (official: key-step bonus still added) -> alpha*k"
        return alpha * k, details
    details["answer"] = "correct" if ctx.correct else "wrong"
    details["rule"] = "1 + alpha*k" if ctx.correct else "alpha*k"
    return (1.0 if ctx.correct else 0.0) + alpha * k, details


def step_rvr(ctx: ScoringContext) -> tuple[float, dict[str, Any]]:
    """Step-wise reasoning validity reward (SPEC §1.2): 1 if complete and logical, else 0."""
    rep = ctx.structure
    if rep is None:
        return 0.0, {"reason": "no structure validator answered"}
    return (1.0 if rep.valid else 0.0), {
        "complete": rep.complete,
        "logical": rep.logical,
        "reasons": list(rep.reasons),
    }


def outcome(ctx: ScoringContext) -> tuple[float, dict[str, Any]]:
    """Outcome-level reward: 1 if the extracted answer equals the gold, else 0."""
    return (1.0 if ctx.correct else 0.0), {"answer": "none" if ctx.answer is None else str(ctx.correct)}


@hookimpl
def stepreward_register_components(register: Callable[[RewardComponent], None]) -> None:
    register(
        RewardComponent(
            "step_rar",
            step_rar,
            "StepRAR: answer correctness plus alpha times the fraction of key steps matched.",
            bounds=(0.0, float("inf")),  # 1 + alpha; alpha is configurable
        )
    )
    register(RewardComponent("step_rvr", step_rvr, "StepRVR: 1 if the reasoning is complete and logical."))
    register(RewardComponent("outcome", outcome, "Outcome reward: 1 if the final answer is right."))
