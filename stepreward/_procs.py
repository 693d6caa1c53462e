"""Worker processes shared by :mod:`stepreward.guard` and :mod:`stepreward.batch` (private).

A worker is a fresh Python interpreter (``subprocess`` fork+exec, safe when the parent runs
threads such as torch's) that imports only stepreward and the modules of the functions it is sent,
and talks to its parent over its own socket pair, so the parent can SIGKILL exactly the worker that
overran a deadline. We deliberately do not use ``multiprocessing.Process``: its spawn/forkserver
children re-execute the user's ``__main__`` script (a script calling ``stepreward.score`` at top
level would recurse), ``fork`` is unsafe with threads, and daemonic processes (``multiprocessing``
pool workers, some reward managers) may not start children at all. On platforms without
``pass_fds`` (Windows) we fall back to a ``spawn`` process.

Orphan protection (the parent may be SIGKILLed by a scheduler mid-task): an idle worker exits on
EOF; a watchdog thread exits when the parent is gone (hangs that release the GIL); and
:func:`cpu_cap` arms ``ITIMER_PROF`` with the default ``SIGPROF`` action, so a task stuck in C code
while holding the GIL (a sympy big-integer power) is ended by the kernel after bounded CPU time.
``ITIMER_PROF`` rather than ``SIGALRM``: libraries (math-verify) install and cancel ``SIGALRM``.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import multiprocessing
import multiprocessing.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

FD_PASSING = os.name == "posix" and bool(sys.executable)  # else: multiprocessing spawn fallback

_BOOT = (
    "import sys\n"
    "from multiprocessing.connection import Connection\n"
    "c = Connection(int(sys.argv[1]))\n"
    "init = c.recv()\n"
    "sys.path[:] = init['sys_path']\n"
    "from stepreward._procs import child_entry\n"
    "child_entry(c, init['target'], init['args'])\n"
)


def child_entry(conn: Connection, target: str, args: tuple[Any, ...]) -> None:
    """Run ``module:function(conn, *args)`` in the worker; a vanished parent ends it quietly."""
    module, func = target.split(":")
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, EOFError):
        getattr(importlib.import_module(module), func)(conn, *args)


class WorkerProcess:
    """A child interpreter running ``target(conn, *args)``; ``conn`` is the parent's pipe end."""

    def __init__(self, target: str, args: tuple[Any, ...], *, name: str, pass_fds: tuple[int, ...] = ()) -> None:
        """``pass_fds`` are inherited under the same numbers where :data:`FD_PASSING` holds."""
        self.name = name
        self.conn, child = multiprocessing.Pipe(duplex=True)
        init = {"sys_path": list(sys.path), "target": target, "args": args}
        try:
            if FD_PASSING:
                fd = child.fileno()
                cmd = [sys.executable, *subprocess._args_from_interpreter_flags(), "-c", _BOOT, str(fd)]  # type: ignore[attr-defined]
                self._popen: Any = subprocess.Popen(cmd, pass_fds=(fd, *pass_fds), close_fds=True)
                self.pid = self._popen.pid
                self.conn.send(init)
            else:  # pragma: no cover - Windows
                ctx = multiprocessing.get_context("spawn")
                self._popen = ctx.Process(target=child_entry, args=(child, target, args), name=name, daemon=True)
                self._popen.start()
                self.pid = self._popen.pid
        finally:
            child.close()

    def alive(self) -> bool:
        if isinstance(self._popen, subprocess.Popen):
            return self._popen.poll() is None
        return bool(self._popen.is_alive())  # pragma: no cover

    @property
    def exitcode(self) -> int | None:
        if isinstance(self._popen, subprocess.Popen):
            return self._popen.poll()
        return self._popen.exitcode  # type: ignore[no-any-return]  # pragma: no cover

    def kill(self) -> None:
        """SIGKILL, no SIGTERM grace: a worker stuck in C code never runs Python signal handlers."""
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(Exception):
            self._popen.kill()
            if isinstance(self._popen, subprocess.Popen):
                self._popen.wait(timeout=5.0)
            else:  # pragma: no cover
                self._popen.join(5.0)

    def stop(self, grace: float = 1.0) -> None:
        """Ask an idle worker to exit (``None`` message); kill it if it has not within ``grace``."""
        with contextlib.suppress(Exception):
            self.conn.send(None)
            if isinstance(self._popen, subprocess.Popen):
                self._popen.wait(timeout=grace)
            else:  # pragma: no cover - Windows
                self._popen.join(grace)
        self.kill()


def worker_bootstrap(creator_pid: int) -> None:
    """Run first in every worker: ignore Ctrl-C (the parent handles it), exit when orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGPROF"):
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != creator_pid:
                os._exit(70)

    if os.name == "posix":
        threading.Thread(target=watch, name="stepreward-watchdog", daemon=True).start()


@contextlib.contextmanager
def cpu_cap(seconds: float | None) -> Iterator[None]:
    """Let the kernel terminate this process after ``seconds`` of CPU time (POSIX only)."""
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def cap_for(timeout: float) -> float:
    """CPU cap for a task whose wall-clock deadline is ``timeout`` (the parent kills first)."""
    return 2.0 * timeout + 1.0


def register_exit(fn: Callable[[], None]) -> None:
    """Run ``fn`` at interpreter exit, and in multiprocessing children before children are joined."""
    atexit.register(fn)
    multiprocessing.util.Finalize(None, fn, exitpriority=100)
