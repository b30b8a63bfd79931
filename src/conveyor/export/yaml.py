"""A small YAML writer for generated files: block style, strings quoted when in doubt."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_ ./@:-]*$")
# Words YAML 1.1 reads as something other than a string.
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def scalar(value: Any) -> str:
    """A scalar in flow style: booleans, numbers, plain or JSON-quoted strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    plain = _PLAIN.match(text) and text.lower() not in _RESERVED and not text.endswith(":")
    if plain and ": " not in text and " #" not in text and not text.endswith(" "):
        return text
    return json.dumps(text)


def dump(data: Mapping[str, Any], *, header: str = "") -> str:
    """The document for `data`, after `header` (comment lines)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += _mapping(data, 0)
    return "\n".join(lines) + "\n"


def _mapping(data: Mapping[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in data.items():
        lines += _entry(f"{pad}{key}:", value, indent)
    return lines


def _entry(prefix: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, Mapping):
        return [prefix, *_mapping(value, indent + 2)] if value else [f"{prefix} {{}}"]
    if isinstance(value, str) and "\n" in value:
        pad = " " * (indent + 2)
        return [f"{prefix} |", *(f"{pad}{line}" if line else "" for line in value.splitlines())]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return [f"{prefix} [{', '.join(scalar(v) for v in value)}]"]
        return [prefix, *_items(value, indent + 2)]
    if value is None:
        return [prefix]
    return [f"{prefix} {scalar(value)}"]


def _items(values: Sequence[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for value in values:
        if isinstance(value, Mapping) and value:
            inner = _mapping(value, indent + 2)
            lines.append(f"{pad}- {inner[0].lstrip()}")
            lines += inner[1:]
        else:
            lines += _entry(f"{pad}-", value, indent)
    return lines
