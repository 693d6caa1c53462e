"""Run diagnostics that explain a silent failure instead of letting it look like a bug.

"loss is 0" is the most common GRPO complaint (SPEC §4): when every group of M completions gets the
same reward, every advantage ``(r - mean) / (std + ε)`` is 0, so the policy-gradient term — and its
gradient — vanish and the step only moves the policy along the KL term. ``ZeroSignalMonitor`` warns
the first time a step has no reward signal at all (``frac_reward_zero_std == 1``), then at most once
every ``every`` steps while it lasts, with the reward values seen and the usual ways out.
"""

from __future__ import annotations

import logging

log = logging.getLogger("reference_trainer")

_OPTIONS = (
    "  - warm up first: SFT on reasoning in the reward's format (R1-VL stage 1), e.g. "
    "`python -m reference_trainer pipeline --preset tiny-cpu` runs warm-up SFT -> StepGRPO -> eval;",
    "  - more rollouts per prompt (rollout.num_generations, now {m}) so a group is less likely to tie;",
    "  - more diverse samples: rollout.temperature (now {temperature}) / top_p;",
    "  - a denser reward: StepRAR's key-step bonus (alpha) and StepRVR give partial credit; add a format or "
    "partial-credit reward under rewards.funcs, or reweight with rewards.weights;",
    "  - grpo.drop_zero_std_groups=true leaves tied groups out of the loss normaliser (it does not create signal);",
    "  - check the reward itself: rewards/<name>/mean in metrics.jsonl and the completions table "
    "(completions.jsonl) show what each reward saw.",
)


class ZeroSignalMonitor:
    """Call ``update(step, metrics)`` after every step; it logs (and returns) a warning when due."""

    def __init__(self, every: int, num_generations: int, temperature: float) -> None:
        self.every = every
        self.fmt = {"m": num_generations, "temperature": temperature}
        self.zero_steps = 0  # steps without reward signal so far
        self.since_warning = 0  # such steps since the last warning
        self.last_warned: int | None = None

    def update(self, step: int, metrics: dict[str, float]) -> str | None:
        frac = metrics.get("frac_reward_zero_std")
        if frac is None or frac < 1.0 - 1e-9:
            return None
        self.zero_steps += 1
        self.since_warning += 1
        if self.last_warned is not None and step - self.last_warned < self.every:
            return None
        message = self.message(step, metrics)
        log.warning(message)
        self.last_warned, self.since_warning = step, 0
        return message

    def message(self, step: int, metrics: dict[str, float]) -> str:
        components = {k.split("/")[1]: v for k, v in metrics.items()
                      if k.startswith("rewards/") and k.endswith("/mean") and v is not None}
        seen = ", ".join(f"{k}={v:.3g}" for k, v in components.items())
        reward = metrics.get("reward", float("nan"))
        why = ("No completion earned any reward (a policy that cannot yet produce the expected format, e.g. a "
               "random or un-warmed model, scores 0 everywhere)" if abs(reward) < 1e-12 else
               "Every completion of a prompt earned the same reward (all right or all wrong alike)")
        head = (f"step {step}: no reward signal — every group of {self.fmt['m']} completions has equal rewards "
                f"(frac_reward_zero_std=1; mean reward {reward:.3g}{'; ' + seen if seen else ''}). {why}. "
                "All advantages are 0, so the policy-gradient loss and its gradient are 0: this step "
                "learns nothing from the rewards (only the KL term, if beta > 0, moves the policy). "
                f"{self.zero_steps} such step(s) so far. Options:")
        return "\n".join([head, *(o.format(**self.fmt) for o in _OPTIONS)])

    def summary(self, total_steps: int) -> str | None:
        """One line for the end of the run (None when every step had signal)."""
        if not self.zero_steps:
            return None
        text = (f"{self.zero_steps}/{total_steps} steps had no reward signal (frac_reward_zero_std=1); "
                "see the warning above for options")
        log.warning(text)
        return text
