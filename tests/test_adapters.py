"""TRL / verl / OpenRLHF adapters."""

from __future__ import annotations

import json

import pytest
from _samples import GOOD, KEY_STEPS, SOLUTION

from stepreward import openrlhf, verl
from stepreward.trl import reward_funcs

WRONG = GOOD.replace("B: 4", "C: 5")


def test_trl_functions_are_named_per_component_and_sum_to_total():
    funcs = reward_funcs("paper")
    assert [f.__name__ for f in funcs] == ["step_rar", "step_rvr"]
    cols = {"solution": [SOLUTION] * 2, "key_steps": [KEY_STEPS] * 2}
    rar = funcs[0](["p", "p"], [GOOD, WRONG], **cols)
    rvr = funcs[1](["p", "p"], [GOOD, WRONG], **cols)
    assert rar == pytest.approx([1.1, 0.1])
    assert rvr == [1.0, 1.0]
    total = reward_funcs("paper", total=True)[0]
    assert total(["p", "p"], [GOOD, WRONG], **cols) == pytest.approx([2.1, 1.1])


def test_trl_conversational_completions_and_json_key_steps():
    f = reward_funcs("paper")[0]
    conv = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": [{"type": "text", "text": WRONG}]}]]
    out = f(["p", "p"], conv, solution=[SOLUTION] * 2, key_steps=[json.dumps(KEY_STEPS)] * 2,
            completion_ids=None, trainer_state=None, extra_column=[1, 2])
    assert out == pytest.approx([1.1, 0.1])


def test_trl_scores_each_batch_once():
    funcs = reward_funcs("paper")
    cols = {"solution": [SOLUTION], "key_steps": [KEY_STEPS]}
    funcs[0](["p"], [GOOD], **cols)
    first = funcs[0].scorer.last_results
    funcs[1](["p"], [GOOD], **cols)
    assert funcs[1].scorer.last_results is first  # the second component reused the batch
    m = funcs[0].metrics()
    assert m["accuracy"] == 1.0 and m["keystep_match_rate"] == 1.0 and m["validity_rate"] == 1.0


def test_trl_malformed_record_gives_none_not_exception():
    f = reward_funcs("paper")[0]
    out = f(["p", "p"], [GOOD, GOOD], solution=[SOLUTION, None], key_steps=[KEY_STEPS, KEY_STEPS])
    assert out[0] == pytest.approx(1.1) and out[1] is None
    strict = reward_funcs("paper", strict_records=True)[0]
    with pytest.raises(ValueError, match="solution"):
        strict(["p"], [GOOD], solution=[None], key_steps=[None])


def test_trl_missing_column_is_a_clear_error():
    f = reward_funcs("paper")[0]
    with pytest.raises(KeyError, match="solution"):
        f(["p"], [GOOD], answer=["4"])


def test_verl_compute_score():
    out = verl.compute_score("mulberry", GOOD, SOLUTION, {"key_steps": KEY_STEPS})
    assert out["score"] == pytest.approx(2.1) and out["overall"] == out["score"]
    assert out["step_rar"] == pytest.approx(1.1) and out["acc"] == 1.0 and out["keystep_match"] == 1.0
    gt = json.dumps({"solution": SOLUTION, "key_steps": KEY_STEPS})
    assert verl.compute_score("x", WRONG, gt)["score"] == pytest.approx(1.1)
    assert all(isinstance(v, float) for v in out.values())


def test_openrlhf_reward_func():
    label = json.dumps({"solution": SOLUTION, "key_steps": KEY_STEPS})
    out = openrlhf.reward_func(["Q:" + GOOD, "Q:" + WRONG], ["Q:", "Q:"], [label, label])
    assert [round(float(x), 4) for x in out["rewards"]] == [2.1, 1.1]
    assert "step_rar" in out["extra_logs"]


def test_trl_timeout_cuts_off_a_hanging_plugin(clean_plugins):
    import time

    from test_guard import HangingComparePlugin

    clean_plugins.register_plugin(HangingComparePlugin(), name="hanging-adapter-plugin")
    f = reward_funcs("paper", timeout_s=1.0)[0]
    completions = [GOOD, GOOD.replace("B: 4", "HANG"), WRONG]
    t0 = time.monotonic()
    out = f(["p"] * 3, completions, solution=[SOLUTION] * 3, key_steps=[KEY_STEPS] * 3)
    assert time.monotonic() - t0 < 8.0
    assert out == pytest.approx([1.1, 0.0, 0.1])  # the hanging one gets the fallback value
    assert [x.reason for x in f.scorer.last_results[1].failures] == ["timeout"]


def test_worker_path_skips_malformed_records_like_the_inline_path():
    f = reward_funcs("paper", workers=2)[0]
    out = f(["p"] * 3, [GOOD, GOOD, WRONG], solution=[SOLUTION, None, SOLUTION], key_steps=[KEY_STEPS, None, "{bad"])
    assert out[0] == pytest.approx(1.1) and out[1] is None and out[2] is None
    assert set(f.scorer.last_errors) == {1, 2} and "key_steps" in f.scorer.last_errors[2]
