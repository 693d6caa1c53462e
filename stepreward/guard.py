"""Hard time limits for work that may not finish (LaTeX parsing, sympy, math-verify).

``run_limited(fn, *args, timeout=...)`` runs ``fn(*args)`` in a persistent pool of worker
processes and returns its result. When the deadline passes, that worker is SIGKILLed and replaced
and :class:`GuardTimeout` is raised. The deadline is float seconds, enforced by the *calling*
thread waiting on the worker's pipe: no signals, so it works from any thread, in any process
(including daemonic pool workers), and never touches the caller's ``SIGALRM``.
``fn`` and ``args`` must be picklable (module-level functions, plain data).

Why not :class:`concurrent.futures.ProcessPoolExecutor`: it cannot cancel a running task, and
killing one of its workers breaks the whole pool (``BrokenProcessPool``). Why not pebble, which
can: it stops a timed-out worker with SIGTERM and waits up to 3 s before SIGKILL, and a worker
stuck in C code (a sympy big-integer power) never runs the SIGTERM handler, so a 2 s deadline
becomes 5 s; its deadlines are polled by a manager thread every 0.1 s. Why not plain
``multiprocessing`` with forkserver/spawn (both safe when the parent runs threads, unlike fork):
their children re-execute the user's ``__main__`` script, so a script that calls
``stepreward.score`` at top level recurses; and daemonic processes may not start them. Our
workers are fresh interpreters started by fork+exec (:mod:`stepreward._procs`, which also keeps
them from outliving a killed parent): one pipe per worker, the calling thread's own
``poll(timeout)`` is the deadline, SIGKILL on expiry, a replacement starts warming at once, and
the pool grows lazily up to ``STEPREWARD_GUARD_WORKERS`` workers, each serving one thread at a time.

Cheap pre-guards: :func:`check_input` refuses text that cannot finish in time (exponent towers,
10,000-digit numbers, 500-deep braces, huge factorials) with :class:`GuardRefused` before any
parser sees it. Counters of calls, timeouts, errors and refusals: :func:`stats`.

Environment: ``STEPREWARD_GUARD_WORKERS`` (max workers per process, default 2),
``STEPREWARD_GUARD_PREWARM=0`` (do not import sympy/math-verify when a worker starts).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from . import _procs
from ._inputguard import DEFAULT_LIMITS, InputLimits, find_refusal

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 2.0
STARTUP_TIMEOUT_S = 120.0
WORKERS_ENV = "STEPREWARD_GUARD_WORKERS"
PREWARM_ENV = "STEPREWARD_GUARD_PREWARM"
PREWARM_MODULES = ("sympy", "latex2sympy2_extended", "math_verify")

__all__ = [
    "DEFAULT_TIMEOUT_S", "GuardError", "GuardRefused", "GuardStats", "GuardTimeout", "InputLimits", "check_input",
    "configure", "in_guard_worker", "reset_stats", "run_limited", "shutdown", "stats", "warmup",
]


class GuardTimeout(TimeoutError):
    """A guarded call exceeded its deadline; the worker running it was killed."""


class GuardError(RuntimeError):
    """A guarded call raised in the worker, or the worker died; ``remote_traceback`` has details."""

    remote_traceback: str = ""


class GuardRefused(ValueError):
    """A cheap pre-guard refused an input that could not finish in time (towers, huge numbers)."""


@dataclass(frozen=True)
class GuardStats:
    """Counters for this process since start (or :func:`reset_stats`)."""

    calls: int = 0
    timeouts: int = 0
    errors: int = 0
    refusals: int = 0
    workers_started: int = 0
    workers_killed: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


_stats_lock = threading.Lock()
_counts: dict[str, int] = dict.fromkeys(GuardStats.__dataclass_fields__, 0)
_IN_WORKER = False


def _count(name: str, n: int = 1) -> None:
    with _stats_lock:
        _counts[name] += n


def stats() -> GuardStats:
    """A snapshot of the guard counters of this process."""
    with _stats_lock:
        return GuardStats(**_counts)


def reset_stats() -> None:
    """Set all counters to zero."""
    with _stats_lock:
        for k in _counts:
            _counts[k] = 0


def in_guard_worker() -> bool:
    """True inside a guard worker process (nested guarded calls run inline there)."""
    return _IN_WORKER


# --- pre-guard ----------------------------------------------------------------------------------


def check_input(
    text: str,
    *,
    max_chars: int = DEFAULT_LIMITS.max_chars,
    max_digits: int = DEFAULT_LIMITS.max_digits,
    max_exponent_depth: int = DEFAULT_LIMITS.max_exponent_depth,
    max_nesting: int = DEFAULT_LIMITS.max_nesting,
    max_exponent: float = DEFAULT_LIMITS.max_exponent,
    max_factorial: int = DEFAULT_LIMITS.max_factorial,
) -> None:
    """Raise :class:`GuardRefused` if ``text`` is too costly to parse or evaluate symbolically.

    Refuses: more than ``max_chars`` characters; a run of more than ``max_digits`` digits;
    exponents nested deeper than ``max_exponent_depth`` (``5^{5^{5^5}}`` has depth 3); a numeric
    exponent whose value exceeds ``max_exponent`` (``9^{9^9}``); brackets nested deeper than
    ``max_nesting``; a factorial of an integer above ``max_factorial``. Linear time, in-process.
    """
    limits = InputLimits(max_chars, max_digits, max_exponent_depth, max_nesting, max_exponent, max_factorial)
    reason = find_refusal(text, limits)
    if reason is not None:
        _count("refusals")
        raise GuardRefused(reason)


# --- the pool -----------------------------------------------------------------------------------


def _worker_main(conn: Connection, creator_pid: int, prewarm: tuple[str, ...]) -> None:
    """Guard worker loop: receive ``(fn, args, cpu_cap)``, send ``(ok, payload)``; ``None`` stops."""
    global _IN_WORKER
    _IN_WORKER = True
    _procs.worker_bootstrap(creator_pid)
    for mod in prewarm:
        with contextlib.suppress(Exception):
            __import__(mod)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args, cap = msg
        try:
            with _procs.cpu_cap(cap):
                reply: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 - everything goes back to the caller
            reply = ("err", (e, traceback.format_exc()))
        try:
            conn.send(reply)
        except Exception as e:  # unpicklable result or exception
            conn.send(("err", (GuardError(f"cannot send the result back: {type(e).__name__}: {e}"), "")))


class _Worker:
    """One guard worker process and the parent's end of its pipe."""

    def __init__(self, prewarm: tuple[str, ...]) -> None:
        self.proc = _procs.WorkerProcess(
            "stepreward.guard:_worker_main", (os.getpid(), prewarm), name="stepreward-guard"
        )
        self.conn = self.proc.conn
        self.ready = False
        _count("workers_started")

    def wait_ready(self) -> None:
        if self.ready:
            return
        if not self.conn.poll(STARTUP_TIMEOUT_S):
            _count("errors")
            raise GuardError(f"guard worker did not start within {STARTUP_TIMEOUT_S:.0f}s")
        self.conn.recv()  # ("ready", pid); EOFError if it died while starting
        self.ready = True

    def kill(self) -> None:
        self.proc.kill()

    def stop(self) -> None:
        self.proc.stop()


