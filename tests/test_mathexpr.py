"""The safe expression parser/evaluator (stepreward.mathexpr) and the normaliser behind it."""

from __future__ import annotations

import pickle
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepreward.guard import GuardRefused
from stepreward.mathexpr import (
    Expr,
    MathParseError,
    equivalent,
    free_symbols,
    gate_numbers,
    numbers,
    parse,
    parse_relation,
    value,
)
from stepreward.normalize import normalize


def v(text: str):
    return value(parse(text))


def eq(a: str, b: str) -> bool:
    return equivalent(parse(a), parse(b))


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\\frac{6}{3}=2", "6/3=2"),
        ("\\dfrac{6}{3} = 2", "6/3=2"),
        ("\\tfrac{6}{3} = 2", "6/3=2"),
        ("6 / 3 = 2", "6/3=2"),
        ("6 ÷ 3 = 2", "6/3=2"),
        ("6 \\div 3 = 2", "6/3=2"),
        ("2 \\times 3 \\cdot 4 × 5 * 6", "2*3*4*5*6"),
        ("5 − 3 – 1", "5-3-1"),
        ("\\left( x+1 \\right)^2", "(x+1)^2"),
        ("$x\\!=\\,3$", "x=3"),
        ("30^\\circ + 40^{\\circ} + 50°", "30°+40°+50°"),
        ("\\text{Area} = 6\\,\\mathrm{cm}", "Area=6 cm"),
        ("1,000 + 12,345,678", "1000+12345678"),
        ("(1,2,345)", "(1,2,345)"),
        ("(1,2)", "(1,2)"),
        ("1{,}000", "1000"),
        ("x² + y³", "x^2+y^3"),
        ("2\\frac{1}{2}", "2(1/2)"),
        ("1/\\frac{2}{3}", "1/(2/3)"),
        ("\\frac{x+1}{2x}", "(x+1)/(2x)"),
        ("\\frac{\\frac{1}{2}}{3}", "(1/2)/3"),
        ("\\sqrt\\frac{1}{4}", "\\sqrt(1/4)"),
        ("a \\le b \\neq c \\geq d", "a<=b!=c>=d"),
        ("Step 1:\n\n   x  =  3", "Step 1:\nx=3"),
        ("once more. 6 / 3", "once more. 6/3"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_normalize_lower_and_offsets() -> None:
    raw = "We get \\frac{6}{3}=2 So"
    n = normalize(raw, lower=True)
    assert n.text == "we get 6/3=2 so"
    i = n.text.index("6/3=2")
    assert n.span(i, i + 5) == (7, 20)
    assert raw[7:20] == "\\frac{6}{3}=2"
    j = n.text.index("so")
    assert raw[slice(*n.span(j, j + 2))] == "So"


@given(st.text(max_size=300))
@settings(max_examples=150, deadline=None)
def test_normalize_offsets_always_valid(raw: str) -> None:
    n = normalize(raw, lower=True)
    prev = 0
    for i in range(len(n.text)):
        s, e = n.span(i, i + 1)
        assert 0 <= s < e <= len(raw)
        assert s >= prev  # order is kept
        prev = s
    a, b = n.span(0, len(n.text))
    assert 0 <= a <= b <= len(raw)
    assert n.span(len(n.text), len(n.text))[0] <= len(raw)


# --- parsing and values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6/3", Fraction(2)),
        ("\\frac{6}{3}", Fraction(2)),
        ("6 ÷ 3", Fraction(2)),
        ("2^10", Fraction(1024)),
        ("2**10", Fraction(1024)),
        ("-2^2", Fraction(-4)),
        ("2^{-1}", Fraction(1, 2)),
        ("0.1+0.2", Fraction(3, 10)),
        ("50\\%", Fraction(1, 2)),
        ("50%", Fraction(1, 2)),
        ("30°", Fraction(30)),
        ("30^\\circ", Fraction(30)),
        ("\\sqrt{16}", Fraction(4)),
        ("\\sqrt[3]{8}", Fraction(2)),
        ("\\sqrt{\\frac{9}{4}}", Fraction(3, 2)),
        ("8^{2/3}", Fraction(4)),
        ("(1+2)(3+4)", Fraction(21)),
        ("2(3)", Fraction(6)),
        ("[2+1]\\cdot 2", Fraction(6)),
        ("\\left(\\frac{1}{2}\\right)^2", Fraction(1, 4)),
        ("1,000", Fraction(1000)),
        ("1e-3", Fraction(1, 1000)),
        ("1/2^{99}", Fraction(1, 2**99)),
        ("3 − 5", Fraction(-2)),
    ],
)
def test_exact_values(text: str, expected: Fraction) -> None:
    got = v(text)
    assert isinstance(got, Fraction)
    assert got == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3\\sqrt{2}", 3 * 2**0.5), ("2\\pi", 6.283185307179586), ("2π", 6.283185307179586), ("e^{2}", 7.38905609893065)],
)
def test_float_values(text: str, expected: float) -> None:
    assert v(text) == pytest.approx(expected, rel=1e-12)


