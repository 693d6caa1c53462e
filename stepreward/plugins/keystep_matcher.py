"""Built-in soft key-step matcher (StepRAR's ``k``), used when ``config.flavor == "stepreward"``.

For each key step, its alternative forms are tried in four stages, cheapest first; the first
success wins:

1. ``exact`` -- the form as written, in the original text, on token boundaries (``x = 3`` is not
   found inside ``x = 30``, ``2`` not inside ``12``);
2. ``normalised`` -- the same after :func:`stepreward.normalize.normalize` of both sides
   (``\\frac{6}{3}=2``, ``6 / 3 = 2``, ``6 ÷ 3 = 2`` all read ``6/3=2``; case-insensitive);
3. ``symbolic`` (equations and expressions, when ``config.keysteps.symbolic``) -- candidate
   equations of the text are located with rapidfuzz (``fuzz.ratio`` at least
   ``config.keysteps.candidate_cutoff`` against the form or its mirror image) and confirmed side
   by side with :mod:`stepreward.mathexpr`: same relation operator, each side equivalent to the
   corresponding side (or the whole relation mirrored, ``2 = 6/3``), and a hard *number gate*:
   each side must be written with the same numbers (:func:`stepreward.mathexpr.gate_numbers`;
   a reduced fraction counts as its value, so ``x = 0.5`` matches ``x = 1/2``). Hence ``6/3 = 2``
   never matches ``6/3 = 3``, ``4/2 = 2``, ``7 = 7`` or ``2 = 2``; an adjacent pair of a chain
   (``6/3 = 2 = 2.0``) counts;
4. ``fuzzy`` (phrases: forms that are not a single parseable piece of mathematics) -- best
   rapidfuzz alignment in the text, widened to word boundaries, with ``fuzz.ratio`` at least
   ``config.keysteps.phrase_threshold``; every number of the phrase must appear in the window
   (exactly, as written) and its operator characters must be the same. Phrases shorter than five
   characters only match exactly. The default threshold, 90, accepts about one edit per ten
   characters (plurals, a typo: ``right triangles`` vs ``right triangle`` scores 97) and rejects
   different words of similar spelling (``perimeter`` vs ``parameter`` scores 78).

Search scope (``config.keysteps.scope``): ``"steps"`` -- only the bodies of the schema's step
sections (nothing when there are none); ``"completion"`` -- the whole text; ``"auto"`` -- step
sections when there are any, else the whole text. A schema without a step section always
searches the whole text. Spans in the report index the original completion.

The matcher never raises: unparseable or refused mathematics is treated as non-symbolic, and an
unexpected internal error yields an all-unmatched report whose reasons say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ..keystep_confirm import Found, phrase_search, symbolic_search
from ..keystep_search import (
    FormInfo,
    SearchDoc,
    analyse_form,
    first_bounded,
    form_norm,
    left_ok,
    occurrences,
    right_ok,
)
from ..keysteps import parse_key_steps
from ..schema import BUILTIN_SCHEMAS, FormatSchema, find_sections, resolve_schema
from ..types import KeyStep, KeyStepMatch, KeyStepReport, Span, built

if TYPE_CHECKING:
    from ..config import RewardConfig


def _schema(config: RewardConfig) -> FormatSchema | None:
    try:
        return resolve_schema(config)
    except Exception:  # plugin manager unavailable: fall back to the built-in schemas
        fs = config.format_schema
        return fs if isinstance(fs, FormatSchema) else BUILTIN_SCHEMAS.get(str(fs))


def _scope(text: str, config: RewardConfig) -> tuple[str, list[Span]]:
    whole = ("completion", [(0, len(text))])
    mode = config.keysteps.scope
    schema = _schema(config)
    if mode == "completion" or schema is None or schema.step_section is None:
        return whole
    step = schema.step_section
    spans = [h.body_span for h in find_sections(text, schema) if h.name == step]
    if mode == "auto" and not spans:
        return whole
    return "steps", spans


@lru_cache(maxsize=8192)
def _distinct_norms(forms: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``(normal form, raw form)`` of a step's alternatives, one per normal form: alternatives that
    normalise alike ("x = 3", "x=3", "\\frac{6}{3}", "6/3") are one search, and the first of them in
    the step's order stands for all (stages 2-4 depend only on the normal form). Cached: a step's
    forms repeat once per rollout."""
    distinct: dict[str, str] = {}
    for raw in forms:
        norm = form_norm(raw)  # a form like "$$" normalises to nothing
        if norm and norm not in distinct:
            distinct[norm] = raw
    return tuple(distinct.items())


