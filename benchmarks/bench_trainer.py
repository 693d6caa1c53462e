"""Our GRPO trainer vs TRL's GRPOTrainer: same tiny Qwen2-VL, data and settings, side by side.

    python benchmarks/bench_trainer.py [--steps 12] [--warmup 2] [--repeats 2] [--rewards simple|paper]

Each trainer runs in its own fresh processes (so peak RSS is its own), interleaved ``--repeats``
times; the parent prints wall-clock and CPU (process) seconds per optimiser step (medians over all
steps after warm-up; CPU time is the steadier number on a shared machine) and peak RSS (ru_maxrss,
imports included), with ratios
ours/TRL (< 1 = ours is faster / smaller). Settings: 2 prompts × M=4 rollouts per step, micro-batch
4 (2 accumulation steps), temperature 1.2, 32 new tokens, beta 0.04 (a reference model), loss
`grpo`, lr 1e-6, vision tokens suppressed in both, and every completion exactly 32 tokens long
(min_new_tokens) so both trainers process the same number of tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data" / "mulberry_rl.jsonl"
PROMPTS, M, MICRO, NEW_TOKENS, TEMPERATURE, BETA, LR, SEED = 2, 4, 4, 32, 1.2, 0.04, 1e-6, 0


def simple_reward(prompts, completions, **kwargs):
    """Cheap deterministic reward, so the timing measures the trainers, not the scorer."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]  # TRL: conversational
    return [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in texts]


