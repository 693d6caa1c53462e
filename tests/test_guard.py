"""The guard: hard deadlines in killable worker processes, and the cheap input pre-guards."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from stepreward import guard, hookimpl
from stepreward.guard import GuardError, GuardRefused, GuardTimeout, check_input, run_limited

SLACK_S = 1.0  # scheduling slack on a loaded 2-core CI machine


# Module-level so guard workers can unpickle them (they import this module by name).
def add(a: float, b: float) -> float:
    return a + b


def sleep_forever() -> None:
    time.sleep(3600)


def spin_forever() -> None:
    while True:
        pass


def big_power() -> int:
    return 9 ** (9**9)  # minutes of C code that never returns to the interpreter loop


def raise_zero_division() -> None:
    raise ZeroDivisionError("divided by zero on purpose")


def die_hard() -> None:
    os._exit(3)


def refuse_inside() -> None:
    check_input("5^{5^{5^5}}")


def guarded_from_daemonic_worker(timeout: float) -> tuple[str, float, int]:
    """Runs inside a multiprocessing.Pool worker (a daemonic process)."""
    value = run_limited(add, 2, 3, timeout=60)  # starts this process's own guard pool
    t0 = time.monotonic()
    try:
        run_limited(sleep_forever, timeout=timeout)
        outcome = "returned"
    except GuardTimeout:
        outcome = "timeout"
    return outcome, time.monotonic() - t0, value


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    guard.configure(workers=2, prewarm=False)  # these tests need no sympy: replacements start faster
    guard.warmup(2)
    yield
    guard.configure()


def timed(fn, *args, timeout):
    t0 = time.monotonic()
    try:
        return fn(*args, timeout=timeout), time.monotonic() - t0
    except Exception as e:
        return e, time.monotonic() - t0


# --- deadlines -----------------------------------------------------------------------------------


def test_result_comes_back():
    assert run_limited(add, 1.5, 2.25, timeout=10) == 3.75
    assert run_limited(str.upper, "abc") == "ABC"


@pytest.mark.parametrize("hang", [sleep_forever, spin_forever, big_power], ids=["sleep", "spin", "C-code"])
def test_hang_is_cut_off_at_deadline_and_next_call_works(hang):
    before = guard.stats()
    err, elapsed = timed(run_limited, hang, timeout=0.4)
    assert isinstance(err, GuardTimeout), err
    assert 0.4 <= elapsed < 0.4 + SLACK_S
    after = guard.stats()
    assert after.timeouts == before.timeouts + 1
    assert after.workers_killed == before.workers_killed + 1
    assert run_limited(add, 2, 2, timeout=60) == 4


def test_hang_is_cut_off_from_a_non_main_thread():
    out: dict[str, object] = {}

    def worker() -> None:
        out["err"], out["elapsed"] = timed(run_limited, spin_forever, timeout=0.3)
        out["next"] = run_limited(add, 40, 2, timeout=60)

    t = threading.Thread(target=worker)
    t.start()
    t.join(30)
    assert isinstance(out["err"], GuardTimeout)
    assert 0.3 <= out["elapsed"] < 0.3 + SLACK_S
    assert out["next"] == 42


def test_sub_second_deadlines():
    assert run_limited(add, 1, 1, timeout=0.25) == 2  # a warm worker answers well within 0.25 s
    err, elapsed = timed(run_limited, sleep_forever, timeout=0.05)
    assert isinstance(err, GuardTimeout)
    assert 0.05 <= elapsed < 0.05 + SLACK_S


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX timers")
def test_callers_sigalrm_is_untouched():
    fired: list[int] = []

    def handler(signum, frame):
        fired.append(signum)

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        assert isinstance(timed(run_limited, sleep_forever, timeout=0.2)[0], GuardTimeout)
        assert run_limited(add, 1, 2) == 3
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25.0 < remaining <= 30.0  # still armed, not reset or cancelled
        assert signal.getsignal(signal.SIGALRM) is handler
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # and it still fires into our handler
        time.sleep(0.3)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_bad_timeout_is_rejected():
    with pytest.raises(ValueError, match="timeout"):
        run_limited(add, 1, 2, timeout=0)


# --- errors --------------------------------------------------------------------------------------


def test_exception_in_worker_becomes_guard_error_with_cause():
    with pytest.raises(GuardError, match="ZeroDivisionError: divided by zero on purpose") as ei:
        run_limited(raise_zero_division)
    assert isinstance(ei.value.__cause__, ZeroDivisionError)
    assert "raise_zero_division" in ei.value.remote_traceback


def test_unpicklable_function_is_a_clear_error_and_keeps_the_worker():
    killed = guard.stats().workers_killed
    with pytest.raises(GuardError, match="Fix: pass a module-level function"):
        run_limited(lambda: 1)
    assert guard.stats().workers_killed == killed
    assert run_limited(add, 3, 4) == 7


def test_worker_dying_is_an_error_and_is_replaced():
    with pytest.raises(GuardError, match="died"):
        run_limited(die_hard)
    assert run_limited(add, 5, 5) == 10


def test_refusal_inside_worker_stays_a_refusal():
    with pytest.raises(GuardRefused, match="max_exponent_depth"):
        run_limited(refuse_inside)


def test_works_inside_a_daemonic_multiprocessing_worker():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # Pool workers are daemonic: multiprocessing forbids them children
        outcome, elapsed, value = pool.apply(guarded_from_daemonic_worker, (0.3,))
    assert outcome == "timeout"
    assert 0.3 <= elapsed < 0.3 + SLACK_S
    assert value == 5


def test_many_threads_share_the_pool_and_get_their_own_results():
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = run_limited(add, i, 0.5, timeout=60)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: i + 0.5 for i in range(8)}


@pytest.mark.skipif(os.name != "posix", reason="POSIX process groups")
def test_worker_stuck_in_c_code_dies_when_its_parent_is_killed(tmp_path):
    """A SIGKILLed trainer must not leave a guard worker burning CPU forever."""
    script = tmp_path / "victim.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys, threading, time
            sys.path.insert(0, {os.path.dirname(__file__)!r})
            from stepreward import guard
            import test_guard
            print(guard.run_limited(os.getpid, timeout=60), flush=True)
            threading.Thread(target=guard.run_limited, args=(test_guard.big_power,),
                             kwargs={{"timeout": 0.2}}, daemon=True).start()
            time.sleep(0.1)
            os.kill(os.getpid(), 9)
            """
        )
    )
    env = {**os.environ, "STEPREWARD_GUARD_WORKERS": "1", "STEPREWARD_GUARD_PREWARM": "0"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == -9, proc.stderr
    worker_pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 5.0  # CPU cap for a 0.2 s task: 2*0.2+1 = 1.4 s of CPU
    while time.monotonic() < deadline and _alive(worker_pid):
        time.sleep(0.1)
    assert not _alive(worker_pid)


def test_a_script_without_main_guard_is_not_re_executed_by_workers(tmp_path):
    """Workers are fresh interpreters that never import the user's ``__main__`` script."""
    script = tmp_path / "no_main_guard.py"
    script.write_text(
        "from stepreward import guard, score_batch\n"
        "print('top-level code ran', flush=True)\n"
        "print(guard.run_limited(abs, -3, timeout=60))\n"
        "print(score_batch([{'completion': 'x', 'solution': '4'}] * 2, workers=2).stats.n)\n"
    )
    env = {**os.environ, "STEPREWARD_GUARD_PREWARM": "0"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["top-level code ran", "3", "2"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (new) parent to reap it counts as dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return True


# --- pre-guards ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason",
    [
        ("5^{5^{5^5}}", "max_exponent_depth"),
        ("5^5^5^5", "max_exponent_depth"),
        ("2**3**4**5", "max_exponent_depth"),
        ("9^{9^9}", "max_exponent"),
        ("2^{-99999999}", "max_exponent"),
        ("x^{1000000}", "max_exponent"),
        ("1" * 10_000, "max_digits"),
        ("{" * 500 + "x" + "}" * 500, "max_nesting"),
        ("(" * 41 + ")" * 41, "max_nesting"),
        ("1000000!", "max_factorial"),
        ("a" * 20_001, "max_chars"),
    ],
)
def test_check_input_refuses_what_cannot_finish(text, reason):
    before = guard.stats().refusals
    with pytest.raises(GuardRefused, match=reason):
        check_input(text)
    assert guard.stats().refusals == before + 1


@pytest.mark.parametrize(
    "text",
    [
        "x^2 + y^2 = 1", "e^{x^2}", "5^{5^5}", "2^{10} = 1024", "10^{100}", "\\frac{6}{3} = 2", "5! = 120",
        "x != 1000000", "2^\\frac{1}{2}", "(" * 40 + ")" * 40, "[1, 2)", "\\boxed{7", "",
        "### Step 1:\n" + "We compute (a+b)^{2} = 49 and x^2 + 3x = 10. " * 80,
    ],
)
def test_check_input_accepts_ordinary_math(text):
    check_input(text)


def test_check_input_limits_are_configurable():
    check_input("5^{5^{5^5}}", max_exponent_depth=3, max_exponent=1e9999)
    with pytest.raises(GuardRefused):
        check_input("x^{2^{3}}", max_exponent_depth=1)
    with pytest.raises(GuardRefused):
        check_input("123456", max_digits=5)
    with pytest.raises(GuardRefused):
        check_input("((x))", max_nesting=1)
    with pytest.raises(GuardRefused):
        check_input("abcdef", max_chars=5)


def test_check_input_is_cheap_on_a_long_completion():
    text = "### Step 1:\nWe compute (a+b)^{2} = 49, so x^2 + 3x = 10 and \\frac{6}{3}=2. " * 60
    t0 = time.perf_counter()
    for _ in range(50):
        check_input(text)
    assert (time.perf_counter() - t0) / 50 < 0.01  # ~0.2 ms typical; generous for loaded CI


# --- a deliberately hanging plugin ---------------------------------------------------------------


class HangingComparePlugin:
    """Spins forever when the predicted answer is ``HANG``; otherwise lets the built-ins decide."""

    @hookimpl(tryfirst=True)
    def stepreward_compare_answers(self, pred, gold, config):
        if pred.text.strip() == "HANG":
            spin_forever()
        return None


def test_hanging_plugin_is_cut_off_at_its_deadline_and_the_run_continues(clean_plugins, good_completion):
    from _samples import KEY_STEPS, SOLUTION

    import stepreward
    from stepreward.scoring import fallback_result

    clean_plugins.register_plugin(HangingComparePlugin(), name="hanging-test-plugin")
    answers = ["B: 4", "A: 3", "HANG", "C: 4"] + ["B: 4", "A: 3"] * 18  # same lengths: chunks of 5, in order
    records = [
        {"completion": good_completion.replace("B: 4", a), "solution": SOLUTION, "key_steps": KEY_STEPS}
        for a in answers
    ]
    t0 = time.monotonic()
    out = stepreward.score_batch(records, workers=1, timeout_s=1.0)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0 + 5.0  # deadline + start-up of a replacement worker on a loaded machine
    cut = out.results[2]
    assert [f.reason for f in cut.failures] == ["timeout"]
    assert cut.total == fallback_result(stepreward.get_preset("paper"), cut.failures[0]).total == 0.0
    assert out.stats.timeouts == 1 and out.stats.failures == {"timeout": 1}
    assert 1.0 <= out.latencies_s[2] < 1.0 + SLACK_S
    # every other record -- before it in its chunk, after it, in later chunks -- was scored exactly
    # as serial scoring does (with the plugin active)
    for i, rec in enumerate(records):
        if i != 2:
            assert out.results[i] == stepreward.score(rec["completion"], solution=SOLUTION, key_steps=KEY_STEPS)
    assert [round(r.total, 2) for r in out.results[:4]] == [2.1, 1.1, 0.0, 1.1]
