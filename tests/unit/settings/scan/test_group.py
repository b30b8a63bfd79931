"""Setting names and groups of identical values."""

from __future__ import annotations

from dataclasses import replace

from conveyor.settings.scan.group import group_findings, name_from_value, propose
from conveyor.settings.scan.model import Finding

URL = "postgresql://admin:admin123@localhost:5435/stocktrading"


def finding(path: str, name: str | None, proposal: str, **changes: object) -> Finding:
    base = Finding(
        path=path, line=1, column=1, rule="url-credentials", severity="high", value=URL,
        name=name, proposal=proposal, context="assign", fixable=True, line_text="x",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_names_from_values() -> None:
    assert name_from_value(URL) == "DATABASE_URL"
    assert name_from_value("mongodb+srv://x@y/z") == "MONGODB_URL"
    assert name_from_value("redis://localhost:6380/0") == "REDIS_URL"
    assert name_from_value("amqp://localhost") == "BROKER_URL"
    assert name_from_value("http://localhost:8000/api/v1") == "API_BASE_URL"
    assert name_from_value("http://localhost:3000") == "SERVICE_URL"
    assert name_from_value("http://[bad/api") == "SERVICE_URL"


def test_proposals() -> None:
    assert propose("DB_URL", URL, family=None, parent=None) == "DB_URL"
    assert propose("database_url", URL, family=None, parent=None) == "DATABASE_URL"
    assert propose(None, URL, family="DB", parent=None) == "DATABASE_URL"
    assert propose(None, "5435", family="DB", parent=None) == "DB_VALUE"
    assert propose("host", "localhost", family="DB", parent=None) == "DB_HOST"
    assert propose("password", "x", family=None, parent="DB_CONFIG") == "DB_PASSWORD"
    assert propose("port", "6379", family=None, parent="redis_settings") == "REDIS_PORT"
    assert propose("broker", "redis://x", family="CELERY", parent=None) == "CELERY_BROKER_URL"
    assert propose("base_url", "http://x", family="API", parent=None) == "API_BASE_URL"
    assert propose("url", "redis://localhost", family=None, parent=None) == "REDIS_URL"
    assert propose("token", "x", family=None, parent=None) == "APP_TOKEN"
    assert propose("$$", "x", family=None, parent=None) == "VALUE"


def test_identical_values_become_one_group_named_by_the_most_common_name() -> None:
    found = [
        finding("a.py", "DATABASE_URL", "DATABASE_URL"),
        finding("b.py", "DB_URL", "DB_URL"),
        finding("c.py", "DATABASE_URL", "DATABASE_URL"),
        finding("d.py", None, "DATABASE_URL", context="argument"),
    ]
    (group,) = group_findings(found)
    assert group.setting == "DATABASE_URL"
    assert [f.path for f in group.findings] == ["a.py", "b.py", "c.py", "d.py"]
    assert group.severity == "high" and group.fixable
    assert len(group.id) == 8 and URL not in group.id


def test_different_values_never_share_a_setting() -> None:
    groups = group_findings(
        [
            finding("a.py", "DATABASE_URL", "DATABASE_URL"),
            finding("b.py", "DATABASE_URL", "DATABASE_URL", value="postgresql://u:p@db2/x"),
            finding("c.py", "DATABASE_URL", "DATABASE_URL", value="postgresql://u:q@db3/x"),
        ]
    )
    assert sorted(g.setting for g in groups) == ["DATABASE_URL", "DATABASE_URL_2", "DATABASE_URL_3"]


def test_hosts_are_grouped_by_value_and_name() -> None:
    host = {"rule": "hard-coded-host", "value": "localhost", "severity": "medium"}
    groups = group_findings(
        [
            finding("a.py", "DB_HOST", "DB_HOST", **host),
            finding("b.py", "REDIS_HOST", "REDIS_HOST", **host),
            finding("c.py", "host", "DB_HOST", **host),
        ]
    )
    assert [(g.setting, len(g.findings)) for g in groups] == [("DB_HOST", 2), ("REDIS_HOST", 1)]
    assert groups[0].severity == "medium"
