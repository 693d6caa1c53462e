"""The hooks a stepreward plugin can implement.

A plugin is any module or object with functions decorated by :data:`hookimpl` whose names match
the specs below. Built-in behaviour lives in ``stepreward.plugins`` and uses the same hooks;
third-party plugins are found through the ``stepreward`` entry-point group.

Calling order follows pluggy: ``tryfirst`` implementations, then the rest in reverse registration
order (third-party plugins are registered after the built-ins, so they run before them), then
``trylast``. For ``firstresult`` hooks the first non-``None`` result wins; return ``None`` to pass.

Every hook receives the resolved :class:`~stepreward.config.RewardConfig` so an implementation can
decide whether it applies (the built-in ``r1vl-official`` implementations answer only when
``config.flavor == "r1vl-official"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .components import RewardComponent
    from .config import RewardConfig
    from .schema import FormatSchema
    from .types import Answer, KeyStep, KeyStepReport, StructureReport, Verdict

PROJECT = "stepreward"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def stepreward_extract_answer(text: str, config: RewardConfig) -> Answer | None:
    """Extract the final answer from a completion. First result wins.

    Called once per scored completion (and once per gold solution, whose result is cached).
    Built-ins, in order: the schema's answer section, the last complete ``\\boxed{}``,
    ``<answer>`` tags, "answer is" / ``Answer:`` anchors, markdown bold; a ``trylast`` weak
    fallback. Return an :class:`Answer` with ``kind="none"`` to stop the chain with an explicit
    *no answer* (e.g. a truncated final box must not let an earlier box be credited).
    """


@hookspec(firstresult=True)
def stepreward_compare_answers(pred: Answer, gold: Answer, config: RewardConfig) -> Verdict | None:
    """Decide whether ``pred`` equals ``gold``. First result wins.

    Called once per completion that has an answer. Return ``None`` to let the next implementation
    decide; the built-in comparison always answers, so yours must run before it (``tryfirst``) to
    override it.
    """


@hookspec(firstresult=True)
def stepreward_match_key_steps(
    text: str, key_steps: Sequence[KeyStep], config: RewardConfig
) -> KeyStepReport | None:
    """Match key steps against a completion. First result wins.

    Called once per completion whose record has key steps. ``text`` is the whole completion; the
    implementation restricts the search itself according to ``config.keysteps.scope`` (use
    :func:`stepreward.schema.split_sections` with ``config.schema_obj``). Spans in the report index
    into ``text``.
    """


@hookspec(firstresult=True)
def stepreward_validate_structure(
    text: str, schema: FormatSchema, config: RewardConfig
) -> StructureReport | None:
    """Check completeness and logical order of a completion against ``schema``. First result wins.

    Called once per completion when a component needs the structure report (StepRVR).
    """


@hookspec
def stepreward_register_components(register: Callable[[RewardComponent], None]) -> None:
    """Contribute named reward components by calling ``register(component)``.

    Called once, when the plugin manager loads. Component names must be unique; a later
    registration of an existing name is reported and ignored.
    """


@hookspec
def stepreward_register_schemas(register: Callable[[FormatSchema], None]) -> None:
    """Contribute format schemas (by ``schema.name``). Called once at load time."""


@hookspec
def stepreward_register_presets(register: Callable[[str, RewardConfig], None]) -> None:
    """Contribute named reward presets via ``register(name, config)``. Called once at load time."""


@hookspec(firstresult=True)
def stepreward_parse_gold(solution: str, config: RewardConfig) -> Answer | None:
    """Parse the gold answer out of a record's ``solution``. First result wins.

    Called once per distinct ``(solution, config)`` (the result is cached: the gold repeats for
    the M completions of a group). Solutions may be a bare answer (``8``, ``\\frac{1}{2}``) or a
    full section (``### The final answer is:\\nB: 8``).
    """
