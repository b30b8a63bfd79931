"""Pydantic's validation errors, retold for a person who edits a TOML file."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from conveyor.project.fields import show
from conveyor.project.references import KeyPath, Problem, ReferencesInvalid, dotted
from conveyor.suggest import suggestion_suffix

MISSING = "required key is missing"

_NOUNS = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def problems_from(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One Problem per error, cross-section ones expanded, in pydantic's order."""
    problems: list[Problem] = []
    for detail in error.errors():
        # A bad dict key is reported at the key itself, not at pydantic's "[key]" marker.
        path = tuple(part for part in detail["loc"] if part != "[key]")
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, ReferencesInvalid):
            problems.extend(Problem((*path, *p.path), p.message) for p in cause.problems)
        else:
            problems.append(Problem(path, describe(detail, model)))
    return problems


def describe(detail: ErrorDetails, model: type[BaseModel]) -> str:
    """The message for one pydantic error, without its location."""
    kind, ctx, got = detail["type"], detail.get("ctx", {}), detail["input"]
    if kind == "missing":
        return MISSING
    if kind == "extra_forbidden":
        key = str(detail["loc"][-1])
        return f"unknown key{suggestion_suffix(key, keys_at(model, detail['loc'][:-1]))}"
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx["expected"]))
        suffix = suggestion_suffix(got, choices) if isinstance(got, str) else ""
        return f"expected {_one_of(choices)}, got {show(got)}{suffix}"
    if kind in _NOUNS:
        return f"expected {_NOUNS[kind]}, got {show(got)}"
    if kind == "too_short":
        return f"expected at least {_items(ctx['min_length'])}, got {show(got)}"
    if kind == "greater_than_equal":
        return f"expected a number >= {ctx['ge']}, got {show(got)}"
    if kind == "less_than_equal":
        return f"expected a number <= {ctx['le']}, got {show(got)}"
    return detail["msg"]


def keys_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys allowed in the table at `loc`, found by walking the model's annotations."""
    annotation: Any = model
    for part in loc:
        annotation = _child(_unwrap(annotation), part)
    table = _unwrap(annotation)
    if isinstance(table, type) and issubclass(table, BaseModel):
        return [info.alias or name for name, info in table.model_fields.items()]
    return []


def _child(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and isinstance(part, str):
        return args[1]
    if typing.get_origin(annotation) is list and isinstance(part, int):
        return args[0]
    return None


def _unwrap(annotation: Any) -> Any:
    """`X` from `Annotated[X, ...]` and from `X | None`."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else None
        else:
            return annotation


def _one_of(choices: Sequence[str]) -> str:
    quoted = [f'"{choice}"' for choice in choices]
    if len(quoted) < 2:
        return "".join(quoted)
    return f"one of {', '.join(quoted[:-1])} or {quoted[-1]}"


def _items(count: int) -> str:
    return "one item" if count == 1 else f"{count} items"


def format_problems(
    problems: Sequence[tuple[Problem, int | None]], *, shown: str, prefix: KeyPath = ()
) -> str:
    """`file:line: key.path: message`, one line each; located ones sorted by line."""
    ordered = sorted(problems, key=lambda item: item[1] or 0)
    lines = []
    for problem, line in ordered:
        where = f"{shown}:{line}" if line is not None else shown
        lines.append(f"{where}: {dotted((*prefix, *problem.path))}: {problem.message}")
    return "\n".join(lines)
