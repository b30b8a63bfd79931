"""Text, JSON and SARIF reports; secrets always masked."""

from __future__ import annotations

from dataclasses import replace

from conveyor.settings.scan.group import group_findings
from conveyor.settings.scan.model import Finding, ScanResult, Skipped
from conveyor.settings.scan.report import render_text, summary, to_json, to_sarif

URL = "postgresql://admin:admin123@localhost:5435/stocktrading"
BASE = Finding(
    path="a.py", line=3, column=16, rule="url-credentials", severity="high", value=URL,
    name="DATABASE_URL", proposal="DATABASE_URL", context="assign", fixable=True, line_text="",
)  # fmt: skip


def result() -> ScanResult:
    findings = [
        BASE,
        replace(BASE, path="b.py", line=9, column=5, context="literal", fixable=False),
        replace(BASE, path="s.sh", rule="hard-coded-secret", value="admin123", name="PGPASSWORD",
                proposal="PGPASSWORD", fixable=False, context="text"),
        replace(BASE, rule="ignore-without-reason", severity="medium", value="", line=4),
    ]  # fmt: skip
    return ScanResult(group_findings(findings), (Skipped("x.py", "binary file"),), 2, 5, 120)


def test_text() -> None:
    text = render_text(result())
    assert "admin123" not in text
    groups = result().groups
    assert text.splitlines() == [
        f"DATABASE_URL (url-credentials, high, group {groups[0].id}, 2 places): "
        "postgresql://admin:********@localhost:5435/stocktrading",
        "  a.py:3:16: url-credentials [high] postgresql://admin:********@localhost:5435/stocktrading"
        " -> settings.DATABASE_URL",
        "  b.py:9:5: url-credentials [high] postgresql://admin:********@localhost:5435/stocktrading"
        " -> settings.DATABASE_URL  (fix by hand)",
        f"PGPASSWORD (hard-coded-secret, high, group {groups[1].id}, 1 place): ********",
        "  s.sh:3:16: hard-coded-secret [high] ******** -> settings.PGPASSWORD  (fix by hand)",
        f"DATABASE_URL_2 (ignore-without-reason, medium, group {groups[2].id}, 1 place): -",
        "  a.py:4:16: ignore-without-reason [medium] - -> settings.DATABASE_URL_2",
        "x.py: skipped (binary file)",
        "4 findings in 3 groups (3 high, 1 medium, 0 low); 5 files, 120 lines scanned, "
        "1 skipped, 2 suppressed",
    ]


def test_summary_of_nothing() -> None:
    empty = ScanResult((), (), 0, 1, 1)
    assert (
        summary(empty)
        == "0 findings in 0 groups (0 high, 0 medium, 0 low); 1 files, 1 lines scanned"
    )


def test_json() -> None:
    items = to_json(result())
    assert [(i["file"], i["line"], i["column"], i["rule"], i["severity"]) for i in items] == [
        ("a.py", 3, 16, "url-credentials", "high"),
        ("a.py", 4, 16, "ignore-without-reason", "medium"),
        ("b.py", 9, 5, "url-credentials", "high"),
        ("s.sh", 3, 16, "hard-coded-secret", "high"),
    ]
    first = items[0]
    assert first["setting"] == "DATABASE_URL" and first["group"] == result().groups[0].id
    assert first["value"] == "postgresql://admin:********@localhost:5435/stocktrading"
    assert first["message"] == (
        "connection string with an embedded password: "
        "postgresql://admin:********@localhost:5435/stocktrading -> settings.DATABASE_URL"
    )
    assert items[1]["message"] == "a conveyor: ignore comment needs a reason after the ]"
    assert "admin123" not in repr(items)


def test_sarif() -> None:
    log = to_sarif(result())
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "conveyor"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"url-credentials", "dev-host-url"}
    first = run["results"][0]
    assert first["ruleId"] == "url-credentials" and first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "a.py"},
        "region": {"startLine": 3, "startColumn": 16},
    }
    assert [r["level"] for r in run["results"]] == ["error", "warning", "error", "error"]
    assert "admin123" not in repr(log)
