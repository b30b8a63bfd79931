"""Which line of a TOML text defines a key path: tomllib parses values but keeps no lines.

A small scanner, not a parser: it follows table headers, arrays of tables, dotted
keys, inline tables, arrays and every kind of string well enough to note the line
of each key and array element. The text was already accepted by tomllib, so it
only has to be right for valid TOML; for anything else it must merely not crash.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

KeyPath = tuple[str | int, ...]
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def locate(text: str, path: Sequence[str | int]) -> int | None:
    """1-based line of `path`, else of its longest defined prefix, else None."""
    lines = key_lines(text)
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path and array element in `text` to the line that defines it."""
    scanner = _Scanner(text)
    # A line number must never break the report of the real error: keep what was found.
    with contextlib.suppress(Exception):
        scanner.run()
    return scanner.lines


class _Skip(Exception):
    """Input the scanner does not understand: give up on the rest of the line."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        self.array_tables: dict[KeyPath, int] = {}  # last index of each [[array]]

    def run(self) -> None:
        while self.pos < len(self.text):
            with contextlib.suppress(_Skip):
                self.statement()
            self.skip_line()

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def advance(self, size: int = 1) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + size)
        self.pos = min(self.pos + size, len(self.text))

    def record(self, path: KeyPath) -> None:
        self.lines.setdefault(path, self.line)

    def skip_spaces(self, *, newlines: bool = False) -> None:
        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t\r" or (newlines and char == "\n"):
                self.advance()
            elif char == "#" and newlines:
                end = self.text.find("\n", self.pos)
                self.advance((end if end >= 0 else len(self.text)) - self.pos)
            else:
                return

    def skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.advance((end + 1 if end >= 0 else len(self.text)) - self.pos)

    def statement(self) -> None:
        self.skip_spaces()
        char = self.peek()
        if char in ("", "\n", "#"):
            return
        if char == "[":
            self.header()
        else:
            self.key_value(self.table)

    def header(self) -> None:
        is_array = self.peek(2) == "[["
        self.advance(2 if is_array else 1)
        parts = self.key()
        if self.peek(2 if is_array else 1) != ("]]" if is_array else "]"):
            raise _Skip
        if is_array:
            path = (*self.resolve(parts[:-1]), parts[-1])
            index = self.array_tables.get(path, -1) + 1
            self.array_tables[path] = index
            path = (*path, index)
        else:
            path = self.resolve(parts)
        for end in range(1, len(path) + 1):
            self.record(path[:end])
        self.table = path

    def resolve(self, parts: Sequence[str]) -> KeyPath:
        """Key parts with the current index inserted after each array of tables."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in self.array_tables:
                path = (*path, self.array_tables[path])
        return path

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_spaces()
            parts.append(self.key_part())
            self.skip_spaces()
            if self.peek() != ".":
                return parts
            self.advance()

    def key_part(self) -> str:
        char = self.peek()
        if char in ('"', "'"):
            start = self.pos
            self.string(char)
            raw = self.text[start + 1 : self.pos - 1]
            if char == "'":
                return raw
            try:
                return str(json.loads(f'"{raw}"'))
            except ValueError:
                return raw
        start = self.pos
        while self.peek() and self.peek() in _BARE:
            self.advance()
        if self.pos == start:
            raise _Skip
        return self.text[start : self.pos]

    def key_value(self, base: KeyPath) -> None:
        parts = self.key()
        if self.peek() != "=":
            raise _Skip
        self.advance()
        for end in range(1, len(parts) + 1):
            self.record((*base, *parts[:end]))
        self.value((*base, *parts))

    def value(self, path: KeyPath) -> None:
        self.skip_spaces()
        char = self.peek()
        if self.peek(3) in ('"""', "'''"):
            self.multiline_string(self.peek(3))
        elif char in ('"', "'"):
            self.string(char)
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            start = self.pos
            while self.peek() and self.peek() not in ",]}#\n":
                self.advance()
            if self.pos == start:
                raise _Skip

    def string(self, quote: str) -> None:
        self.advance()
        while self.peek() != quote:
            if self.peek() in ("", "\n"):
                raise _Skip
            self.advance(2 if quote == '"' and self.peek() == "\\" else 1)
        self.advance()

    def multiline_string(self, quotes: str) -> None:
        self.advance(3)
        while self.peek(3) != quotes:
            if not self.peek():
                raise _Skip
            self.advance(2 if quotes == '"""' and self.peek() == "\\" else 1)
        self.advance(3)
        # Up to two quotes right before the closing ones belong to the content.
        for _ in range(2):
            if self.peek() == quotes[0]:
                self.advance()

    def array(self, path: KeyPath) -> None:
        self.advance()
        index = 0
        while True:
            self.skip_spaces(newlines=True)
            if self.peek() == "]":
                self.advance()
                return
            self.record((*path, index))
            self.value((*path, index))
            self.skip_spaces(newlines=True)
            if self.peek() == ",":
                self.advance()
                index += 1
            elif self.peek() != "]":
                raise _Skip

    def inline_table(self, path: KeyPath) -> None:
        self.advance()
        while True:
            self.skip_spaces(newlines=True)
            if self.peek() == "}":
                self.advance()
                return
            self.key_value(path)
            self.skip_spaces(newlines=True)
            if self.peek() == ",":
                self.advance()
            elif self.peek() != "}":
                raise _Skip
