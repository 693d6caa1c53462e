"""Score many completions, in parallel if asked, with results in input order.

``score_batch(records, workers=N)`` gives, record by record, exactly what :func:`stepreward.score`
gives, plus per-batch statistics. With ``workers=1`` and no ``timeout_s`` it scores in this
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
import traceback
import warnings
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from multiprocessing.connection import Connection, wait
from types import ModuleType
from typing import Any

from . import _procs, guard
from .config import RewardConfig, resolve_config
from .scoring import RecordError, ScoreResult, _check_record, fallback_result, score
from .types import Failure

__all__ = ["BatchResult", "BatchStats", "score_batch", "shutdown"]

MIN_RECORD_TIMEOUT_S = 10.0


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

_Item = tuple[int, Any, str, Any]  # (index, completion, solution, key_steps)


def _validate(records: Iterable[Mapping[str, Any]]) -> tuple[list[_Item], list[Any]]:
    """Check every record before any work starts; a bad one raises :class:`RecordError`."""
    items: list[_Item] = []
    ids: list[Any] = []
    for i, rec in enumerate(records):
        where = f"record {i}" + (f" (id={rec.get('id')!r})" if isinstance(rec, Mapping) and "id" in rec else "")
        if not isinstance(rec, Mapping):
            raise RecordError(f"{where}: a record must be a dict, got {type(rec).__name__}")
        for name in ("completion", "solution"):
            if name not in rec:
                raise RecordError(f"{where}: missing field {name!r}. Fix: add it to every record.")
        try:
            _check_record(rec["solution"], rec.get("key_steps"))
        except RecordError as e:
            raise RecordError(f"{where}: {e}") from e
        items.append((i, rec["completion"], rec["solution"], rec.get("key_steps")))
        ids.append(rec.get("id"))
    return items, ids


def _score_item(item: _Item, cfg: RewardConfig) -> ScoreResult:
    _, completion, solution, key_steps = item
    return score(completion, solution=solution, key_steps=key_steps, config=cfg)


def _timeout_result(cfg: RewardConfig, seconds: float, what: str) -> ScoreResult:
    return fallback_result(cfg, Failure("score_batch", "timeout", f"{what} after {seconds:g}s; worker killed"))


# --- plugins registered at run time are mirrored into the workers -------------------------------


def _plugin_sync() -> tuple[list[str], dict[str, bytes]] | None:
    """(all plugin names, pickled run-time plugins), or ``None`` if one cannot be pickled."""
    from .manager import BUILTIN_PLUGINS, ENTRY_POINT_GROUP, get_plugin_manager

    standard = set(BUILTIN_PLUGINS) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    names, extras = [], {}
    for name, plugin in get_plugin_manager().list_name_plugin():
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
                stacklevel=4,
            )
            return None
    return names, extras


_forwarded: dict[str, bytes] = {}


def _apply_plugin_sync(names: list[str], extras: dict[str, bytes]) -> None:
    """In a worker: make the registered plugins those of the parent."""
    import importlib

    from .manager import get_plugin_manager, register_plugin, unregister_plugin

    current = {name for name, _ in get_plugin_manager().list_name_plugin()}
    for name in current - set(names):
        unregister_plugin(name)
        _forwarded.pop(name, None)
    for name, blob in extras.items():
        if _forwarded.get(name) == blob and name in current:
            continue
        if name in current:
            unregister_plugin(name)
        kind, obj = pickle.loads(blob)
        register_plugin(importlib.import_module(obj) if kind == "module" else obj, name=name)
        _forwarded[name] = blob


# --- worker process -----------------------------------------------------------------------------


def _worker_main(conn: Connection, creator_pid: int) -> None:
    """Batch worker: ``("batch", cfg, names, extras)`` then ``("chunk", items, timeout)`` messages."""
    _procs.worker_bootstrap(creator_pid)
    from .manager import get_plugin_manager

    get_plugin_manager()
    guard.warmup(1, wait=False)
    conn.send(("ready",))
    cfg: RewardConfig | None = None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        if msg[0] == "batch":
            cfg = msg[1]
            _apply_plugin_sync(msg[2], msg[3])
            continue
        _, items, timeout = msg
        for item in items:
            t0 = time.perf_counter()
            try:
                with _procs.cpu_cap(_procs.cap_for(timeout)):
                    reply: tuple[Any, ...] = ("rec", item[0], _score_item(item, cfg), time.perf_counter() - t0)
            except BaseException as e:  # noqa: BLE001 - re-raised in the parent, as serial scoring would
                reply = ("err", item[0], e, traceback.format_exc())
            try:
                conn.send(reply)
            except Exception as e:
                conn.send(("err", item[0], RuntimeError(f"unpicklable result: {e}"), ""))


class _RemoteTraceback(Exception):
    """Carries a worker's traceback as the ``__cause__`` of an exception re-raised here."""


class _Worker:
    def __init__(self) -> None:
        self.proc = _procs.WorkerProcess("stepreward.batch:_worker_main", (os.getpid(),), name="stepreward-batch")
        self.conn = self.proc.conn
        self.ready = False
        self.chunk: deque[_Item] = deque()
        self.started = 0.0  # when the record at the head of ``chunk`` started

    def wait_ready(self) -> None:
        if not self.ready:
            if not self.conn.poll(guard.STARTUP_TIMEOUT_S):
                raise RuntimeError("a score_batch worker did not start")
            self.conn.recv()
            self.ready = True


