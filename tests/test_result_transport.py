"""Results crossing process boundaries: compact pickles decoded on first access; GC pauses."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle

import pytest
from _samples import GOOD, KEY_STEPS, SOLUTION

import stepreward
from stepreward._gcpause import gc_paused
from stepreward.batch import score_batch
from stepreward.scoring import ScoreResult


@pytest.fixture(scope="module")
def result() -> ScoreResult:
    return stepreward.score(GOOD, solution=SOLUTION, key_steps=KEY_STEPS)


def test_unpickled_result_decodes_its_explanation_on_first_access(result):
    restored = pickle.loads(pickle.dumps(result))
    assert set(restored.__dict__) == {"total", "components", "failures", "preset", "_packed"}
    assert restored.total == result.total and restored.components == result.components
    assert restored.key_steps == result.key_steps  # decoded here, all lazy fields at once
    assert "_packed" not in restored.__dict__
    assert restored.structure == result.structure and restored.answer == result.answer


def test_unpickled_result_behaves_like_the_original(result):
    restored = pickle.loads(pickle.dumps(result))
    assert restored == result and result == restored
    assert repr(restored) == repr(result)
    assert dataclasses.asdict(pickle.loads(pickle.dumps(result))) == dataclasses.asdict(result)
    assert copy.deepcopy(result) == result
    assert pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(result)))) == result  # re-pickled while packed
    assert pickle.loads(pickle.dumps(result)).explain(GOOD) == result.explain(GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        restored.total = 0.0  # type: ignore[misc]
    assert not hasattr(restored, "no_such_field")


def test_defaults_still_apply_to_results_built_directly():
    r = ScoreResult(total=1.0, components={"x": 1.0})
    assert (r.breakdown, r.answer, r.key_steps, r.structure, r.failures) == ({}, None, None, None, ())


def test_pooled_results_arrive_packed_and_decode_to_the_serial_ones():
    recs = [{"completion": GOOD.replace("6/3 = 2", f"6/3 = {k}"), "solution": SOLUTION, "key_steps": KEY_STEPS}
            for k in range(8)]
    pooled = score_batch(recs, workers=2).results
    assert all("_packed" in r.__dict__ for r in pooled)  # only total/components/failures/preset decoded
    assert pooled == [stepreward.score(r["completion"], solution=SOLUTION, key_steps=KEY_STEPS) for r in recs]
    assert not any("_packed" in r.__dict__ for r in pooled)


def test_gc_paused_restores_the_callers_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block does not re-enable it early
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's disabled collector stays disabled
    finally:
        gc.enable()


def test_a_large_pause_promotes_the_young_generation_unscanned_and_loses_no_garbage():
    from stepreward._gcpause import PROMOTE_ABOVE

    gc.collect()
    with gc_paused():
        kept = [[] for _ in range(PROMOTE_ABOVE + 1000)]  # survivors of a large batch
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle  # cyclic garbage made during the pause
    assert gc.isenabled()
    assert gc.get_count()[0] < 100  # the young generation was not left to be scanned...
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(kept[0]) in oldest and id(kept[-1]) in oldest  # ...it went to the oldest one
    assert gc.get_freeze_count() == 0
    assert gc.collect() >= 1  # the cycle is still collected by a full collection


def test_a_process_that_freezes_objects_keeps_them_frozen():
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            kept = [[] for _ in range(30_000)]
        assert gc.get_freeze_count() == frozen  # not unfrozen (nor joined) by the pause
        assert len(kept) == 30_000
    finally:
        gc.unfreeze()


def test_scoring_creates_no_reference_cycles():
    """What makes pausing the collector during a batch safe (stepreward._gcpause)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from corpus import make_corpus

    recs = make_corpus(60, seed=11, adversarial_frac=0.2)
    score_batch(recs[:5])  # imports and caches first
    gc.collect()
    gc.disable()
    try:
        score_batch(recs)
        assert gc.collect() == 0
    finally:
        gc.enable()
