"""A deterministic, realistic benchmark corpus in the Mulberry format (SPEC §1.2, §3).

``make_corpus(n, seed)`` returns RL records ``{"id", "completion", "solution", "key_steps",
"kind", "label"}`` in groups of M = 4 rollouts per prompt, as GRPO scores them. Ordinary completions are ~300-1,000 tokens (≈1.2-4k characters) with ~6 key
steps written in the forms models actually use (plain, spaced, LaTeX ``\\frac``/``\\times``, ``÷``,
inline ``$...$``), a mix of correct, wrong, partially matched, truncated and badly structured
answers. A slice (``adversarial_frac``) is hostile: exponent towers, 10,000-digit numbers, 500-deep
braces, binary junk, 100k-character floods, repeated sections, unclosed ``\\boxed{``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Problem = tuple[list[list[str]], list[str], str, str]  # key steps, step bodies, answer, description

FILLER = [
    "We read the values from the figure carefully before computing anything.",
    "This agrees with the information given in the image and in the question.",
    "Let us double-check the units so that the final result is consistent.",
    "It is important not to confuse the total with a single part here.",
    "The diagram labels each quantity clearly, so no estimation is needed.",
    "We keep exact fractions until the end to avoid rounding errors.",
    "Note that the question asks for the value in the same unit as the data.",
    "Hence the intermediate result can be reused in the next step.",
]


def _div(rng: random.Random, a: int, b: int, q: int) -> tuple[list[str], str]:
    forms = [f"{a}/{b}={q}", f"\\frac{{{a}}}{{{b}}}={q}", f"{a} divided by {b} equals {q}"]
    shown = rng.choice([f"{a}/{b} = {q}", f"\\frac{{{a}}}{{{b}}} = {q}", f"{a} ÷ {b} = {q}", f"${a} / {b} = {q}$",
                        f"\\dfrac{{{a}}}{{{b}}}={q}"])
    return forms, shown


def _mul(rng: random.Random, a: int, b: int, p: int) -> tuple[list[str], str]:
    forms = [f"{a}*{b}={p}", f"{a} \\times {b} = {p}", f"{a}×{b}={p}"]
    shown = rng.choice([f"{a} \\times {b} = {p}", f"{a} × {b} = {p}", f"{a} \\cdot {b} = {p}", f"{a}*{b}={p}",
                        f"$${a}\\times{b}={p}$$"])
    return forms, shown


def _add(rng: random.Random, terms: list[int], s: int) -> tuple[list[str], str]:
    plain = "+".join(map(str, terms))
    forms = [f"{plain}={s}", f"{' + '.join(map(str, terms))} = {s}"]
    return forms, rng.choice([f"{' + '.join(map(str, terms))} = {s}", f"{plain}={s}", f"${plain} = {s}$"])


def _area(rng: random.Random, style: random.Random) -> Problem:
    k, q, m = rng.randint(2, 9), rng.randint(2, 40), rng.randint(2, 6)
    a = k * q
    d1, s1 = _div(style, a, k, q)
    d2, s2 = _mul(style, q, m, q * m)
    d3, s3 = _add(style, [q * m, q], q * m + q)
    steps = [["equal columns"], ["total area"], d1, d2, d3, [f"{q * m + q} square units"]]
    bodies = [
        f"The rectangle has a total area of {a} square units and is split into {k} equal columns.",
        f"Each column has the same area, so we divide: {s1}.",
        f"The shaded region covers {m} columns, so its area is {s2}.",
        f"Adding one more column gives {s3}, which is {q * m + q} square units.",
    ]
    return steps, bodies, str(q * m + q), f"A rectangle of area {a} divided into {k} equal columns."


def _speed(rng: random.Random, style: random.Random) -> Problem:
    v, t, t2 = rng.randint(3, 90), rng.randint(2, 9), rng.randint(2, 12)
    d = v * t
    d1, s1 = _div(style, d, t, v)
    d2, s2 = _mul(style, v, t2, v * t2)
    d3, s3 = _add(style, [d, v * t2], d + v * t2)
    steps = [["constant speed"], d1, d2, d3, ["distance"], [f"{d + v * t2} km"]]
    bodies = [
        f"The car covers {d} km in {t} hours at a constant speed, so the speed is {s1} km/h.",
        f"In the next {t2} hours it travels {s2} km.",
        f"The total distance is therefore {s3} km.",
    ]
    return steps, bodies, str(d + v * t2), f"A table with distance {d} km and time {t} h for a car."


def _equation(rng: random.Random, style: random.Random) -> Problem:
    a, x, b = rng.randint(2, 12), rng.randint(-20, 30), rng.randint(1, 50)
    c = a * x + b
    steps = [[f"{a}x+{b}={c}", f"{a}x + {b} = {c}"], [f"{a}x={c - b}", f"{a}x = {c - b}"],
             [f"x={x}", f"x = {x}"], ["linear equation"], ["subtract"], ["divide both sides"]]
    bodies = [
        f"The label gives the linear equation {a}x + {b} = {c}.",
        f"We subtract {b} from both sides: {a}x = {c - b}.",
        style.choice([f"Then we divide both sides by {a}: x = {x}.", f"Dividing both sides by {a} gives $x = {x}$."]),
    ]
    return steps, bodies, str(x), "A balance diagram showing an equation with one unknown x."


def _pythagoras(rng: random.Random, style: random.Random) -> Problem:
    m, n = rng.randint(2, 9), rng.randint(1, 8)
    m, n = max(m, n + 1), min(m, n)
    a, b, c = m * m - n * n, 2 * m * n, m * m + n * n
    steps = [["right triangle"], [f"{a}^2+{b}^2=c^2", f"{a}^2 + {b}^2 = c^2"],
             [f"{a * a}+{b * b}={c * c}", f"{a * a} + {b * b} = {c * c}"], [f"c={c}", f"c = {c}"],
             ["hypotenuse"], [f"\\sqrt{{{c * c}}}={c}", f"sqrt({c * c}) = {c}"]]
    bodies = [
        f"The triangle is a right triangle with legs {a} and {b}, so the hypotenuse satisfies {a}^2 + {b}^2 = c^2.",
        f"Computing the squares: {a * a} + {b * b} = {c * c}.",
        style.choice([f"Taking the square root, \\sqrt{{{c * c}}} = {c}, so c = {c}.",
                    f"So c = \\sqrt{{{c * c}}} = {c}; the hypotenuse is c = {c}."]),
    ]
    return steps, bodies, str(c), f"A right triangle with legs labelled {a} and {b}."


def _chart(rng: random.Random, style: random.Random) -> Problem:
    vals = [rng.randint(5, 95) for _ in range(4)]
    s = sum(vals)
    d1, s1 = _add(style, vals, s)
    mean = s / 4
    mean_txt = str(int(mean)) if mean == int(mean) else f"{mean:g}"
    d2, s2 = _div(style, s, 4, mean_txt)  # type: ignore[arg-type]
    steps = [["bar chart"], d1, d2, ["average"], ["four bars"], [f"{mean_txt}"]]
    bodies = [
        f"The bar chart shows four bars with values {', '.join(map(str, vals))}.",
        f"Their sum is {s1}.",
        f"The average is the sum divided by the number of bars: {s2}.",
    ]
    return steps, bodies, mean_txt, "A bar chart with four bars labelled Q1 to Q4."


PROBLEMS: list[Callable[[random.Random, random.Random], Problem]] = [_area, _speed, _equation, _pythagoras, _chart]


def _other(rng: random.Random, answer: str) -> str:
    """A different number than ``answer`` (never the same value written differently)."""
    try:
        return f"{float(answer) + rng.randint(1, 9):g}"
    except ValueError:
        return answer + "1"


def _mc(rng: random.Random, answer: str) -> tuple[str, str, str]:
    """Multiple-choice framing: (gold text, correct option text, a wrong option text)."""
    letters = "ABCD"
    right = rng.randrange(4)
    wrong = rng.choice([i for i in range(4) if i != right])
    return f"{letters[right]}: {answer}", f"{letters[right]}: {answer}", f"{letters[wrong]}: {_other(rng, answer)}"


@dataclass(frozen=True)
class Prompt:
    """One question of the corpus: its rollouts share the numbers, key steps and gold answer."""

    generator: Callable[[random.Random, random.Random], Problem]
    seed: float
    multiple_choice: bool
    header_in_solution: bool

    @staticmethod
    def draw(rng: random.Random) -> Prompt:
        return Prompt(rng.choice(PROBLEMS), rng.random(), rng.random() < 0.4, rng.random() < 0.7)


def _ordinary(rng: random.Random, i: int, prompt: Prompt) -> dict[str, Any]:
    """One rollout for ``prompt``: its wording, filler, label and length drawn from ``rng``."""
    numbers_rng = random.Random(prompt.seed)  # the same numbers for every rollout of the prompt
    steps, bodies, answer, desc = prompt.generator(numbers_rng, rng)
    if prompt.multiple_choice:
        gold, right, wrong = _mc(numbers_rng, answer)
    else:
        gold, right, wrong = answer, answer, _other(rng, answer)
    label = rng.choices(["correct", "wrong", "partial", "truncated", "misordered", "boxed"],
                        weights=[40, 15, 15, 10, 10, 10])[0]
    target_chars = rng.randint(1_200, 4_000)
    body_list = list(bodies)
    if label == "partial":
        body_list = body_list[: max(1, len(body_list) - 2)]
    parts = [f"### Image Description:\n{desc} {' '.join(rng.sample(FILLER, 2))}",
             f"### Rationales:\nThe question asks for a single value. {rng.choice(FILLER)}",
             "### Let's think step by step."]
    step_texts = [f"{b} {rng.choice(FILLER)}" for b in body_list]
    while sum(map(len, parts)) + sum(map(len, step_texts)) < target_chars:
        j = rng.randrange(len(step_texts))
        step_texts[j] += " " + rng.choice(FILLER)
    numbers = list(range(1, len(step_texts) + 1))
    if label == "misordered" and len(numbers) > 1:
        numbers[0], numbers[1] = numbers[1], numbers[0]
    parts += [f"### Step {n}:\n{t}" for n, t in zip(numbers, step_texts, strict=True)]
    final = wrong if label == "wrong" else right
    if label == "boxed":
        parts.append(f"### The final answer is:\n\\boxed{{{final}}}")
    else:
        parts.append(f"### The final answer is:\n{final}")
    completion = "\n".join(parts)
    if label == "truncated":
        completion = completion[: int(len(completion) * rng.uniform(0.5, 0.95))]
    return {
        "id": f"o{i}",
        "completion": completion,
        "solution": f"### The final answer is:\n{gold}" if prompt.header_in_solution else gold,
        "key_steps": {"Steps": steps},
        "kind": "ordinary",
        "label": label,
    }


def _adversarial(rng: random.Random, i: int, prompt: Prompt) -> dict[str, Any]:
    base = _ordinary(rng, i, prompt)
    head = base["completion"][: rng.randint(200, 1200)]
    kind = rng.choice(["tower", "digits", "braces", "binary", "flood", "repeat", "unclosed", "unicode", "latexbomb"])
    answer_section = "### The final answer is:\n"
    if kind == "tower":
        tail = "### Step 1:\n" + "x = 5^{5^{5^5}} so 9^{9^{9}} = 9^{387420489}\n" + answer_section + "5^{5^{5^{5^5}}}"
    elif kind == "digits":
        tail = "### Step 1:\n" + "9" * 10_000 + " / 3 = " + "3" * 10_000 + "\n" + answer_section + "1" * 10_000
    elif kind == "braces":
        tail = "### Step 1:\n" + "{" * 500 + "x" + "}" * 500 + "\n" + answer_section + "\\frac" + "{1" * 500 + "}" * 500
    elif kind == "binary":
        tail = "".join(chr(rng.randrange(0, 0x2FF)) for _ in range(3_000)) + answer_section + "\x00\x01\x02"
    elif kind == "flood":
        tail = ("### Step 1:\n" + "1+" * 50_000 + "1 = 50001\n") + answer_section + "50001"
    elif kind == "repeat":
        tail = "".join(f"### Step {k}:\n6/3 = 2\n" for k in range(1, 2_000)) + (answer_section + "2\n") * 50
    elif kind == "unclosed":
        tail = "### Step 1:\n\\boxed{5}\n" + answer_section + "\\boxed{7" + " \\frac{" * 200
    elif kind == "unicode":
        tail = "".join(rng.choice("∑∫√π∞≠≤≥÷×αβγ🙂\u202e\u200b") for _ in range(5_000)) + answer_section + "√(−1)"
    else:
        tail = "### Step 1:\n" + "\\sqrt{" * 35 + "2" + "}" * 35 + "^{" * 30 + "2" + "}" * 30 + "\n" + answer_section + (
            "\\int_0^{10^{10}} e^{x^{x^{x}}} dx"
        )
    return {**base, "id": f"a{i}", "completion": head + "\n" + tail, "kind": "adversarial", "label": kind}


def make_corpus(
    n: int = 2_000, seed: int = 0, adversarial_frac: float = 0.05, group: int = 4
) -> list[dict[str, Any]]:
    """``n`` records, the same for the same arguments; about ``adversarial_frac`` of them hostile.

    Records come in groups of ``group`` rollouts of one prompt (GRPO's M; the paper uses 4), as a
    trainer scores them: the rollouts of a prompt share its gold answer and key steps, and differ in
    wording, length, label and correctness. ``group=1`` makes every record a new prompt.
    """
    if group < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    rng = random.Random(seed)
    n_adv = math.ceil(n * adversarial_frac) if adversarial_frac > 0 else 0
    kinds = ["adversarial"] * n_adv + ["ordinary"] * (n - n_adv)
    rng.shuffle(kinds)
    records = []
    for i, kind in enumerate(kinds):
        if i % group == 0:
            prompt = Prompt.draw(rng)
        records.append((_adversarial if kind == "adversarial" else _ordinary)(rng, i, prompt))
    return records


def approx_tokens(text: str) -> int:
    """A rough token count (≈4 characters per token for English + math)."""
    return max(1, len(text) // 4)
