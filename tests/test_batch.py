"""score_batch: input order, identical to serial scoring, worker pools, stats, bad records."""

from __future__ import annotations

import os

import pytest
from _samples import GOOD, KEY_STEPS, SOLUTION

import stepreward
from stepreward import hookimpl
from stepreward.batch import BatchResult, score_batch
from stepreward.scoring import RecordError
from stepreward.types import Verdict

ANSWERS = ["B: 4", "A: 3", "4", "\\boxed{4}", "B", "5", "", "B: 4\n### The final answer is:\nB: 4"]


def _records() -> list[dict]:
    recs = []
    for i, ans in enumerate(ANSWERS * 3):
        text = GOOD.replace("B: 4", ans)
        if i % 5 == 1:
            text = text.replace("### Step 2:", "### Step 3:")  # misnumbered steps
        if i % 7 == 2:
            text = text[: len(text) // 2]  # truncated
        recs.append({"id": f"r{i}", "completion": text, "solution": SOLUTION,
                     "key_steps": None if i % 4 == 3 else KEY_STEPS})
    recs += [
        {"id": "junk", "completion": "\x00\x01" + "{" * 300 + "5^{5^{5^5}}", "solution": "7", "key_steps": ["7"]},
        {"id": "chat", "completion": [{"role": "assistant", "content": GOOD}], "solution": SOLUTION},
        {"id": "bytes", "completion": GOOD.encode(), "solution": SOLUTION, "key_steps": KEY_STEPS},
    ]
    return recs


def _serial(recs: list[dict], **kw) -> list:
    return [stepreward.score(r["completion"], solution=r["solution"], key_steps=r.get("key_steps"), **kw)
            for r in recs]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return _records()


def test_in_process_batch_equals_serial_scoring(records):
    out = score_batch(records)
    assert isinstance(out, BatchResult)
    assert out.results == _serial(records)
    assert out.ids == [r["id"] for r in records]
    assert out.totals[0] == pytest.approx(2.1)  # the good completion: correct, k=1, valid
    assert out.stats.workers == 1 and out.stats.timeouts == 0


@pytest.mark.parametrize("preset", ["paper", "r1vl-official"])
def test_worker_pool_gives_identical_results_in_input_order(records, preset):
    out = score_batch(records, preset=preset, workers=2)
    assert out.results == _serial(records, preset=preset)
    assert out.ids == [r["id"] for r in records]
    assert out.stats.workers == 2
    assert len(out.latencies_s) == len(records) and all(x >= 0 for x in out.latencies_s)


def test_config_dict_is_honoured_like_score(records):
    cfg = {"alpha": 0.5}
    out = score_batch(records[:4], config=cfg, workers=2)
    assert out.results == _serial(records[:4], config=cfg)
    assert out.totals[0] == pytest.approx(2.5)


def test_stats_are_consistent(records):
    out = score_batch(records, workers=2)
    st = out.stats
    assert st.n == len(records)
    assert st.seconds > 0 and st.completions_per_s == pytest.approx(st.n / st.seconds)
    assert 0 <= st.latency_ms_p50 <= st.latency_ms_p99 <= st.latency_ms_max
    assert st.latency_ms_max == pytest.approx(max(out.latencies_s) * 1e3)
    expected: dict[str, int] = {}
    for r in out.results:
        for f in r.failures:
            expected[f.reason] = expected.get(f.reason, 0) + 1
    assert st.failures == expected
    assert st.failures.get("malformed_completion") == 1  # the bytes record
    assert set(st.to_dict()) >= {"n", "seconds", "completions_per_s", "failures", "timeouts", "latency_ms_p99"}


def test_empty_batch():
    out = score_batch([], workers=2)
    assert out.results == [] and out.stats.n == 0 and out.stats.failures == {}


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"completion": "x"}, r"record 2 \(id='bad'\): missing field 'solution'"),
        ({"solution": "x"}, r"record 2 \(id='bad'\): missing field 'completion'"),
        ({"completion": "x", "solution": 5}, r"record 2 \(id='bad'\): field 'solution' must be a string"),
        ({"completion": "x", "solution": "5", "key_steps": {"Steps": 3}}, r"record 2 \(id='bad'\): key_steps"),
    ],
)
@pytest.mark.parametrize("workers", [1, 2])
def test_malformed_record_raises_naming_it(bad, match, workers):
    recs = [{"completion": GOOD, "solution": SOLUTION}] * 2 + [{**bad, "id": "bad"}]
    with pytest.raises(RecordError, match=match):
        score_batch(recs, workers=workers)


def test_non_dict_record_and_bad_arguments():
    with pytest.raises(RecordError, match="record 0: a record must be a dict"):
        score_batch(["just a string"])
    with pytest.raises(ValueError, match="workers"):
        score_batch([], workers=-1)
    with pytest.raises(ValueError, match="timeout_s"):
        score_batch([], timeout_s=0)


def test_one_worker_with_a_deadline_uses_a_process(records):
    from stepreward import batch

    out = score_batch(records[:5], workers=1, timeout_s=30)
    assert out.stats.workers == 1 and out.results == _serial(records[:5])
    assert len(batch._get_pool().workers) == 1


