"""Answer handling shared by the extraction and equivalence plugins.

- :mod:`.literals`: cleaning an answer string and classifying it (choice, yes/no, number, ...).
- :mod:`.latex`: brace-level structure (``\\boxed{}`` spans, sets, intervals, tuples, matrices).
- :mod:`.mv`: math-verify, run only inside :func:`stepreward.guard.run_limited`.
"""
