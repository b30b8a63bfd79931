"""Keys the schema describes but this version does not carry out: refused at load, by key.

A key that conveyor accepts is carried out. Where a feature is planned (rolling
deploys, migration lint) its keys stay in
the model, so the reference and the JSON schema describe them, and this module turns
a configured value into an error naming the key, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from conveyor.project.references import Problem

if TYPE_CHECKING:
    from conveyor.project.model import ConveyorConfig

NOT_AVAILABLE = "not available yet"
# Presets whose tool conveyor does not have yet ("conveyor migrate lint").
UNAVAILABLE_PRESETS = {"migrations": "migration lint (conveyor migrate lint)"}


def check_refused(config: ConveyorConfig) -> list[Problem]:
    """Every configured key that this version would not carry out."""
    return [*_top(config), *_environments(config), *_checks(config)]


def _top(config: ConveyorConfig) -> Iterator[Problem]:
    if config.settings.python is not None and config.settings.class_ is None:
        yield Problem(
            ("settings", "python"),
            "is only used to import `class`, which is not set — remove `python` or set `class`",
        )


def _environments(config: ConveyorConfig) -> Iterator[Problem]:
    for name, env in config.environments.items():
        where = ("environments", name)
        approval = env.approval
        if approval is not None and approval.required == 0:
            idle = sorted(approval.model_fields_set - {"required"})
            if idle:
                yield Problem(
                    (*where, "approval", "required"),
                    f"0 approvals turns approvals off, so {', '.join(idle)} would do nothing "
                    "— remove them, or require 1 or more approvals",
                )
        from conveyor.deploy.strategy import STRATEGIES  # it plans with the project's model

        if env.strategy.kind not in STRATEGIES:
            yield Problem(
                (*where, "strategy", "kind"),
                f'the "{env.strategy.kind}" strategy is {NOT_AVAILABLE}; deploys are '
                f"{' or '.join(STRATEGIES)} — remove `kind` or set it to "
                + " or ".join(f'"{kind}"' for kind in STRATEGIES),
            )


def _checks(config: ConveyorConfig) -> Iterator[Problem]:
    checks = config.checks
    for index, preset in enumerate(checks.use):
        if preset in UNAVAILABLE_PRESETS:
            yield Problem(
                ("checks", "use", index),
                f'preset "{preset}" ({UNAVAILABLE_PRESETS[preset]}) is {NOT_AVAILABLE} '
                "— remove it from checks.use",
            )
    for name in checks.presets:
        if name not in checks.use:
            yield Problem(
                ("checks", "presets", name),
                f'preset "{name}" is not in checks.use, so these options would do nothing '
                "— add it to checks.use or remove them",
            )
