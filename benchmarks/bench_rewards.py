"""Side-by-side reward benchmark: stepreward vs the official R1-VL approach vs plain math-verify.

    python benchmarks/bench_rewards.py --n 1000 --rounds 3 --workers 2

Deterministic corpora (``benchmarks/corpus.py``: Mulberry-format completions of ~300-1,000
tokens with ~6 key steps, plus an adversarial slice), every approach timed in the same run, one
table printed at the end. The peers are written here from SPEC §1.4 and call math-verify directly,
as the official code does (math-verify's own SIGALRM timeouts, main thread only):

- official R1-VL: ``verify(parse(completion), parse(solution))`` on the whole completion, else a
  case-sensitive exact match of the line after ``### The final answer is:``; key steps by lowercase
  substring inside ``### Step N:`` sections; the four-header format check; summed unweighted.
- plain math-verify: ``verify(parse(solution), parse(completion))`` only.

Every approach scores the same ``--rounds`` fresh corpora (``--group`` rollouts per prompt, as GRPO
scores them) after an untimed warm-up on another corpus, so no timed completion was seen before by
the process that scores it; all approaches take turns round by round. Ours is timed three ways: in
this process, in 1 worker process and in ``--workers`` worker processes (``score_batch``); the scaling target
compares the last two, which pay the same inter-process costs. Latencies are per completion (ours:
scoring time where it ran). CPU time counts every process involved, so it stays meaningful on a
busy machine; the load average is printed. Targets (issue #3): median ≤ 1 ms per ordinary
completion on one core, p99 ≤ 50 ms, nothing above the hard limit (2 s), ≥ 5x the official
approach's throughput, 2 workers ≥ 1.7x one worker.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import approx_tokens, make_corpus  # noqa: E402

HARD_LIMIT_S = 2.0
ANSWER_HEADER = "### The final answer is:"
_STEP = re.compile(r"### Step (\d+):(.*?)(?=\n###|\Z)", re.S)
_HEADERS = ("### Image Description:", "### Rationales:", "### Let's think step by step.", ANSWER_HEADER)


# --- the peers (SPEC §1.4), written by us ---------------------------------------------------------


def _first_line_after_header(text: str) -> str:
    body = text.split(ANSWER_HEADER)[-1].strip()
    return body.split("\n")[0].strip() if body else ""


def _official_accuracy(completion: str, solution: str) -> float:
    from math_verify import parse, verify

    try:
        gold = parse(solution)
        if len(gold) != 0 and verify(gold, parse(completion)):
            return 1.0
    except Exception:
        pass
    return 1.0 if _first_line_after_header(completion) == _first_line_after_header(solution) else 0.0


def _official_keysteps(completion: str, key_steps: Any) -> float:
    steps = key_steps.get("Steps", []) if isinstance(key_steps, dict) else key_steps
    if not steps:
        return 0.0
    text = "\n".join(m.group(2) for m in _STEP.finditer(completion)).lower()
    hits = sum(any(str(f).lower() in text for f in (s if isinstance(s, list) else [s])) for s in steps)
    return hits / len(steps)


def _official_format(completion: str) -> float:
    if not all(h in completion for h in _HEADERS):
        return 0.0
    numbers = [int(m.group(1)) for m in _STEP.finditer(completion)]
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        return 0.0
    last_step = completion.rfind(f"### Step {numbers[-1]}:")
    return 1.0 if completion.find(ANSWER_HEADER) > last_step else 0.0


def official_reward(rec: dict[str, Any], alpha: float = 0.1) -> float:
    """The official R1-VL reward: accuracy + alpha * key-step fraction + format."""
    c, s = rec["completion"], rec["solution"]
    return _official_accuracy(c, s) + alpha * _official_keysteps(c, rec.get("key_steps")) + _official_format(c)


def math_verify_reward(rec: dict[str, Any]) -> float:
    """Plain math-verify: parse both, verify."""
    from math_verify import parse, verify

    try:
        return float(verify(parse(rec["solution"]), parse(rec["completion"])))
    except Exception:
        return 0.0


# --- measurement ---------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    workers: int
    seconds: float
    latencies_s: list[float]
    kinds: list[str]
    cpu_s: float = math.nan  # CPU time of every process involved (Linux), robust to a busy machine
    processes: bool = False  # ours, scored in worker processes

    @property
    def per_s(self) -> float:
        return len(self.latencies_s) / self.seconds

    def q_ms(self, q: float, kind: str | None = None) -> float:
        xs = sorted(x for x, k in zip(self.latencies_s, self.kinds, strict=True) if kind is None or k == kind)
        if not xs:
            return math.nan
        return 1e3 * xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def _cpu_of(pids: set[int]) -> float:
    """User+system CPU seconds of ``pids`` and their direct children (Linux ``/proc``), else NaN."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) in pids or int(fields[1]) in pids:
                total += (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return math.nan
    return total


@dataclass
class Approach:
    """One contender: ``run(corpus)`` scores a corpus and returns per-completion latencies."""

    row: Row
    run: Callable[[Sequence[dict[str, Any]]], list[float]]
    pids: Callable[[], set[int]] = set  # worker processes whose CPU time counts too


def serial(name: str, fn: Callable[[dict[str, Any]], Any], warm: Sequence[dict[str, Any]]) -> Approach:
    """A peer scoring one completion at a time in this process (as the official trainer does)."""
    for rec in warm[:20]:  # imports, as for ours
        fn(rec)

    def run(corpus: Sequence[dict[str, Any]]) -> list[float]:
        lat = []
        for rec in corpus:
            t = time.perf_counter()
            fn(rec)
            lat.append(time.perf_counter() - t)
        return lat

    return Approach(Row(name, 1, 0.0, [], [], 0.0), run)


def ours(workers: int, processes: bool, warm: Sequence[dict[str, Any]], pools: list[Any]) -> Approach:
    """``score_batch`` in this process (``processes=False``) or in ``workers`` worker processes with
    the default per-record deadline (so that 1 and N workers are the same kind). Each setup keeps
    its own pool and first scores ``warm`` untimed (imports, start-up, worker caches)."""
    from stepreward import batch, score_batch
    from stepreward._batchpool import Pool
    from stepreward.config import resolve_config

    pool = Pool() if processes else None
    if pool is not None:
        pools.append(pool)
    kw: dict[str, Any] = {"workers": workers, "timeout_s": None}
    if processes:
        kw["timeout_s"] = batch.default_record_timeout(resolve_config("paper", None))

    def run(corpus: Sequence[dict[str, Any]]) -> list[float]:
        batch._pool = pool  # private: one pool per setup (score_batch itself keeps a single pool)
        return score_batch(corpus, **kw).latencies_s

    t0 = time.perf_counter()
    run(warm[:64])
    cold = time.perf_counter() - t0
    run(warm[64:])
    how = f"{workers} worker process{'es' if workers > 1 else ''}" if processes else "in-process"
    row = Row(f"stepreward, {how} (first 64 incl. start-up: {cold:.1f} s)", workers, 0.0, [], [], 0.0, processes)
    return Approach(row, run, (lambda: {w.proc.pid for w in pool.workers}) if pool is not None else set)


def measure(approaches: Sequence[Approach], corpora: Sequence[Sequence[dict[str, Any]]]) -> list[Row]:
    """Every approach scores every corpus once, taking turns round by round (the order rotates),
    so that a change in machine load hits them alike. No process has seen a timed completion
    before (caches keyed by completion text do not help), while the rollouts of one prompt share
    its gold answer and key steps, as in training."""
    n = len(approaches)
    for r, corpus in enumerate(corpora):
        for ap in [approaches[(r + k) % n] for k in range(n)]:
            pids = ap.pids()
            c0, w0, t0 = time.process_time(), _cpu_of(pids) if pids else 0.0, time.perf_counter()
            lat = ap.run(corpus)
            ap.row.seconds += time.perf_counter() - t0
            ap.row.cpu_s += time.process_time() - c0 + (_cpu_of(pids) - w0 if pids else 0.0)
            ap.row.latencies_s += lat
            ap.row.kinds += [rec["kind"] for rec in corpus]
    return [ap.row for ap in approaches]


def render(rows: list[Row], corpus: Sequence[dict[str, Any]], args: argparse.Namespace,
           load: tuple[float, ...]) -> str:
    n_adv = sum(r["kind"] == "adversarial" for r in corpus)
    toks = sorted(approx_tokens(r["completion"]) for r in corpus if r["kind"] == "ordinary")
    out = [
        f"corpus: {len(corpus)} completions ({args.rounds} rounds from seed {args.seed}, {args.group} rollouts per "
        f"prompt; {n_adv} adversarial), ordinary length median "
        f"~{toks[len(toks) // 2]} tokens; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
        f"load average {load[0]:.2f} at start (wall-clock ratios need otherwise idle cores)",
        "",
        "| approach | completions/s | CPU ms per completion | p50 ms (ordinary) | p99 ms (ordinary) "
        "| p99 ms (all) | max ms (all) | max ms (adversarial) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r.name} | {r.per_s:,.0f} | {1e3 * r.cpu_s / len(r.latencies_s):.2f} | "
            f"{r.q_ms(0.5, 'ordinary'):.2f} | {r.q_ms(0.99, 'ordinary'):.2f} | "
            f"{r.q_ms(0.99):.2f} | {r.q_ms(1.0):.1f} | {r.q_ms(1.0, 'adversarial'):.1f} |"
        )
    ours = [r for r in rows if r.name.startswith("stepreward")]
    ours1 = next((r for r in ours if not r.processes), None)  # in-process, one core
    proc1 = next((r for r in ours if r.processes and r.workers == 1), None)
    ours2 = next((r for r in ours if r.processes and r.workers > 1), None)
    by = {r.name: r for r in rows}
    official, mv = by.get("official R1-VL"), by.get("math-verify only")
    out.append("")
    checks: list[tuple[str, str, str, bool]] = []
    if ours1:
        p50 = ours1.q_ms(0.5, "ordinary")
        checks.append(("median per ordinary completion, 1 core", f"{p50:.2f} ms", "<= 1 ms", p50 <= 1.0))
        p99 = ours1.q_ms(0.99)
        checks.append(("p99 per completion (all)", f"{p99:.2f} ms", "<= 50 ms", p99 <= 50.0))
        worst = max(r.q_ms(1.0) for r in ours)
        checks.append(("max per completion, ours (incl. adversarial)", f"{worst:.0f} ms",
                       f"<= {HARD_LIMIT_S * 1e3:.0f} ms", worst <= HARD_LIMIT_S * 1e3))
    if ours1 and official:
        ratio = ours1.per_s / official.per_s
        checks.append(("throughput ours (in-process) / official R1-VL", f"{ratio:.2f}x", ">= 5x", ratio >= 5.0))
    if ours1 and mv:
        checks.append(("throughput ours (in-process) / math-verify only", f"{ours1.per_s / mv.per_s:.2f}x", "(info)", True))
    if proc1 and ours2:
        n = ours2.workers
        ratio = ours2.per_s / proc1.per_s
        checks.append((f"throughput {n} worker processes / 1 worker process", f"{ratio:.2f}x", ">= 1.7x", ratio >= 1.7))
        if not math.isnan(ours2.cpu_s):
            eff = proc1.cpu_s / ours2.cpu_s * n
            checks.append((f"the same if each process had a free core: CPU(1 worker) / CPU({n} workers) x {n}",
                           f"{eff:.2f}x", "(info)", True))
    if ours1 and ours2:
        ratio = ours2.per_s / ours1.per_s
        checks.append((f"throughput {ours2.workers} worker processes / in-process", f"{ratio:.2f}x", "(info)", True))
    out += ["| target | measured | goal | met |", "|---|---:|---|---|"]
    out += [f"| {what} | {value} | {goal} | {'yes' if ok else 'NO'} |" for what, value, goal, ok in checks]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000, help="completions per round (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="worker processes for the parallel run (default 2)")
    ap.add_argument("--adversarial", type=float, default=0.05, help="fraction of hostile completions")
    ap.add_argument("--rounds", type=int, default=3, help="fresh corpora, each scored once by every approach (default 3)")
    ap.add_argument("--group", type=int, default=4, help="rollouts per prompt, GRPO's M (default 4, the paper's)")
    ap.add_argument("--skip-peers", action="store_true", help="time only stepreward")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    corpora = [make_corpus(args.n, args.seed + r, args.adversarial, args.group) for r in range(max(1, args.rounds))]
    warm = make_corpus(min(args.n, 256), args.seed + 10_000, args.adversarial, args.group)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    pools: list[Any] = []
    try:
        approaches = [ours(1, False, warm, pools), ours(1, True, warm, pools)]
        if args.workers > 1:
            approaches.append(ours(args.workers, True, warm, pools))
        if not args.skip_peers:
            approaches += [serial("official R1-VL", official_reward, warm),
                           serial("math-verify only", math_verify_reward, warm)]
        rows = measure(approaches, corpora)
    finally:
        from stepreward import batch

        batch._pool = None
        for pool in pools:
            pool.close()
    print(render(rows, [rec for c in corpora for rec in c], args, load))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
