"""Which value each setting takes in an environment, and where it came from."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from conveyor.settings.envfile import EnvFile, read_env_file
from conveyor.settings.schema import SettingsSchema, schema_from_class, schema_from_example
from conveyor.settings.secrets import is_secret

_PORT_NAME = re.compile(r"(^|_)PORT$", re.IGNORECASE)


@dataclass(frozen=True)
class Environment:
    """One environment's view of the settings: its name, its file, how strict to be."""

    name: str
    env_file: Path
    production_like: bool
    root: Path
    # Files of the other environments, to catch a secret copied from one to another.
    others: Mapping[str, Path]

    def display(self, path: Path | None = None) -> str:
        """A path as the user would type it: relative to the project root when inside it."""
        target = path or self.env_file
        try:
            return str(target.relative_to(self.root))
        except ValueError:
            return str(target)


@dataclass(frozen=True)
class Resolved:
    """One setting's value in an environment."""

    key: str
    value: str
    source: str  # ".env.production:12", "default", or "process environment"
    secret: bool


def load_schema(
    root: Path, *, example: str, class_spec: str | None, python: str | None
) -> SettingsSchema:
    """The schema: the pydantic-settings class when one is named, else `.env.example`.

    An integer named like a port (`PORT`, `DB_PORT`) is checked as a port, whichever the source:
    `API_PORT: int = 8000` in a class says no more than that, and 80800 is a typo.
    """
    schema = schema_from_class(root, class_spec, python=python) if class_spec else None
    schema = schema or schema_from_example(root / example)
    fields = tuple(
        replace(f, type="port") if f.type == "int" and _PORT_NAME.search(f.name) else f
        for f in schema.fields
    )
    return replace(schema, fields=fields)


def read_optional(path: Path) -> EnvFile | None:
    """The parsed file, or None when it does not exist (a missing file is a finding)."""
    return read_env_file(path) if path.is_file() else None


def resolve(
    schema: SettingsSchema,
    env: Environment,
    values: EnvFile | None,
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Resolved]:
    """Values for every schema key that has one: process environment > env file > default.

    This is pydantic-settings' own order, so what `show` prints is what the app sees.
    """
    environ = os.environ if environ is None else environ
    out: dict[str, Resolved] = {}
    for field in schema.fields:
        secret = field.secret
        entry = values.get(field.name) if values else None
        if field.name in environ:
            value, source = environ[field.name], "process environment"
        elif entry is not None:
            value, source = entry.value, f"{env.display()}:{entry.line}"
        elif field.default is not None:
            value, source = field.default, "default"
        else:
            continue
        out[field.name] = Resolved(
            field.name, value, source, is_secret(field.name, value, declared=secret)
        )
    return out
