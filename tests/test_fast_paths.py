"""The hot path's fast paths give exactly what the plain algorithms give.

Scoring speed comes from shortcuts (literal-led regexes, jumps between special characters,
skipped no-op edits, caches); each is checked here against a straightforward reference, on
hypothesis-generated text built from the characters each shortcut cares about.
"""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stepreward import mathruns, schema
from stepreward.answers.latex import match_braces, split_top
from stepreward.keystep_search import SearchDoc, find_bounded, first_bounded, occurrences
from stepreward.normalize import (
    _UNI_RE,
    NON_ASCII_RUN_RE,
    _lower,
    _uni_pass,
    _uni_repl,
    _uni_translate,
    _ws_pass,
    _ws_pass_generic,
    normalize,
)
from stepreward.plugins import extract
from stepreward.plugins.structure import answer_extent
from stepreward.textedits import Normalized, sub

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _texts(*pieces: str, max_size: int = 30) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), max_size=max_size).map("".join)


def _same_mapping(text: str, a: tuple[str, list], b: tuple[str, list]) -> None:
    assert a[0] == b[0]
    na, nb = Normalized(a[0], len(text), 0, tuple(a[1])), Normalized(b[0], len(text), 0, tuple(b[1]))
    for i in range(len(a[0]) + 1):
        for j in range(i, min(len(a[0]), i + 3) + 1):
            assert na.span(i, j) == nb.span(i, j), (text, i, j)


def _run(fn, text: str) -> tuple[str, list]:
    layers: list = []
    return fn(text, layers), layers


@given(_texts(" ", "\n", "  ", "\t", "a", "Z", "9", ".", ",", "=", "+", "_", "(", "é", "π", "\u00a0", ". 5", "5 ,", "x = 3",
              "÷", "ß", "\u0663", "\u1369", "\u00b2", "Ａ", "\u2167"))
@PROPS
def test_whitespace_fast_paths_match_the_generic_pass(text: str) -> None:
    _same_mapping(text, _run(_ws_pass, text), _run(_ws_pass_generic, text))


@given(_texts(" ", "\n", "  ", " \n", "\n\n", "\n ", "a", "9", ".", ",", "=", "(", "é", "π", ". 5", "5 ,", "x = 3",
              "\u00a0", "\u0663"))
@PROPS
def test_whitespace_runs_then_lone_spaces_match_the_generic_pass(text: str) -> None:
    # no tab: every example takes a fast path (runs rewritten first, then the lone-space split)
    _same_mapping(text, _run(_ws_pass, text), _run(_ws_pass_generic, text))


def test_unicode_alnum_class_is_str_isalnum_for_every_code_point() -> None:
    alnum = re.compile(r"[^\W_]")
    assert [cp for cp in range(sys.maxunicode + 1) if chr(cp).isalnum() != bool(alnum.match(chr(cp)))] == []


def test_the_digit_superset_holds_every_non_ascii_digit() -> None:
    from stepreward.normalize import _DIGIT_SUPERSET_RE, _has_non_ascii_digit

    digits = [chr(cp) for cp in range(0x80, sys.maxunicode + 1) if chr(cp).isdigit()]
    assert len(digits) > 700 and [c for c in digits if not _DIGIT_SUPERSET_RE.match(c)] == []
    assert not _DIGIT_SUPERSET_RE.match("7") and _has_non_ascii_digit("x\u00b2") and _has_non_ascii_digit("\u0663")
    assert not _has_non_ascii_digit("π = 3.14 ½ Ⅷ ∑")  # numerics that are not digits to str.isdigit()


@given(_texts("a", " ", "π", "é", "÷", "×", "²", "³", "⁻", "¹", "\u200b", "\u202e", "Ａ", "∑", "ſ", "🙂"))
@PROPS
def test_unicode_pass_skips_only_edits_that_change_nothing(text: str) -> None:
    _same_mapping(text, _run(_uni_pass, text), _run(lambda t, la: sub(_UNI_RE, _uni_repl, t, la), text))


@given(_texts("a", " ", "²", "³⁻¹", "\u200b", "≤", "中文中文中文中文中文", "ﬁ∑ſ🙂Ａé÷×≠", "x=1", max_size=40))
@PROPS
def test_unicode_pass_with_superscripts_and_long_runs_matches_the_reference(text: str) -> None:
    """Superscript runs first, then the long-run translation (or per-character edits)."""
    _same_mapping(text, _run(_uni_pass, text), _run(lambda t, la: sub(_UNI_RE, _uni_repl, t, la), text))


@given(_texts("a", " ", "π", "é", "÷", "×", "≠", "≤", "\u200b", "\u202e", "Ａ", "∑", "ſ", "🙂", "ﬁ", "٣", "中文", "x=1",
              max_size=60))
