"""Built-in gold-answer parsing (``stepreward_parse_gold``)."""

from __future__ import annotations

from ..config import RewardConfig
from ..hookspecs import hookimpl
from ..types import Answer


@hookimpl(trylast=True)
def stepreward_parse_gold(solution: str, config: RewardConfig) -> Answer | None:
    """The official code hands the whole solution to math-verify; ours extracts and classifies it."""
    if config.flavor == "r1vl-official":
        return Answer(text=solution, kind="raw", source="gold_raw", span=(0, len(solution)))
    from .extract import parse_gold

    return parse_gold(solution, config)
