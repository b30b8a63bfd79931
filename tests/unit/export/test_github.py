"""Generated workflows: their content, and the real actionlint on every one of them."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from conveyor.export.github import (
    ci_workflow,
    deploy_workflow,
    install_command,
    secret_notes,
    write,
)
from conveyor.export.precommit import precommit_config
from conveyor.project.load import load_project
from tests.unit.export.lint import actionlint

SOURCE = "git+https://git.example.org/team/conveyor.git@0123456789abcdef0123456789abcdef01234567"
SEED = (
    ('[app]\nname = "stocktrading"\npython = "3.11"\n\n[export]\nconveyor = "' + SOURCE + '"\n')
    + """
[checks]
use = ["ruff-format", "ruff", "mypy", "bandit", "secrets", "pytest"]
coverage = 90
python = ["3.10", "3.11", "3.12"]

[services.web]
command = "uvicorn backend.main:app --port $PORT"
health = "/health"
roles = ["backend"]

[environments.staging]
branch = "develop"
hosts = { backend = ["deploy@stage-1"] }

[environments.production]
branch = "main"
env_file = ".env.prod"
hosts = { backend = ["deploy@app-1", "deploy@app-2"] }

[environments.preview]
hosts = { backend = ["local"] }
"""
)


def _project(tmp_path: Path, toml: str, files: dict[str, str] | None = None) -> Any:
    (tmp_path / "conveyor.toml").write_text(textwrap.dedent(toml))
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    return load_project(tmp_path)


def _load(text: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(text)
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    return data


def test_ci_runs_conveyor_check_per_python_with_the_cache_and_reports(tmp_path: Path) -> None:
    project = _project(tmp_path, SEED, {"requirements.txt": "fastapi\n"})
    ci = ci_workflow(project)
    assert ci.path == ".github/workflows/ci.yml"
    data = _load(ci.text)
    assert data["on"] == {"push": {"branches": ["develop", "main"]}, "pull_request": None}
    job = data["jobs"]["check"]
    assert job["strategy"]["matrix"] == {"python": ["3.10", "3.11", "3.12"]}
    steps = job["steps"]
    assert steps[2] == {
        "name": "Install",
        "run": f"python -m pip install -r requirements.txt {SOURCE} "
        "ruff mypy bandit pytest pytest-cov",
    }
    assert steps[3]["with"] == {
        "path": ".conveyor/cache\n.conveyor/benchmarks\n",
        "key": "conveyor-check-${{ runner.os }}-py${{ matrix.python }}-${{ github.sha }}",
        "restore-keys": "conveyor-check-${{ runner.os }}-py${{ matrix.python }}-",
    }
    assert steps[4] == {
        "name": "conveyor check",
        "run": "conveyor check --python ${{ matrix.python }}",
    }
    assert steps[5]["with"]["path"] == ".conveyor/reports/"


def test_deploy_per_branch_with_environments_and_concurrency(tmp_path: Path) -> None:
    project = _project(tmp_path, SEED)
    deploy = deploy_workflow(project)
    assert deploy is not None
    data = _load(deploy.text)
    assert data["on"] == {"push": {"branches": ["develop", "main"]}}
    assert list(data["jobs"]) == ["deploy-staging", "deploy-production"]
    production = data["jobs"]["deploy-production"]
    assert production["if"] == "github.ref == 'refs/heads/main'"
    assert production["environment"] == "production"
    assert production["concurrency"] == {"group": "deploy-production", "cancel-in-progress": False}
    names = [s.get("name") for s in production["steps"]]
    assert names[3:] == ["Check", "SSH key and known hosts", "Write .env.prod", "Deploy production"]
    assert production["steps"][-1]["run"] == "conveyor deploy production"
    assert secret_notes(project.config) == [
        'GitHub: Settings > Environments > "staging": add the secrets '
        "ENV_FILE, SSH_PRIVATE_KEY, SSH_KNOWN_HOSTS",
        'GitHub: Settings > Environments > "production": add the secrets '
        "ENV_FILE, SSH_PRIVATE_KEY, SSH_KNOWN_HOSTS",
    ]


def test_no_branch_no_deploy_workflow(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        f'[app]\nname = "x"\n[export]\nconveyor = "{SOURCE}"\n',
        {"pyproject.toml": "[project.optional-dependencies]\ntest = [\n]\n"},
    )
    assert deploy_workflow(project) is None
    assert (
        install_command(project) == f"python -m pip install -e '.[test]' {SOURCE} ruff mypy pytest"
    )
    data = _load(ci_workflow(project).text)
    assert data["on"]["push"] == {"branches": ["main"]}
    assert data["jobs"]["check"]["steps"][4]["run"] == "conveyor check"


def test_every_generated_workflow_passes_actionlint(tmp_path: Path) -> None:
    project = _project(tmp_path, SEED)
    for generated in (ci_workflow(project), deploy_workflow(project)):
        assert generated is not None
        write(tmp_path, generated)
    workflows = sorted((tmp_path / ".github/workflows").glob("*.yml"))
    assert [p.name for p in workflows] == ["ci.yml", "deploy.yml"]
    done = actionlint(*workflows)
    assert (done.returncode, done.stdout) == (0, "")


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    done = actionlint(broken)
    assert done.returncode == 1
    assert 'property "nope" is not defined' in done.stdout


def test_write_reports_whether_anything_changed(tmp_path: Path) -> None:
    config = precommit_config()
    assert write(tmp_path, config) is True
    assert write(tmp_path, config) is False


def test_precommit_hook_runs_the_fast_steps() -> None:
    data = yaml.safe_load(precommit_config().text)
    assert data == {
        "repos": [
            {
                "repo": "local",
                "hooks": [
                    {
                        "id": "conveyor-check",
                        "name": "conveyor check --fast",
                        "entry": "conveyor check --fast",
                        "language": "system",
                        "pass_filenames": False,
                        "always_run": True,
                    }
                ],
            }
        ]
    }
