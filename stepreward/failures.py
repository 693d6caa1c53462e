"""Counting, logging and saving reward failures (never raising).

Every :class:`~stepreward.types.Failure` recorded while scoring is counted here (by
``where:reason``), logged at WARNING level (rate-limited), and, when ``STEPREWARD_FAILURE_DIR`` is
set (or :func:`set_failure_dir` was called), the sample is appended to
``<dir>/failures-<pid>.jsonl`` for inspection. Input-hygiene notes (``truncated_input``) are
counted but not logged as warnings.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from .types import Failure

log = logging.getLogger("stepreward.failures")

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_failure_dir: Path | None = None
_last_log = 0.0
_LOG_EVERY_S = 5.0
_QUIET = {"truncated_input"}
MAX_SAVED_CHARS = 20_000


def set_failure_dir(path: str | os.PathLike[str] | None) -> None:
    """Save failing samples under ``path`` (``None`` turns saving off)."""
    global _failure_dir
    _failure_dir = Path(path) if path else None


def _dir() -> Path | None:
    if _failure_dir is not None:
        return _failure_dir
    env = os.environ.get("STEPREWARD_FAILURE_DIR")
    return Path(env) if env else None


def record(fails: Iterable[Failure], completion: str, solution: str, preset: str) -> None:
    """Count, log and (optionally) save the failures of one scored completion."""
    global _last_log
    fails = list(fails)
    with _lock:
        for f in fails:
            _counts[f"{f.where}:{f.reason}"] += 1
    loud = [f for f in fails if f.reason not in _QUIET]
    if not loud:
        return
    now = time.monotonic()
    if now - _last_log >= _LOG_EVERY_S:
        _last_log = now
        log.warning("reward failure(s) %s; totals so far: %s", [f.to_dict() for f in loud], dict(_counts))
    target = _dir()
    if target is None:
        return
    try:
        target.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "time": time.time(),
                "preset": preset,
                "failures": [f.to_dict() for f in loud],
                "solution": solution[:MAX_SAVED_CHARS],
                "completion": completion[:MAX_SAVED_CHARS],
            },
            ensure_ascii=False,
        )
        with _lock, open(target / f"failures-{os.getpid()}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError as e:  # saving is best-effort
        log.debug("could not save failure sample: %s", e)


def counts() -> dict[str, int]:
    """Failure counts by ``"where:reason"`` since start (or the last :func:`reset_counts`)."""
    with _lock:
        return dict(_counts)


def reset_counts() -> None:
    with _lock:
        _counts.clear()
