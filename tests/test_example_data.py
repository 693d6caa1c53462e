"""examples/data: records load, fields are well-formed, and each label shows what it claims."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from stepreward.config import R1VL_OFFICIAL
from stepreward.keysteps import parse_key_steps
from stepreward.plugins import official
from stepreward.plugins.structure import validate_structure
from stepreward.schema import MULBERRY, THINK_ANSWER
from stepreward.types import Answer

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
H = "### The final answer is:"

BASE_LABELS = {
    "correct", "correct_latex", "wrong_answer", "truncated", "steps_out_of_order",
    "missing_sections", "junk_after_answer", "think_answer",
}
SPECIAL_LABELS = {
    "self_correction", "repeated_sections", "two_answers", "wrong_letter_right_number", "letter_only",
    "lowercase_yes", "correct_plain_fraction", "truncated_last_number_right", "substring_quirk",
    "spacing_variant",
}


def _load(name: str) -> list[dict]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


QUESTIONS = _load("mulberry_rl.jsonl")
COMPLETIONS = _load("completions.jsonl")
BY_QID = {q["id"]: q for q in QUESTIONS}


def _by_label(label: str) -> list[dict]:
    return [c for c in COMPLETIONS if c["label"] == label]


def test_question_records_have_the_rl_fields():
    assert len(QUESTIONS) == 12 and len(BY_QID) == 12
    for q in QUESTIONS:
        assert set(q) == {"id", "image_path", "problem", "solution", "key_steps"}
        assert q["problem"].strip() and q["solution"].startswith(f"{H}\n")
        assert q["solution"][len(H) + 1 :].strip()
        assert isinstance(q["key_steps"], dict) and list(q["key_steps"]) == ["Steps"]
        steps = parse_key_steps(q["key_steps"])
        assert len(steps) == len(q["key_steps"]["Steps"]) >= 1
        assert all(form.strip() for s in steps for form in s.forms)


def test_images_exist_and_are_tiny_pngs():
    paths = [q["image_path"] for q in QUESTIONS if q["image_path"] is not None]
    assert len(paths) == 11 and any(q["image_path"] is None for q in QUESTIONS)
    for rel in paths:
        raw = (DATA / rel).read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
        assert struct.unpack(">II", raw[16:24]) == (64, 64)
        assert len(raw) < 2048


def test_make_images_reproduces_the_committed_images(tmp_path):
    pytest.importorskip("PIL")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_images", DATA / "make_images.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for q in QUESTIONS:
        if q["image_path"]:
            out = tmp_path / "x.png"
            mod.draw(q["id"]).save(out, optimize=True)
            assert out.read_bytes() == (DATA / q["image_path"]).read_bytes(), q["id"]


def test_completion_records_are_well_formed():
    ids = [c["id"] for c in COMPLETIONS]
    assert len(ids) == len(set(ids)) >= 60
    for c in COMPLETIONS:
        assert set(c) == {"id", "completion", "solution", "key_steps", "label"}
        q = BY_QID[c["id"].split(".")[0]]
        assert c["solution"] == q["solution"] and c["key_steps"] == q["key_steps"]
        assert isinstance(c["completion"], str) and c["completion"].strip()
        assert parse_key_steps(c["key_steps"])
    assert {c["label"] for c in COMPLETIONS} == BASE_LABELS | SPECIAL_LABELS
    for q in QUESTIONS:  # several completions per question, the three basic ones always
        labels = {c["label"] for c in COMPLETIONS if c["id"].startswith(q["id"] + ".")}
        assert {"correct", "correct_latex", "wrong_answer"} <= labels and len(labels) >= 5


def test_correct_completions_state_the_gold_and_every_key_step():
    for c in _by_label("correct"):
        assert c["completion"].rstrip().endswith(c["solution"].split("\n", 1)[1])
        text = c["completion"].lower()
        for step in parse_key_steps(c["key_steps"]):
            assert any(f.lower() in text for f in step.forms), (c["id"], step.forms)


@pytest.mark.parametrize(
    ("label", "valid"),
    [
        ("correct", True), ("correct_latex", True), ("wrong_answer", True), ("truncated", False),
        ("steps_out_of_order", False), ("missing_sections", False), ("junk_after_answer", False),
        ("repeated_sections", False), ("two_answers", False), ("think_answer", False),
    ],
)
def test_structure_labels_match_the_mulberry_validator(label, valid):
    rows = _by_label(label)
    assert rows
    for c in rows:
        rep = validate_structure(c["completion"], MULBERRY)
        assert rep.valid is valid, (c["id"], rep.reasons)


def test_think_answer_completions_fit_their_schema():
    for c in _by_label("think_answer"):
        assert validate_structure(c["completion"], THINK_ANSWER).valid, c["id"]


@pytest.mark.parametrize(
    ("label", "official_correct"),
    [
        ("wrong_letter_right_number", True), ("truncated_last_number_right", True), ("two_answers", True),
        # "B" for gold "B: 8": nothing parses after the anchor, so math-verify reads the last number of
        # the whole text, the 8 of "8 is choice B." in the steps
        ("letter_only", True), ("lowercase_yes", False), ("self_correction", False), ("correct", True),
    ],
)
def test_quirk_labels_behave_as_documented_under_the_official_rules(label, official_correct):
    for c in _by_label(label):
        pred = Answer(c["completion"], "raw", "test")
        gold = Answer(c["solution"], "raw", "test")
        v = official.stepreward_compare_answers(pred=pred, gold=gold, config=R1VL_OFFICIAL)
        assert v.equal is official_correct, (c["id"], v)


def test_substring_quirk_and_spacing_variant_under_the_official_matcher():
    (quirk,) = _by_label("substring_quirk")
    rep = official.stepreward_match_key_steps(
        text=quirk["completion"], key_steps=parse_key_steps(quirk["key_steps"]), config=R1VL_OFFICIAL
    )
    assert rep.steps[1].matched and rep.steps[1].matched_text == "x = 3"  # inside "x = 30"
    (spaced,) = _by_label("spacing_variant")
    rep = official.stepreward_match_key_steps(
        text=spaced["completion"], key_steps=parse_key_steps(spaced["key_steps"]), config=R1VL_OFFICIAL
    )
    assert rep.score == 0.0  # "70+80+90 = 240" and "240/3 = 80" are not literal forms
