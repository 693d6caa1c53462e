"""Run configuration: pydantic models with the paper's defaults, YAML files, ``key=value`` overrides.

A run file has one section per concern (``model``, ``data``, ``rollout``, ``rewards``, ``grpo``,
``train``, ``log``, ``eval``, ``warmup``). Unknown keys are errors; every error names the field and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONFIG_DIR = Path(__file__).parent / "configs"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    model_name_or_path: str | None = Field(
        default=None, description="Local folder with a Hugging Face Qwen2-VL checkpoint (from_pretrained).")
    tiny: bool = Field(default=False, description="Build the tiny random offline Qwen2-VL (tests/demos) "
                       "into <output_dir>/tiny-init; ignored when model_name_or_path is set.")
    tiny_vocab: Literal["basic", "mulberry"] = Field(
        default="basic", description="Tiny model's tokenizer corpus; 'mulberry' adds words of R1-VL's section headers "
        "and math questions (~25% fewer tokens per answer).")
    ref_model_name_or_path: str | None = Field(
        default=None, description="Frozen KL reference; defaults to model_name_or_path (the warm-up model).")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto", description="'auto' = bf16 on a GPU that supports it, else fp32.")
    attn_implementation: str | None = Field(default=None, description="e.g. 'sdpa' or 'flash_attention_2'.")
    gradient_checkpointing: bool = False
    freeze_vision_tower: bool = Field(default=False, description="Train only the language model + merger.")

    @model_validator(mode="after")
    def _source(self) -> ModelConfig:
        if not self.tiny and not self.model_name_or_path:
            raise ValueError("model.model_name_or_path is not set. Fix: give a local checkpoint folder, "
                             "or set model.tiny=true for the tiny offline model.")
        return self


class DataConfig(_Section):
    train_file: str | None = Field(default=None, description="JSONL of RL records or Mulberry sharegpt records.")
    eval_file: str | None = None
    image_root: str | None = Field(default=None, description="Folder image paths are relative to "
                                   "(default: the JSONL's folder).")
    prompt_template: str = Field(default="{problem}", description="Text after the image; {problem} is replaced.")
    system_prompt: str | None = None
    max_prompt_length: int = Field(default=512, gt=0, description="Longer prompts (image tokens included) "
                                   "are dropped and counted, never truncated.")
    min_pixels: int = Field(default=3136, gt=0)
    max_pixels: int = Field(default=400_000, gt=0, description="The memory knob: pixels per image.")
    max_samples: int | None = Field(default=None, gt=0)
    exclude_reflective: bool = Field(default=True, description="SFT: drop Mulberry's reflective samples.")
    shuffle: bool = True


class RolloutConfig(_Section):
    backend: Literal["hf"] = Field(default="hf", description="Sampling backend ('hf' = transformers generate).")
    num_generations: int = Field(default=4, ge=2, description="M, samples per prompt (paper: 4).")
    max_completion_length: int = Field(default=1024, gt=0)
    temperature: float = Field(default=1.2, gt=0, description="Paper: 1.2 (the official 7B run used 1.0).")
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=0, ge=0, description="0 disables top-k (official 7B run: 50).")
    repetition_penalty: float = Field(default=1.0, gt=0)


class RewardFunc(_Section):
    func: str = Field(description="Dotted path of a TRL-convention reward callable, 'pkg.module:name'.")
    weight: float = 1.0


class RewardsConfig(_Section):
    preset: str | None = Field(default="paper", description="stepreward preset for stepreward.trl.reward_funcs; "
                               "null to use only `funcs`.")
    weights: dict[str, float] = Field(default_factory=dict, description="Weights of preset rewards by __name__ "
                                      "(default 1.0: the official code sums unweighted).")
    funcs: list[RewardFunc] = Field(default_factory=list)
    timeout_s: float | None = Field(default=None, gt=0, description="If set, a reward call on one batch "
                                    "slower than this is abandoned, scored 0 and counted as a failure (the "
                                    "call then runs in a worker thread, where SIGALRM-based timeouts such as "
                                    "math-verify's cannot work). stepreward rewards enforce their own deadlines.")

    @model_validator(mode="after")
    def _some(self) -> RewardsConfig:
        if self.preset is None and not self.funcs:
            raise ValueError("no reward: rewards.preset is null and rewards.funcs is empty. Fix: set "
                             "rewards.preset=paper or list callables under rewards.funcs.")
        return self


class GRPOConfig(_Section):
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"] = Field(
        default="grpo", description="grpo = token mean per sequence, then mean over sequences (paper/official).")
    beta: float = Field(default=0.04, ge=0, description="k3 KL weight; 0 loads no reference model.")
    epsilon: float = Field(default=0.2, gt=0, lt=1, description="Lower clip of the ratio (num_iterations > 1).")
    epsilon_high: float | None = Field(default=None, gt=0, description="Upper clip; defaults to epsilon.")
    num_iterations: int = Field(default=1, ge=1, description="Optimiser steps per rollout batch.")
    scale_rewards: Literal["group", "batch", "none"] = "group"
    advantage_eps: float = Field(default=1e-4, gt=0, description="ε in (r - mean) / (std + ε); official 1e-4.")
    drop_zero_std_groups: bool = Field(default=False, description="Leave groups with equal rewards out of the loss.")
    mask_truncated_completions: bool = False


class TrainConfig(_Section):
    output_dir: str = "runs/grpo"
    seed: int = 42
    max_steps: int = Field(default=13_125, gt=0, description="Rollout steps (each = num_iterations updates).")
    prompts_per_device: int = Field(default=1, gt=0, description="Prompts per device per step (×M completions).")
    micro_batch_size: int = Field(default=4, gt=0, description="Completions per forward/backward.")
    learning_rate: float = Field(default=1e-6, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(default=0, ge=0)
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    save_steps: int = Field(default=500, gt=0)
    save_total_limit: int | None = Field(default=2, gt=0)
    resume_from: str | None = Field(default=None, description="'auto' (latest in output_dir) or a checkpoint folder.")
    deepspeed_config: str | None = Field(default=None, description="DeepSpeed JSON (ZeRO-2/3); else accelerate DDP. "
                                         "Set automatically under `accelerate launch` with a DeepSpeed config.")
    gradient_accumulation_steps: int = Field(default=1, gt=0, description="SFT only: micro-batches per step.")


class LogConfig(_Section):
    log_steps: int = Field(default=1, gt=0)
    completions_steps: int = Field(default=10, gt=0, description="Write the completions table every N steps.")
    completions_to_log: int = Field(default=8, gt=0)
    tensorboard: bool = True
    zero_signal_warning_steps: int = Field(default=10, gt=0, description="A step whose groups all have equal "
                                           "rewards (loss and gradient 0) is warned about once, then at most "
                                           "every N steps while it lasts.")


class EvalConfig(_Section):
    max_new_tokens: int = Field(default=2048, gt=0, description="Paper evaluation: greedy, 2048 new tokens.")
    batch_size: int = Field(default=8, gt=0)
    output_file: str | None = None


class WarmupConfig(_Section):
    """Stage 1 of ``pipeline`` (warm-up SFT; R1-VL trains on Mulberry CoT without reflective samples).
    The standalone ``sft`` command reads ``train.*`` / ``data.train_file`` instead."""

    train_file: str | None = Field(default=None, description="Mulberry sharegpt JSONL for the warm-up.")
    completions_file: str | None = Field(
        default=None, description="Or: reference completions (examples/data/completions.jsonl format) joined by "
        "id to the questions of data.train_file and written as sharegpt records into the run folder.")
    labels: list[str] = Field(default_factory=lambda: ["correct", "correct_latex"],
                              description="Which completions of completions_file become SFT targets.")
    max_steps: int = Field(default=1000, gt=0)
    learning_rate: float = Field(default=1e-5, gt=0, description="Paper: 1e-5 (2B) / 5e-6 (7B).")
    micro_batch_size: int = Field(default=4, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)


class RunConfig(_Section):
    model: ModelConfig = Field(description="the policy: model.model_name_or_path (a local folder) or model.tiny=true")
    data: DataConfig = Field(default_factory=DataConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    rewards: RewardsConfig = Field(default_factory=RewardsConfig)
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    warmup: WarmupConfig = Field(default_factory=WarmupConfig)

    @model_validator(mode="after")
    def _batch_arithmetic(self) -> RunConfig:
        per_device = self.train.prompts_per_device * self.rollout.num_generations
        if per_device % self.train.micro_batch_size:
            raise ValueError(
                f"train.micro_batch_size={self.train.micro_batch_size} does not divide the completions per device "
                f"(prompts_per_device {self.train.prompts_per_device} × num_generations "
                f"{self.rollout.num_generations} = {per_device}). Fix: pick a divisor of {per_device}.")
        if self.grpo.epsilon_high is not None and self.grpo.epsilon_high < self.grpo.epsilon:
            raise ValueError("grpo.epsilon_high is below grpo.epsilon. Fix: epsilon_high >= epsilon (DAPO: 0.28).")
        return self


class ConfigError(ValueError):
    """A run file or override is invalid; the message names the field and the fix."""


def _format_error(err: ValidationError, model: type[BaseModel] = RunConfig) -> str:
    lines = ["invalid config:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = f" (got {e['input']!r})" if e["type"] != "value_error" and not isinstance(e["input"], dict) else ""
        hint = _field_description(model, e["loc"])
        lines.append(f"  {loc}: {e['msg']}{got}" + (f". Expected: {hint}" if hint else ""))
    return "\n".join(lines)


def _field_description(model: type[BaseModel], loc: tuple) -> str | None:
    cls: Any = model
    info = None
    for part in loc:
        fields = getattr(cls, "model_fields", None)
        if not fields or part not in fields:
            return info.description if info is not None else None
        info = fields[part]
        cls = info.annotation
    return info.description if info is not None else None


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["train.max_steps=10", "rollout.temperature=1.0"]`` -> nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value. Fix: e.g. train.max_steps=10")
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = _scalar(yaml.safe_load(raw))
    return out


def _scalar(value: Any) -> Any:
    """YAML 1.1 reads ``1e-6`` as a string; make it the number the user meant."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def preset_path(name: str) -> Path:
    path = CONFIG_DIR / f"{name.replace('-', '_')}.yaml"
    if not path.exists():
        known = sorted(p.stem.replace("_", "-") for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown preset {name!r}. Fix: one of {known}")
    return path


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                preset: str | None = None) -> RunConfig:
    """Read a YAML run file (or a shipped preset), apply overrides, validate."""
    raw: dict[str, Any] = {}
    for source in ([preset_path(preset)] if preset else []) + ([Path(path)] if path else []):
        with open(source, encoding="utf-8") as f:
            raw = _merge(raw, yaml.safe_load(f) or {})
    raw = _merge(raw, parse_overrides(overrides or []))
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def with_updates(cfg: RunConfig, updates: dict[str, Any]) -> RunConfig:
    """A validated copy of ``cfg`` with nested ``updates`` (``{"train": {"max_steps": 5}}``) applied."""
    try:
        return RunConfig.model_validate(_merge(cfg.model_dump(), updates))
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None
