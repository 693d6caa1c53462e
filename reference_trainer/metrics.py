"""Metrics to ``metrics.jsonl`` + TensorBoard, and a completions table (``completions.jsonl`` + TB text)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

log = logging.getLogger("reference_trainer")


class MetricsLogger:
    """Main-rank sink; other ranks get a logger whose methods do nothing."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.tb = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._completions = open(self.run_dir / "completions.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:
                log.warning("tensorboard is not installed; metrics go to metrics.jsonl only")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        clean = {k: (float(v) if v is not None and math.isfinite(float(v)) else None) for k, v in metrics.items()}
        self._metrics.write(json.dumps({"step": step, **clean}) + "\n")
        self._metrics.flush()
        if self.tb:
            for k, v in clean.items():
                if v is not None:
                    self.tb.add_scalar(k, v, step)

    def completions(self, step: int, rows: list[dict[str, Any]]) -> None:
        if not self.enabled or not rows:
            return
        for row in rows:
            self._completions.write(json.dumps({"step": step, **row}, default=str) + "\n")
        self._completions.flush()
        if self.tb:
            self.tb.add_text("completions", markdown_table(rows), step)

    def close(self) -> None:
        if self.enabled:
            self._metrics.close()
            self._completions.close()
            if self.tb:
                self.tb.close()


def markdown_table(rows: list[dict[str, Any]], width: int = 200) -> str:
    cols = list(rows[0])

    def cell(v: Any) -> str:
        s = f"{v:.3f}" if isinstance(v, float) else str(v)
        s = s.replace("|", "\\|").replace("\n", " ⏎ ")
        return s if len(s) <= width else s[: width - 1] + "…"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found. Fix: pass the run's output_dir.")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # a resumed run re-logs steps after its checkpoint: keep the last value per step
    by_step = {r["step"]: r for r in rows}
    return [by_step[s] for s in sorted(by_step)]
