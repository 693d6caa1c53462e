"""Throughput of the reference trainer's StepGRPO step on a Qwen2-VL-2B-shaped model (random weights).

    python benchmarks/bench_gpu.py --size 2b --steps 5 --out $OUT/bench_gpu.json   # one H200: est. 2-3 min
    python benchmarks/bench_gpu.py --size tiny --device cpu --steps 1               # CPU smoke
    python benchmarks/bench_gpu.py --size 7b                                       # optional (bf16 policy)

What is timed is ``reference_trainer.grpo.GRPOTrainer.train_step`` itself, the step that
``python -m reference_trainer grpo`` runs: generate (HF ``generate``) -> score (stepreward ``paper``
preset) -> group advantages -> reference log-probs -> policy update -> metrics. The run file is the
shipped one (``r1vl-2b``, ``r1vl-7b`` or ``tiny-cpu``: the paper's hyper-parameters) with ``key=value``
overrides for the batch shape, and the engine is the trainer's single-process accelerate engine
(no DeepSpeed, no DDP; the bench refuses to run otherwise). Each stage method is wrapped with a
timer (CUDA synchronised before and after), so the stage times add up to the step.

Only two things differ from a real run:

- The model. While the trainer is built, ``AutoModelForImageTextToText.from_pretrained`` is replaced
  by a random Qwen2-VL with the published dimensions, constructed directly on the device in the
  dtype that ``reference_trainer.modeling.load_model`` asks for (policy: fp32 master weights used
  under bf16 autocast; reference: bf16), in eval mode as ``from_pretrained`` returns it (``load_model``
  then puts the policy in train mode).
  The reference model gets a copy of the policy's weights (it would load the same checkpoint).
  ``load_model``'s own handling (dtype, attention implementation, gradient checkpointing) runs.
- The tokenizer is the repo's offline tiny BPE tokenizer (``reference_trainer/tiny.py``, 512 tokens;
  nothing is downloaded), while the model keeps Qwen2-VL's 151,936-row vocabulary. A random model
  never samples EOS, and ``min_new_tokens`` is set to ``max_new_tokens`` besides, so every completion
  is exactly ``--max-new-tokens`` long. Sampled ids past the tokenizer's 512 decode to nothing, so the
  scored text is nearly empty and scoring in the loop costs almost nothing. The bench therefore also
  times the trainer's own ``score`` stage on realistic Mulberry-format completions
  (``benchmarks/corpus.py``: ~300-1,000 tokens, ~6 key steps, 5 % hostile) in the same batch shape,
  and reports both scoring shares.

Images: the example images are 64x64; for ``2b``/``7b`` the processor's ``min_pixels`` =
``max_pixels`` = 448x448 (``--image-pixels``) scales them to 256 image tokens per image, a typical
Mulberry prompt within the paper's ``max_prompt_length`` of 512.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
DATA = REPO / "examples" / "data" / "mulberry_rl.jsonl"
GIB = 2**30
T_START = time.perf_counter()

# Published dimensions (config.json of Qwen/Qwen2-VL-2B-Instruct and Qwen/Qwen2-VL-7B-Instruct:
# rope_scaling {"type": "mrope", "mrope_section": [16, 24, 24]}, rope_theta 1e6, rms_norm_eps 1e-6;
# vision: depth 32, embed_dim 1280, 16 heads, mlp_ratio 4, patch 14, spatial merge 2, temporal patch 2,
# hidden_size = the LM's). "tiny" is reference_trainer.tiny.build_model's model.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "preset": "tiny-cpu",
        "text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=None, max_position_embeddings=2048),
        "rope": {"rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "vision": dict(depth=2, embed_dim=32, num_heads=2, mlp_ratio=2),
        "tie_word_embeddings": False, "image_pixels": 0, "policy_dtype": "auto",
    },
    "2b": {
        "preset": "r1vl-2b",
        "text": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                     num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rms_norm_eps=1e-6),
        "rope": {"rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        "vision": dict(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=4),
        "tie_word_embeddings": True, "image_pixels": 448 * 448, "policy_dtype": "auto",
    },
    "7b": {
        "preset": "r1vl-7b",
        "text": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                     num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rms_norm_eps=1e-6),
        "rope": {"rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        "vision": dict(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=4),
        # 8.3B params: fp32 master weights + grads + AdamW (16 B/param) do not fit one 141 GB GPU
        "tie_word_embeddings": False, "image_pixels": 448 * 448, "policy_dtype": "bf16",
    },
}
STAGES = (("generation", "generate"), ("scoring", "score"), ("advantages", "advantages"),
          ("reference_logprobs", "batch_logprobs"), ("policy_update", "update"))
TRAINER_METRICS = ("reward", "reward_std", "loss", "kl", "grad_norm", "entropy", "completions/mean_length",
                   "completions/clipped_ratio", "step_time", "tokens_per_second", "reward_failures")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default="2b")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    p.add_argument("--steps", type=int, default=5, help="timed steps (after the warm-up)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--prompts", type=int, default=8, help="prompts per step")
    p.add_argument("--m", type=int, default=4, help="rollouts per prompt (paper: 4)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--micro-batch", type=int, default=4, help="completions per forward/backward (paper: 4)")
    p.add_argument("--image-pixels", type=int, default=None,
                   help="min = max pixels per image (default: 448x448 for 2b/7b, the run file's for tiny; 0 = run file's)")
    p.add_argument("--policy-dtype", choices=["auto", "fp32", "bf16"], default=None,
                   help="auto = what load_model asks for (fp32 master weights, bf16 autocast); default bf16 for 7b")
    p.add_argument("--gradient-checkpointing", choices=["config", "on", "off"], default="config",
                   help="config = the run file's (r1vl-2b/7b: on)")
    p.add_argument("--policy-train-mode", action="store_true",
                   help="force the policy into train mode after it is built (the trainer's load_model already "
                        "does; HF skips gradient checkpointing in eval mode)")
    p.add_argument("--no-fixed-length", action="store_true", help="do not force min_new_tokens = max_new_tokens")
    p.add_argument("--attn", default="sdpa", help="attention implementation (flash-attn is not installed)")
    p.add_argument("--scoring-replays", type=int, default=5, help="realistic-completion scoring batches timed")
    p.add_argument("--time-budget", type=float, default=240.0,
                   help="seconds since start after which no new step is begun (results so far are kept)")
    p.add_argument("--layers", type=int, default=None,
                   help="override the number of text layers and vision blocks (CPU checks of the 2b/7b code path)")
    p.add_argument("--seed", type=int, default=0)
    out = os.path.join(os.environ["OUT"], "bench_gpu.json") if os.environ.get("OUT") else None
    p.add_argument("--out", default=out, help="JSON results (default: $OUT/bench_gpu.json when OUT is set)")
    a = p.parse_args(argv)
    if a.steps < 1 or a.warmup < 0 or a.prompts < 1 or a.m < 2 or a.max_new_tokens < 1:
        p.error("need --steps >= 1, --warmup >= 0, --prompts >= 1, --m >= 2, --max-new-tokens >= 1")
    if (a.prompts * a.m) % a.micro_batch:
        p.error(f"--micro-batch {a.micro_batch} must divide prompts x m = {a.prompts * a.m}")
    spec = SIZES[a.size]
    a.image_pixels = spec["image_pixels"] if a.image_pixels is None else a.image_pixels
    a.policy_dtype = a.policy_dtype or spec["policy_dtype"]
    return a


def prepare_environment(device: str) -> None:
    """Offline, single process, no DeepSpeed; ``--device cpu`` hides GPUs before torch is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.pop("ACCELERATE_USE_DEEPSPEED", None)
    if device == "cpu":
        if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
            raise SystemExit("--device cpu: torch was imported with a GPU visible. Fix: run the script on its own.")
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    for p in (str(REPO), str(BENCH)):
        if p not in sys.path:
            sys.path.insert(0, p)


