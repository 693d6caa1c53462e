"""math-verify, called only inside a guarded worker process (:func:`stepreward.guard.run_limited`).

math-verify parses LaTeX with latex2sympy2_extended and may hang on adversarial input, so this
module is imported and run in the worker, never on the trainer's thread. Its own SIGALRM timeouts
are disabled (the guard kills the worker instead).
"""

from __future__ import annotations

import logging


def mv_equal(pred: str, gold: str, rel_tol: float) -> bool | None:
    """math-verify's verdict on two answer strings; ``None`` when either side does not parse.

    Only LaTeX extraction of the *whole* string, without fallbacks: math-verify's default
    extraction reads ``5`` out of a malformed ``5x +`` and ``8`` out of ``\\log_2 8)``. A
    ``True`` between two closed-form numbers is re-checked at 50 digits with ``rel_tol``:
    math-verify compares floats rounded to 6 places, so ``1/2^99`` would equal ``1/2^98``.
    """
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    import sympy
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    g = parse(f"${gold}$", extraction_config=config, fallback_mode="no_fallback", parsing_timeout=None)
    p = parse(f"${pred}$", extraction_config=config, fallback_mode="no_fallback", parsing_timeout=None)
    if not g or not p:
        return None
    if not verify(g, p, timeout_seconds=None):
        return False
    a, b = g[0], p[0]
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr) and not (a.free_symbols or b.free_symbols):
        da, db = sympy.N(a, 50), sympy.N(b, 50)
        if da.is_number and db.is_number:
            diff = abs(da - db)
            scale = max(abs(da), abs(db))
            if diff.is_comparable and scale.is_comparable and diff > rel_tol * scale:
                return False
    return True
