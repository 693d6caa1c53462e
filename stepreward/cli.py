"""Command line: ``stepreward score``, ``stepreward explain``, ``stepreward plugins``.

``stepreward score IN.jsonl -o OUT.jsonl --preset paper`` scores records with fields
``completion``, ``solution`` and optional ``key_steps`` (and ``id``/``label``), shows a progress
bar, writes one result per line and prints a summary table. ``stepreward explain IN.jsonl --index
3`` prints one completion with its sections, answer and matched key steps highlighted, and the
reasons behind its reward.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .adapters import BatchScorer
from .config import RewardConfig, resolve_config
from .scoring import ScoreResult, score

ANSI = {"section": "\x1b[1;36m", "step": "\x1b[30;42m", "answer": "\x1b[30;43m", "reset": "\x1b[0m"}


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                yield lineno, None, f"line {lineno}: not valid JSON ({e.msg})"
                continue
            if not isinstance(rec, dict):
                yield lineno, None, f"line {lineno}: a record must be a JSON object"
            elif "completion" not in rec:
                yield lineno, None, f"line {lineno}: missing field 'completion'. Fix: add the model output text."
            elif "solution" not in rec:
                yield lineno, None, f"line {lineno}: missing field 'solution'. Fix: add the gold answer."
            else:
                yield lineno, rec, None


def _load_config(args: argparse.Namespace) -> RewardConfig:
    if args.config:
        import yaml

        data = yaml.safe_load(Path(args.config).read_text()) or {}
        return resolve_config(data.get("preset", args.preset), data)
    return resolve_config(args.preset, None)


def _row(rec: dict[str, Any], r: ScoreResult, details: bool) -> dict[str, Any]:
    out = {k: rec[k] for k in ("id", "label") if k in rec}
    out.update(
        reward=r.total,
        components=r.components,
        correct=r.correct,
        answer=r.answer.text if r.answer else None,
        keystep_score=r.key_steps.score if r.key_steps else None,
        valid=r.structure.valid if r.structure else None,
        failures=[f.to_dict() for f in r.failures],
    )
    if details:
        out["details"] = r.to_dict()
    return out


def _summary(rows: list[dict[str, Any]], n_bad: int, seconds: float, cfg: RewardConfig) -> str:
    def mean(xs: list[float]) -> str:
        return f"{sum(xs) / len(xs):.3f}" if xs else "-"

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups["ALL"].append(r)
        if "label" in r:
            groups[str(r["label"])].append(r)
    comp = list(cfg.weights)
    head = ["group", "n", "reward", *comp, "acc", "keystep", "valid", "fail"]
    table = [head]
    for g, rs in sorted(groups.items(), key=lambda kv: (kv[0] != "ALL", kv[0])):
        table.append(
            [
                g,
                str(len(rs)),
                mean([r["reward"] for r in rs]),
                *[mean([r["components"].get(c, 0.0) for r in rs]) for c in comp],
                mean([1.0 if r["correct"] else 0.0 for r in rs]),
                mean([r["keystep_score"] for r in rs if r["keystep_score"] is not None]),
                mean([1.0 if r["valid"] else 0.0 for r in rs if r["valid"] is not None]),
                str(sum(len(r["failures"]) for r in rs)),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    rate = len(rows) / seconds if seconds > 0 else float("inf")
    lines.append(f"\n{len(rows)} scored, {n_bad} malformed record(s), {seconds:.2f} s ({rate:.0f} completions/s), preset {cfg.preset!r}")
    return "\n".join(lines)


def cmd_score(args: argparse.Namespace) -> int:
    cfg = _load_config(args)
    items = list(_read_jsonl(Path(args.input)))
    good = [(ln, rec) for ln, rec, err in items if rec is not None]
    bad = [err for _, rec, err in items if rec is None]
    t0 = time.perf_counter()
    scorer = BatchScorer(config=cfg, workers=args.workers, timeout_s=args.timeout_s)
    recs = [rec for _, rec in good]
    results: list[ScoreResult | str | None] = []
    chunk = 256  # progress granularity; each chunk is one batch
    from tqdm import tqdm

    with tqdm(total=len(recs), desc="scoring", unit="completion", disable=args.quiet, file=sys.stderr) as bar:
        for start in range(0, len(recs), chunk):
            part = recs[start : start + chunk]
            out = scorer.score([r["completion"] for r in part], [r["solution"] for r in part],
                               [r.get("key_steps") for r in part])
            for j, r in enumerate(out):
                err = scorer.last_errors.get(j)
                results.append(f"line {good[start + j][0]}: {err}" if err else r)
            bar.update(len(part))
    seconds = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    for (ln, rec), r in zip(good, results, strict=True):
        if isinstance(r, str) or r is None:
            bad.append(r or f"line {ln}: malformed record")
            continue
        rows.append(_row(rec, r, args.details))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    for err in bad:
        print(f"error: {err}", file=sys.stderr)
    print(_summary(rows, len(bad), seconds, cfg))
    return 1 if bad else 0


def highlight(text: str, r: ScoreResult, color: bool = True) -> str:
    """``text`` with section headers, the answer and matched key steps marked."""
    marks: list[tuple[int, int, str, str]] = []
    if r.structure:
        marks += [(h.header_span[0], h.header_span[1], "section", "") for h in r.structure.sections]
    if r.answer and r.answer.span:
        marks.append((r.answer.span[0], r.answer.span[1], "answer", "answer"))
    if r.key_steps:
        marks += [(m.span[0], m.span[1], "step", f"k{m.index + 1}") for m in r.key_steps.steps if m.matched and m.span]
    out, pos = [], 0
    for s, e, kind, tag in sorted(marks):
        if s < pos:  # overlapping marks: keep the first
            continue
        out.append(text[pos:s])
        if color:
            out.append(f"{ANSI[kind]}{text[s:e]}{ANSI['reset']}")
        else:
            out.append(f"[{tag + ':' if tag else ''}{text[s:e]}]")
        pos = e
    out.append(text[pos:])
    return "".join(out)


def cmd_explain(args: argparse.Namespace) -> int:
    cfg = _load_config(args)
    items = [(ln, rec) for ln, rec, _ in _read_jsonl(Path(args.input)) if rec is not None]
    if args.id is not None:
        chosen = [rec for _, rec in items if str(rec.get("id")) == args.id]
    else:
        chosen = [items[args.index][1]] if 0 <= args.index < len(items) else []
    if not chosen:
        print(f"error: no record with {'id ' + args.id if args.id else f'index {args.index}'}", file=sys.stderr)
        return 2
    rec = chosen[0]
    r = score(rec["completion"], solution=rec["solution"], key_steps=rec.get("key_steps"), config=cfg)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(highlight(rec["completion"], r, color))
    print("\n" + "=" * 60)
    print(r.explain())
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from .manager import list_plugins, plugin_errors, registered_components, registered_presets

    print("plugins:    " + ", ".join(list_plugins()))
    print("components: " + ", ".join(sorted(registered_components())))
    print("presets:    " + ", ".join(sorted(registered_presets())))
    for e in plugin_errors():
        print(f"error: {e}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stepreward", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--preset", default="paper", help="reward preset (default: paper)")
    common.add_argument("--config", help="YAML reward config (fields of RewardConfig)")
    s = sub.add_parser("score", parents=[common], help="score a JSONL file of completions")
    s.add_argument("input")
    s.add_argument("-o", "--output", help="write one JSON result per line here")
    s.add_argument("--workers", type=int, default=0, help="worker processes (0 or 1: score in this process)")
    s.add_argument("--timeout-s", type=float, default=None,
                   help="hard per-completion deadline; scores in worker processes that are killed when late")
    s.add_argument("--details", action="store_true", help="include the full explanation per record")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_score)
    e = sub.add_parser("explain", parents=[common], help="explain one completion's reward")
    e.add_argument("input")
    e.add_argument("--index", type=int, default=0, help="0-based record index (default 0)")
    e.add_argument("--id", help="pick the record by its 'id' field")
    e.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    e.set_defaults(func=cmd_explain)
    pl = sub.add_parser("plugins", help="list plugins, components, presets and load errors")
    pl.set_defaults(func=cmd_plugins)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
