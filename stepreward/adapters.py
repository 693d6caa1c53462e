"""Shared machinery of the framework adapters (TRL, verl, OpenRLHF).

:class:`BatchScorer` turns framework-shaped inputs into records, scores them (serially, or in a
worker pool through :func:`stepreward.score_batch` when ``workers > 0``), and remembers the last
batch so that several reward functions of the same batch (one per component in TRL) score each
completion once. It never raises because of a completion; a malformed record yields ``None``
(TRL's "not applicable") and a recorded failure unless ``strict_records`` is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from . import failures
from ._gcpause import gc_paused
from .config import RewardConfig, resolve_config
from .scoring import RecordError, ScoreResult, check_record, score
from .types import Failure

log = logging.getLogger("stepreward.adapters")


def completion_text(completion: Any) -> Any:
    """Text of a completion given as ``str``, chat messages, or content parts (VLM chat format)."""
    if isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        return content
    return completion


def _digest(items: Sequence[Any]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for it in items:
        h.update(repr(it).encode("utf-8", "replace"))
        h.update(b"\x1f")
    return h.hexdigest()


class BatchScorer:
    """Scores batches of completions and caches the last batch's results.

    ``workers`` 0 or 1 scores in this process (built-in symbolic work is still guarded by
    deadlines). ``workers > 1`` or a ``timeout_s`` scores in worker processes through
    :func:`stepreward.score_batch`, with ``timeout_s`` as a hard per-record deadline: the only way to
    cut off a third-party plugin that hangs in pure Python. Malformed records get ``None`` and a
    reason in ``last_errors`` (or raise with ``strict_records``).
    """

    def __init__(
        self,
        preset: str = "paper",
        config: RewardConfig | dict[str, Any] | None = None,
        *,
        workers: int = 0,
        timeout_s: float | None = None,
        strict_records: bool = False,
    ) -> None:
        self.config = resolve_config(preset, config)
        self.workers = workers
        self.timeout_s = timeout_s
        self.strict_records = strict_records
        self._lock = threading.Lock()
        self._last_key: str | None = None
        self.last_results: list[ScoreResult | None] = []
        self.last_errors: dict[int, str] = {}

    def score(
        self, completions: Sequence[Any], solutions: Sequence[Any], key_steps: Sequence[Any] | None
    ) -> list[ScoreResult | None]:
        texts = [completion_text(c) for c in completions]
        steps = list(key_steps) if key_steps is not None else [None] * len(texts)
        if len(solutions) != len(texts) or len(steps) != len(texts):
            raise ValueError(
                f"columns not aligned with completions: {len(texts)} completions, {len(solutions)} "
                f"solutions, {len(steps)} key_steps. Fix: pass one value per completion."
            )
        key = _digest([texts, list(solutions), steps])
        with self._lock:
            if key == self._last_key:
                return self.last_results
        results, errors = self._score_all(texts, list(solutions), steps)
        with self._lock:
            self._last_key, self.last_results, self.last_errors = key, results, errors
        return results

    def _score_all(
        self, texts: list[Any], solutions: list[Any], steps: list[Any]
    ) -> tuple[list[ScoreResult | None], dict[int, str]]:
        results: list[ScoreResult | None] = [None] * len(texts)
        errors: dict[int, str] = {}
        good: list[int] = []
        parsed: dict[int, Any] = {}  # key steps parsed once, for in-process scoring
        for i, (sol, ks) in enumerate(zip(solutions, steps, strict=True)):
            steps[i] = ks = _maybe_json(ks)
            try:
                parsed[i] = check_record(sol, ks)[1]
                good.append(i)
            except RecordError as e:
                if self.strict_records:
                    raise
                errors[i] = str(e)
                log.error("malformed record %d skipped (reward None): %s", i, e)
                failures.record([Failure("record", "malformed_record", str(e)[:300])], str(texts[i])[:2000],
                                str(sol), self.config.preset)
        if self.workers > 1 or self.timeout_s is not None:
            from .batch import score_batch

            records = [{"completion": texts[i], "solution": solutions[i], "key_steps": steps[i]} for i in good]
            batch = score_batch(records, config=self.config, workers=max(1, self.workers), timeout_s=self.timeout_s)
            for i, r in zip(good, batch.results, strict=True):
                results[i] = r
        else:
            with gc_paused():  # see stepreward._gcpause
                for i in good:
                    results[i] = score(texts[i], solution=solutions[i], key_steps=parsed[i], config=self.config)
        return results, errors


def _maybe_json(key_steps: Any) -> Any:
    """Key steps stored as a JSON string in a dataset column are decoded (bad JSON is reported later)."""
    if isinstance(key_steps, str) and key_steps.strip().startswith(("{", "[")):
        with contextlib.suppress(ValueError):
            return json.loads(key_steps)
    return key_steps


def component_values(results: Sequence[ScoreResult | None], name: str) -> list[float | None]:
    """Weighted value of component ``name`` per result (``None`` for skipped records)."""
    return [None if r is None else float(r.components.get(name, 0.0)) for r in results]


def summary_metrics(results: Sequence[ScoreResult | None]) -> dict[str, float]:
    """Batch means of the decisions behind the rewards (for a trainer's logs)."""
    rs = [r for r in results if r is not None]
    if not rs:
        return {}
    n = len(rs)
    with_steps = [r.key_steps.score for r in rs if r.key_steps is not None]
    with_struct = [r.structure.valid for r in rs if r.structure is not None]
    out = {
        "accuracy": sum(1.0 for r in rs if r.correct) / n,
        "answer_found": sum(1.0 for r in rs if r.answer is not None) / n,
        "failures": float(sum(len(r.failures) for r in rs)),
    }
    if with_steps:
        out["keystep_match_rate"] = sum(with_steps) / len(with_steps)
    if with_struct:
        out["validity_rate"] = sum(1.0 for v in with_struct if v) / len(with_struct)
    return out
