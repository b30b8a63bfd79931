"""Read `.env` files without ever crashing: entries, their comments, and problems by line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conveyor.errors import EnvFileError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
KEY_RULE = 'start with a letter or "_", then use only letters, digits, "_", "." and "-"'
_EXPORT = re.compile(r"export\s+")
# A line that reads like the start of a new entry, used to spot a quote that was never closed.
_ENTRY_START = re.compile(r"\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*")
_INLINE_COMMENT = re.compile(r"\s#")
# Invalid keys are echoed only when they cannot be a pasted secret or URL.
_SHOWABLE_KEY = re.compile(r"[\w .-]{1,64}")
# A line that is a bare word may be a pasted token (AKIA..., sk-...): name it only when it
# reads like a variable name, DB_HOST or PORT.
_NAME_LIKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z_]{1,40}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
# Control characters a value may not hold: all but tab, and newline (a quoted value may span
# lines; the rendered file escapes it). A NUL or an escape sequence would reach the app, and
# the host's `.env`, as written.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class EnvEntry:
    """One `KEY=value` line (or several, for a quoted value spanning lines)."""

    key: str
    value: str
    line: int
    comment: str | None
    doc: str | None


@dataclass(frozen=True)
class EnvProblem:
    """Something wrong at a line; the message never contains a value."""

    line: int
    code: str
    message: str


@dataclass(frozen=True)
class EnvFile:
    """A parsed `.env` file: the entries (last one wins per key) and the problems found."""

    path: Path
    entries: tuple[EnvEntry, ...]
    problems: tuple[EnvProblem, ...]

    def get(self, key: str) -> EnvEntry | None:
        """The entry for `key`, or None."""
        return next((entry for entry in self.entries if entry.key == key), None)

    def values(self) -> dict[str, str]:
        """Every key with its value, in file order."""
        return {entry.key: entry.value for entry in self.entries}

    def keys(self) -> list[str]:
        """Every key, in file order."""
        return [entry.key for entry in self.entries]


@dataclass(frozen=True)
class _Parsed:
    """What one logical line produced and where parsing continues."""

    entry: EnvEntry | None
    problems: tuple[EnvProblem, ...]
    next_index: int


def read_env_file(path: Path) -> EnvFile:
    """Read and parse a `.env` file; raise EnvFileError when it cannot be read at all."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EnvFileError(
            f"{path}: file not found", hint="create it, or fix the path in conveyor.toml"
        ) from None
    except IsADirectoryError:
        raise EnvFileError(
            f"{path}: is a directory, not a .env file",
            hint="point the setting in conveyor.toml at a file",
        ) from None
    except PermissionError:
        raise EnvFileError(
            f"{path}: permission denied",
            hint="make the file readable by this user (chown it to yourself, then chmod 600)",
        ) from None
    except OSError as error:
        raise EnvFileError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise EnvFileError(
                f"{path}: is UTF-16 encoded", hint="save it as UTF-8 (without BOM)"
            ) from None
        line = data[: error.start].count(b"\n") + 1
        raise EnvFileError(
            f"{path}: is not UTF-8 text (invalid byte on line {line})",
            hint="save it as UTF-8",
        ) from None
    return parse_env(text, path=path)


def parse_env(text: str, *, path: Path) -> EnvFile:
    """Parse `.env` text; never raises, whatever the text."""
    problems: list[EnvProblem] = []
    if text.startswith("\ufeff"):
        text = text[1:]
        message = "the file starts with a byte order mark (BOM); save it as UTF-8 without BOM"
        problems.append(EnvProblem(1, "bom", message))
    if "\r" in text:
        line = text[: text.index("\r")].count("\n") + 1
        message = (
            "the file has Windows (CRLF) line endings; they were read correctly, "
            "but save it with Unix (LF) line endings"
        )
        problems.append(EnvProblem(line, "crlf", message))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    entries: dict[str, EnvEntry] = {}
    seen: dict[str, list[int]] = {}
    doc: list[str] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped:
            doc = []
            index += 1
            continue
        if stripped.startswith("#"):
            doc.append(stripped.lstrip("#").strip())
            index += 1
            continue
        parsed = _parse_entry(lines, index, " ".join(part for part in doc if part) or None)
        problems.extend(parsed.problems)
        doc = []
        index = parsed.next_index
        if parsed.entry is not None:
            entry = parsed.entry
            seen.setdefault(entry.key, []).append(entry.line)
            if entry.key in entries:
                problems.append(_duplicate(entry.key, seen[entry.key]))
            # The later line wins, as in a shell; it also takes the later position.
            entries.pop(entry.key, None)
            entries[entry.key] = entry
            problems.extend(_unsafe_value(entry))
    return EnvFile(path, tuple(entries.values()), tuple(problems))


