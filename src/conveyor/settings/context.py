"""From a loaded project and an environment's name to its schema and files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from conveyor.notify.targets import notify_variables
from conveyor.project.load import Project
from conveyor.settings.check import Finding, check_environment
from conveyor.settings.render import render_env
from conveyor.settings.resolve import (
    OVERRIDE,
    Environment,
    load_schema,
    read_optional,
    resolve,
)
from conveyor.settings.schema import SettingsSchema
from conveyor.settings.secrets import mask


def open_environment(
    project: Project, name: str, *, overrides: Mapping[str, str] | None = None
) -> tuple[SettingsSchema, Environment]:
    """The settings schema and the named environment (ConfigError when unknown), with the
    `--set` values that replace its file's."""
    config = project.config
    chosen = config.environment(name)
    others = {
        other: project.root / env.resolved_env_file
        for other, env in config.environments.items()
        if other != name
    }
    env = Environment(
        name=name,
        env_file=project.root / chosen.resolved_env_file,
        production_like=chosen.is_production_like,
        root=project.root,
        others=others,
        overrides=dict(overrides or {}),
        example=project.root / config.settings.example,
        conveyor_keys=notify_variables(config, name),
    )
    settings = config.settings
    schema = load_schema(
        project.root, example=settings.example, class_spec=settings.class_, python=settings.python
    )
    return schema, env


@dataclass(frozen=True)
class Rendered:
    """An environment's `.env` for its hosts, or the check errors that stand in its way."""

    env: Environment
    text: str  # empty while there are errors
    keys: int
    errors: tuple[Finding, ...]
    # `KEY=value` for each --set value, the value masked when it is a secret (for the plan).
    overrides: tuple[str, ...] = ()


def checked_render(
    project: Project, name: str, *, overrides: Mapping[str, str] | None = None
) -> Rendered:
    """The `.env` a host gets for environment `name`, unless `config check` finds errors.

    One rule for `config render` and `deploy`: callers refuse while there are errors.
    """
    schema, env = open_environment(project, name, overrides=overrides)
    errors = tuple(f for f in check_environment(schema, env) if f.severity == "error")
    if errors:
        return Rendered(env, "", 0, errors)
    values = resolve(schema, env, read_optional(env.env_file))
    given = [v for v in values.values() if v.source == OVERRIDE]
    source = env.display() + "".join(f" and {OVERRIDE} {v.key}" for v in given)
    text = render_env(values, environment=name, source=source)
    shown = tuple(f"{v.key}={mask(v.key, v.value, declared=v.secret)}" for v in given)
    return Rendered(env, text, len(values), (), shown)
