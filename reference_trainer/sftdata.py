"""Warm-up SFT records from RL questions and reference completions (Mulberry sharegpt format).

R1-VL warms the policy up on Mulberry chain-of-thought data before StepGRPO. For the shipped
example data the reasoning paths are the ``correct`` / ``correct_latex`` completions of
``examples/data/completions.jsonl``; each is joined to its question in ``mulberry_rl.jsonl``
(completion id ``q04.2`` -> question id ``q04``) and written as a LLaMA-Factory sharegpt record
(SPEC §3) that ``python -m reference_trainer sft`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .data import IMAGE_PLACEHOLDER, read_jsonl

DEFAULT_LABELS = ("correct", "correct_latex")


def sharegpt_records(questions_file: str | Path, completions_file: str | Path,
                     labels: Iterable[str] = DEFAULT_LABELS, *, image_root: str | Path | None = None,
                     max_questions: int | None = None) -> list[dict[str, Any]]:
    """One sharegpt record per completion whose ``label`` is in ``labels`` and whose question is among the
    first ``max_questions`` of ``questions_file``; image paths are made absolute (relative to ``image_root``,
    default the questions' folder), so the records can be written anywhere."""
    questions_file = Path(questions_file)
    root = Path(image_root or questions_file.parent).resolve()
    questions = {q["id"]: q for q in read_jsonl(questions_file, max_questions) if "id" in q}
    if not questions:
        raise ValueError(f"{questions_file}: no record has an 'id'. Fix: completions are joined to questions by id "
                         "(completion 'q04.2' -> question 'q04').")
    wanted = set(labels)
    records = []
    for c in read_jsonl(completions_file):
        q = questions.get(str(c.get("id", "")).rsplit(".", 1)[0])
        if q is None or c.get("label") not in wanted:
            continue
        image = q.get("image_path")
        records.append({
            "id": c["id"],
            "messages": [{"role": "user", "content": (IMAGE_PLACEHOLDER if image else "") + q["problem"]},
                         {"role": "assistant", "content": c["completion"]}],
            "images": [str(root / image)] if image else [],
        })
    if not records:
        raise ValueError(f"{completions_file}: no completion with a label in {sorted(wanted)} belongs to a question "
                         f"of {questions_file}. Fix: use the questions file the completions were written for.")
    return records


def write_sharegpt(records: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
