"""An example stepreward plugin.

It registers a reward component ``length_penalty`` (0 up to ``SOFT_LIMIT`` characters, then
falling linearly to -1 at ``HARD_LIMIT``) and a preset ``paper+length`` that adds it to the paper's
StepRAR + StepRVR. Install it (``pip install examples/plugin_example``) and it is picked up through
the ``stepreward`` entry-point group: ``stepreward.score(..., preset="paper+length")``.
"""

from __future__ import annotations

from stepreward import RewardComponent, RewardConfig, ScoringContext, hookimpl

SOFT_LIMIT = 2000
HARD_LIMIT = 4000


def length_penalty(ctx: ScoringContext) -> tuple[float, dict]:
    n = len(ctx.completion)
    over = max(0, n - SOFT_LIMIT) / (HARD_LIMIT - SOFT_LIMIT)
    return -min(1.0, over), {"chars": n, "soft_limit": SOFT_LIMIT, "hard_limit": HARD_LIMIT}


@hookimpl
def stepreward_register_components(register):
    register(
        RewardComponent(
            "length_penalty",
            length_penalty,
            "Penalise completions longer than SOFT_LIMIT characters.",
            bounds=(-1.0, 0.0),
        )
    )


@hookimpl
def stepreward_register_presets(register):
    register(
        "paper+length",
        RewardConfig(preset="paper+length", weights={"step_rar": 1.0, "step_rvr": 1.0, "length_penalty": 0.5}),
    )