class Recorder:
    """Results so far; written to ``--out`` after every step, so a killed run still leaves them."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.data: dict[str, Any] = {"bench": "bench_gpu", "complete": False, "steps": []}

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.perf_counter() - T_START, 2)
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


def qwen2vl_config(size: str, tokenizer: Any, layers: int | None = None) -> Any:
    """Qwen2VLConfig with the published dimensions and the offline tokenizer's special-token ids."""
    from transformers import Qwen2VLConfig

    from reference_trainer.tiny import SPECIAL_TOKENS

    spec = SIZES[size]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(spec["text"])
    text["vocab_size"] = text["vocab_size"] or len(tokenizer)
    assert text["vocab_size"] >= len(tokenizer)
    vision = dict(spec["vision"])
    if layers:
        text["num_hidden_layers"] = vision["depth"] = layers
    return Qwen2VLConfig(
        text_config=dict(**text, rope_parameters={"rope_type": "default", **spec["rope"]},
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(**vision, hidden_size=text["hidden_size"], in_channels=3, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=spec["tie_word_embeddings"],
    )


class RandomFromPretrained:
    """Stands in for ``AutoModelForImageTextToText.from_pretrained`` while the trainer is built: the first
    call (the policy) builds a random model on the device, later calls (the reference) copy its weights."""

    def __init__(self, config: Any, device: Any, policy_dtype: Any, seed: int) -> None:
        self.config, self.device, self.policy_dtype, self.seed = config, device, policy_dtype, seed
        self.policy: Any = None
        self.built: list[dict[str, Any]] = []

    def __call__(self, path: str, *args: Any, dtype: Any = None, attn_implementation: str | None = None,
                 **kwargs: Any) -> Any:
        import torch
        from transformers import Qwen2VLForConditionalGeneration

        role = "policy" if self.policy is None else "reference"
        want = dtype or torch.float32
        if role == "policy" and self.policy_dtype is not None:
            want = self.policy_dtype
        t = time.perf_counter()
        torch.manual_seed(self.seed)
        with torch.device(self.device):
            model = Qwen2VLForConditionalGeneration._from_config(
                copy.deepcopy(self.config), dtype=want, attn_implementation=attn_implementation or "sdpa")
        if role == "policy":
            self.policy = model
        else:
            model.load_state_dict(self.policy.state_dict())  # the same checkpoint as the policy
        model.eval()  # as from_pretrained leaves it
        ids = self.config.text_config
        model.generation_config.pad_token_id = ids.pad_token_id
        model.generation_config.eos_token_id = ids.eos_token_id
        _sync(self.device)
        self.built.append({"role": role, "dtype": str(want).replace("torch.", ""),
                           "attn_implementation": model.config._attn_implementation,
                           "seconds": round(time.perf_counter() - t, 2)})
        return model


def _sync(device: Any) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run_config(a: argparse.Namespace, processor_dir: Path, work: Path) -> Any:
    from reference_trainer.config import load_config

    o = [f"model.model_name_or_path={processor_dir}", f"model.attn_implementation={a.attn}",
         f"data.train_file={DATA}", f"rollout.num_generations={a.m}", f"rollout.max_completion_length={a.max_new_tokens}",
         f"train.prompts_per_device={a.prompts}", f"train.micro_batch_size={a.micro_batch}",
         f"train.output_dir={work / 'run'}", f"train.max_steps={a.warmup + a.steps}", f"train.seed={a.seed}",
         f"train.save_steps={a.warmup + a.steps + 1}", "log.tensorboard=false", "log.completions_steps=1000000"]
    if a.image_pixels:
        o += [f"data.min_pixels={a.image_pixels}", f"data.max_pixels={a.image_pixels}"]
    if a.gradient_checkpointing != "config":
        o.append(f"model.gradient_checkpointing={str(a.gradient_checkpointing == 'on').lower()}")
    return load_config(overrides=o, preset=SIZES[a.size]["preset"])


def build_trainer(a: argparse.Namespace, device: Any, work: Path) -> tuple[Any, RandomFromPretrained]:
    import torch
    import transformers

    from reference_trainer.distributed import AccelerateEngine
    from reference_trainer.grpo import GRPOTrainer
    from reference_trainer.tiny import build_processor, build_tokenizer

    tokenizer = build_tokenizer(vocab="mulberry")
    processor_dir = work / "processor"
    build_processor(tokenizer).save_pretrained(processor_dir)  # load_processor reads it like a checkpoint's
    cfg = run_config(a, processor_dir, work)
    policy_dtype = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16}[a.policy_dtype]
    factory = RandomFromPretrained(qwen2vl_config(a.size, tokenizer, a.layers), device, policy_dtype, a.seed)
    auto = transformers.AutoModelForImageTextToText
    saved = auto.__dict__.get("from_pretrained")
    auto.from_pretrained = staticmethod(factory)  # only while the trainer loads its models
    try:
        trainer = GRPOTrainer(cfg)
    finally:
        if saved is None:
            del auto.from_pretrained
        else:
            auto.from_pretrained = saved
    if not isinstance(trainer.engine, AccelerateEngine) or trainer.engine.world_size != 1:
        raise SystemExit(f"expected a single-process accelerate engine, got {type(trainer.engine).__name__} "
                         f"with world size {trainer.engine.world_size}. Fix: run without a launcher or DeepSpeed env.")
    if not a.no_fixed_length:
        trainer.rollout.gen_config.min_new_tokens = a.max_new_tokens  # equal token counts every step
    if a.policy_train_mode:
        trainer.engine.unwrap().train()
    return trainer, factory


def instrument(trainer: Any, device: Any) -> dict[str, Any]:
    """Wrap each stage method with a synchronised timer; keep the last rollout batch and policy mode."""
    state: dict[str, Any] = {"seconds": dict.fromkeys([n for n, _ in STAGES], 0.0)}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name == "policy_update":
                state["training_mode"] = trainer.engine.unwrap().training
            _sync(device)
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync(device)
            state["seconds"][name] += time.perf_counter() - t
            if name == "generation":
                state["batch"] = out[0]
            return out

        return wrapper

    for name, method in STAGES:
        setattr(trainer, method, timed(name, getattr(trainer, method)))
    return state


def run_steps(trainer: Any, a: argparse.Namespace, device: Any, rec: Recorder) -> None:
    import torch

    cuda = torch.device(device).type == "cuda"
    state = instrument(trainer, device)
    for i in range(a.warmup + a.steps):
        walls = [s["wall_s"] for s in rec.data["steps"]]
        elapsed = time.perf_counter() - T_START
        if walls and elapsed + 1.2 * max(walls) > a.time_budget:
            rec.data["stopped_early"] = (f"time budget: {elapsed:.0f}s elapsed, a step takes up to {max(walls):.1f}s, "
                                         f"budget {a.time_budget:.0f}s")
            print(f"stopping early: {rec.data['stopped_early']}", flush=True)
            break
        before = dict(state["seconds"])
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        _sync(device)
        t = time.perf_counter()
        metrics = trainer.train_step()
        _sync(device)
        wall = time.perf_counter() - t
        stages = {k: state["seconds"][k] - before[k] for k in before}
        batch = state["batch"]
        completion_tokens = int(batch.completion_mask.sum())
        prompt_tokens = int(batch.inputs["attention_mask"].sum())
        train_tokens = prompt_tokens + completion_tokens  # teacher-forced, non-padding
        row = {
            "step": i + 1, "warmup": i < a.warmup, "wall_s": wall, "stages_s": stages,
            "other_s": wall - sum(stages.values()),
            "completions": int(batch.completion_ids.shape[0]), "completion_tokens": completion_tokens,
            "generated_positions": int(batch.completion_ids.numel()), "prompt_tokens": prompt_tokens,
            "prompt_length_padded": int(batch.prompt_length), "train_tokens": train_tokens,
            "generation_tokens_per_s": completion_tokens / max(stages["generation"], 1e-9),
            "training_tokens_per_s": train_tokens / max(stages["policy_update"], 1e-9),
            "reference_tokens_per_s": train_tokens / max(stages["reference_logprobs"], 1e-9),
            "step_tokens_per_s": train_tokens / wall,
            "scoring_share": stages["scoring"] / wall,
            "policy_training_mode": state.get("training_mode"),
            "trainer_metrics": {k: metrics.get(k) for k in TRAINER_METRICS},
        }
        if cuda:
            row["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
            row["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / GIB
        rec.data["steps"].append(row)
        rec.write()
        mem = f" peak {row['peak_allocated_gib']:.1f} GiB" if cuda else ""
        print(f"step {i + 1}{' (warm-up)' if row['warmup'] else ''}: {wall:.2f}s = "
              + " + ".join(f"{k} {v:.2f}" for k, v in stages.items()) + f" + other {row['other_s']:.2f}; "
              f"{completion_tokens} completion tokens, gen {row['generation_tokens_per_s']:.0f} tok/s, "
              f"train {row['training_tokens_per_s']:.0f} tok/s{mem}", flush=True)


def realistic_scoring(trainer: Any, a: argparse.Namespace, score: Any) -> dict[str, Any]:
    """The trainer's ``score`` stage on realistic Mulberry completions, same batch shape (fresh corpora)."""
    import torch
    from corpus import approx_tokens, make_corpus

    from reference_trainer.data import Example
    from reference_trainer.rollout import RolloutBatch

    tok = trainer.processor.tokenizer
    n, m = a.prompts * a.m, a.m
    times, tokens = [], []
    for rep in range(a.scoring_replays + 1):  # the first batch is untimed (lazy imports, caches)
        recs = make_corpus(n, seed=10_000 + rep, adversarial_frac=0.05, group=m)
        examples = [Example([], [], {"solution": r["solution"], "key_steps": r["key_steps"]}) for r in recs[::m]]
        texts = [r["completion"] for r in recs]
        ids = tok(texts, add_special_tokens=False)["input_ids"]
        width = max(len(x) for x in ids)
        cids = torch.full((n, width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for j, x in enumerate(ids):
            cids[j, :len(x)] = torch.tensor(x, dtype=torch.long)
            mask[j, :len(x)] = 1
        batch = RolloutBatch({}, cids, mask, torch.zeros(n, dtype=torch.bool), texts)
        t = time.perf_counter()
        scores = score(examples, batch, [""] * n)
        if rep:
            times.append(time.perf_counter() - t)
            tokens += [approx_tokens(x) for x in texts]
    return {"batches": len(times), "completions_per_batch": n, "seconds_per_batch": times,
            "median_s": statistics.median(times), "mean_approx_tokens": statistics.mean(tokens),
            "ms_per_completion": 1000 * statistics.median(times) / n,
            "last_reward_mean": float(scores.total.mean()),
            "corpus": "benchmarks/corpus.py make_corpus(adversarial_frac=0.05, group=M), seeds 10001.."}


def summarize(rec: Recorder) -> dict[str, Any]:
    only_timed = [s for s in rec.data["steps"] if not s["warmup"]]
    timed = only_timed or rec.data["steps"]  # no timed step fitted the time budget: the warm-up's, flagged
    med = lambda key: statistics.median(s[key] for s in timed)  # noqa: E731
    out: dict[str, Any] = {"timed_steps": len(only_timed), "over": "timed steps" if only_timed else "warm-up steps",
                           "wall_s": med("wall_s"),
                           "stages_s": {k: statistics.median(s["stages_s"][k] for s in timed) for k in timed[0]["stages_s"]},
                           "other_s": med("other_s")}
    for key in ("generation_tokens_per_s", "training_tokens_per_s", "reference_tokens_per_s", "step_tokens_per_s",
                "scoring_share", "completion_tokens", "train_tokens", "prompt_length_padded"):
        out[key] = med(key)
    out["stage_share"] = {k: v / out["wall_s"] for k, v in out["stages_s"].items()}
    if "peak_allocated_gib" in timed[0]:
        out["peak_allocated_gib"] = max(s["peak_allocated_gib"] for s in rec.data["steps"])
        out["peak_reserved_gib"] = max(s["peak_reserved_gib"] for s in rec.data["steps"])
    real = rec.data.get("scoring_realistic")
    if real:
        est = out["wall_s"] - out["stages_s"]["scoring"] + real["median_s"]
        out["scoring_share_realistic"] = real["median_s"] / est
        out["wall_s_with_realistic_scoring"] = est
    return out


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"


def print_table(rec: Recorder) -> None:
    d, s = rec.data, rec.data["summary"]
    r, mdl = d["run"], d["model"]
    print(f"\nreference_trainer StepGRPO step, Qwen2-VL-{d['args']['size']} shape ({_params(mdl['params_total'])} params, "
          f"random weights; policy {mdl['policy_dtype']}, reference {mdl['reference_dtype']}, "
          f"autocast bf16: {r['bf16_autocast']}, attn {mdl['attn_implementation']}) on {d['env']['device_name']}")
    print(f"{r['prompts']} prompts x M={r['m']} = {r['completions']} completions, {r['max_new_tokens']} new tokens each, "
          f"micro-batch {r['micro_batch']}, grad checkpointing configured {r['gradient_checkpointing']} / "
          f"effective {r['gradient_checkpointing_effective']}; padded prompt length {s['prompt_length_padded']:.0f} "
          f"({r['image_tokens_per_image']} image tokens/image); medians over {s['timed_steps'] or 'the'} {s['over']} "
          f"after {d['args']['warmup']} warm-up\n")
    print("| stage | s / step | share |")
    print("|---|---|---|")
    names = {"generation": "generation (HF generate)", "scoring": "scoring (stepreward paper)",
             "advantages": "advantages", "reference_logprobs": "reference log-probs", "policy_update": "policy update"}
    for k, v in s["stages_s"].items():
        print(f"| {names[k]} | {v:.3f} | {100 * s['stage_share'][k]:.1f}% |")
    print(f"| other (metrics, logging) | {s['other_s']:.3f} | {100 * s['other_s'] / s['wall_s']:.1f}% |")
    print(f"| **optimiser step (wall)** | **{s['wall_s']:.3f}** | 100% |")
    print("\n| measure | value |")
    print("|---|---|")
    print(f"| completion tokens / step | {s['completion_tokens']:.0f} |")
    print(f"| generation: completion tokens / s | {s['generation_tokens_per_s']:.0f} |")
    print(f"| policy update: training tokens / s (prompt + completion, forward + backward) | "
          f"{s['training_tokens_per_s']:.0f} |")
    print(f"| reference log-probs: tokens / s | {s['reference_tokens_per_s']:.0f} |")
    print(f"| whole step: training tokens / s | {s['step_tokens_per_s']:.0f} |")
    if "peak_allocated_gib" in s:
        print(f"| peak GPU memory allocated (reserved) | {s['peak_allocated_gib']:.1f} GiB "
              f"({s['peak_reserved_gib']:.1f} GiB) |")
    print(f"| scoring share of step, measured (near-empty random-model text) | {100 * s['scoring_share']:.2f}% |")
    if "scoring_share_realistic" in s:
        real = d["scoring_realistic"]
        print(f"| scoring share with realistic completions (~{real['mean_approx_tokens']:.0f} tokens, "
              f"{real['ms_per_completion']:.2f} ms each) | {100 * s['scoring_share_realistic']:.2f}% |")
    print(f"| setup (imports + model build + trainer init) | {d['setup_s']['total']:.1f} s |")
    if d.get("stopped_early"):
        print(f"| stopped early | {d['stopped_early']} |")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    prepare_environment(a.device)
    rec = Recorder(a.out)
    rec.data["args"] = vars(a)
    try:
        return _main(a, rec)
    except BaseException as e:  # noqa: BLE001 - the one remote run must leave its error behind
        rec.data["error"] = f"{type(e).__name__}: {e}"
        rec.data["traceback"] = traceback.format_exc()
        try:
            import torch

            if torch.cuda.is_available():
                rec.data["error_peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
        except Exception:  # noqa: BLE001
            pass
        rec.write()
        raise


def _main(a: argparse.Namespace, rec: Recorder) -> int:
    import accelerate
    import torch
    import transformers

    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no GPU is visible to torch")
    device = torch.device("cuda" if a.device != "cpu" and torch.cuda.is_available() else "cpu")
    rec.data["env"] = {
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "accelerate": accelerate.__version__, "device": str(device),
        "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "cuda": torch.version.cuda, "cpu_threads": torch.get_num_threads(),
    }
    t_imports = time.perf_counter() - T_START
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        t = time.perf_counter()
        trainer, factory = build_trainer(a, device, Path(tmp))
        t_init = time.perf_counter() - t
        policy = trainer.engine.unwrap()
        from reference_trainer.data import image_tokens
        from reference_trainer.distributed import use_bf16
        from reference_trainer.modeling import param_count

        total, trainable = param_count(policy)
        text = policy.config.text_config
        emb, head = policy.get_input_embeddings().weight, policy.get_output_embeddings().weight
        ref_dtype = next(trainer.ref_model.parameters()).dtype if trainer.ref_model is not None else None
        imgs = [e.images[0] for e in trainer.examples if e.images]
        rec.data["model"] = {
            "size": a.size, "params_total": total, "params_trainable": trainable,
            "policy_dtype": str(next(policy.parameters()).dtype).replace("torch.", ""),
            "reference_dtype": str(ref_dtype).replace("torch.", "") if ref_dtype else None,
            "tied_embeddings": emb.data_ptr() == head.data_ptr(), "vocab_size": text.vocab_size,
            "hidden_size": text.hidden_size, "layers": text.num_hidden_layers,
            "vision_depth": policy.config.vision_config.depth, "attn_implementation": factory.built[0]["attn_implementation"],
            "tokenizer_size": len(trainer.processor.tokenizer), "built": factory.built,
        }
        rec.data["run"] = {
            "preset": SIZES[a.size]["preset"], "engine": type(trainer.engine).__name__,
            "world_size": trainer.engine.world_size, "bf16_autocast": use_bf16(trainer.cfg.model.precision),
            "prompts": a.prompts, "m": a.m, "completions": a.prompts * a.m, "max_new_tokens": a.max_new_tokens,
            "fixed_length": not a.no_fixed_length, "micro_batch": a.micro_batch,
            "micro_batches": trainer.micro_batches, "beta": trainer.cfg.grpo.beta,
            "temperature": trainer.cfg.rollout.temperature, "loss_type": trainer.cfg.grpo.loss_type,
            "gradient_checkpointing": trainer.cfg.model.gradient_checkpointing,
            "dataset_prompts": len(trainer.examples), "dropped_prompts": trainer.dropped_prompts,
            "image_pixels": [trainer.cfg.data.min_pixels, trainer.cfg.data.max_pixels],
            "image_tokens_per_image": image_tokens(imgs[0], trainer.processor, trainer.cfg.data) if imgs else 0,
            "reward_funcs": [getattr(f, "__name__", "?") for f in trainer.reward_funcs],
        }
        rec.data["setup_s"] = {"imports": round(t_imports, 2), "trainer_init": round(t_init, 2),
                               "model_build": round(sum(b["seconds"] for b in factory.built), 2)}
        if device.type == "cuda":
            rec.data["setup_peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
        rec.data["setup_s"]["total"] = round(time.perf_counter() - T_START, 2)
        print(f"setup: {rec.data['setup_s']}; model {_params(total)} params", flush=True)
        rec.write()

        score = trainer.score  # the unwrapped stage, for the realistic replay below
        run_steps(trainer, a, device, rec)
        modes = {s["policy_training_mode"] for s in rec.data["steps"]}
        rec.data["run"]["policy_training_mode"] = modes.pop() if len(modes) == 1 else sorted(modes)
        # HF applies gradient checkpointing only to modules in train mode
        rec.data["run"]["gradient_checkpointing_effective"] = bool(
            trainer.cfg.model.gradient_checkpointing and rec.data["run"]["policy_training_mode"] is True)
        if a.scoring_replays > 0:
            rec.data["scoring_realistic"] = realistic_scoring(trainer, a, score)
        rec.data["summary"] = summarize(rec)
        rec.data["deepspeed_imported"] = "deepspeed" in sys.modules
        rec.data["complete"] = not rec.data.get("stopped_early")
        rec.write()
        print_table(rec)
        trainer.logger.close()
    if a.out:
        print(f"\nresults: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