@PROPS
def test_translate_path_of_the_unicode_pass_maps_like_the_plain_pass(text: str) -> None:
    runs = list(NON_ASCII_RUN_RE.finditer(text))
    _same_mapping(text, _run(lambda t, la: _uni_translate(t, runs, la), text),
                  _run(lambda t, la: sub(_UNI_RE, _uni_repl, t, la), text))


@pytest.mark.parametrize(("latex", "expected"), [
    ("\\left( \\frac{6}{3} \\right) \\times 2 = 4", "(6/3)*2=4"),
    ("\\$5 and 50\\% of {1{,}000}", "5 and 50%of{1000}"),
    ("x \\le 3, y\\geq 2, z \\ne \\pi", "x<=3,y>=2,z!=π"),
    ("\\text{area} = 12\\,\\mathrm{cm}^2", "area=12 cm^2"),
    ("a\\!b \\; c\\quad d", "ab c d"),
    ("$$x^{\\circ}$$ \\(y\\) \\[z\\]", "x°y z"),
    ("\\bigl[ 1 \\bigr] \\left\\{ 2 \\right\\} \\left. 3 \\right|", "[1]{2}3|"),
    ("\\dfrac{1}{2} + \\tfrac12", "1/2+1/2"),
    ("\\pix \\lex", "\\pix\\lex"),
    ("30^\\circ and 45 ^ {\\circ }", "30°and 45°"),
])
def test_latex_tokens(latex: str, expected: str) -> None:
    assert normalize(latex).text == expected


_SEEDS = re.compile(r"[\d=<>+\-*/^\u03c0\u221a\\]+")
_PLAIN_RUN = re.compile(mathruns._ATOM + r"(?:" + mathruns._ATOM + r"| (?=" + mathruns._ATOM + r"))*")


def _reference_runs(t: str) -> list[tuple[int, int]]:
    """Windows merged seed by seed, and the run pattern as first written."""
    windows: list[tuple[int, int]] = []
    for m in _SEEDS.finditer(t):
        lo, hi = max(0, m.start() - mathruns.SEED_REACH), min(len(t), m.end() + mathruns.SEED_REACH)
        if windows and lo <= windows[-1][1]:
            lo = windows.pop()[0]
        windows.append((lo, hi))
    return [m.span() for lo, hi in windows for m in _PLAIN_RUN.finditer(t, lo, hi)
            if mathruns._SIGNIFICANT_RE.search(t, m.start(), m.end())]


@given(_texts("a", "b", "x", " ", "=", "1", "+", "1.5", ".5", "<=", "!=", ">", "*", "/", "^", "_", "%", "(", ")",
              "\\frac", "sqrt", "word ", "2ab", "ab(", "π", "√", "\n", "-", "a" * 30, " " * 40, "é", "\u0663", "中文"))
@PROPS
def test_math_runs_match_the_plain_search(text: str) -> None:
    assert [m.span() for m in mathruns._runs(text)] == _reference_runs(text)




def _plain_clean(t: str, a: int, b: int) -> tuple[int, int]:
    while a < b and t[a] in " *":
        a += 1
    while b > a and t[b - 1] in " *":
        b -= 1
    depth = low = 0
    for c in t[a:b]:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            low = min(low, depth)
    while low < 0 and b > a and t[b - 1] in ")]}":
        b, low, depth = b - 1, low + 1, depth + 1
    while depth > 0 and a < b and t[a] in "([{":
        a, depth = a + 1, depth - 1
    while a < b and t[a] == " ":
        a += 1
    return a, b


@given(_texts("1", "+", "=", "<", ">", "!", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", " ", "*", "x", "1+" * 40,
              max_size=60))
@PROPS
def test_long_runs_split_like_the_plain_scan(run: str) -> None:
    ops = list(mathruns.REL_RE.finditer(run))
    bounds = [0, *[x for m in ops for x in m.span()], len(run)]
    sides = [_plain_clean(run, bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    assert mathruns._split_run(run) == (sides, [m.group() for m in ops])


@given(_texts("a", "A", "\u0130", "\u03a3", "\u03c3", " ", "\u1e9e", "x.", "Ab", max_size=20))
@PROPS
def test_lowercasing_keeps_characters_whose_lowercase_is_longer(text: str) -> None:
    low = text.lower()
    expected = low if len(low) == len(text) else "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    assert _lower(text) == expected

_PIECE = _texts("a", "x", " ", "=", "1", "+", "6/3", "<=", "(", ")", "word ", "2ab", "-", "\n-", "- ", "\n", "a " * 20,
                "sqrt", "π", "é", max_size=12)


@given(st.lists(_PIECE, min_size=1, max_size=4), st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["#", " ", "x"])),
                                                       min_size=1, max_size=12))
