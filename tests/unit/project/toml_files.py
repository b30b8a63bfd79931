"""Helpers for the project tests: write TOML files into a temporary directory, load them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conveyor.errors import ConfigError
from conveyor.project.load import load_project
from conveyor.project.model import ConveyorConfig


def write(root: Path, name: str, text: str) -> Path:
    """Write dedented `text` to root/name and return its path."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(root: Path, text: str) -> ConveyorConfig:
    """Write conveyor.toml and load it."""
    write(root, "conveyor.toml", text)
    return load_project(root).config


def error(root: Path, text: str, *, name: str = "conveyor.toml") -> str:
    """Write `name` with `text`, load the project, and return the ConfigError's message."""
    write(root, name, text)
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    return str(caught.value)
