"""Score many completions, in parallel if asked, with results in input order.

``score_batch(records, workers=N)`` gives, record by record, exactly what :func:`stepreward.score`
gives, plus per-batch statistics. With ``workers`` 0 or 1 and no ``timeout_s`` it scores in this
process. Otherwise it uses a persistent pool of worker processes (kept between calls: a trainer
scores every step): records travel in chunks to amortise IPC, each record is scored under a
per-record deadline, and a worker that overruns it is SIGKILLed and replaced; that record gets
:func:`stepreward.scoring.fallback_result` with a ``Failure(reason="timeout")`` and the rest of its
chunk is scored by another worker. This is the only way to cut off a hanging *in-process* plugin:
Python cannot interrupt a thread, only kill a process.

Plugins registered at run time in this process (``stepreward.manager.register_plugin``) are
forwarded to the workers (pickled; module plugins by name). If one cannot be pickled the batch is
scored in-process with a warning, so results never silently differ from :func:`score`.
"""

from __future__ import annotations

import math
import os
import pickle
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from . import _procs
from ._batchpool import Item, Pool, score_item
from ._gcpause import gc_paused
from .config import RewardConfig, resolve_config
from .scoring import RecordError, ScoreResult, check_record

__all__ = ["BatchResult", "BatchStats", "score_batch", "shutdown"]

MIN_RECORD_TIMEOUT_S = 10.0


def default_record_timeout(cfg: RewardConfig) -> float:
    """Per-record deadline used with workers when ``timeout_s`` is not given."""
    return max(MIN_RECORD_TIMEOUT_S, 5 * cfg.timeout_s)


@dataclass(frozen=True)
class BatchStats:
    """Timing and failure counts for one :func:`score_batch` call."""

    n: int
    workers: int
    seconds: float
    completions_per_s: float
    latency_ms_p50: float
    latency_ms_p99: float
    latency_ms_max: float
    timeouts: int  # records cut off by the per-record deadline
    failures: dict[str, int] = field(default_factory=dict)  # Failure.reason -> count, all records

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class BatchResult:
    """``results[i]`` is the score of ``records[i]``; ``ids[i]`` its ``id`` field (or ``None``)."""

    results: list[ScoreResult]
    stats: BatchStats
    ids: list[Any] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)  # scoring time of each record

    @property
    def totals(self) -> list[float]:
        return [r.total for r in self.results]

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.results)

    def __getitem__(self, i: int) -> ScoreResult:
        return self.results[i]


# --- records ------------------------------------------------------------------------------------


def _where(i: int, rec_id: Any) -> str:
    return f"record {i}" + (f" (id={rec_id!r})" if rec_id is not None else "")


def _validate(records: Iterable[Mapping[str, Any]], deep: bool) -> tuple[list[Item], list[Any]]:
    """Check every record before scoring starts; a bad one raises :class:`RecordError`.

    ``deep`` also parses ``key_steps`` here, and the items carry the parsed steps (scored in this
    process, they are not parsed twice); worker processes parse them anyway, so the pooled path
    leaves that to them (a bad ``key_steps`` then raises when its record is reached).
    """
    items: list[Item] = []
    ids: list[Any] = []
    for i, rec in enumerate(records):
        if type(rec) is not dict and not isinstance(rec, Mapping):  # exact-type test first: cheap
            raise RecordError(f"{_where(i, None)}: a record must be a dict, got {type(rec).__name__}")
        rec_id = rec.get("id")
        for name in ("completion", "solution"):
            if name not in rec:
                raise RecordError(f"{_where(i, rec_id)}: missing field {name!r}. Fix: add it to every record.")
        key_steps = rec.get("key_steps")
        try:
            _, parsed = check_record(rec["solution"], key_steps if deep else None)
        except RecordError as e:
            raise RecordError(f"{_where(i, rec_id)}: {e}") from e
        items.append((i, rec["completion"], rec["solution"], parsed if deep else key_steps))
        ids.append(rec_id)
    return items, ids


# --- plugins registered at run time are mirrored into the workers -------------------------------


_standard: tuple[object, frozenset[str]] | None = None  # (plugin manager, names it loads by itself)