class _Pool:
    """Persistent batch workers; one batch at a time (a lock serialises concurrent callers)."""

    def __init__(self) -> None:
        self.workers: list[_Worker] = []
        self.lock = threading.Lock()

    def resize(self, n: int) -> None:
        while len(self.workers) > n:
            self.workers.pop().proc.stop()
        self.workers = [w for w in self.workers if w.proc.alive()]
        while len(self.workers) < n:
            self.workers.append(_Worker())

    def replace(self, w: _Worker) -> _Worker:
        w.proc.kill()
        fresh = _Worker()
        self.workers[self.workers.index(w)] = fresh
        return fresh

    def close(self) -> None:
        for w in self.workers:
            w.proc.stop()
        self.workers = []

    def run(self, items: list[_Item], cfg: RewardConfig, sync: tuple[list[str], dict[str, bytes]],
            n_workers: int, timeout: float, tick: Any) -> tuple[list[ScoreResult | None], list[float], int]:
        self.resize(n_workers)
        size = max(1, min(64, math.ceil(len(items) / (4 * n_workers))))
        todo: deque[list[_Item]] = deque(items[i : i + size] for i in range(0, len(items), size))
        results: list[ScoreResult | None] = [None] * len(items)
        latencies = [0.0] * len(items)
        cut = 0
        fresh = set(self.workers)  # workers that still need this batch's config
        idle = list(self.workers)
        busy: dict[Connection, _Worker] = {}
        try:
            while todo or busy:
                while idle and todo:
                    w = idle.pop()
                    w.wait_ready()
                    if w in fresh:
                        w.conn.send(("batch", cfg, *sync))
                        fresh.discard(w)
                    w.chunk = deque(todo.popleft())
                    w.conn.send(("chunk", list(w.chunk), timeout))
                    w.started = time.monotonic()
                    busy[w.conn] = w
                now = time.monotonic()
                wait_s = max(0.0, min(w.started + timeout - now for w in busy.values()))
                for conn in wait(list(busy), timeout=wait_s):
                    w = busy[conn]  # type: ignore[index]
                    try:
                        msg = conn.recv()  # type: ignore[union-attr]
                    except (EOFError, OSError):
                        msg = ("died",)
                    if msg[0] == "rec":
                        results[msg[1]] = msg[2]
                        latencies[msg[1]] = msg[3]
                    elif msg[0] == "err":
                        raise msg[2] from _RemoteTraceback(f"record {msg[1]}, in a score_batch worker:\n{msg[3]}")
                    else:  # the worker died: its current record gets the defined fallback
                        idx = w.chunk[0][0]
                        results[idx] = fallback_result(
                            cfg, Failure("score_batch", "worker_died", f"exit code {w.proc.exitcode}")
                        )
                    w.chunk.popleft()
                    w.started = time.monotonic()
                    tick()
                    if msg[0] == "died":
                        del busy[conn]
                        if w.chunk:
                            todo.appendleft(list(w.chunk))
                        fresh.add(w := self.replace(w))
                        idle.append(w)
                    elif not w.chunk:
                        del busy[conn]
                        idle.append(w)
                now = time.monotonic()
                for conn, w in list(busy.items()):
                    if w.chunk and now - w.started > timeout:
                        item = w.chunk.popleft()
                        results[item[0]] = _timeout_result(cfg, timeout, f"record {item[0]} cut off")
                        latencies[item[0]] = now - w.started
                        cut += 1
                        tick()
                        del busy[conn]
                        if w.chunk:
                            todo.appendleft(list(w.chunk))
                        fresh.add(w := self.replace(w))
                        idle.append(w)
        except BaseException:
            for w in busy.values():  # their pipes may hold results of this batch: discard them
                self.replace(w)
            raise
        return results, latencies, cut


_lock = threading.Lock()
_pool: _Pool | None = None


def _get_pool() -> _Pool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = _Pool()
        return _pool


def shutdown() -> None:
    """Stop the batch workers (a later parallel call starts new ones)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        with pool.lock:
            pool.close()


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

    ``results[i]`` equals ``stepreward.score(**records[i], preset=..., config=...)``. ``workers > 1``
    or a ``timeout_s`` uses worker processes; ``timeout_s`` is the per-record deadline (default
    ``max(10, 5 * config.timeout_s)`` with workers). A malformed record raises
    :class:`~stepreward.scoring.RecordError` naming it before any scoring starts.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
    cfg = resolve_config(preset, config)
    items, ids = _validate(records)
    bar = _progress_bar(len(items), progress)
    sync = _plugin_sync() if (workers > 1 or timeout_s is not None) and items else None
    t0 = time.perf_counter()
    try:
        if sync is None:
            results, latencies, cut = _serial(items, cfg, bar.update)
        else:
            deadline = timeout_s if timeout_s is not None else max(MIN_RECORD_TIMEOUT_S, 5 * cfg.timeout_s)
            pool = _get_pool()
            with pool.lock:
                results, latencies, cut = pool.run(items, cfg, sync, workers, deadline, lambda: bar.update(1))
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    final = [r for r in results if r is not None]
    assert len(final) == len(items), "every record must have a result"
    return BatchResult(final, _stats(final, latencies, seconds, workers if sync else 1, cut), ids, latencies)


def _serial(items: Sequence[_Item], cfg: RewardConfig, update: Any) -> tuple[list[Any], list[float], int]:
    results, latencies = [], []
    for item in items:
        t = time.perf_counter()
        results.append(_score_item(item, cfg))
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