def test_complex_and_undefined_values() -> None:
    assert v("\\sqrt{-4}") == 2j
    assert v("1/0") is None
    assert v("0^{-1}") is None
    assert v("x+1") is None
    assert v("7^{99999}") is None  # too large to evaluate exactly: refused, not computed


def test_implicit_multiplication_and_symbols() -> None:
    e = parse("2x")
    assert e == Expr("*", (Expr("num", (Fraction(2),)), Expr("sym", ("x",))))
    assert free_symbols(parse("2ab + x_1 + x_{12} + \\alpha")) == {"ab", "x_1", "x_12", "alpha"}  # AB is a name
    assert free_symbols(parse("2a b")) == {"a", "b"}  # letters apart: a product
    assert not equivalent(parse("ABC"), parse("ACB"))  # angle names, not products
    assert free_symbols(parse("2\\pi r")) == {"r"}
    assert free_symbols(parse("e^x")) == {"x"}  # e is Euler's number
    assert str(parse("1/2x")) == "((1 / 2) * x)"  # left to right: (1/2)*x


def test_relations() -> None:
    r = parse_relation("a = b = c")
    assert r.ops == ("=", "=") and len(r.sides) == 3
    assert parse_relation("x \\le 3").ops == ("<=",)
    assert parse_relation("x \\geq 3").ops == (">=",)
    assert parse_relation("x \\neq 3").ops == ("!=",)
    assert parse_relation("x ≤ 3 < y").ops == ("<=", "<")
    single = parse_relation("x + 1")
    assert single.ops == () and single.sides == (parse("x + 1"),)
    with pytest.raises(MathParseError):
        parse("x = 3")


@pytest.mark.parametrize("text", ["", "area", "2 3", "sin(x)", "\\int x", "(1+2", "1+", "x_{n+1}", "{}", "#"])
def test_outside_grammar(text: str) -> None:
    with pytest.raises(MathParseError):
        parse(text)


@pytest.mark.parametrize(
    "text",
    ["5^{5^{5^5}}", "2^2^2^2", "(" * 60 + "1" + ")" * 60, "9" * 150, "2^{100000}", "1e5000", "1+" * 2000 + "1"],
)
def test_guards_refuse_fast(text: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(GuardRefused):
        parse(text)
    assert time.perf_counter() - t0 < 0.05


def test_numbers_and_gate_numbers() -> None:
    assert numbers(parse("6/3 + 2x")) == (Fraction(6), Fraction(3), Fraction(2))
    assert gate_numbers(parse("6/3")) == (Fraction(3), Fraction(6))
    assert gate_numbers(parse("4/2")) == (Fraction(2), Fraction(4))
    assert gate_numbers(parse("1/2")) == gate_numbers(parse("0.5")) == (Fraction(1, 2),)
    assert gate_numbers(parse("3.0")) == gate_numbers(parse("3"))


def test_ast_is_hashable_and_picklable() -> None:
    e = parse("\\frac{x+1}{2} + \\sqrt[3]{y} - 50\\%")
    assert pickle.loads(pickle.dumps(e)) == e
    assert hash(e) == hash(parse("\\frac{x+1}{2} + \\sqrt[3]{y} - 50\\%"))
    with pytest.raises(AttributeError):
        e.op = "+"  # type: ignore[misc]


# --- equivalence ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("x+1", "1+x"),
        ("(x+1)^2", "x^2+2x+1"),
        ("2(a+b)", "2a+2b"),
        ("\\frac{x}{2}", "0.5x"),
        ("\\sqrt{8}", "2\\sqrt{2}"),
        ("0.5", "1/2"),
        ("6/3", "2"),
        ("2^{5000}", "2^{5000}"),
        ("\\pi r^2", "r^2\\pi"),
        ("x_1 + x_2", "x_2 + x_1"),
    ],
)
def test_equivalent(a: str, b: str) -> None:
    assert eq(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("x+1", "x-1"),
        ("1/2^{99}", "1/2^{98}"),
        ("2^{-1000}", "2^{-1001}"),
        ("x", "y"),
        ("x^2", "x^3"),
        ("0.5", "50"),
        ("3", "3\\sqrt{2}"),
        ("1/0", "0/1"),
        ("\\sqrt{2}", "1.41421356"),
    ],
)
def test_not_equivalent(a: str, b: str) -> None:
    assert not eq(a, b)


@given(st.integers(-(10**6), 10**6), st.integers(1, 10**6))
@settings(max_examples=100, deadline=None)
def test_fraction_roundtrip(p: int, q: int) -> None:
    assert v(f"\\frac{{{p}}}{{{q}}}") == Fraction(p, q)
    assert eq(f"{p}/{q}", f"\\frac{{{p}}}{{{q}}}")
    assert not eq(f"{p}/{q}", f"{p + 1}/{q}")


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_parses_or_refuses_cleanly(text: str) -> None:
    try:
        r = parse_relation(text)
    except (MathParseError, GuardRefused):
        return
    for side in r.sides:
        value(side)
        equivalent(side, side)
