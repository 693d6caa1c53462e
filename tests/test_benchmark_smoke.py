"""The reward benchmark runs end to end on a tiny corpus and prints its table (no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_rewards_prints_one_table(capsys):
    sys.path.insert(0, str(BENCH))
    import bench_rewards
    from corpus import make_corpus

    assert bench_rewards.main(["--n", "24", "--rounds", "2", "--workers", "2", "--adversarial", "0.25"]) == 0
    out = capsys.readouterr().out
    for row in ("stepreward, in-process", "stepreward, 1 worker process", "stepreward, 2 worker processes",
                "official R1-VL", "math-verify only", "throughput ours (in-process) / official R1-VL",
                "throughput 2 worker processes / 1 worker process"):
        assert row in out
    assert "48 completions (2 rounds from seed 0, 4 rollouts per prompt" in out
    # rollouts of a prompt share gold and key steps; different prompts do not
    recs = make_corpus(8, seed=3, adversarial_frac=0.0, group=4)
    assert len({r["solution"] for r in recs[:4]}) == 1 and recs[0]["key_steps"] == recs[3]["key_steps"]
    assert recs[0]["key_steps"] != recs[4]["key_steps"]
    assert make_corpus(8, seed=3) == make_corpus(8, seed=3)


def test_bench_instructions_child_modes_run_without_valgrind():
    sys.path.insert(0, str(BENCH))
    import bench_instructions

    for approach in ("ours", "official"):
        bench_instructions._child(approach, 8, 0.25, score=True)  # what valgrind runs, natively
