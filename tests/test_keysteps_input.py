"""Parsing the ``key_steps`` column (stepreward.keysteps.parse_key_steps)."""

from __future__ import annotations

import json

import pytest

from stepreward.keysteps import parse_key_steps
from stepreward.types import KeyStep


def test_list_of_strings_and_alternatives() -> None:
    steps = parse_key_steps(["6/3=2", ["x = 3", "x=3.0"]])
    assert steps == (KeyStep(0, ("6/3=2",)), KeyStep(1, ("x = 3", "x=3.0")))


def test_official_dict_and_json_strings() -> None:
    value = {"Steps": [["\\frac{6}{3}=2", "6/3 = 2"], "Pythagorean theorem"]}
    expected = (KeyStep(0, ("\\frac{6}{3}=2", "6/3 = 2")), KeyStep(1, ("Pythagorean theorem",)))
    assert parse_key_steps(value) == expected
    assert parse_key_steps({"steps": value["Steps"]}) == expected
    assert parse_key_steps(json.dumps(value)) == expected
    assert parse_key_steps(json.dumps(value["Steps"])) == expected
    assert parse_key_steps(json.dumps(value).encode()) == expected


@pytest.mark.parametrize("empty", [None, "", "   ", [], (), {"Steps": []}, {"Steps": None}, "[]", "null"])
def test_empty_means_no_key_steps(empty: object) -> None:
    assert parse_key_steps(empty) == ()


def test_cleaning_numbers_blanks_duplicates() -> None:
    steps = parse_key_steps([12, 0.5, [" x=3 ", "x=3", "", "x = 3"]])
    assert steps == (KeyStep(0, ("12",)), KeyStep(1, ("0.5",)), KeyStep(2, ("x=3", "x = 3")))


def test_already_parsed_is_returned_unchanged() -> None:
    steps = parse_key_steps(["a"])
    assert parse_key_steps(steps) is steps
    assert parse_key_steps(list(steps)) == steps


def test_cached() -> None:
    text = json.dumps({"Steps": [["6/3=2", "\\frac{6}{3}=2"]]})
    assert parse_key_steps(text) is parse_key_steps(text)
    assert parse_key_steps([["6/3=2"]]) is parse_key_steps([["6/3=2"]])


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("6/3=2", "not valid JSON"),
        ("{not json", "not valid JSON"),
        (42, "got int"),
        ({"answer": "x"}, "without a 'Steps' key"),
        ([["a", ["nested"]]], "key_steps[0][1] is a list"),
        ([None], "key_steps[0] is a NoneType"),
        (["ok", "  "], "key_steps[1] has no non-empty form"),
        ([[]], "key_steps[0] has no non-empty form"),
        ([True], "key_steps[0] is a bool"),
        ('{"Steps": "x=3"}', "got str"),
    ],
)
def test_malformed_names_the_field(bad: object, hint: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_key_steps(bad)
    msg = str(info.value)
    assert msg.startswith("key_steps:")
    assert hint in msg
    assert "expected a list of strings" in msg
