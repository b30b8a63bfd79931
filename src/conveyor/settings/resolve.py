"""Which value each setting takes in an environment, and where it came from."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from conveyor.errors import ConfigError
from conveyor.settings.envfile import KEY_PATTERN, EnvFile, read_env_file, unsafe_character
from conveyor.settings.schema import SettingsSchema, schema_from_class, schema_from_example
from conveyor.settings.secrets import decide_secret, is_secret, secret_mark

_PORT_NAME = re.compile(r"(^|_)PORT$", re.IGNORECASE)
OVERRIDE = "--set"


@dataclass(frozen=True)
class Environment:
    """One environment's view of the settings: its name, its file, how strict to be."""

    name: str
    env_file: Path
    production_like: bool
    root: Path
    # Files of the other environments, to catch a secret copied from one to another.
    others: Mapping[str, Path]
    # `--set KEY=VALUE` on the command line: replaces the file's value, checked like it.
    overrides: Mapping[str, str] = field(default_factory=dict)
    # The committed template (`[settings] example`), when there is one: what to copy from.
    example: Path | None = None
    # Keys the file may hold for conveyor itself, not for the app (the $VARS of its notify
    # targets): not unknown, and never rendered for the hosts (only the schema's keys are).
    conveyor_keys: frozenset[str] = frozenset()

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
    source: str  # ".env.production:12", "default", or "--set"
    secret: bool


def load_schema(
    root: Path, *, example: str, class_spec: str | None, python: str | None
) -> SettingsSchema:
    """The schema: the pydantic-settings class when one is named, else `.env.example`.

    An integer named like a port (`PORT`, `DB_PORT`) is checked as a port, whichever the source:
    `API_PORT: int = 8000` in a class says no more than that, and 80800 is a typo.
    """
    schema = schema_from_class(root, class_spec, python=python) if class_spec else None
    if schema is not None:
        schema = _with_marks(schema, root / example)
    schema = schema or schema_from_example(root / example)
    fields = tuple(
        replace(f, type="port") if f.type == "int" and _PORT_NAME.search(f.name) else f
        for f in schema.fields
    )
    return replace(schema, fields=fields)


def _with_marks(schema: SettingsSchema, example: Path) -> SettingsSchema:
    """A class's fields with the `# secret` / `# not secret` marks of `.env.example` applied;
    a field's declared type still decides first (an `int` is never secret)."""
    if not example.is_file():
        return schema
    marks = {e.key: secret_mark(e.comment) for e in read_env_file(example).entries}
    fields = tuple(
        replace(f, secret=decide_secret(f.name, f.type, mark=marks.get(f.name)))
        if marks.get(f.name) is not None
        else f
        for f in schema.fields
    )
    return replace(schema, fields=fields)


def read_optional(path: Path) -> EnvFile | None:
    """The parsed file, or None when it does not exist (a missing file is a finding)."""
    return read_env_file(path) if path.is_file() else None


def resolve(
    schema: SettingsSchema, env: Environment, values: EnvFile | None
) -> dict[str, Resolved]:
    """Values for every schema key that has one: `--set` > the environment's file > default.

    The shell conveyor runs in is never read: what a host gets is what the
    environment's file says, whoever deploys it and from wherever.
    """
    out: dict[str, Resolved] = {}
    for item in schema.fields:
        entry = values.get(item.name) if values else None
        if item.name in env.overrides:
            value, source = env.overrides[item.name], OVERRIDE
        elif entry is not None:
            value, source = entry.value, f"{env.display()}:{entry.line}"
        elif item.default is not None:
            value, source = item.default, "default"
        else:
            continue
        out[item.name] = Resolved(
            item.name, value, source, is_secret(item.name, value, declared=item.secret)
        )
    return out


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """`--set KEY=VALUE` options as a dict; a ConfigError for a malformed one (never echoing
    the value, which may be a secret)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not KEY_PATTERN.fullmatch(key):
            shown = key if KEY_PATTERN.fullmatch(key) else "..."
            raise ConfigError(
                f"{OVERRIDE} {shown}: expected KEY=VALUE",
                hint=f"e.g. {OVERRIDE} LOG_LEVEL=debug (repeat {OVERRIDE} for more keys)",
            )
        bad = unsafe_character(value)
        if bad is not None:
            raise ConfigError(f"{OVERRIDE} {key}: the value holds {bad}; remove it")
        if key in out:
            raise ConfigError(f"{OVERRIDE} {key}: given twice; give it once")
        out[key] = value
    return out