@example(pieces=["-"], order=[(0, " "), (0, "x")])  # the same "-" is a bullet once, then not
@example(pieces=["a " * 20 + "=1"], order=[(0, "#"), (0, "#")])  # a run longer than a seed window
@PROPS
def test_chains_skip_repeated_sections_only_when_that_changes_nothing(pieces: list[str], order: list[tuple[int, str]]) -> None:
    # searched sections that repeat, each followed by some other text (a "-" ending a section is
    # a bullet or not by what follows it): chains with repeats skipped == a full scan
    text, spans = "", []
    for i, after in order:
        body = pieces[i % len(pieces)]
        spans.append((len(text), len(text) + len(body)))
        text += body + after
    doc = SearchDoc(text, spans)
    assert doc.chains == mathruns.math_chains(doc.norm.text, doc._bullets(), distinct=True)

@given(_texts("### Step 1:", "### step 12.", "\n", " ", "#", "**", "step 3", "### The final answer is:", "x", "\t",
              "### Image Description:", "### Rationales", "step\n4", "<think>", "</think>", "<answer>", "</answer>"))
@PROPS
def test_header_scan_matches_finditer(text: str) -> None:
    for sch in schema.BUILTIN_SCHEMAS.values():
        comp = schema._compiled(sch)
        assert [(a, b) for a, b, _ in schema._header_matches(comp, text)] == [
            m.span() for m in comp.headers.finditer(text)
        ]


def test_split_cache_returns_a_fresh_list_and_custom_headers_read_their_number() -> None:
    text = "### Step 1:\nx\n### Step 2:\ny\n### The final answer is:\n3"
    first = schema.split_sections(text, schema.MULBERRY)
    first.clear()
    assert [h.step_number for h in schema.split_sections(text, schema.MULBERRY)] == [1, 2, None]
    custom = schema.FormatSchema(
        name="c", answer_section="answer", step_section="step",
        sections=(schema.SectionSpec(name="step", header=r"step\s*(?P<n>\d+)\b:?", numbered=True),
                  schema.SectionSpec(name="answer", header=r"answer(?=:)")),
    )
    assert [(h.name, h.step_number) for h in schema.split_sections("step 7:\nx\nanswer: 2", custom)] == [
        ("step", 7), ("answer", None)
    ]


@given(_texts("x=3", "x=30", "6/3=2", "16/3=2", "1+", "2", " ", "\n", ".", "a", "-"), st.sampled_from(["x=3", "2", "6/3=2"]))
@PROPS
def test_exact_search_over_many_spans(text: str, needle: str) -> None:
    ordered = [(i, min(len(text), i + 5)) for i in range(0, len(text), 6)]  # one pass over the text
    overlapping = [(0, len(text)), (2, len(text))]  # span by span
    for spans in (ordered, overlapping):
        doc = SearchDoc(text, spans)
        for form, math in (("the total area", False), ("x = 3", True)):  # a phrase, an equation
            expected = next((i for a, b in spans if (i := find_bounded(text, needle, math=math, start=a, end=b)) >= 0), -1)
            assert first_bounded(text, needle, doc.occurrences(needle), form) == expected
    assert list(occurrences(text, needle)) == [m.start() for m in re.finditer(f"(?={re.escape(needle)})", text)]



@given(_texts("x=3", "x=30", "6/3=2", "16/3=2", "1+", "2", " ", "\n", ".", "a", "-"), st.sampled_from(["x=3", "2", "6/3=2"]),
       st.integers(0, 6))
@PROPS
def test_first_occurrence_shortcut_is_the_first_candidate(text: str, needle: str, cut: int) -> None:
    """The matcher takes the text's first occurrence when ``yields_first`` says that
    ``occurrences`` would yield it first: spans one, ordered, overlapping or out of order."""
    n = len(text)
    layouts = [
        [(min(cut, n), n)],
        [(i, min(n, i + 5)) for i in range(cut % 3, n, 6)],
        [(0, n), (2, n)],
        [(min(n, 6), n), (0, min(n, 5))],  # out of text order: the later span is searched first
    ]
    i = text.find(needle)
    for spans in layouts:
        doc = SearchDoc(text, spans)
        if i >= 0 and doc.yields_first(i, len(needle)):
            assert next(doc.occurrences(needle), None) == i, spans


