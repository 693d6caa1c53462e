"""Validated configuration (pydantic v2) with the paper's defaults and named presets.

``RewardConfig`` is what every hook receives. Presets are named, complete configs; a user config
may start from a preset and override fields (``RewardConfig.from_preset("paper", alpha=0.2)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .schema import BUILTIN_SCHEMAS, FormatSchema


class AnswerConfig(BaseModel):
    """How answers are extracted and compared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rel_tol: float = Field(default=1e-6, ge=0, description="Relative tolerance for non-exact floats.")
    round_to_gold: bool = Field(
        default=True, description="A prediction rounded to the gold's decimal places counts as equal."
    )
    percent: Literal["number", "fraction", "either"] = Field(
        default="number",
        description="'50%' equals: 'number' -> 50; 'fraction' -> 0.5; 'either' -> 50 or 0.5.",
    )
    use_math_verify: bool = Field(default=True, description="Use math-verify (guarded) for sets, etc.")
    case_sensitive: bool = False


class KeyStepConfig(BaseModel):
    """How key steps are located and confirmed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Literal["steps", "completion", "auto"] = Field(
        default="auto",
        description="'steps': only step sections; 'completion': whole text; 'auto': steps if any, else all.",
    )
    phrase_threshold: float = Field(
        default=90.0, ge=0, le=100, description="Fuzzy ratio (0-100) a phrase key step needs."
    )
    candidate_cutoff: float = Field(
        default=60.0, ge=0, le=100, description="rapidfuzz cutoff for locating candidate spans."
    )
    symbolic: bool = Field(default=True, description="Confirm equations/expressions symbolically.")


class RewardConfig(BaseModel):
    """Everything that decides a reward. Defaults follow the paper (SPEC §1.1-1.2)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str = "paper"
    flavor: Literal["stepreward", "r1vl-official"] = Field(
        default="stepreward",
        description="'r1vl-official' switches built-in hooks to the official R1-VL code's behaviour.",
    )
    alpha: float = Field(default=0.1, ge=0, description="StepRAR key-step weight (paper: 0.1).")
    no_answer_zero: bool = Field(
        default=True, description="StepRAR is 0 when no answer is extracted (paper; official: False)."
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: {"step_rar": 1.0, "step_rvr": 1.0},
        description="Reward components to compute and their weights in the total.",
    )
    format_schema: str | FormatSchema = Field(default="mulberry", description="Format schema name or model.")
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    keysteps: KeyStepConfig = Field(default_factory=KeyStepConfig)
    timeout_s: float = Field(default=2.0, gt=0, description="Hard time limit for one guarded call.")
    max_completion_chars: int = Field(default=200_000, gt=0, description="Longer completions are cut.")

    @field_validator("weights")
    @classmethod
    def _weights_ok(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("weights is empty. Fix: name at least one component, e.g. {'step_rar': 1.0}.")
        for k, w in v.items():
            if not isinstance(w, int | float) or w != w or w in (float("inf"), float("-inf")):
                raise ValueError(f"weights[{k!r}] must be a finite number, got {w!r}")
        return v

    @field_validator("format_schema")
    @classmethod
    def _schema_known(cls, v: str | FormatSchema) -> str | FormatSchema:
        if isinstance(v, str) and v not in BUILTIN_SCHEMAS:
            from .manager import registered_schemas  # plugins may register more schemas

            if v not in registered_schemas():
                raise ValueError(
                    f"unknown format_schema {v!r}. Fix: use one of {sorted(registered_schemas())} "
                    "or pass a FormatSchema."
                )
        return v

    @property
    def schema_obj(self) -> FormatSchema:
        """The resolved :class:`FormatSchema`."""
        if isinstance(self.format_schema, FormatSchema):
            return self.format_schema
        from .manager import registered_schemas

        return registered_schemas()[self.format_schema]

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> RewardConfig:
        """A preset's config with ``overrides`` applied (nested dicts merge into sub-configs)."""
        base = get_preset(name).model_dump()
        for k, v in overrides.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict) and k != "weights":
                base[k] = {**base[k], **v}
            else:
                base[k] = v
        return cls.model_validate(base)


# --- presets -------------------------------------------------------------------------------------

PAPER = RewardConfig()

R1VL_OFFICIAL = RewardConfig(
    preset="r1vl-official",
    flavor="r1vl-official",
    no_answer_zero=False,
    keysteps=KeyStepConfig(scope="steps", symbolic=False),
    answer=AnswerConfig(case_sensitive=True),
    # math-verify's own limits (5 s per parse and per verify) decide in the official code; our
    # outer deadline sits above their sum so that they, not we, decide a slow case.
    timeout_s=16.0,
)

OUTCOME = RewardConfig(preset="outcome", weights={"outcome": 1.0})

BUILTIN_PRESETS: dict[str, RewardConfig] = {
    "paper": PAPER,
    "r1vl-official": R1VL_OFFICIAL,
    "outcome": OUTCOME,
    "step_rar": RewardConfig(preset="step_rar", weights={"step_rar": 1.0}),
    "step_rvr": RewardConfig(preset="step_rvr", weights={"step_rvr": 1.0}),
    "think_answer": RewardConfig(preset="think_answer", format_schema="think_answer"),
}


_registered_presets: Callable[[], dict[str, RewardConfig]] | None = None


def get_preset(name: str) -> RewardConfig:
    """Look up a preset by name (built-in or registered by a plugin)."""
    global _registered_presets
    if _registered_presets is None:  # imported once (a per-call import costs ~1 µs; once per score)
        from .manager import registered_presets

        _registered_presets = registered_presets
    presets = _registered_presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}. Fix: use one of {sorted(presets)}.")
    return presets[name]


def resolve_config(preset: str | None = "paper", config: RewardConfig | dict[str, Any] | None = None) -> RewardConfig:
    """Turn the ``(preset, config)`` pair of the public API into one validated config."""
    if isinstance(config, RewardConfig):
        return config
    if config is None:
        return get_preset(preset or "paper")
    if isinstance(config, dict):
        try:
            return RewardConfig.from_preset(config.get("preset", preset or "paper"), **config)
        except ValidationError as e:
            raise ValueError(f"invalid reward config: {e}") from e
    raise TypeError(f"config must be a RewardConfig, a dict or None, not {type(config).__name__}")
