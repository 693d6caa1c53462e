"""Hard time limits for work that may not finish (LaTeX parsing, sympy, math-verify).

``run_limited(fn, *args, timeout=...)`` runs ``fn(*args)`` in a persistent pool of worker
processes and returns its result. When the deadline passes, the worker is killed and replaced and
:class:`GuardTimeout` is raised. This works from any thread and any process (no SIGALRM).
``fn`` and ``args`` must be picklable (module-level functions, plain data).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 2.0


class GuardTimeout(TimeoutError):
    """A guarded call exceeded its deadline; the worker running it was killed."""


class GuardError(RuntimeError):
    """A guarded call raised in the worker (the original error is in ``__cause__``/message)."""


class GuardRefused(ValueError):
    """A cheap pre-guard refused an input that could not finish in time (towers, huge numbers)."""


_lock = threading.Lock()
_pool: Any = None
_pool_pid: int | None = None


def _get_pool() -> Any:
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            from pebble import ProcessPool

            workers = int(os.environ.get("STEPREWARD_GUARD_WORKERS", "1"))
            ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
            _pool = ProcessPool(max_workers=max(1, workers), context=ctx)
            _pool_pid = os.getpid()
        return _pool


def run_limited(fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Run ``fn(*args)`` in a worker process with a hard deadline of ``timeout`` seconds."""
    fut = _get_pool().schedule(fn, args=args, timeout=timeout or DEFAULT_TIMEOUT_S)
    try:
        return fut.result()
    except FuturesTimeout as e:
        raise GuardTimeout(f"{getattr(fn, '__name__', fn)} exceeded {timeout or DEFAULT_TIMEOUT_S}s") from e
    except Exception as e:  # error raised inside the worker (or the worker died)
        raise GuardError(f"{type(e).__name__}: {e}") from e


def shutdown() -> None:
    """Stop the worker pool (it is restarted on next use)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.stop()
            _pool.join()
            _pool = None