class _Pool:
    """Up to ``max_workers`` workers, started lazily; each worker serves one calling thread at a time."""

    def __init__(self, max_workers: int, prewarm: tuple[str, ...]) -> None:
        self.max_workers = max(1, max_workers)
        self.prewarm = prewarm
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._n = 0  # idle + busy + starting
        self._closed = False

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise GuardError("the guard pool is shut down")
                if self._idle:  # prefer a worker that has finished starting up
                    ready = (k for k, w in enumerate(self._idle) if w.ready or w.conn.poll(0))
                    w = self._idle.pop(next(ready, len(self._idle) - 1))
                    self._busy.add(w)
                    return w
                if self._n < self.max_workers:
                    self._n += 1
                    break
                self._cond.wait()
        try:
            w = _Worker(self.prewarm)
        except BaseException:
            with self._cond:
                self._n -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._busy.add(w)
        return w

    def _release(self, w: _Worker, healthy: bool) -> None:
        """Return ``w`` to the pool, or kill it and start its replacement warming up now."""
        fresh = None
        if not healthy:
            w.kill()
            _count("workers_killed")
            if not self._closed:
                with contextlib.suppress(Exception):
                    fresh = _Worker(self.prewarm)
        with self._cond:
            self._busy.discard(w)
            keep = w if healthy else fresh
            if keep is not None and not self._closed:
                self._idle.append(keep)
            else:
                self._n -= 1
                if fresh is not None:
                    fresh.kill()
            self._cond.notify()

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], timeout: float) -> T:
        w = self._acquire()
        healthy = False
        try:
            w.wait_ready()
            try:
                w.conn.send((fn, args, _procs.cap_for(timeout)))
            except (pickle.PicklingError, TypeError, AttributeError) as e:  # nothing was written
                healthy = True
                raise GuardError(
                    f"cannot send {_name(fn)} to a guard worker ({type(e).__name__}: {e}). "
                    "Fix: pass a module-level function and plain, picklable arguments."
                ) from e
            if not w.conn.poll(timeout):
                _count("timeouts")
                raise GuardTimeout(f"{_name(fn)} exceeded its {timeout:g}s deadline; worker killed")
            status, payload = w.conn.recv()
            healthy = True
        except GuardTimeout:  # a TimeoutError is an OSError: keep it out of the clause below
            raise
        except (EOFError, OSError) as e:
            _count("errors")
            raise GuardError(f"guard worker died while running {_name(fn)} (exit code {w.proc.exitcode})") from e
        finally:
            self._release(w, healthy)
        if status == "ok":
            return payload  # type: ignore[no-any-return]
        exc, tb = payload
        raise _as_caller_error(fn, exc, tb)

    def warm(self, n: int, wait: bool) -> None:
        """Start up to ``n`` workers now; with ``wait``, block until their imports are done."""
        got = []
        try:
            for _ in range(min(n, self.max_workers)):
                got.append(self._acquire())
            if wait:
                for w in got:
                    w.wait_ready()
        finally:
            for w in got:
                self._release(w, w.ready or not wait)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, busy = self._idle[:], list(self._busy)
            self._idle.clear()
            self._cond.notify_all()
        for w in idle:
            w.stop()
        for w in busy:  # their callers get GuardError (EOF) at once
            w.kill()


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _as_caller_error(fn: Any, exc: BaseException, tb: str) -> BaseException:
    if isinstance(exc, GuardRefused):
        _count("refusals")
        return exc
    _count("errors")
    err = GuardError(f"{_name(fn)} raised {type(exc).__name__}: {exc}")
    err.remote_traceback = tb
    err.__cause__ = exc
    return err


