"""The command line."""

from __future__ import annotations

import json

from _samples import GOOD, KEY_STEPS, SOLUTION

from stepreward.cli import main


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_score_writes_results_and_summary(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, [
        {"id": "a", "label": "correct", "completion": GOOD, "solution": SOLUTION, "key_steps": KEY_STEPS},
        {"id": "b", "label": "wrong", "completion": GOOD.replace("B: 4", "A: 1"), "solution": SOLUTION, "key_steps": KEY_STEPS},
    ])
    assert main(["score", str(src), "-o", str(out), "-q"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert abs(rows[0]["reward"] - 2.1) < 1e-9 and rows[0]["correct"] is True
    assert rows[1]["correct"] is False
    table = capsys.readouterr().out
    assert "ALL" in table and "correct" in table and "2 scored" in table


def test_score_reports_malformed_records_by_line(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"completion": GOOD, "solution": SOLUTION}) + "\n{not json\n"
                   + json.dumps({"completion": GOOD}) + "\n")
    assert main(["score", str(src), "-q"]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "line 3: missing field 'solution'" in err


def test_explain_highlights(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    _write(src, [{"id": "x", "completion": GOOD, "solution": SOLUTION, "key_steps": KEY_STEPS}])
    assert main(["explain", str(src), "--id", "x", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "[answer:B: 4]" in out and "[k1:" in out and "total = 2.1000" in out


def test_plugins_command(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "step_rar" in out and "r1vl-official" in out
