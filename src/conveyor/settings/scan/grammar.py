"""Python files in a grammar newer than the running interpreter's `ast` reads, via libcst."""

from __future__ import annotations

import ast
import warnings


def split_newer_syntax(text: str) -> tuple[str, str] | None:
    """(the file with its newer top-level statements blanked, only those statements), both
    keeping line numbers; None when libcst's grammar does not read the file either."""
    # Imported here: libcst takes longer to import than most commands take to run, and only
    # a file that this Python's `ast` cannot read needs it.
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    try:
        # libcst's native parser reads the newest grammar it knows, whatever runs it.
        wrapper = MetadataWrapper(cst.parse_module(text))
    except (cst.ParserSyntaxError, RecursionError, MemoryError):
        return None
    positions = wrapper.resolve(PositionProvider)
    module = wrapper.module
    lines = text.splitlines()
    newer: set[int] = set()
    for statement in module.body:
        if _readable(module.code_for_node(statement)):
            continue
        where = positions[statement]
        newer.update(range(where.start.line, where.end.line + 1))
    if not newer:
        return None
    kept = [
        ("pass" if n - 1 not in newer else "") if n in newer else line
        for n, line in enumerate(lines, start=1)
    ]
    only = [line if n in newer else "" for n, line in enumerate(lines, start=1)]
    return "\n".join(kept) + "\n", "\n".join(only) + "\n"


def parse_newest(text: str, filename: str = "<unknown>") -> ast.Module:
    """The module's `ast` tree; top-level statements in a grammar newer than this `ast`
    (read by libcst's) are left out. SyntaxError when neither grammar reads it."""
    try:
        return ast.parse(text, filename=filename)
    except SyntaxError:
        split = split_newer_syntax(text)
        if split is None:
            raise
        return ast.parse(split[0], filename=filename)


def _readable(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True