def _reference_braces(text: str) -> dict[int, int]:
    out, stack, i = {}, [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "{":
            stack.append(i)
        elif text[i] == "}" and stack:
            out[stack.pop()] = i
        i += 1
    return out


def _reference_split_top(s: str, sep: str) -> list[str]:
    depth, parts, last, i = 0, [], 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\" and not s.startswith(sep, i):
            if i + 1 < len(s) and s[i + 1] in "{}":
                depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            parts.append(s[last:i])
            i += len(sep)
            last = i
            continue
        i += 1
    return [p.strip() for p in [*parts, s[last:]]]


def _reference_extent(body: str) -> tuple[int, int]:
    start = len(body) - len(body.lstrip())
    nl = body.find("\n", start)
    depth = env = 0
    math, i = False, start
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            env += body.startswith("\\begin{", i)
            env = max(0, env - body.startswith("\\end{", i))
            i += 2
            continue
        if ch == "$":
            i += body.startswith("$$", i)
            math = not math
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "\n" and not (depth or env or math):
            return start, i
        i += 1
    return (start, len(body) if nl < 0 else nl) if depth or env or math else (start, len(body))


@given(_texts("\\", "{", "}", "(", ")", "[", "]", ",", "&", "\\cup", "\\\\", "x", " ", "\\{", "\\}", "$", "$$", "\n",
              "\\begin{m}", "\\end{m}"), st.sampled_from(["\\cup", "\\\\", "&", ","]))
@PROPS
def test_bracket_scans_jump_between_special_characters(text: str, sep: str) -> None:
    assert match_braces(text) == _reference_braces(text)
    assert split_top(text, sep) == _reference_split_top(text, sep)
    assert answer_extent(text) == _reference_extent(text)


_PLAIN_BOLD = re.compile(r"(?<![\w*])\*\*(?=\S)([^*\n]{1,100}?)(?<=\S)\*\*(?![\w*])")


@given(_texts("**", "*", "B", "x", " ", "\n", "x**2", "answer", "ANSWER is", "ſ", ":"))
@PROPS
def test_bold_and_anchor_shortcuts(text: str) -> None:
    assert [m.span(1) for m in extract._BOLD.finditer(text)] == [m.span(1) for m in _PLAIN_BOLD.finditer(text)]
    if extract._ANCHOR.search(text) is None:
        assert extract.from_anchor(text) is None


def test_anchor_shortcut_leaves_case_folding_to_the_regex() -> None:
    assert extract.from_anchor("so the anſwer is: 7").text == "7"  # re.I folds "ſ" to "s"
    assert extract.from_anchor("so the ANSWER is: 7").text == "7"
    assert extract.from_anchor("no anchor here: 7") is None


@given(_texts("### Step 1:", "## step 12.", "#### Rationales", "\n", " ", "#", "**", "*", "x", "\t", "#######",
              "### Image Description:", "### The final answer is:", "###  **Let's think step by step.**", "step 3"))
@PROPS
def test_factored_header_prefix_finds_what_the_plain_alternation_finds(text: str) -> None:
    sch = schema.MULBERRY
    assert schema._compiled(sch).headers.pattern.startswith("^" + schema._H)  # factored
    plain = re.compile(
        "|".join(f"(?:^(?P<s{i}>{spec.header}))" for i, spec in enumerate(sch.sections)), re.IGNORECASE | re.MULTILINE
    )
    comp = schema._compiled(sch)
    expected = [(m.span(), m.lastgroup, m.group("n")) for m in plain.finditer(text)]
    got = [((a, b), f"s{comp.by_group[m.lastindex]}", m.group("n")) for a, b, m in schema._header_matches(comp, text)]
    assert got == expected


def test_forms_that_normalise_alike_share_one_analysis() -> None:
    from stepreward.keystep_search import analyse_form

    a, b = analyse_form("\\frac{6}{3}=2"), analyse_form("6 / 3 = 2")
    assert (a.raw, b.raw) == ("\\frac{6}{3}=2", "6 / 3 = 2")
    assert dataclasses.replace(a, raw="") == dataclasses.replace(b, raw="")
    assert a.kind == "equation" and a.math == "6/3=2"


def test_cached_when_short_caches_short_strings_only() -> None:
    from stepreward._shortcache import cached_when_short

    calls: list[str] = []

    @cached_when_short(3)
    def upper(s: str) -> str:
        calls.append(s)
        return s.upper()

    assert upper("ab") == upper("ab") == "AB" and calls == ["ab"]
    assert upper("abcd") == upper("abcd") == "ABCD" and calls == ["ab", "abcd", "abcd"]  # long: not kept


def test_built_instances_are_the_dataclass_instances() -> None:
    import pickle

    from stepreward.types import KeyStepMatch, SectionHit, built, section_hit

    fields = {"index": 2, "forms": ("x=3",), "matched": True, "form": "x=3", "span": (4, 7),
              "matched_text": "x=3", "method": "exact", "score": 1.0, "reason": ""}
    fast, slow = built(KeyStepMatch, dict(fields)), KeyStepMatch(**fields)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert fast.to_dict() == slow.to_dict() and pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.score = 0.0  # type: ignore[misc]
    hit, plain = section_hit("step", (0, 11), (11, 14), 1), SectionHit("step", (0, 11), (11, 14), 1)
    assert hit == plain and hash(hit) == hash(plain) and repr(hit) == repr(plain) and hit.to_dict() == plain.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.name = "answer"  # type: ignore[misc]