def test_pool_without_fd_passing_gives_identical_results(monkeypatch, records):
    """The per-record-message protocol used where fds cannot be passed (Windows)."""
    from stepreward import _procs, batch

    batch.shutdown()
    monkeypatch.setattr(_procs, "FD_PASSING", False)
    try:
        out = score_batch(records, workers=2)
        assert all(w.progress is None for w in batch._get_pool().workers)
        assert out.results == _serial(records)
    finally:
        batch.shutdown()


def test_progress_bar(capsys):
    score_batch([{"completion": GOOD, "solution": SOLUTION}] * 3, progress=True)
    err = capsys.readouterr().err
    assert "scoring" in err and "3/3" in err


# --- run-time plugins are mirrored into the workers ----------------------------------------------


class AlwaysEqualPlugin:
    @hookimpl(tryfirst=True)
    def stepreward_compare_answers(self, pred, gold, config):
        return Verdict(True, "test_always_equal", "test plugin")


class ExitOnFivePlugin:
    @hookimpl(tryfirst=True)
    def stepreward_compare_answers(self, pred, gold, config):
        if pred.text.strip() == "5":
            os._exit(9)
        return None


def test_runtime_plugins_reach_the_workers_and_leave_them(clean_plugins, records):
    clean_plugins.register_plugin(AlwaysEqualPlugin(), name="always-equal")
    with_plugin = score_batch(records, workers=2)
    assert with_plugin.results == _serial(records)
    assert with_plugin.results[1].verdict.method == "test_always_equal"  # "A: 3" judged right
    clean_plugins.unregister_plugin("always-equal")
    without = score_batch(records, workers=2)
    assert without.results == _serial(records)
    assert without.results[1].correct is False


def test_unpicklable_runtime_plugin_falls_back_to_in_process(clean_plugins, records):
    class Local:  # defined in a function: cannot be pickled into a worker
        @hookimpl(tryfirst=True)
        def stepreward_compare_answers(self, pred, gold, config):
            return Verdict(False, "test_local", "never equal")

    clean_plugins.register_plugin(Local(), name="local-plugin")
    with pytest.warns(RuntimeWarning, match="cannot be sent to worker processes"):
        out = score_batch(records[:5], workers=2)
    assert out.stats.workers == 1
    assert out.results == _serial(records[:5])
    assert out.results[0].verdict.method == "test_local"


def test_a_worker_that_dies_costs_only_its_record(clean_plugins, records):
    clean_plugins.register_plugin(ExitOnFivePlugin(), name="exit-on-five")
    out = score_batch(records, workers=2)
    died = [i for i, r in enumerate(out.results) if any(f.reason == "worker_died" for f in r.failures)]
    fives = [i for i, r in enumerate(records) if isinstance(r["completion"], str)
             and r["completion"].rstrip().endswith("\n5")]
    assert died == fives and died
    clean_plugins.unregister_plugin("exit-on-five")
    others = [i for i in range(len(records)) if i not in died]
    serial = _serial(records)
    assert all(out.results[i] == serial[i] for i in others)
    assert all(out.results[i].total == 0.0 for i in died)


# --- parent-side cost: chunking and decoding ----------------------------------------------------


def test_chunks_shrink_as_the_queue_drains():
    from stepreward._batchpool import MAX_CHUNK, chunk_size

    assert chunk_size(2000, 2) == MAX_CHUNK == 64
    assert [chunk_size(n, 2) for n in (100, 40, 8, 7, 1)] == [12, 5, 1, 1, 1]
    assert chunk_size(1000, 8) == 31


def test_a_long_batch_in_shrinking_chunks_keeps_input_order(records):
    many = [{**r, "id": f"{r['id']}-{k}"} for k in range(8) for r in records]
    out = score_batch(many, workers=2)
    assert out.results == _serial(many)
    assert out.ids == [r["id"] for r in many]


class _GcProbe:
    def __reduce__(self):
        import gc

        return gc.isenabled, ()  # called while the reply is unpickled


def test_results_are_decoded_with_the_gc_paused_and_its_state_restored():
    import gc
    import pickle

    from stepreward._batchpool import _decode

    raw = pickle.dumps([_GcProbe()])
    assert gc.isenabled()
    assert _decode(raw) == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        assert _decode(raw) == [False]
        assert not gc.isenabled()  # a caller's disabled GC stays disabled
    finally:
        gc.enable()


def test_gc_state_after_a_pooled_batch(records):
    import gc

    score_batch(records, workers=2)
    assert gc.isenabled()
    gc.disable()
    try:
        assert score_batch(records[:6], workers=2).results == _serial(records[:6])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_entry_points_are_scanned_once_per_plugin_manager(monkeypatch):
    from importlib.metadata import entry_points

    from stepreward import batch, manager

    calls = []
    monkeypatch.setattr(batch, "entry_points", lambda group: calls.append(group) or entry_points(group=group))
    monkeypatch.setattr(batch, "_standard", None)
    first = batch._plugin_sync()
    assert batch._plugin_sync() == first and calls == ["stepreward"]
    manager.reset()  # a new manager reloads entry points, and so do we
    try:
        assert batch._plugin_sync() == first and len(calls) == 2
    finally:
        manager.reset()
