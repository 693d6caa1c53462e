"""Instruction counts per completion, ours vs the official R1-VL approach (deterministic).

    python benchmarks/bench_instructions.py --n 150 --adversarial 0.05

Wall-clock ratios on a shared machine move by ±10 % from run to run. Instruction counts do not:
``valgrind --tool=callgrind`` counts the instructions that run, whatever the rest of the machine
is doing. Each approach runs twice under valgrind in a fresh interpreter: once with imports and
warm-up only, once scoring the corpus as well. The difference divided by the corpus size is the
cost per completion. Expect a few minutes, because valgrind is ~50x slower than native.

Under valgrind, math-verify's own 5 s alarms can fire on its slowest completions and cut that work
short. The official approach's count is then, if anything, too low.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _child(approach: str, n: int, adversarial: float, score: bool) -> None:
    """Runs under valgrind: warm up, then (if ``score``) score the corpus."""
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(HERE))
    from corpus import make_corpus

    if approach == "ours":
        from stepreward import score_batch

        def run(recs: list[dict]) -> None:
            score_batch(recs)
    else:
        from bench_rewards import official_reward

        def run(recs: list[dict]) -> None:
            for rec in recs:
                official_reward(rec)

    run(make_corpus(64, 10_000, adversarial))  # imports and caches, in both modes
    corpus = make_corpus(n, 3, adversarial)
    if score:
        run(corpus)


def _instructions(approach: str, n: int, adversarial: float, score: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
               "--child", approach, "--n", str(n), "--adversarial", str(adversarial)] + (["--score"] if score else [])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as fh:
            m = re.search(r"^(?:summary|totals): (\d+)", fh.read(), re.M)
    if m is None:
        raise RuntimeError("no instruction total in the callgrind output")
    return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=150, help="completions to score (default 150)")
    ap.add_argument("--adversarial", type=float, default=0.05, help="fraction of hostile completions")
    ap.add_argument("--child", choices=["ours", "official"], help=argparse.SUPPRESS)
    ap.add_argument("--score", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.n, args.adversarial, args.score)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 1
    per = {}
    for approach in ("ours", "official"):
        base = _instructions(approach, args.n, args.adversarial, False)
        per[approach] = (_instructions(approach, args.n, args.adversarial, True) - base) / args.n
    print(f"corpus: {args.n} completions (seed 3, {args.adversarial:.0%} adversarial, 4 rollouts per prompt)\n")
    print("| approach | instructions per completion |\n|---|---:|")
    print(f"| stepreward (in-process) | {per['ours'] / 1e6:.2f} M |")
    print(f"| official R1-VL | {per['official'] / 1e6:.2f} M |")
    print(f"\nofficial / ours: {per['official'] / per['ours']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
