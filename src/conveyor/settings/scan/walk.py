"""Which files a scan reads: source and config files, never VCS data, venvs or binaries."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from conveyor.settings.scan.model import Skipped

MAX_BYTES = 1_000_000
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".conveyor", "dist",
     "build", "site-packages", ".eggs", ".idea", ".vscode", "htmlcov"}
)  # fmt: skip
TEXT_SUFFIXES = frozenset(
    {".yml", ".yaml", ".ini", ".cfg", ".toml", ".sh", ".bash", ".zsh", ".conf", ".properties"}
)
TEST_DIRS = frozenset({"tests", "test", "testing", "fixtures"})
Kind = Literal["python", "text"]


@dataclass(frozen=True)
class Source:
    """A file to scan, already read and decoded."""

    path: str
    kind: Kind
    text: str
    in_tests: bool


def kind_of(name: str) -> Kind | None:
    """How a file is scanned, by its name; None for files the scan ignores."""
    lower = name.lower()
    # .env files are where values belong (`conveyor config check` reads them); .env.example
    # holds placeholders by design.
    if lower == ".env" or lower.startswith(".env.") or lower.endswith((".lock", ".egg-info")):
        return None
    # conveyor.toml is where ports, hosts and listen addresses belong (like a .env file).
    if lower == "conveyor.toml":
        return None
    if lower.endswith((".py", ".pyw")):
        return "python"
    if lower.startswith(("dockerfile", "containerfile", "docker-compose", "compose.")):
        return "text"
    if lower.endswith(".dockerfile") or os.path.splitext(lower)[1] in TEXT_SUFFIXES:
        return "text"
    return None


def discover(
    root: Path, paths: Sequence[Path] = (), *, max_bytes: int = MAX_BYTES
) -> Iterator[Source | Skipped]:
    """Every file under `paths` (default: root) that the scan reads, or why it was skipped."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    for start in paths or (root,):
        start = start if start.is_absolute() else root / start
        shown = _shown(root, start)
        try:
            info = start.stat()
        except FileNotFoundError:
            reason = "broken symlink" if start.is_symlink() else "no such file or directory"
            yield Skipped(shown, reason)
            continue
        except OSError as error:
            yield Skipped(shown, _reason(error))
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(root, start, seen_dirs, seen_files, max_bytes)
        else:
            yield _read(root, start, kind_of(start.name) or "text", seen_files, max_bytes)


def _walk(
    root: Path,
    directory: Path,
    seen_dirs: set[tuple[int, int]],
    seen_files: set[tuple[int, int]],
    max_bytes: int,
) -> Iterator[Source | Skipped]:
    """Depth-first, in name order; a directory reached twice (a symlink loop) is reported."""
    info = directory.stat()
    key = (info.st_dev, info.st_ino)
    if key in seen_dirs:
        yield Skipped(_shown(root, directory), "symlink loop (directory already scanned)")
        return
    seen_dirs.add(key)
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as error:
        yield Skipped(_shown(root, directory), _reason(error))
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError as error:
            yield Skipped(_shown(root, path), _reason(error))
            continue
        if is_dir:
            if entry.name in SKIP_DIRS or (path / "pyvenv.cfg").exists():
                continue
            try:
                yield from _walk(root, path, seen_dirs, seen_files, max_bytes)
            except OSError as error:
                yield Skipped(_shown(root, path), _reason(error))
            continue
        kind = kind_of(entry.name)
        if kind is None:
            continue
        yield _read(root, path, kind, seen_files, max_bytes)


def _read(
    root: Path, path: Path, kind: Kind, seen: set[tuple[int, int]], max_bytes: int
) -> Source | Skipped:
    shown = _shown(root, path)
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if (info.st_dev, info.st_ino) in seen:
                return Skipped(shown, "same file as one already scanned (symlink)")
            seen.add((info.st_dev, info.st_ino))
            if info.st_size > max_bytes:
                return Skipped(shown, f"larger than {max_bytes:,} bytes")
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return Skipped(shown, "broken symlink" if path.is_symlink() else "no such file")
    except OSError as error:
        return Skipped(shown, _reason(error))
    if b"\0" in data[:8192]:
        return Skipped(shown, "binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Skipped(shown, "not UTF-8 text")
    parts = Path(shown).parts
    in_tests = any(p in TEST_DIRS for p in parts[:-1]) or parts[-1] == "conftest.py"
    return Source(shown, kind, text, in_tests)


def _shown(root: Path, path: Path) -> str:
    """The path as reports show it: relative to the root when inside it."""
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.as_posix()


def _reason(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "permission denied"
    if error.errno == 40:  # ELOOP
        return "symlink loop"
    return (error.strerror or type(error).__name__).lower()
