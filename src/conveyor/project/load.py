"""Find conveyor.toml (or `[tool.conveyor]` in pyproject.toml), parse it, validate it."""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from conveyor.errors import ConfigError
from conveyor.project.bounds import MAX_DEPTH, bound_problems, size_problem
from conveyor.project.locate import locate
from conveyor.project.model import ConveyorConfig
from conveyor.project.references import KeyPath
from conveyor.project.report import MISSING, format_problems, problems_from

CONFIG_NAME = "conveyor.toml"
PYPROJECT_NAME = "pyproject.toml"
PYPROJECT_PREFIX: KeyPath = ("tool", "conveyor")
INIT_HINT = 'run "conveyor init" to create one'


@dataclass(frozen=True)
class Project:
    """A validated configuration and where it came from."""

    root: Path
    config_path: Path
    config: ConveyorConfig


def load_project(start: Path | None = None) -> Project:
    """Load the configuration of the project that `start` (default: cwd) is in.

    In `start` and then each parent, conveyor.toml wins; else a pyproject.toml
    with a `[tool.conveyor]` table; else the search goes one directory up.
    """
    here = (start if start is not None else Path.cwd()).resolve()
    if here.is_file():
        return load_config_file(here)
    for directory in (here, *here.parents):
        if (directory / CONFIG_NAME).is_file():
            return load_config_file(directory / CONFIG_NAME)
        pyproject = directory / PYPROJECT_NAME
        if pyproject.is_file():
            text = read_text(pyproject)
            data = parse_toml(text, shown=display_path(pyproject))
            if _section(data) is not None:
                return _validated(pyproject, text, data, prefix=PYPROJECT_PREFIX)
    raise ConfigError(f"no {CONFIG_NAME} found in {here} or its parents", hint=INIT_HINT)


def load_config_file(path: Path) -> Project:
    """Load one file: a conveyor.toml, or a pyproject.toml with `[tool.conveyor]`."""
    path = path.resolve()
    return config_from_text(path, read_text(path), shown=display_path(path))


def config_from_text(path: Path, text: str, *, shown: str) -> Project:
    """The configuration `text` holds, as if it were `path` (named `shown` in errors): an
    earlier commit's conveyor.toml, say."""
    prefix = PYPROJECT_PREFIX if path.name == PYPROJECT_NAME else ()
    return _validated(path, text, parse_toml(text, shown=shown), prefix=prefix)


def _validated(path: Path, text: str, data: dict[str, Any], *, prefix: KeyPath) -> Project:
    shown = display_path(path)
    section = _section(data) if prefix else data
    if section is None:
        raise ConfigError(f"{shown}: no [tool.conveyor] table", hint=INIT_HINT)
    bounds = bound_problems(section)
    if bounds:
        located = [(p, locate(text, (*prefix, *p.path)) if p.path else None) for p in bounds]
        raise ConfigError(format_problems(located, shown=shown, prefix=prefix))
    try:
        config = ConveyorConfig.model_validate(section)
    except ValidationError as error:
        problems = problems_from(error, ConveyorConfig)
        # A missing key has no line of its own; pointing at its table would mislead.
        located = [
            (p, None if p.message == MISSING else locate(text, (*prefix, *p.path)))
            for p in problems
        ]
        raise ConfigError(format_problems(located, shown=shown, prefix=prefix)) from None
    return Project(root=path.parent, config_path=path, config=config)


def _section(data: dict[str, Any]) -> Any:
    """`[tool.conveyor]` of a parsed pyproject.toml, or None."""
    tool = data.get("tool")
    return tool.get("conveyor") if isinstance(tool, dict) else None


def display_path(path: Path) -> str:
    """`path` relative to the cwd when it is inside it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_text(path: Path) -> str:
    """The file's text, or a ConfigError that says why it cannot be read."""
    shown = display_path(path)
    try:
        too_big = size_problem(path.stat().st_size)
        if too_big is not None:
            raise ConfigError(f"{shown}: {too_big}")
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"{shown}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{shown}: cannot read: not UTF-8 (byte {error.start})") from None


def parse_toml(text: str, *, shown: str) -> dict[str, Any]:
    """Parse TOML; a syntax error becomes `file:line: invalid TOML: message`."""
    # tomllib is in the standard library from 3.11; tomli is the same code for 3.10.
    toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    try:
        data: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as error:
        message, line = _split_position(str(error), text)
        where = f"{shown}:{line}" if line else shown
        raise ConfigError(f"{where}: invalid TOML: {message}") from None
    except RecursionError:
        # The parser recurses once per level of nested arrays or inline tables.
        raise ConfigError(
            f"{shown}: arrays or tables are nested too deeply to read "
            f"(a configuration may nest at most {MAX_DEPTH} levels); flatten them"
        ) from None
    return data


def _split_position(message: str, text: str) -> tuple[str, int | None]:
    """Take "(at line 7, column 3)" or "(at end of document)" off tomllib's message."""
    match = re.match(r"^(.*) \(at line (\d+), column \d+\)$", message, re.DOTALL)
    if match:
        return match.group(1), int(match.group(2))
    match = re.match(r"^(.*) \(at end of document\)$", message, re.DOTALL)
    if match:
        return match.group(1), max(1, len(text.splitlines()))
    return message, None
