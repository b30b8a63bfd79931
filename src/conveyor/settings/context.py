"""From a loaded project and an environment's name to its schema and files."""

from __future__ import annotations

from conveyor.project.load import Project
from conveyor.settings.resolve import Environment, load_schema
from conveyor.settings.schema import SettingsSchema


def open_environment(project: Project, name: str) -> tuple[SettingsSchema, Environment]:
    """The settings schema and the named environment (ConfigError when unknown)."""
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
    )
    settings = config.settings
    schema = load_schema(
        project.root, example=settings.example, class_spec=settings.class_, python=settings.python
    )
    return schema, env
