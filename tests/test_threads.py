"""Scoring from many threads at once gives exactly the serial results (guarded calls included)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _samples import GOOD, KEY_STEPS, SOLUTION

import stepreward
from stepreward import guard
from stepreward.guard import GuardTimeout, run_limited

THREADS = 8

# answers our own parser cannot read go to math-verify in a guard worker (\log, \sin)
ANSWERS = ["B: 4", "A: 3", "4", "\\boxed{4}", "\\log_2 16", "\\sin(\\pi/2) + 3", "5^{5^{5^5}}", "", "{" * 200]


def _records() -> list[tuple[str, dict]]:
    recs = []
    for preset in ("paper", "r1vl-official"):
        for i, ans in enumerate(ANSWERS):
            text = GOOD.replace("B: 4", ans)
            if i % 3 == 1:
                text = text.replace("6/3 = 2", "6/3 = 3")
            recs.append((preset, {"completion": text, "solution": SOLUTION if i % 2 else "4",
                                  "key_steps": KEY_STEPS}))
    return recs


def _score(item: tuple[str, dict]) -> stepreward.ScoreResult:
    preset, rec = item
    return stepreward.score(rec["completion"], solution=rec["solution"], key_steps=rec["key_steps"], preset=preset)


def test_eight_threads_score_exactly_like_serial():
    items = _records()
    calls_before = guard.stats().calls
    serial = [_score(it) for it in items]
    assert guard.stats().calls > calls_before  # the corpus does exercise guarded calls
    with ThreadPoolExecutor(THREADS) as pool:
        concurrent = list(pool.map(_score, items * 3))
    assert concurrent == serial * 3
    assert serial[4].correct is True  # \log_2 16 = 4, decided in a guard worker


def test_eight_threads_of_guarded_calls_with_timeouts_mixed_in():
    from test_guard import add, sleep_forever

    guard.warmup(2)

    def task(i: int) -> object:
        if i % 4 == 3:
            t0 = time.monotonic()
            with pytest.raises(GuardTimeout):
                run_limited(sleep_forever, timeout=0.3)
            return ("timeout", time.monotonic() - t0 >= 0.3)
        return run_limited(add, i, 1000, timeout=60)

    with ThreadPoolExecutor(THREADS) as pool:
        out = list(pool.map(task, range(16)))
    assert out == [("timeout", True) if i % 4 == 3 else i + 1000 for i in range(16)]