_lock = threading.Lock()
_pool: _Pool | None = None
_settings: dict[str, Any] = {}


def _env_workers() -> int:
    raw = os.environ.get(WORKERS_ENV, "2")
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"{WORKERS_ENV}={raw!r} is not an integer. Fix: e.g. {WORKERS_ENV}=2") from None


def _get_pool() -> _Pool:
    global _pool
    with _lock:
        if _pool is None:
            workers = _settings.get("workers") or _env_workers()
            prewarm = _settings.get("prewarm")
            if prewarm is None:
                prewarm = os.environ.get(PREWARM_ENV, "1") not in ("0", "false", "no")
            _pool = _Pool(workers, PREWARM_MODULES if prewarm else ())
        return _pool


def configure(*, workers: int | None = None, prewarm: bool | None = None) -> None:
    """Set pool size and pre-warming (``None`` = env/default); restarts the pool on next use."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    shutdown()
    _settings.update(workers=workers, prewarm=prewarm)


def warmup(workers: int = 1, *, wait: bool = True) -> None:
    """Start ``workers`` guard workers now so the first guarded call does not wait for imports.

    With ``wait=False`` the workers warm up in the background. A no-op inside a guard worker.
    """
    if not _IN_WORKER:
        _get_pool().warm(workers, wait)


def run_limited(fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Run ``fn(*args)`` in a guard worker with a hard deadline of ``timeout`` seconds (float).

    Raises :class:`GuardTimeout` (worker killed and replaced), :class:`GuardError` (``fn`` raised,
    with the original as ``__cause__``, or the worker died) or :class:`GuardRefused` (``fn`` ran a
    pre-guard that refused). Inside a guard worker the call runs inline: the enclosing call's
    deadline already bounds it.
    """
    limit = DEFAULT_TIMEOUT_S if timeout is None else float(timeout)
    if not limit > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    _count("calls")
    if _IN_WORKER:
        try:
            return fn(*args)
        except (GuardRefused, GuardTimeout, GuardError):
            raise
        except Exception as e:
            raise _as_caller_error(fn, e, traceback.format_exc()) from e
    return _get_pool().run(fn, args, limit)


def shutdown() -> None:
    """Stop all guard workers of this process (a later call starts a new pool)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def _after_fork_in_child() -> None:
    # A forked child must not share the parent's workers (their pipes are the parent's).
    global _pool, _lock, _stats_lock
    _pool = None
    _lock = threading.Lock()
    _stats_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
_procs.register_exit(shutdown)
