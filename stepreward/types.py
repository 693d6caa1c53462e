"""Plain data types passed between hooks, components and users.

Everything here is a frozen dataclass with a ``to_dict()`` so that every reward decision can be
serialised, logged and explained. Spans are ``(start, end)`` character offsets into the text that
was scored (the completion as given, not a normalised copy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

Span = tuple[int, int]
_T = TypeVar("_T")


def built(cls: type[_T], fields: dict[str, Any]) -> _T:
    """``cls(**fields)`` for a frozen dataclass of this module, every field given, without the
    frozen ``__init__``'s one ``object.__setattr__`` per field: about twice as fast, for hot paths
    (a key-step match per key step and completion). The result is indistinguishable (equality,
    hash, repr, pickling, immutability)."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)  # (into the instance's own dict: it shares its keys with the class's)
    return obj

AnswerKind = Literal["choice", "yesno", "number", "expression", "text", "raw", "none"]


@dataclass(frozen=True)
class Answer:
    """An answer extracted from a completion (or parsed from a gold solution).

    ``kind == "none"`` is an explicit *no answer* verdict (for example a truncated final
    ``\\boxed{7``): extraction stops there and nothing earlier is credited.
    """

    text: str
    kind: AnswerKind
    source: str  # which extractor produced it: "answer_section", "boxed", "anchor", "answer_tag", ...
    span: Span | None = None
    choice: str | None = None  # option letter for multiple choice ("B" in "B: 8")
    content: str | None = None  # option content ("8" in "B: 8")

    @property
    def found(self) -> bool:
        return self.kind != "none" and bool(self.text.strip() or self.choice)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """Result of comparing a predicted answer with the gold answer."""

    equal: bool
    method: str  # "choice_letter", "text", "numeric", "symbolic", "math_verify", "exact_string", ...
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeyStep:
    """One key step: its index in the list and its equivalent forms (first = canonical).

    ``forms`` are stripped, de-duplicated and non-empty; ``raw_forms`` keeps the alternatives
    exactly as given (the ``r1vl-official`` substring matcher uses them, as the official code does).
    """

    index: int
    forms: tuple[str, ...]
    raw_forms: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class KeyStepMatch:
    """How one key step fared against the text."""

    index: int
    forms: tuple[str, ...]
    matched: bool
    form: str | None = None  # the alternative that matched
    span: Span | None = None  # where in the scored text
    matched_text: str | None = None
    method: str | None = None  # "exact", "normalised", "symbolic", "fuzzy", "substring"
    score: float = 0.0  # similarity in [0, 1] of the best candidate (1.0 for exact/symbolic)
    reason: str = ""  # why not matched (closest candidate, failed gate, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeyStepReport:
    """Per-key-step results; ``score`` is the fraction matched (``k`` in the paper)."""

    steps: tuple[KeyStepMatch, ...]
    scope: str = "completion"  # "steps" (only step sections searched) or "completion"
    searched_spans: tuple[Span, ...] = ()

    @property
    def n_matched(self) -> int:
        return sum(1 for s in self.steps if s.matched)

    @property
    def score(self) -> float:
        return self.n_matched / len(self.steps) if self.steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "n_matched": self.n_matched,
            "n_steps": len(self.steps),
            "scope": self.scope,
            "searched_spans": [list(s) for s in self.searched_spans],
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class SectionHit:
    """A section header found in the text (``name`` is the schema's section name)."""

    name: str
    header_span: Span
    body_span: Span
    step_number: int | None = None  # for numbered step sections

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



def section_hit(name: str, header_span: Span, body_span: Span, step_number: int | None) -> SectionHit:
    """``SectionHit(...)``, built as :func:`built` builds, with the four stores spelled out (no dict
    literal to make: a hostile completion has thousands of headers)."""
    hit = object.__new__(SectionHit)
    d = hit.__dict__
    d["name"], d["header_span"], d["body_span"], d["step_number"] = name, header_span, body_span, step_number
    return hit

@dataclass(frozen=True)
class StructureReport:
    """StepRVR's view of a completion: completeness and logical order, each with reasons."""

    schema: str
    complete: bool
    logical: bool
    sections: tuple[SectionHit, ...] = ()
    missing: tuple[str, ...] = ()  # required sections not found (or empty)
    reasons: tuple[str, ...] = ()  # human-readable reasons for any failure

    @property
    def valid(self) -> bool:
        return self.complete and self.logical

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["valid"] = self.valid
        return d


@dataclass(frozen=True)
class ComponentScore:
    """One reward component's contribution. ``value`` is unweighted; ``weighted = weight * value``."""

    name: str
    value: float
    weight: float = 1.0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # set when the component failed and ``value`` is its fallback

    @property
    def weighted(self) -> float:
        return self.weight * self.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "weight": self.weight,
            "weighted": self.weighted,
            "details": self.details,
            "error": self.error,
        }


@dataclass(frozen=True)
class Failure:
    """A recorded, non-fatal failure while scoring (plugin error, timeout, malformed input)."""

    where: str  # hook or component name
    reason: str  # "timeout", "error", "malformed_completion", "guard_refused", ...
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