def unsafe_character(value: str) -> str | None:
    """What the first forbidden control character in `value` is ("a NUL byte"), or None."""
    found = _UNSAFE.search(value)
    if found is None:
        return None
    char = found.group()
    return "a NUL byte" if char == "\0" else f"a control character (U+{ord(char):04X})"


def _unsafe_value(entry: EnvEntry) -> list[EnvProblem]:
    what = unsafe_character(entry.value)
    if what is None:
        return []
    found = _UNSAFE.search(entry.value)
    assert found is not None  # nosec B101: unsafe_character found one
    line = entry.line + entry.value[: found.start()].count("\n")
    message = (
        f"the value of {entry.key} holds {what}; remove it "
        "(only tab, and newline inside quotes, are allowed)"
    )
    return [EnvProblem(line, "control-character", message)]


def _duplicate(key: str, lines: list[int]) -> EnvProblem:
    """The problem for the latest of several lines setting the same key."""
    times = "twice" if len(lines) == 2 else f"{len(lines)} times"
    advice = "remove one" if len(lines) == 2 else "keep only one"
    message = f"{key} is set {times} (first on line {lines[0]}); the last value wins — {advice}"
    return EnvProblem(lines[-1], "duplicate", message)


def _parse_entry(lines: list[str], index: int, doc: str | None) -> _Parsed:
    """Parse the entry starting at `lines[index]`."""
    number = index + 1
    line = lines[index].strip()
    export = _EXPORT.match(line)
    if export and not line[export.end() :].startswith("="):
        line = line[export.end() :]
    key_part, equals, rest = line.partition("=")
    key = key_part.strip()
    if not equals:
        if _NAME_LIKE.fullmatch(key):
            message = f'{key} has no "="; write {key}=value (or {key}= for an empty value)'
        else:
            message = 'expected KEY=value, but this line has no "=" (comments start with "#")'
        return _Parsed(None, (EnvProblem(number, "syntax", message),), index + 1)
    if not KEY_PATTERN.fullmatch(key):
        return _Parsed(None, (EnvProblem(number, "invalid-key", _bad_key(key)),), index + 1)
    body = rest.lstrip()
    if body[:1] in ("'", '"'):
        return _parse_quoted(lines, index, key, body, doc)
    if body.startswith("#") and body != rest:
        # `KEY=  # comment` is an empty value with a comment; `KEY=#x` is the value "#x".
        return _Parsed(EnvEntry(key, "", number, _comment(body), doc), (), index + 1)
    found = _INLINE_COMMENT.search(body)
    value, comment = (
        (body[: found.start()], _comment(body[found.start() :])) if found else (body, None)
    )
    return _Parsed(EnvEntry(key, value.rstrip(), number, comment, doc), (), index + 1)


def _parse_quoted(lines: list[str], index: int, key: str, body: str, doc: str | None) -> _Parsed:
    """Parse a quoted value, which may span lines; recover when the quote never closes."""
    number, quote = index + 1, body[0]
    chars: list[str] = []
    row, pos, text = index, 1, body
    while True:
        if pos >= len(text):
            row += 1
            if row >= len(lines):
                break
            chars.append("\n")
            text, pos = lines[row], 0
            continue
        char = text[pos]
        if quote == '"' and char == "\\" and pos + 1 < len(text):
            chars.append(_ESCAPES.get(text[pos + 1], text[pos : pos + 2]))
            pos += 2
            continue
        if char != quote:
            chars.append(char)
            pos += 1
            continue
        tail = text[pos + 1 :].strip()
        clean = not tail or tail.startswith("#")
        if row == index:
            entry = EnvEntry(key, "".join(chars), number, _comment(tail), doc)
            if clean:
                return _Parsed(entry, (), index + 1)
            message = f'unexpected text after the closing quote of {key}; comments start with "#"'
            return _Parsed(entry, (EnvProblem(number, "syntax", message),), index + 1)
        # A closing quote on a later line is trusted only when that line does not look like
        # the start of another entry: otherwise the quote opened here was never closed.
        if clean and not _ENTRY_START.fullmatch(text[:pos]):
            return _Parsed(EnvEntry(key, "".join(chars), number, _comment(tail), doc), (), row + 1)
        break
    kind = "double" if quote == '"' else "single"
    message = (
        f"the {kind} quote that starts the value of {key} is never closed; "
        f"add the closing {quote} (the value was read to the end of this line)"
    )
    entry = EnvEntry(key, body[1:].rstrip(), number, None, doc)
    return _Parsed(entry, (EnvProblem(number, "unterminated-quote", message),), index + 1)


def _comment(text: str) -> str | None:
    """The text of a trailing comment without its `#`, or None when there is none."""
    return text.strip().lstrip("#").strip() or None


def _bad_key(key: str) -> str:
    """The message for a key that does not match KEY_PATTERN."""
    if not key:
        return 'no key before "="'
    if _SHOWABLE_KEY.fullmatch(key):
        return f'"{key}" is not a valid key: {KEY_RULE}'
    return f"not a valid key: {KEY_RULE}"
