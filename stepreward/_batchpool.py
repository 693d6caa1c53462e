"""The worker pool behind :func:`stepreward.batch.score_batch` (private).

Workers are fresh interpreters (:mod:`stepreward._procs`) that score chunks of records. Each
worker shares a 32-byte memory map with the parent in which it writes, before every record,
``(chunk number, position in chunk, start time)``; results travel back once per chunk. So the
parent pays one wake-up and one unpickling pass per chunk, yet always knows which record a worker
is on: a record that overruns its deadline is charged to exactly that record, the worker is
SIGKILLed and replaced, and the other unfinished records of its chunk go back to the queue.
(Without fd passing -- Windows -- workers send one message per record instead.)

Keeping the parent cheap matters: with as many workers as cores it competes with them for CPU.
Records are dispatched longest-completion first, in chunks that shrink as the queue drains
(:func:`chunk_size`): few messages, yet workers finish together. A worker gets its next chunk as
soon as its results arrive, before the parent decodes them, and the parent decodes them with the
cyclic GC paused (:func:`_decode`).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import itertools
import mmap
import os
import pickle
import struct
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from . import _procs, guard
from ._gcpause import gc_paused
from .config import RewardConfig
from .scoring import ScoreResult, fallback_result, score
from .types import Failure

Item = tuple[int, Any, str, Any]  # (index, completion, solution, key_steps)
# chunk number, position in chunk, time.monotonic() at the record's start, chunk number again: a
# reader accepts a snapshot only if both chunk numbers match (no torn read across a rewrite)
_PROGRESS = struct.Struct("<qqdq")
MAX_CHUNK = 64


def chunk_size(remaining: int, n_workers: int) -> int:
    """Records for the next chunk (guided self-scheduling): large while much work remains, down to
    one record at the end so that workers finish together."""
    return max(1, min(MAX_CHUNK, remaining // (4 * n_workers)))


def _longest_first(item: Item) -> int:
    text = item[1]
    return -len(text) if isinstance(text, (str, bytes)) else 0


def score_item(item: Item, cfg: RewardConfig) -> ScoreResult:
    """Score one record exactly as :func:`stepreward.score` does."""
    _, completion, solution, key_steps = item
    return score(completion, solution=solution, key_steps=key_steps, config=cfg)


_forwarded: dict[str, bytes] = {}


def _apply_plugin_sync(names: list[str], extras: dict[str, bytes]) -> None:
    """In a worker: make the registered plugins those of the parent."""
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


def _worker_main(conn: Connection, creator_pid: int, progress_fd: int | None) -> None:
    """Batch worker: ``("batch", cfg, names, extras)`` and ``("chunk", seq, items, timeout)``.

    Replies: with a progress map, exactly one message per chunk (the parent counts on it), else
    one per record; each a list of ``("rec", index, result, seconds)`` or ``("err", index, exc, tb)``.
    """
    _procs.worker_bootstrap(creator_pid)
    progress = mmap.mmap(progress_fd, _PROGRESS.size) if progress_fd is not None else None
    from .manager import get_plugin_manager

    get_plugin_manager()  # guard workers start lazily: many presets never need one
    gc.collect()
    gc.freeze()  # our own process: keep the start-up heap out of every later full collection
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
        _, seq, items, timeout = msg
        with gc_paused():
            _score_chunk(conn, seq, items, timeout, cfg, progress)


def _score_chunk(conn: Connection, seq: int, items: list[Item], timeout: float, cfg: Any,
                 progress: mmap.mmap | None) -> None:
    """Score one chunk in a worker, replying once per chunk (with a progress map) or per record."""
    replies: list[tuple[Any, ...]] = []
    for pos, item in enumerate(items):
        t0 = time.perf_counter()
        if progress is not None:
            _PROGRESS.pack_into(progress, 0, seq, pos, time.monotonic(), seq)
        try:
            with _procs.cpu_cap(_procs.cap_for(timeout)):
                replies.append(("rec", item[0], score_item(item, cfg), time.perf_counter() - t0))
        except BaseException as e:  # noqa: BLE001 - re-raised in the parent, as serial scoring would
            replies.append(("err", item[0], e, traceback.format_exc()))
        if progress is None:
            _send(conn, replies)
            replies = []
    if progress is not None:
        _send(conn, replies)


def _send(conn: Connection, replies: list[tuple[Any, ...]]) -> None:
    try:
        conn.send(replies)
    except Exception:  # an unpicklable result or exception: replace just those
        safe = []
        for r in replies:
            try:
                pickle.dumps(r)
                safe.append(r)
            except Exception as e:
                safe.append(("err", r[1], RuntimeError(f"cannot send the result back: {e}"), ""))
        conn.send(safe)


def _decode(raw: bytes) -> list[tuple[Any, ...]]:
    """Unpickle a worker's replies with the cyclic GC paused (:mod:`stepreward._gcpause`).

    A result is ~45 container objects that all survive the batch; decoding them with the GC on
    triggers a generation-0 collection every ~700 allocations and, as results accumulate, full
    collections that traverse the whole heap (measured: ~2/3 of the parent's CPU per record).
    """
    with gc_paused():
        return pickle.loads(raw)  # type: ignore[no-any-return]


class _RemoteTraceback(Exception):
    """Carries a worker's traceback as the ``__cause__`` of an exception re-raised here."""


class _Worker:
    """A batch worker, its pipe, its progress map, and the chunk it is working on."""

    def __init__(self) -> None:
        self.progress: mmap.mmap | None = None
        fd = None
        with contextlib.ExitStack() as stack:
            if _procs.FD_PASSING:
                fh = stack.enter_context(tempfile.TemporaryFile())
                fh.truncate(_PROGRESS.size)
                fd = fh.fileno()
                self.progress = mmap.mmap(fd, _PROGRESS.size)
            self.proc = _procs.WorkerProcess(
                "stepreward._batchpool:_worker_main", (os.getpid(), fd), name="stepreward-batch",
                pass_fds=(fd,) if fd is not None else (),
            )
        self.conn = self.proc.conn
        self.ready = False
        self.seq = 0
        self.chunk: list[Item] = []
        self.received = 0  # results of ``chunk`` received so far
        self.mark = 0.0  # when ``chunk`` was sent, or the last message arrived

    def wait_ready(self) -> None:
        if not self.ready:
            if not self.conn.poll(guard.STARTUP_TIMEOUT_S):
                raise RuntimeError("a score_batch worker did not start")
            self.conn.recv()
            self.ready = True

    def send_chunk(self, chunk: list[Item], timeout: float) -> None:
        self.seq += 1
        # mark first: the worker may start (and stamp) its first record before send() returns
        self.chunk, self.received, self.mark = chunk, 0, time.monotonic()
        self.conn.send(("chunk", self.seq, chunk, timeout))

    def position(self) -> tuple[int, float]:
        """(position in ``chunk`` of the record being scored, when it started)."""
        if self.progress is not None:
            seq, pos, started, seq2 = _PROGRESS.unpack_from(self.progress, 0)
            if seq == seq2 == self.seq and started >= self.mark and self.received <= pos < len(self.chunk):
                return pos, started
        return self.received, self.mark


class Pool:
    """Persistent batch workers; one batch at a time (``lock`` serialises concurrent callers)."""

    def __init__(self) -> None:
        self.workers: list[_Worker] = []
        self.lock = threading.Lock()

    def resize(self, n: int) -> None:
        while len(self.workers) > n:
            self.workers.pop().proc.stop()
        self.workers = [w for w in self.workers if w.proc.alive()]
        while len(self.workers) < n:
            self.workers.append(_Worker())

    def discard(self, w: _Worker) -> None:
        w.proc.kill()
        self.workers.remove(w)

    def replace(self, w: _Worker) -> _Worker:
        w.proc.kill()
        fresh = _Worker()
        self.workers[self.workers.index(w)] = fresh
        return fresh

    def close(self) -> None:
        for w in self.workers:
            w.proc.stop()
        self.workers = []

    def run(
        self,
        items: list[Item],
        cfg: RewardConfig,
        sync: tuple[list[str], dict[str, bytes]],
        n_workers: int,
        timeout: float,
        tick: Callable[[int], Any],
    ) -> tuple[list[ScoreResult | None], list[float], int]:
        """Score ``items``; returns results and latencies by index, and how many were cut off."""
        self.resize(n_workers)
        order = sorted(items, key=_longest_first)
        todo: deque[Item] = deque(order)
        results: list[ScoreResult | None] = [None] * len(items)
        latencies = [0.0] * len(items)
        cut = restarts = 0
        fresh = set(self.workers)  # workers that still need this batch's config and plugins
        idle = list(self.workers)
        busy: dict[Connection, _Worker] = {}

        def lose(w: _Worker, reason: str, message: str) -> None:
            """``w`` is dead or killed: fall back for its current record, requeue the unfinished rest."""
            pos = max(w.position()[0], w.received)
            idx = w.chunk[pos][0]
            latencies[idx] = time.monotonic() - w.position()[1]
            results[idx] = fallback_result(cfg, Failure("score_batch", reason, message))
            tick(1)
            rest = w.chunk[w.received : pos] + w.chunk[pos + 1 :]
            todo.extendleft(reversed(rest))
            del busy[w.conn]
            fresh.add(nw := self.replace(w))
            idle.append(nw)

        def dispatch() -> None:
            """Hand queued chunks to idle workers (starting replacements for any found dead)."""
            nonlocal restarts
            while idle and todo:
                w = idle.pop()
                try:
                    w.wait_ready()
                    if w in fresh:
                        w.conn.send(("batch", cfg, *sync))
                        fresh.discard(w)
                    chunk = list(itertools.islice(todo, chunk_size(len(todo), n_workers)))
                    w.send_chunk(chunk, timeout)
                except (OSError, EOFError, RuntimeError) as e:  # died while idle, or never started
                    restarts += 1
                    if restarts > 3 * n_workers:
                        raise RuntimeError(f"score_batch workers keep dying before work starts: {e}") from e
                    fresh.add(w := self.replace(w))
                    idle.append(w)
                    continue
                for _ in chunk:
                    todo.popleft()
                busy[w.conn] = w

        try:
            while todo or busy:
                dispatch()
                now = time.monotonic()
                wait_s = max(0.0, min(w.position()[1] + timeout - now for w in busy.values()))
                for conn in wait(list(busy), timeout=wait_s):
                    w = busy[conn]  # type: ignore[index]
                    try:
                        raw = conn.recv_bytes()  # type: ignore[union-attr]
                    except (EOFError, OSError):
                        lose(w, "worker_died", f"exit code {w.proc.exitcode}")
                        continue
                    # one message per chunk with a progress map, else one per record
                    n = len(w.chunk) - w.received if w.progress is not None else 1
                    w.received += n
                    w.mark = time.monotonic()
                    if w.received == len(w.chunk):
                        del busy[conn]
                        idle.append(w)
                        dispatch()  # the worker starts its next chunk while we decode this one
                    replies = _decode(raw)
                    if len(replies) != n:
                        raise RuntimeError(f"score_batch worker sent {len(replies)} results, expected {n}")
                    for kind, idx, payload, extra in replies:
                        if kind == "err":
                            payload.record_index = idx
                            raise payload from _RemoteTraceback(f"record {idx}, in a score_batch worker:\n{extra}")
                        results[idx], latencies[idx] = payload, extra
                    tick(n)
                now = time.monotonic()
                for w in list(busy.values()):
                    if now - w.position()[1] > timeout:
                        cut += 1
                        lose(w, "timeout", f"record cut off after {timeout:g}s; worker killed")
        except BaseException:
            for w in busy.values():  # their pipes may hold results of this batch: discard them
                self.discard(w)
            raise
        return results, latencies, cut