def _standard_plugins(pm: object) -> frozenset[str]:
    """Plugins a worker loads by itself: built-ins and entry points, read once per plugin manager
    (as the manager itself does; scanning entry points costs ~10 ms, paid on every batch before)."""
    global _standard
    if _standard is None or _standard[0] is not pm:
        from .manager import BUILTIN_PLUGINS, ENTRY_POINT_GROUP

        _standard = (pm, frozenset(BUILTIN_PLUGINS) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
    return _standard[1]


def _plugin_sync() -> tuple[list[str], dict[str, bytes]] | None:
    """(all plugin names, pickled run-time plugins), or ``None`` if one cannot be pickled."""
    from .manager import get_plugin_manager

    pm = get_plugin_manager()
    standard = _standard_plugins(pm)
    names, extras = [], {}
    for name, plugin in pm.list_name_plugin():
        names.append(name)
        if name in standard:
            continue
        spec = ("module", plugin.__name__) if isinstance(plugin, ModuleType) else ("object", plugin)
        try:
            extras[name] = pickle.dumps(spec)
        except Exception as e:
            warnings.warn(
                f"plugin {name!r} cannot be sent to worker processes ({type(e).__name__}: {e}); "
                "scoring this batch in-process. Fix: define the plugin at module level.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
    return names, extras


_lock = threading.Lock()
_pool: Pool | None = None


def _get_pool() -> Pool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = Pool()
        return _pool


def shutdown() -> None:
    """Stop the batch workers (a later parallel call starts new ones)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        with pool.lock:
            pool.close()


def _after_fork_in_child() -> None:
    global _pool, _lock
    _pool, _lock = None, threading.Lock()  # the parent's workers are not ours


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
_procs.register_exit(shutdown)


# --- public API ---------------------------------------------------------------------------------


def score_batch(
    records: Iterable[Mapping[str, Any]],
    *,
    preset: str | None = "paper",
    config: RewardConfig | dict[str, Any] | None = None,
    workers: int = 1,
    timeout_s: float | None = None,
    progress: bool = False,
) -> BatchResult:
    """Score ``records`` (dicts with ``completion``, ``solution``, optional ``key_steps`` and ``id``).

    ``results[i]`` equals ``stepreward.score(**records[i], preset=..., config=...)``. ``workers`` 0 or
    1 scores in this process; ``workers > 1``, or any ``timeout_s``, uses that many worker processes
    (at least one); ``timeout_s`` is the per-record deadline (default ``max(10, 5 *
    config.timeout_s)`` with workers), the only way to cut off a hanging in-process plugin.
    A malformed record raises
    :class:`~stepreward.scoring.RecordError` naming it (before scoring starts, except malformed
    ``key_steps`` with workers, which raise when the record is reached).
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
    cfg = resolve_config(preset, config)
    records = records if isinstance(records, Sequence) else list(records)
    sync = _plugin_sync() if (workers > 1 or timeout_s is not None) and records else None
    workers = max(1, workers)
    items, ids = _validate(records, deep=sync is None)
    bar = _progress_bar(len(items), progress)
    t0 = time.perf_counter()
    try:
        if sync is None:
            results, latencies, cut = _serial(items, cfg, bar.update)
        else:
            deadline = timeout_s if timeout_s is not None else default_record_timeout(cfg)
            pool = _get_pool()
            with pool.lock:
                results, latencies, cut = pool.run(items, cfg, sync, workers, deadline, bar.update)
    except RecordError as e:  # raised in a worker: name the record
        i = getattr(e, "record_index", None)
        if i is None:
            raise
        raise RecordError(f"{_where(i, ids[i])}: {e}") from e
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    final = [r for r in results if r is not None]
    assert len(final) == len(items), "every record must have a result"
    return BatchResult(final, _stats(final, latencies, seconds, workers if sync else 1, cut), ids, latencies)


def _serial(items: Sequence[Item], cfg: RewardConfig, update: Any) -> tuple[list[Any], list[float], int]:
    results, latencies = [], []
    with gc_paused():  # see stepreward._gcpause
        for item in items:
            t = time.perf_counter()
            results.append(score_item(item, cfg))
            latencies.append(time.perf_counter() - t)
            update(1)
    return results, latencies, 0


def _stats(results: list[ScoreResult], lat: list[float], seconds: float, workers: int, cut: int) -> BatchStats:
    ms = sorted(x * 1e3 for x in lat) or [0.0]
    reasons = Counter(f.reason for r in results for f in r.failures)
    return BatchStats(
        n=len(results),
        workers=workers,
        seconds=seconds,
        completions_per_s=len(results) / seconds if seconds > 0 else math.inf,
        latency_ms_p50=_quantile(ms, 0.50),
        latency_ms_p99=_quantile(ms, 0.99),
        latency_ms_max=ms[-1],
        timeouts=cut,
        failures=dict(reasons),
    )


def _quantile(sorted_xs: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending list."""
    return sorted_xs[min(len(sorted_xs) - 1, max(0, math.ceil(q * len(sorted_xs)) - 1))]


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc="scoring", unit="completion", dynamic_ncols=True)
