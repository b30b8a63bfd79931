"""The seed's story end to end: 18+ scripts with copied URLs, scanned, fixed, still working."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Project

FIXTURE = Path(__file__).parents[1] / "fixtures" / "seedscripts"
DEMO_APP = Path(__file__).parents[2] / "src" / "conveyor" / "demo" / "app"
IMPORT_ALL = """
import importlib, pkgutil, sys
import airflow.dags, backend, scripts
for package in (backend, airflow.dags, scripts):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
print("imported", len(sys.modules))
"""


def _env() -> dict[str, str]:
    # Our own coverage run must not follow the project's processes.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE", "PYTEST_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _python(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=root, env=_env(), capture_output=True, text=True, timeout=120
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _own_tests_pass(root: Path) -> None:
    done = _python(root, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout


def test_seed_scripts_scan_fix_and_still_work(make_project: Callable[..., Project]) -> None:
    project = make_project()
    shutil.copytree(FIXTURE, project.root, dirs_exist_ok=True)
    root = project.root
    scripts = [p for p in _tree(root) if p.endswith(".py") and not p.startswith("tests/")]
    _own_tests_pass(root)
    assert _python(root, "-c", IMPORT_ALL).returncode == 0

    found = project.run("scan", "--format", "json")
    assert found.code == 1
    items = json.loads(found.out)
    assert "admin123" not in found.out
    by_setting: dict[str, set[str]] = {}
    for item in items:
        by_setting.setdefault(item["setting"], set()).add(item["file"])
    assert len(by_setting["DATABASE_URL"]) == 13
    assert len(by_setting["API_BASE_URL"]) == 6
    with_findings = {i["file"] for i in items if i["file"].endswith(".py")}
    assert len(with_findings) >= 18 and len(scripts) >= 18

    before = _tree(root)
    preview = project.run("scan", "--fix", "--dry-run")
    assert preview.code == 0
    assert "+DATABASE_URL = settings.DATABASE_URL" in preview.out
    assert "admin123" not in preview.out
    assert _tree(root) == before

    fixed = project.run("scan", "--fix")
    assert "admin123" not in fixed.out
    changed = [
        line.split(" ", 1)[1]
        for line in fixed.out.splitlines()
        if line.startswith(("changed ", "created "))
    ]
    assert len(changed) == 24
    assert {"backend/config.py", ".env.development", ".env.example", ".gitignore"} <= set(changed)
    assert "conveyor.toml" in changed  # [checks] env: the class now requires DATABASE_URL
    fixed_groups = {i["group"] for i in items if i["file"] in changed and i["fixable"]}
    # What is left is in files --fix does not rewrite: compose and shell.
    assert fixed.code == 1
    after = json.loads(project.run("scan", "--format", "json").out)
    assert {i["file"] for i in after} == {"docker-compose.yml", "scripts/deploy.sh"}
    assert not fixed_groups & {i["group"] for i in after}

    env = root / ".env.development"
    assert env.stat().st_mode & 0o777 == 0o600
    assert (
        "DATABASE_URL=postgresql://admin:admin123@localhost:5435/stocktrading\n" in env.read_text()
    )
    assert "admin123" not in (root / ".env.example").read_text()
    assert "DATABASE_URL=<DATABASE_URL>  # url" in (root / ".env.example").read_text()
    assert "    DATABASE_URL: str\n" in (root / "backend/config.py").read_text()
    fetch = (root / "backend/fetch_prices.py").read_text()
    assert 'HEALTH_URL = f"{settings.API_BASE_URL}/health"' in fetch
    assert 'requests.get(f"{settings.API_BASE_URL}/stocks/{code}", timeout=5)' in fetch
    assert (root / "backend/report_generator.py").read_bytes() == (
        FIXTURE / "backend/report_generator.py"
    ).read_bytes()

    imported = _python(root, "-c", IMPORT_ALL)
    assert imported.returncode == 0, imported.stderr
    _own_tests_pass(root)

    settled = _tree(root)
    again = project.run("scan", "--fix")
    assert again.out.splitlines()[0] == (
        "--fix changed nothing: the 3 findings below are under --fail-on or need a person; "
        "--group GROUP fixes one group whatever its severity"
    )
    assert _tree(root) == settled


def test_example_app_has_nothing_to_fix(make_project: Callable[..., Project]) -> None:
    project = make_project()
    shutil.copytree(
        DEMO_APP, project.root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    result = project.run("scan")
    assert result.code == 0
    assert result.out.splitlines()[-1].startswith(
        "5 findings in 5 groups (0 high, 0 medium, 5 low)"
    )
    before = _tree(project.root)
    assert (
        project.run("scan", "--fix")
        .out.splitlines()[0]
        .startswith("--fix changed nothing: the 5 findings below are under --fail-on")
    )
    assert _tree(project.root) == before
