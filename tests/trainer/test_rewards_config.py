"""Reward failure isolation, weights, reward details; config validation errors and overrides."""

from __future__ import annotations

import asyncio
import time

import pytest
import torch

from reference_trainer.config import ConfigError, load_config, parse_overrides
from reference_trainer.rewards import load_reward_funcs, score


def good(prompts, completions, **kw):
    return [float(len(c)) for c in completions]


def raises(prompts, completions, **kw):
    raise RuntimeError("sympy blew up")


def nan_and_none(prompts, completions, **kw):
    return [float("nan"), None, 2.0]


async def async_reward(prompts, completions, solution, **kw):
    await asyncio.sleep(0)
    return [1.0 if s == "x" else 0.0 for s in solution]


def wrong_length(prompts, completions, **kw):
    return [1.0]


def slow(prompts, completions, **kw):
    time.sleep(2)
    return [1.0] * len(completions)


def with_metrics(prompts, completions, **kw):
    return [0.5] * len(completions)


with_metrics.metrics = lambda: {"accuracy": 0.25, "validity_rate": 1.0, "note": "text is skipped"}


def test_failures_are_isolated_counted_and_scored_zero() -> None:
    funcs = [good, raises, nan_and_none, async_reward, wrong_length]
    s = score(funcs, [1.0, 1.0, 10.0, 2.0, 1.0], ["p"] * 3, ["ab", "c", "def"], {"solution": ["x", "y", "x"]})
    assert s.failures == {"raises": 3, "nan_and_none": 1, "wrong_length": 3}
    assert s.components["raises"].tolist() == [0.0, 0.0, 0.0]
    nn = s.components["nan_and_none"]
    assert nn[0].item() == 0.0 and torch.isnan(nn[1]) and nn[2].item() == 2.0  # None = not applicable
    assert s.components["async_reward"].tolist() == [1.0, 0.0, 1.0]
    # total = 1*len + 10*(0, 0, 2) + 2*async
    assert s.total.tolist() == pytest.approx([2 + 0 + 2, 1 + 0 + 0, 3 + 20 + 2])


def test_slow_reward_times_out_and_training_goes_on() -> None:
    t = time.perf_counter()
    s = score([slow, good], [1.0, 1.0], ["p"], ["abc"], {}, timeout_s=0.2)
    assert time.perf_counter() - t < 1.5
    assert s.failures == {"slow": 1} and s.total.tolist() == [3.0]


def uses_sigalrm(prompts, completions, **kw):
    import signal

    old = signal.signal(signal.SIGALRM, signal.getsignal(signal.SIGALRM))  # raises outside the main thread
    signal.signal(signal.SIGALRM, old)
    return [1.0] * len(completions)


def test_default_calls_rewards_in_the_main_thread() -> None:
    assert score([uses_sigalrm], [1.0], ["p"], ["a"], {}).failures == {}
    assert score([uses_sigalrm], [1.0], ["p"], ["a"], {}, timeout_s=5).failures == {"uses_sigalrm": 1}


def test_reward_details_are_collected() -> None:
    s = score([with_metrics], [1.0], ["p"], ["a"], {})
    assert s.details == {"rewards/accuracy": 0.25, "rewards/validity_rate": 1.0}


def test_dotted_path_funcs_with_weights() -> None:
    cfg = load_config(overrides=["model.tiny=true", "rewards.preset=null",
                                 "rewards.funcs=[{func: test_rewards_config:good, weight: 0.5}]"])
    funcs, weights = load_reward_funcs(cfg.rewards)
    assert funcs == [good] and weights == [0.5]
    bad = load_config(overrides=["model.tiny=true", "rewards.preset=null", "rewards.funcs=[{func: nope.mod:f}]"])
    with pytest.raises(ValueError, match="cannot import 'nope.mod:f'"):
        load_reward_funcs(bad.rewards)


def test_config_errors_name_the_field_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"train.learning_rate.*got -1"):
        load_config(overrides=["model.tiny=true", "train.learning_rate=-1"])
    with pytest.raises(ConfigError, match=r"micro_batch_size=3 does not divide.*Fix"):
        load_config(overrides=["model.tiny=true", "train.micro_batch_size=3"])
    with pytest.raises(ConfigError, match=r"rollout.temprature.*Extra inputs"):
        load_config(overrides=["model.tiny=true", "rollout.temprature=1.0"])
    with pytest.raises(ConfigError, match="model: Field required.*model.tiny=true"):
        load_config(overrides=[])
    with pytest.raises(ConfigError, match="model_name_or_path is not set"):
        load_config(overrides=["model.precision=fp32"])
    with pytest.raises(ConfigError, match="loss_type"):
        load_config(overrides=["model.tiny=true", "grpo.loss_type=ppo"])
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config(preset="no-such-preset")


def test_overrides_parse_yaml_values() -> None:
    assert parse_overrides(["a.b=1", "a.c=[1, 2]", "d=null", "e=1e-6"]) == {
        "a": {"b": 1, "c": [1, 2]}, "d": None, "e": 1e-6}


@pytest.mark.parametrize("name", ["tiny-cpu", "r1vl-2b", "r1vl-7b"])
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_config(preset=name)
    assert cfg.rollout.num_generations == 4 and cfg.grpo.beta == 0.04


def test_paper_defaults() -> None:
    cfg = load_config(overrides=["model.tiny=true"])
    assert (cfg.rollout.temperature, cfg.rollout.max_completion_length, cfg.train.learning_rate) == (1.2, 1024, 1e-6)
    assert (cfg.grpo.loss_type, cfg.grpo.advantage_eps, cfg.data.max_prompt_length) == ("grpo", 1e-4, 512)
