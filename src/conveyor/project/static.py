"""Values of Python expressions computed from the syntax tree alone, never running user code.

`60 * 24 * 8`, `"/api" + "/v1"`, `f"{API_V1_STR}/users"`: constants and arithmetic on them,
with names looked up by the caller (module constants, a settings class's defaults).
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable
from typing import Any

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
# Bounds that keep a hostile or odd expression cheap: "x" * 10**9 is not evaluated.
_MAX_TEXT = 10_000
_MAX_NUMBER = 10**18


class Unknown(Exception):
    """The expression's value cannot be known without running the code."""


def _no_names(name: str) -> object:
    raise Unknown(name)


def evaluate(node: ast.expr, lookup: Callable[[str], object] = _no_names) -> object:
    """The value of `node`; names and dotted names go to `lookup`; raise Unknown otherwise."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [evaluate(item, lookup) for item in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.Dict) and all(key is not None for key in node.keys):
        return {
            evaluate(key, lookup): evaluate(value, lookup)  # type: ignore[arg-type]
            for key, value in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = evaluate(node.left, lookup), evaluate(node.right, lookup)
        return _bounded(_apply(_BINARY[type(node.op)], left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _apply(_UNARY[type(node.op)], evaluate(node.operand, lookup))
    if isinstance(node, ast.JoinedStr):
        return "".join(_formatted(part, lookup) for part in node.values)
    name = dotted_name(node)
    if name:
        return lookup(name)
    raise Unknown(ast.unparse(node))


def dotted_name(node: ast.expr) -> str | None:
    """`settings.API_V1_STR` for a name or a chain of attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        left = dotted_name(node.value)
        return f"{left}.{node.attr}" if left else None
    return None


def _formatted(part: ast.expr, lookup: Callable[[str], object]) -> str:
    if isinstance(part, ast.Constant):
        return str(part.value)
    if isinstance(part, ast.FormattedValue) and part.format_spec is None and part.conversion < 0:
        return str(evaluate(part.value, lookup))
    raise Unknown(ast.unparse(part))


def _apply(function: Callable[..., Any], *args: object) -> object:
    text = any(isinstance(arg, (str, bytes, list, tuple)) for arg in args)
    # Repetition and %-formatting of text: known only when small and plain.
    big = any(isinstance(arg, int) and arg > _MAX_TEXT for arg in args)
    if text and (function is operator.mod or (function is operator.mul and big)):
        raise Unknown("text operation")
    try:
        return function(*args)
    except (TypeError, ValueError, ArithmeticError) as error:
        raise Unknown(str(error)) from None


def _bounded(value: object) -> object:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > _MAX_TEXT:
        raise Unknown("too long")
    if isinstance(value, int) and abs(value) > _MAX_NUMBER:
        raise Unknown("too large")
    return value


def env_text(value: object) -> str:
    """A value as a `.env` file spells it: booleans lower-case, lists and dicts as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)
