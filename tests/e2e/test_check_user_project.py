"""conveyor check on a user's project: its own environment, its own tools, no tests yet."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Project

# A project whose code imports celery, which conveyor's own environment does not have.
USER_PROJECT = {
    "requirements.txt": "celery\n",
    "requirements-dev.txt": "pytest\nmypy\nruff\n",
    "pyproject.toml": """
        [project]
        name = "shop"
        version = "0.1.0"

        [tool.ruff]
        line-length = 100

        [tool.mypy]
        files = ["backend"]
        disable_error_code = ["import-untyped"]
    """,
    "backend/__init__.py": "",
    "backend/celery_app.py": 'from celery import Celery\n\napp = Celery("backend")\n',
}
TEST = (
    "from backend.celery_app import app\n\n\n"
    'def test_app() -> None:\n    assert app.main == "backend"\n'
)


def test_check_runs_the_gates_in_the_projects_own_environment(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(USER_PROJECT)
    assert project.run("init").code == 0
    toml = (project.root / "conveyor.toml").read_text()
    assert 'use = ["ruff-format", "ruff", "mypy", "pytest"]\n' in toml
    assert 'no_tests = "pass"   # no tests yet; remove this line once there are\n' in toml
    assert ".conveyor/\n" in (project.root / ".gitignore").read_text()
    result = project.run("check")
    assert result.code == 0, result.out
    assert "venv: passed in " in result.out
    assert 'pytest: no tests collected; passes (checks.no_tests = "pass")\n' in result.out
    assert "ok: 5 passed, 0 cached, 0 failed in " in result.out
    venvs = list((project.root / ".conveyor/venvs").iterdir())
    assert len(venvs) == 1
    python = str(venvs[0] / "bin" / "python")
    assert "mypy: passed" in result.out
    assert python in (project.root / ".conveyor/cache/mypy.json").read_text()
    project.write({"tests/test_app.py": TEST})
    again = project.run("check")
    assert again.code == 0, again.out
    assert "pytest: passed in " in again.out
    assert "reusing" in (project.root / ".conveyor/logs/venv.log").read_text()
    assert list((project.root / ".conveyor/venvs").iterdir()) == venvs
    assert "ok: 1 passed, 4 cached, 0 failed in " in project.run("check").out


def test_no_tests_fails_by_default_with_a_clear_message(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        {"conveyor.toml": '[app]\nname = "calc"\n[checks]\nuse = ["pytest"]\n', "calc.py": ""}
    )
    result = project.run("check")
    assert result.code == 1
    assert (
        "pytest: no tests collected: add tests (pytest finds tests/test_*.py) "
        'or set [checks] no_tests = "pass" in conveyor.toml\n'
    ) in result.out
    assert "FAILED: 0 passed, 0 cached, 1 failed in " in result.out


def test_linters_never_read_conveyors_own_folder(make_project: Callable[..., Project]) -> None:
    """Release copies and rendered files under .conveyor/ are not the project's source."""
    project = make_project(
        {
            "conveyor.toml": '[app]\nname = "calc"\n[checks]\nuse = ["ruff-format", "ruff"]\n',
            "calc.py": "X = 1\n",
            ".conveyor/releases/abc/calc.py": "import os\nX=1\n",
        }
    )
    result = project.run("check")
    assert result.code == 0, result.out
    assert "ok: 2 passed, 0 cached, 0 failed in " in result.out
