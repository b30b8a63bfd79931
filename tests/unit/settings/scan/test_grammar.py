"""Files in a grammar newer than the running `ast` are scanned, not skipped."""

from __future__ import annotations

import sys

import pytest

from conveyor.settings.scan.python import scan_python

NEWER = """\
DATABASE_URL = "postgresql://admin:S3cr3t-Pa55w0rd@db.internal:5432/app"

type Vector = list[float]


def first[T](items: list[T]) -> T:
    return items[0]


class Client[T]:
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
"""


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="this interpreter's ast reads it")
def test_newer_syntax_is_scanned_not_skipped() -> None:
    found = scan_python("app/config.py", NEWER, in_tests=False)
    assert not isinstance(found, str), found
    assert [(f.line, f.rule) for f in found] == [(1, "url-credentials"), (11, "known-token")]


def test_invalid_python_is_still_skipped() -> None:
    assert scan_python("bad.py", "password = (\n", in_tests=False) == "not valid Python (line 1)"
