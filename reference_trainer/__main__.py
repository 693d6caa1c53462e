"""Command line: ``python -m reference_trainer {pipeline,grpo,sft,eval,plot} ...``.

    python -m reference_trainer pipeline --preset tiny-cpu      # warm-up SFT -> StepGRPO -> eval
    python -m reference_trainer grpo --preset tiny-cpu
    python -m reference_trainer grpo --config reference_trainer/configs/r1vl_2b.yaml model.model_name_or_path=...
    python -m reference_trainer sft  --config sft.yaml
    python -m reference_trainer eval --config run.yaml model.model_name_or_path=runs/grpo/checkpoint-100
    python -m reference_trainer plot runs/grpo
"""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reference_trainer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("pipeline", "R1-VL end to end: warm-up SFT -> StepGRPO -> greedy eval after each stage"),
                        ("grpo", "GRPO / StepGRPO training"), ("sft", "warm-up SFT on sharegpt records"),
                        ("eval", "greedy evaluation scored with the configured rewards")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--config", help="YAML run file")
        s.add_argument("--preset", help="shipped run file, e.g. tiny-cpu, r1vl-2b, r1vl-7b")
        s.add_argument("overrides", nargs="*", help="key=value, e.g. train.max_steps=10")
    s = sub.add_parser("plot", help="PNG curves of a run's metrics")
    s.add_argument("run_dir")
    s.add_argument("--out", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "plot":
        from .plot import plot_run

        for path in plot_run(args.run_dir, args.out):
            print(path)
        return 0
    try:
        cfg = load_config(args.config, args.overrides, preset=args.preset)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.command == "pipeline":
        from .pipeline import run_pipeline

        try:
            run_pipeline(cfg)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    elif args.command == "grpo":
        from .grpo import GRPOTrainer

        GRPOTrainer(cfg).train()
    elif args.command == "sft":
        from .sft import train_sft

        train_sft(cfg)
    else:
        from .evaluate import evaluate

        evaluate(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
