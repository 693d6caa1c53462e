"""Human-readable explanations of a score: "why did this completion get 1.05?"."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scoring import ScoreResult


def _short(s: str | None, n: int = 60) -> str:
    if s is None:
        return "-"
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def explain_result(result: ScoreResult, completion: str | None = None) -> str:
    """Render every decision behind ``result.total`` as plain text."""
    lines = [f"total = {result.total:.4f}  (preset {result.preset!r})"]
    for name, c in result.breakdown.items():
        err = f"  [FAILED: {c.error}]" if c.error else ""
        rule = c.details.get("rule", "")
        lines.append(f"  {name:<10} {c.weight:g} x {c.value:.4f} = {c.weighted:.4f}  {rule}{err}")
    a, g, v = result.answer, result.gold, result.verdict
    lines.append("answer:")
    if a is None:
        lines.append("  no answer extracted")
    else:
        where = f" at {a.span[0]}-{a.span[1]}" if a.span else ""
        lines.append(f"  extracted {_short(a.text)!r} ({a.kind}, from {a.source}{where})")
    if g is not None:
        lines.append(f"  gold      {_short(g.text)!r} ({g.kind})")
    if v is not None:
        lines.append(f"  verdict   {'CORRECT' if v.equal else 'WRONG'} by {v.method}" + (f": {v.reason}" if v.reason else ""))
    ks = result.key_steps
    if ks is not None:
        lines.append(f"key steps: {ks.n_matched}/{len(ks.steps)} matched (k = {ks.score:.3f}, scope {ks.scope})")
        for m in ks.steps:
            mark = "+" if m.matched else "-"
            if m.matched:
                where = f" at {m.span[0]}-{m.span[1]}" if m.span else ""
                lines.append(
                    f"  {mark} [{m.index + 1}] {_short(m.forms[0], 40)!r} ~ {_short(m.matched_text, 40)!r}"
                    f"{where} ({m.method}, {m.score:.2f})"
                )
            else:
                lines.append(f"  {mark} [{m.index + 1}] {_short(m.forms[0], 40)!r} not found" + (f": {m.reason}" if m.reason else ""))
    s = result.structure
    if s is not None:
        state = "valid" if s.valid else f"INVALID (complete={s.complete}, logical={s.logical})"
        lines.append(f"structure ({s.schema}): {state}")
        lines.append("  sections: " + (", ".join(_section_label(h) for h in s.sections) or "none found"))
        for m in s.missing:
            lines.append(f"  missing: {m}")
        for r in s.reasons:
            lines.append(f"  - {r}")
    for f in result.failures:
        lines.append(f"failure: {f.where} {f.reason}: {_short(f.message, 120)}")
    if completion is not None and ks is not None:
        lines.append("matched spans:")
        for m in ks.steps:
            if m.matched and m.span:
                lines.append(f"  [{m.index + 1}] …{_short(completion[max(0, m.span[0] - 20): m.span[1] + 20], 80)}…")
    return "\n".join(lines)


def _section_label(h: object) -> str:
    n = getattr(h, "step_number", None)
    name = getattr(h, "name", "?")
    return f"{name} {n}" if n is not None else name
