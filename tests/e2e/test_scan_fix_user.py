"""scan --fix on a user's project: imports where its isort wants them, scripts still run,
every value kept in .env.development, and what it did said without contradiction."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Project

URL = "postgresql://admin:admin123@localhost:5435/stocktrading"
CONFIG = '''"""Settings."""

from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    """From the environment."""

    DB_PORT: int = 5432


settings = Settings()
'''
PROJECT = {
    "conveyor.toml": '[app]\nname = "shop"\n[settings]\nclass = "backend.config:Settings"\n'
    '[checks]\nuse = ["ruff"]\n',
    "pyproject.toml": '[tool.ruff.lint]\nselect = ["E", "F", "I"]\n',
    "backend/__init__.py": "",
    "backend/config.py": CONFIG,
    "backend/prices.py": f'"""Prices."""\n\nimport os\n\nimport pydantic\n\nURL = "{URL}"\n'
    'PORT = os.getenv("X", "") or pydantic.VERSION\n',
    "backend/ports.py": '"""Ports."""\n\nDB_PORT = 5435\n',
    "backend/calculate_all_indicators.py": f'"""Run from its folder."""\n\nURL = "{URL}"\n'
    'print("ran", URL[:8])\n',
    "airflow/dags/pipeline.py": '"""DAG."""\n\n'
    'COMMAND = "cd backend && python calculate_all_indicators.py"\n',
}


def _run(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, *argv], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def test_scan_fix_keeps_gates_green_scripts_running_and_every_value(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(PROJECT)
    root = project.root
    assert project.run("check").code == 0
    fixed = project.run("scan", "--fix", "--fail-on", "low")
    # The import goes into the first-party block, so ruff's I001 passes right after the fix.
    prices = (root / "backend/prices.py").read_text()
    assert "import os\n\nimport pydantic\n\nfrom backend.config import settings\n" in prices
    check = project.run("check")
    assert check.code == 0, check.out
    # A script the DAG runs from its own folder is left alone, saying why.
    assert (
        "left as is: backend/calculate_all_indicators.py is run as "
        "`python calculate_all_indicators.py` (airflow/dags/pipeline.py); run as a script from "
        "its own folder it cannot import backend. Run it as "
        "`python -m backend.calculate_all_indicators` from project/, then fix it\n"
    ) in fixed.out
    assert _run(root / "backend", "calculate_all_indicators.py").returncode == 0
    # Every value taken out of the code is in .env.development (0600, ignored by git).
    env = root / ".env.development"
    assert env.stat().st_mode & 0o777 == 0o600
    assert f"DATABASE_URL={URL}\n" in env.read_text()
    assert "DB_PORT=5435\n" in env.read_text()
    assert ".env.development" in (root / ".gitignore").read_text()
    assert (
        "DB_PORT: the code had 5435, the class default is 5432; .env.development sets 5435; "
        "other environments fall back to 5432 unless their file sets it\n"
    ) in fixed.out
    assert "nothing to fix" not in fixed.out
    # The class now requires DATABASE_URL, whose value is only in .env.development: the
    # checks get that file's values, or the tests importing the settings would fail.
    toml = (root / "conveyor.toml").read_text()
    assert '[checks]\nenv = "development"   # the values conveyor scan --fix moved; ' in toml
    assert (
        'conveyor.toml: [checks] env = "development": the class now requires DATABASE_URL, '
        "so the tests get .env.development's values (another environment's file works too)\n"
    ) in fixed.out


def test_fix_with_nothing_to_rewrite_does_not_say_nothing_to_fix_above_findings(
    make_project: Callable[..., Project],
) -> None:
    project = make_project({"app.py": 'HOST = "db.internal"\nNEW_PASSWORD = "Hunter2Hunter2x"\n'})
    first = project.run("scan", "--fail-on", "high").out
    result = project.run("scan", "--fix", "--fail-on", "never")
    assert first
    assert "nothing to fix\n" not in result.out
