"""stepreward: dense, step-wise, explainable rewards for reasoning models.

Quick start::

    import stepreward
    r = stepreward.score(completion, solution="### The final answer is:\\nB: 8",
                         key_steps=[["6/3=2", "\\\\frac{6}{3}=2"], "x = 3"])
    r.total, r.components, print(r.explain())

Framework adapters: :mod:`stepreward.trl` (TRL ``GRPOTrainer``), :mod:`stepreward.verl`,
:mod:`stepreward.openrlhf`. Plugins: see :mod:`stepreward.hookspecs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .components import RewardComponent, ScoringContext
from .config import AnswerConfig, KeyStepConfig, RewardConfig, get_preset, resolve_config
from .hookspecs import hookimpl
from .keysteps import parse_key_steps
from .manager import call_first, get_plugin_manager, list_plugins, plugin_errors, registered_presets
from .schema import FormatSchema, SectionSpec, split_sections
from .scoring import RecordError, ScoreResult, fallback_result, score
from .types import (
    Answer,
    ComponentScore,
    Failure,
    KeyStep,
    KeyStepMatch,
    KeyStepReport,
    SectionHit,
    StructureReport,
    Verdict,
)

if TYPE_CHECKING:
    from .batch import BatchResult, score_batch

__version__ = "0.1.0"


def extract_answer(completion: str, *, preset: str = "paper", config: RewardConfig | None = None) -> str | None:
    """The final answer text of a completion, or ``None`` when it has none."""
    cfg = resolve_config(preset, config)
    ans = call_first("stepreward_extract_answer", text=str(completion), config=cfg)
    return ans.text if isinstance(ans, Answer) and ans.found else None


def parse_answer(text: str, *, preset: str = "paper", config: RewardConfig | None = None) -> Answer | None:
    """Parse and classify a bare answer or a solution text (as gold answers are parsed)."""
    cfg = resolve_config(preset, config)
    return call_first("stepreward_parse_gold", solution=str(text), config=cfg)


def answers_equal(pred: str, gold: str, *, preset: str = "paper", config: RewardConfig | None = None) -> bool:
    """Whether two answer texts are equivalent (multiple choice, numbers, expressions, sets, ...)."""
    return bool(compare_answers(pred, gold, preset=preset, config=config).equal)


def compare_answers(
    pred: str, gold: str, *, preset: str = "paper", config: RewardConfig | None = None
) -> Verdict:
    """Like :func:`answers_equal` but returns the :class:`Verdict` with method and reason."""
    cfg = resolve_config(preset, config)
    p, g = parse_answer(pred, config=cfg), parse_answer(gold, config=cfg)
    if p is None or g is None or not p.found or not g.found:
        return Verdict(False, "missing", "an answer is empty")
    v = call_first("stepreward_compare_answers", pred=p, gold=g, config=cfg)
    return v if isinstance(v, Verdict) else Verdict(False, "none", "no comparison plugin answered")


def match_key_steps(
    text: str,
    key_steps: Any,
    *,
    scope: str | None = None,
    preset: str = "paper",
    config: RewardConfig | None = None,
) -> KeyStepReport:
    """Match key steps (list of str / list of alternatives, or ``{"Steps": [...]}``) in ``text``."""
    cfg = resolve_config(preset, config)
    if scope is not None:
        cfg = cfg.model_copy(update={"keysteps": cfg.keysteps.model_copy(update={"scope": scope})})
    steps = parse_key_steps(key_steps)
    if not steps:
        return KeyStepReport(steps=())
    rep = call_first("stepreward_match_key_steps", text=str(text), key_steps=steps, config=cfg)
    return rep if isinstance(rep, KeyStepReport) else KeyStepReport(steps=())


def validate_structure(
    text: str, *, schema: str | FormatSchema | None = None, preset: str = "paper", config: RewardConfig | None = None
) -> StructureReport | None:
    """StepRVR's structure report for ``text`` (schema defaults to the preset's)."""
    cfg = resolve_config(preset, config)
    if schema is not None:
        cfg = cfg.model_copy(update={"format_schema": schema})
    return call_first("stepreward_validate_structure", text=str(text), schema=cfg.schema_obj, config=cfg)


def __getattr__(name: str) -> Any:  # lazy: batch scoring pulls in process pools
    if name in ("score_batch", "BatchResult"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'stepreward' has no attribute {name!r}")


__all__ = [
    "Answer", "AnswerConfig", "BatchResult", "ComponentScore", "Failure", "FormatSchema", "KeyStep",
    "KeyStepConfig", "KeyStepMatch", "KeyStepReport", "RecordError", "RewardComponent", "RewardConfig",
    "ScoreResult", "ScoringContext", "SectionHit", "SectionSpec", "StructureReport", "Verdict",
    "answers_equal", "compare_answers", "extract_answer", "fallback_result", "get_plugin_manager",
    "get_preset", "hookimpl", "list_plugins", "match_key_steps", "parse_answer", "parse_key_steps",
    "plugin_errors", "registered_presets", "score", "score_batch", "split_sections", "validate_structure",
]