def _rewards(kind: str):
    if kind == "paper":
        from stepreward.trl import reward_funcs

        return reward_funcs(preset="paper")
    return [simple_reward]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _image_records(work: Path) -> Path:
    """The example RL records that have an image, with absolute image paths."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    rows = [{**r, "image_path": str(DATA.parent / r["image_path"])} for r in rows if r.get("image_path")]
    path = work / "rl.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_ours(model: Path, data: Path, work: Path, steps: int, rewards: str) -> dict:
    from reference_trainer.config import load_config
    from reference_trainer.grpo import GRPOTrainer

    cfg = load_config(overrides=[
        f"model.model_name_or_path={model}", f"data.train_file={data}", "data.max_pixels=12544",
        f"train.output_dir={work / 'ours'}", f"train.max_steps={steps}", f"train.prompts_per_device={PROMPTS}",
        f"train.micro_batch_size={MICRO}", f"rollout.num_generations={M}", f"rollout.max_completion_length={NEW_TOKENS}",
        f"rollout.temperature={TEMPERATURE}", f"grpo.beta={BETA}", "grpo.loss_type=grpo", f"train.learning_rate={LR}",
        "log.tensorboard=false", f"train.save_steps={steps + 1}", f"train.seed={SEED}"])
    funcs = _rewards(rewards)
    trainer = GRPOTrainer(cfg, reward_funcs=funcs)
    trainer.rollout.gen_config.min_new_tokens = NEW_TOKENS  # equal token counts in both trainers
    times, cpu, lengths = [], [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        metrics = trainer.train_step()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        lengths.append(metrics["completions/mean_length"])
    return {"times": times, "cpu": cpu, "mean_length": statistics.mean(lengths)}


def run_trl(model: Path, data: Path, work: Path, steps: int, rewards: str) -> dict:
    from datasets import Dataset
    from PIL import Image
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from reference_trainer.modeling import load_processor

    rows = [json.loads(line) for line in data.read_text().splitlines()]
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": r["problem"]}],
                                  "image": Image.open(r["image_path"]).convert("RGB"),
                                  "solution": r["solution"], "key_steps": json.dumps(r["key_steps"])} for r in rows])
    processor = load_processor(str(model))
    tok = processor.tokenizer
    suppress = [tok.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                                                       "<|video_pad|>")]
    args = GRPOConfig(
        output_dir=str(work / "trl"), per_device_train_batch_size=MICRO, gradient_accumulation_steps=PROMPTS * M // MICRO,
        num_generations=M, max_completion_length=NEW_TOKENS, temperature=TEMPERATURE, top_p=1.0, top_k=0,
        beta=BETA, loss_type="grpo", scale_rewards="group", learning_rate=LR, max_steps=steps, logging_steps=1,
        report_to=[], use_cpu=True, bf16=False, save_strategy="no", seed=SEED, max_grad_norm=1.0,
        generation_kwargs={"suppress_tokens": suppress, "min_new_tokens": NEW_TOKENS}, dataloader_num_workers=0)

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.cpu: list[float] = []

        def on_step_begin(self, *a, **k):
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self.t)
            self.cpu.append(time.process_time() - self.c)

    timer = Timer()
    funcs = _rewards(rewards)
    if rewards == "paper":  # TRL passes columns through; stepreward wants key_steps as a dict
        funcs = [_decode_key_steps(f) for f in funcs]
    trainer = GRPOTrainer(model=str(model), reward_funcs=funcs, args=args, train_dataset=dataset,
                          processing_class=processor, callbacks=[timer])
    trainer.train()
    lengths = [e["completions/mean_length"] for e in trainer.state.log_history if "completions/mean_length" in e]
    return {"times": timer.times, "cpu": timer.cpu, "mean_length": statistics.mean(lengths) if lengths else float("nan")}


def _decode_key_steps(f):
    def wrapped(prompts, completions, key_steps, **kw):
        return f(prompts, completions, key_steps=[json.loads(k) for k in key_steps], **kw)

    wrapped.__name__ = f.__name__
    return wrapped


def child(which: str, model: Path, data: Path, work: Path, steps: int, rewards: str) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.manual_seed(SEED)
    result = (run_ours if which == "ours" else run_trl)(model, data, work, steps, rewards)
    result["peak_rss_mb"] = _peak_rss_mb()
    print("BENCH_RESULT " + json.dumps(result), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing")
    p.add_argument("--rewards", choices=["simple", "paper"], default="simple")
    p.add_argument("--repeats", type=int, default=2, help="fresh processes per trainer, interleaved")
    p.add_argument("--child", choices=["ours", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    sys.path.insert(0, str(REPO))
    if a.child:
        child(a.child, a.model, a.data, a.work, a.steps, a.rewards)
        return 0
    from reference_trainer.tiny import save_tiny

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = save_tiny(work / "tiny")
        data = _image_records(work)
        results: dict[str, dict] = {}
        for which in ("ours", "trl") * a.repeats:  # interleaved, so load drift hits both alike
            cmd = [sys.executable, __file__, "--child", which, "--model", str(model), "--data", str(data),
                   "--work", str(work), "--steps", str(a.steps), "--rewards", a.rewards]
            env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
            if proc.returncode or line is None:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                return 1
            r = json.loads(line.removeprefix("BENCH_RESULT "))
            prev = results.setdefault(which, {"times": [], "cpu": [], "peak_rss_mb": 0.0, "lengths": []})
            prev["times"] += r["times"][a.warmup:] or r["times"]
            prev["cpu"] += r["cpu"][a.warmup:] or r["cpu"]
            prev["peak_rss_mb"] = max(prev["peak_rss_mb"], r["peak_rss_mb"])
            prev["lengths"].append(r["mean_length"])
    _table(results, a)
    return 0


def _table(results: dict, a: argparse.Namespace) -> None:
    rows = {}
    for which, r in results.items():
        t = r["times"]
        rows[which] = {"s_step": statistics.median(t), "cpu": statistics.median(r["cpu"]), "rss": r["peak_rss_mb"],
                       "len": statistics.mean(r["lengths"]), "n": len(t)}
    o, t = rows["ours"], rows["trl"]
    print(f"\ntiny Qwen2-VL, {PROMPTS} prompts x M={M}, {NEW_TOKENS} new tokens, beta={BETA}, rewards={a.rewards}, "
          f"{o['n']} timed steps ({a.repeats} fresh processes x {a.steps - a.warmup} after {a.warmup} warm-up), "
          f"{os.environ.get('BENCH_THREADS', '2')} torch threads\n")
    print("| trainer | wall s/step (median) | CPU s/step (median) | peak RSS (MB) | mean completion length |")
    print("|---|---|---|---|---|")
    for name, key in (("reference_trainer", "ours"), ("TRL GRPOTrainer", "trl")):
        r = rows[key]
        print(f"| {name} | {r['s_step']:.3f} | {r['cpu']:.3f} | {r['rss']:.0f} | {r['len']:.1f} |")
    print(f"| ratio ours/TRL | {o['s_step'] / t['s_step']:.2f} | {o['cpu'] / t['cpu']:.2f} | "
          f"{o['rss'] / t['rss']:.2f} | |")


if __name__ == "__main__":
    sys.exit(main())
