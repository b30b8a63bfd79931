"""Which files a scan reads, and bad input reported instead of crashing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from conveyor.settings.scan.model import Skipped
from conveyor.settings.scan.walk import _reason, discover, kind_of


def listing(root: Path, *paths: Path, max_bytes: int = 1000) -> list[tuple[str, str]]:
    return [
        (item.path, item.reason if isinstance(item, Skipped) else item.kind)
        for item in discover(root, paths, max_bytes=max_bytes)
    ]


def write(root: Path, name: str, data: bytes | str = "x = 1\n") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_kinds() -> None:
    assert kind_of("app.py") == "python"
    assert [kind_of(n) for n in ("Dockerfile", "Dockerfile.prod", "docker-compose.dev.yml")] == [
        "text",
        "text",
        "text",
    ]
    assert [kind_of(n) for n in ("ci.yaml", "setup.cfg", "run.sh", "app.dockerfile")] == [
        "text"
    ] * 4
    assert [
        kind_of(n) for n in (".env", ".env.example", ".env.production", "uv.lock", "a.png")
    ] == [None] * 5
    # Conveyor's own configuration is where a service's port and listen address belong.
    assert kind_of("conveyor.toml") is None and kind_of("pyproject.toml") == "text"


def test_walk_skips_tooling_and_reports_bad_files(tmp_path: Path) -> None:
    write(tmp_path, "app/main.py")
    write(tmp_path, "app/compose.yaml", "a: 1\n")
    write(tmp_path, "app/notes.txt")
    write(tmp_path, ".git/config.py")
    write(tmp_path, "node_modules/x/y.py")
    write(tmp_path, "env/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "env/lib/z.py")
    write(tmp_path, "bin/blob.py", b"\x00\x01\x02")
    write(tmp_path, "bin/latin.py", "caf\xe9 = 1\n".encode("latin-1"))
    write(tmp_path, "big.py", "x = 1\n" * 500)
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "broken.py").symlink_to(tmp_path / "missing.py")
    (tmp_path / "self.py").symlink_to(tmp_path / "self.py")
    (tmp_path / "same.py").symlink_to(tmp_path / "app" / "main.py")
    assert listing(tmp_path) == [
        ("app/compose.yaml", "text"),
        ("app/main.py", "python"),
        ("big.py", "larger than 1,000 bytes"),
        ("bin/blob.py", "binary file"),
        ("bin/latin.py", "not UTF-8 text"),
        ("broken.py", "broken symlink"),
        ("loop", "symlink loop (directory already scanned)"),
        ("same.py", "same file as one already scanned (symlink)"),
        ("self.py", "symlink loop"),
    ]


def test_explicit_paths(tmp_path: Path) -> None:
    write(tmp_path, "a/one.py")
    write(tmp_path, "notes.txt", "PASSWORD=x\n")
    outside = write(tmp_path.parent / f"{tmp_path.name}-out", "o.py")
    assert listing(tmp_path, Path("a"), Path("notes.txt"), Path("nope"), outside) == [
        ("a/one.py", "python"),
        ("notes.txt", "text"),
        ("nope", "no such file or directory"),
        (outside.as_posix(), "python"),
    ]


def test_tests_and_fixtures_are_marked(tmp_path: Path) -> None:
    write(tmp_path, "tests/test_a.py")
    write(tmp_path, "pkg/fixtures/data.py")
    write(tmp_path, "pkg/conftest.py")
    write(tmp_path, "pkg/test_data_loader.py")
    marks = {s.path: s.in_tests for s in discover(tmp_path) if not isinstance(s, Skipped)}
    assert marks == {
        "pkg/conftest.py": True,
        "pkg/fixtures/data.py": True,
        "pkg/test_data_loader.py": False,
        "tests/test_a.py": True,
    }


def test_files_that_cannot_be_opened(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock.py"))
        assert listing(tmp_path) == [("sock.py", "no such device or address")]
    finally:
        server.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable(tmp_path: Path) -> None:  # pragma: no cover - CI runs as a user
    write(tmp_path, "secret.py").chmod(0)
    assert listing(tmp_path) == [("secret.py", "permission denied")]


def test_reasons() -> None:
    assert _reason(PermissionError(13, "Permission denied")) == "permission denied"
    assert _reason(OSError(40, "Too many levels of symbolic links")) == "symlink loop"
    assert _reason(OSError()) == "oserror"
