"""`conveyor scan` through main(): formats, exit codes, baseline, --fix options."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import Project

URL = "postgresql://admin:admin123@localhost:5435/stocktrading"
FILES = {
    "app/jobs.py": f'DATABASE_URL = "{URL}"\nAPI_URL = "http://localhost:8000/api"\n',
    "app/other.py": f'engine = create_engine("{URL}")\n',
    "tests/test_x.py": 'BASE = "http://localhost:8000/api"\n',
}


def test_text_report_and_exit_codes(make_project: Callable[..., Project]) -> None:
    project = make_project(FILES)
    result = project.run("scan")
    assert result.code == 1
    assert "admin123" not in result.out
    assert result.out.splitlines()[-1] == (
        "4 findings in 2 groups (2 high, 1 medium, 1 low); 3 files, 4 lines scanned"
    )
    assert (
        "  app/other.py:1:24: url-credentials [high] postgresql://admin:********@localhost:5435/stocktrading -> settings.DATABASE_URL"
        in result.out
    )
    assert project.run("scan", "--fail-on", "never").code == 0
    assert project.run("scan", "tests").code == 0
    assert project.run("scan", "tests", "--fail-on", "low").code == 1


@pytest.mark.filterwarnings("error")
def test_json_and_sarif(make_project: Callable[..., Project]) -> None:
    # ok.py's invalid escape sequence would warn (or fail, here) if the scan let it through.
    bad = {"bin/x.py": "\0", "bad.py": 'PASSWORD = ("\\d"\n', "ok.py": 'PORT_RE = "\\d+"\n'}
    project = make_project({**FILES, **bad})
    result = project.run("scan", "--format", "json")
    items = json.loads(result.out)
    assert {k for k in items[0]} >= {
        "file",
        "line",
        "column",
        "rule",
        "severity",
        "setting",
        "group",
    }
    assert result.err == (
        "bad.py: skipped (not valid Python (line 1))\nbin/x.py: skipped (binary file)\n"
    )
    sarif = json.loads(project.run("scan", "--format", "sarif").out)
    assert len(sarif["runs"][0]["results"]) == len(items) == 4


def test_baseline(make_project: Callable[..., Project]) -> None:
    project = make_project(FILES)
    written = project.run("scan", "--write-baseline")
    assert (
        written.out == f"wrote {project.root / '.conveyor-scan-baseline.json'} (4 fingerprints)\n"
    )
    assert written.code == 0
    # Lines added above every finding do not make the baseline stale.
    project.write({"app/jobs.py": "import os\n\n" + FILES["app/jobs.py"]})
    result = project.run("scan")
    assert result.code == 0
    assert result.out.splitlines()[-1] == (
        "0 findings in 0 groups (0 high, 0 medium, 0 low); 3 files, 6 lines scanned, 4 suppressed"
    )
    project.write({"bad.json": "{}"})
    bad = project.run("scan", "--baseline", "bad.json")
    assert bad.code == 1
    assert bad.err == (
        f"error: {project.root / 'bad.json'}: is not a conveyor scan baseline\n"
        "write a new one with: conveyor scan --write-baseline\n"
    )


def test_fix_dry_run_changes_nothing(make_project: Callable[..., Project]) -> None:
    project = make_project(FILES)
    before = {p: (project.root / p).read_text() for p in FILES}
    result = project.run("scan", "--fix", "--dry-run")
    assert result.code == 0
    assert '+DATABASE_URL = os.environ["DATABASE_URL"]' in result.out
    assert "admin123" not in result.out
    assert {p: (project.root / p).read_text() for p in FILES} == before
    assert not (project.root / ".env.development").exists()


def test_fix_without_a_settings_class_uses_the_environment(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(FILES)
    result = project.run("scan", "--fix")
    assert result.out.splitlines() == [
        "changed app/jobs.py",
        "changed app/other.py",
        "changed tests/test_x.py",
        "created .env.development",
        "created .env.example",
        "created .gitignore",
        "0 findings in 0 groups (0 high, 0 medium, 0 low); 3 files, 10 lines scanned",
    ]
    # A group is fixed everywhere, tests included, so that no copy is left behind.
    assert (
        project.root / "tests/test_x.py"
    ).read_text() == 'import os\n\nBASE = os.environ["API_URL"]\n'
    assert result.code == 0
    again = project.run("scan", "--fix")
    assert again.out.splitlines()[0] == "nothing to fix"


def test_fix_unknown_group(make_project: Callable[..., Project]) -> None:
    project = make_project(FILES)
    result = project.run("scan", "--fix", "--group", "NOPE")
    assert result.code == 1
    assert result.err == (
        "error: no fixable group matches NOPE\n"
        "run conveyor scan to see the groups (the id or the setting name)\n"
    )


def test_fix_reads_the_settings_class_from_conveyor_toml(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        {
            "conveyor.toml": '[app]\nname = "x"\n\n[settings]\nclass = "app.config:Settings"\n',
            "app/config.py": "from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n    pass\n\n\nsettings = Settings()\n",
            "app/jobs.py": FILES["app/jobs.py"],
        }
    )
    result = project.run("scan", "--fix", "--group", "DATABASE_URL", "--split-urls")
    assert result.code == 1  # the API URL was not asked for and is still there
    assert (
        (project.root / "app/jobs.py")
        .read_text()
        .startswith("from app.config import settings\n\nDATABASE_URL = settings.DATABASE_URL\n")
    )
    assert "    DB_PASSWORD: str\n" in (project.root / "app/config.py").read_text()
