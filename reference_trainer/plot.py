"""``python -m reference_trainer plot RUN_DIR``: PNG curves of the main metrics (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from .metrics import read_metrics

PANELS = {
    "reward": ["reward", "reward_std"],
    "reward_components": ["rewards/*/mean"],
    "step_details": ["rewards/keystep_match_rate", "rewards/validity_rate", "rewards/accuracy"],
    "loss": ["loss"],
    "kl": ["kl"],
    "entropy": ["entropy"],
    "clip_ratio": ["clip_ratio"],
    "completion_length": ["completions/mean_length", "completions/min_length", "completions/max_length"],
    "zero_std_and_truncation": ["frac_reward_zero_std", "completions/clipped_ratio"],
    "throughput": ["tokens_per_second"],
}


def _match(key: str, pattern: str) -> bool:
    if "*" not in pattern:
        return key == pattern
    head, tail = pattern.split("*", 1)
    return key.startswith(head) and key.endswith(tail)


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write one PNG per panel that has data; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(run_dir)
    out = Path(out_dir) if out_dir else Path(run_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r if k != "step"})
    written = []
    for name, patterns in PANELS.items():
        series = [k for k in keys if any(_match(k, p) for p in patterns)]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for k in series:
            pts = [(r["step"], r[k]) for r in rows if r.get(k) is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), label=k, linewidth=1.2)
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
