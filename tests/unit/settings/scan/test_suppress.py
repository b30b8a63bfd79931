"""Inline suppressions need a reason; the baseline survives edits elsewhere."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conveyor.errors import ConfigError
from conveyor.settings.scan.model import Finding
from conveyor.settings.scan.suppress import (
    apply_baseline,
    apply_inline,
    fingerprint,
    parse_inline,
    read_baseline,
    write_baseline,
)

URL = "postgresql://admin:admin123@localhost:5435/stocktrading"
BASE = Finding(
    path="a.py", line=3, column=7, rule="url-credentials", severity="high", value=URL,
    name="DB", proposal="DB", context="assign", fixable=True, line_text=f'DB = "{URL}"',
)  # fmt: skip


def test_parse_inline() -> None:
    found = parse_inline("x = 1  # conveyor: ignore[url-credentials, dev-host-url] - local only")
    assert found is not None
    assert found.rules == {"url-credentials", "dev-host-url"}
    assert found.reason == "local only"
    assert parse_inline("x = 1  # conveyor: ignore[*]") == parse_inline("# conveyor:ignore[*]")
    assert parse_inline("x = 1  # noqa") is None


def test_inline_with_reason_suppresses_only_its_rules() -> None:
    line = f"{BASE.line_text}  # conveyor: ignore[url-credentials] laptop database"
    other = replace(BASE, rule="dev-host-url", line_text=line)
    kept, dropped = apply_inline([replace(BASE, line_text=line), other, BASE])
    assert kept == [other, BASE]
    assert dropped == 1


def test_inline_without_reason_is_itself_a_finding() -> None:
    line = f"{BASE.line_text}  # conveyor: ignore[*]"
    kept, dropped = apply_inline([replace(BASE, line_text=line)])
    assert dropped == 0
    assert [(f.rule, f.severity, f.fixable) for f in kept] == [
        ("url-credentials", "high", True),
        ("ignore-without-reason", "medium", False),
    ]


def test_fingerprints_ignore_line_numbers_but_not_content() -> None:
    moved = replace(BASE, line=40, column=1)
    edited = replace(BASE, line_text=f'DATABASE = "{URL}"')
    assert fingerprint(moved) == fingerprint(BASE)
    assert fingerprint(edited) != fingerprint(BASE)
    assert URL not in fingerprint(BASE) and len(fingerprint(BASE)) == 32


def test_baseline_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    assert write_baseline(path, [BASE, replace(BASE, line=9)]) == 1
    text = path.read_text(encoding="utf-8")
    assert "admin123" not in text
    assert json.loads(text)["fingerprints"][0]["rule"] == "url-credentials"
    known = read_baseline(path)
    fresh = replace(BASE, value="postgresql://u:other@db/x")
    assert apply_baseline([replace(BASE, line=99), fresh], known) == ([fresh], 1)


def test_bad_baselines(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_baseline(path)
    assert str(caught.value) == (
        f"{path}: is not a conveyor scan baseline\n"
        "write a new one with: conveyor scan --write-baseline"
    )
    with pytest.raises(ConfigError) as missing:
        read_baseline(tmp_path / "none.json")
    assert (
        str(missing.value)
        == f"{tmp_path / 'none.json'}: cannot be read (No such file or directory)"
    )