def _match_step(step: KeyStep, text: str, doc: SearchDoc, config: RewardConfig) -> KeyStepMatch:
    """Stages cheapest first (module docstring). A form is classified (:func:`analyse_form`) only
    when a stage needs its kind: most key steps are found as written or normalised."""

    def hit(form: str, span: Span, method: str, score: float = 1.0) -> KeyStepMatch:
        return built(KeyStepMatch, {
            "index": step.index, "forms": step.forms, "matched": True, "form": form, "span": span,
            "matched_text": text[span[0] : span[1]], "method": method, "score": score, "reason": "",
        })

    for raw in step.forms:
        i, n = text.find(raw), len(raw)  # (most forms are not in the text at all)
        if i < 0:
            continue
        # the first occurrence, when it is first_bounded's first candidate and good on any
        # boundaries, is its answer: skip the generator machinery (the common case)
        if not (n and doc.yields_first(i, n) and left_ok(text, i, True) and right_ok(text, i + n, True)):
            i = first_bounded(text, raw, doc.occurrences(raw), raw)
        if i >= 0:
            return hit(raw, (i, i + n), "exact")
    distinct = _distinct_norms(step.forms)
    for norm, raw in distinct:
        t = doc.norm.text
        i, n = t.find(norm), len(norm)
        if i < 0:
            continue
        if not (left_ok(t, i, True) and right_ok(t, i + n, True)):  # (as above; norm is never empty)
            i = first_bounded(t, norm, occurrences(t, norm), raw)
        if i >= 0:
            return hit(raw, doc.norm.span(i, i + n), "normalised")
    forms = [analyse_form(raw) for _, raw in distinct]
    closest: tuple[FormInfo, Found] | None = None
    ks = config.keysteps
    for f in forms:
        if f.kind == "phrase" or not ks.symbolic:
            continue
        found = symbolic_search(doc, f, ks.candidate_cutoff)
        if found is not None and found.ok:
            return hit(f.raw, doc.norm.span(found.start, found.end), "symbolic")
        if found is not None and (closest is None or found.score > closest[1].score):
            closest = (f, found)
    for f in forms:
        if f.kind != "phrase":
            continue
        found = phrase_search(doc, f, ks.phrase_threshold)
        if found is not None and found.ok:
            return hit(f.raw, doc.norm.span(found.start, found.end), "fuzzy", found.score)
        if found is not None and (closest is None or found.score > closest[1].score):
            closest = (f, found)
    return _miss(step, doc, closest, ks.candidate_cutoff)


def _miss(step: KeyStep, doc: SearchDoc, closest: tuple[FormInfo, Found] | None, cutoff: float) -> KeyStepMatch:
    t = doc.norm.text
    if not t or t.isspace():  # (as "not t.strip()", without copying a long text)
        reason = "nothing to search"
    elif closest is None:
        reason = f"no candidate above cutoff {cutoff:g} for any form"
    else:
        f, c = closest
        a, b = doc.norm.span(c.start, c.end)
        shown = doc.original[a:b].strip() or c.text
        if len(shown) > 80:
            shown = shown[:77] + "..."
        reason = f"closest candidate {shown!r} for form {f.raw!r} (score {c.score:.2f}) {c.why}"
    score = closest[1].score if closest else 0.0
    return KeyStepMatch(index=step.index, forms=step.forms, matched=False, score=min(1.0, max(0.0, score)), reason=reason)


def match_key_steps(text: Any, key_steps: Any, config: RewardConfig) -> KeyStepReport:
    """Match ``key_steps`` (parsed or raw, see :func:`stepreward.keysteps.parse_key_steps`) in ``text``.

    Never raises on ``text`` (non-strings are decoded or treated as empty); a malformed
    ``key_steps`` value raises :class:`ValueError` naming the field.
    """
    steps = parse_key_steps(key_steps)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        text = ""
    try:
        scope, spans = _scope(text, config)
        doc = SearchDoc(text, spans)  # normalised only if some step needs more than an exact match
        matches = tuple(_match_step(s, text, doc, config) for s in steps)
        return KeyStepReport(steps=matches, scope=scope, searched_spans=tuple(spans))
    except Exception as e:  # never take training down; the reason says what happened
        reason = f"matcher error: {type(e).__name__}: {str(e)[:200]}"
        return KeyStepReport(
            steps=tuple(KeyStepMatch(index=s.index, forms=s.forms, matched=False, reason=reason) for s in steps),
            scope="completion",
        )


@hookimpl
def stepreward_match_key_steps(
    text: str, key_steps: Sequence[KeyStep], config: RewardConfig
) -> KeyStepReport | None:
    """The built-in matcher; answers only for ``config.flavor == "stepreward"``."""
    if getattr(config, "flavor", None) != "stepreward":
        return None
    return match_key_steps(text, tuple(key_steps), config)
