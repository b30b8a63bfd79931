"""The example app exported for containers: hadolint, docker-compose and the round trip."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.checks.plan import build_plan
from conveyor.cli import main
from conveyor.demo.driver import prepare
from conveyor.export.yaml import load
from conveyor.project.load import load_project
from conveyor.settings.envfile import read_env_file
from tests.unit.export.lint import compose_config, hadolint

ENVS = ("development", "staging", "production")
BASE = "docker-compose.yml"


@pytest.fixture
def movies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The bundled example app with the conveyor.toml `conveyor init` writes for it."""
    root = prepare(tmp_path)
    assert main(["-C", str(root), "init"]) == 0
    capsys.readouterr()
    return root


def _run(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["-C", str(root), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_example_app_exports_lint_clean_valid_compose_files(
    movies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(movies, capsys, "export", "docker")
    assert code == 0
    assert out == (
        "wrote Dockerfile\nwrote .dockerignore\nwrote requirements.lock\n"
        "wrote docker-compose.yml\nwrote docker-compose.development.yml\n"
        "wrote docker-compose.staging.yml\nwrote docker-compose.production.yml\n"
        "development: compose starts postgres:5432 and redis:6379 beside the app; "
        "point the URLs in .env.development at them\n"
        "run: docker compose -f docker-compose.yml -f docker-compose.production.yml up -d\n"
    )
    done = hadolint(movies / "Dockerfile")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    for env in ENVS:
        done = compose_config(movies, BASE, f"docker-compose.{env}.yml")
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), env
    # The image installs the release lock's lines, and is labelled with the lock's hash.
    lock = (movies / "requirements.lock").read_text().splitlines()[2:]
    pins = [line for line in (movies / "requirements.txt").read_text().splitlines() if "==" in line]
    assert sorted(lock) == sorted(pins)
    digest = hashlib.sha256("".join(f"{line}\n" for line in lock).encode()).hexdigest()
    assert f'io.conveyor.lock-hash="{digest}"' in (movies / "Dockerfile").read_text()


def test_the_real_parser_reads_back_what_conveyor_toml_says(
    movies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round trip: docker-compose's merged view of each environment against conveyor.toml."""
    assert _run(movies, capsys, "export", "docker")[0] == 0
    config = load_project(movies).config
    for env_name, env in config.environments.items():
        override = f"docker-compose.{env_name}.yml"
        done = compose_config(movies, BASE, override, quiet=False)
        assert done.returncode == 0, done.stderr
        services = yaml.safe_load(done.stdout)["services"]
        app = {"web", "worker", "migrate"}
        extra = {"postgres", "redis"} if env_name == "development" else set()
        assert set(services) == app | extra
        web = services["web"]
        assert web["ports"] == [{"published": 8080, "target": 8100}]  # Caddy's default :8080
        assert web["healthcheck"]["test"][-1] == (
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8100"
            f"{config.services['web'].health}', timeout=4)"
        )
        assert web["command"] == [
            "uvicorn",
            "movies.main:app",
            "--host",
            "0.0.0.0",
            "--port",
            "8100",
        ]
        assert services["worker"]["command"] == ["python", "-m", "movies.worker"]
        assert services["worker"]["healthcheck"] == {"test": ["NONE"]}
        assert services["migrate"]["command"] == ["alembic", "-c", "alembic.ini", "upgrade", "head"]
        # docker-compose read each service's values from the environment's own file.
        keys = set(read_env_file(movies / env.resolved_env_file).keys())
        for name in app:
            assert set(services[name]["environment"]) == keys, (env_name, name)
        ours = load((movies / override).read_text())["services"]
        assert {name: ours[name]["env_file"] for name in app} == {
            name: [env.resolved_env_file] for name in app
        }


def test_check_fails_when_conveyor_toml_moves_on(
    movies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(movies, capsys, "export", "docker")[0] == 0
    assert _run(movies, capsys, "export", "docker", "--check") == (
        0,
        "docker files are up to date\n",
        "",
    )
    toml = movies / "conveyor.toml"
    toml.write_text(toml.read_text().replace('health = "/health"', 'health = "/ready"'))
    code, out, err = _run(movies, capsys, "export", "docker", "--check")
    assert (code, out) == (1, "")
    assert err == (
        "error: Dockerfile is stale\ndocker-compose.yml is stale\n"
        "docker-compose.yml: services.web.healthcheck.test is ['CMD', 'python', '-c', "
        "\"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8100/health', "
        "timeout=4)\"], conveyor.toml says ['CMD', 'python', '-c', \"import urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:8100/ready', timeout=4)\"]\n"
        "run: conveyor export docker\n"
    )
    assert _run(movies, capsys, "export", "docker")[0] == 0
    assert _run(movies, capsys, "export", "docker", "--check")[0] == 0


def test_dry_run_prints_and_writes_nothing(
    movies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(movies, capsys, "export", "docker", "--dry-run")
    assert code == 0 and out.startswith("# Dockerfile\n# Generated by `conveyor export docker`")
    assert "\n# docker-compose.production.yml\n" in out
    assert not (movies / "Dockerfile").exists()


def test_the_quality_pipeline_runs_the_check(
    movies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = movies / "conveyor.toml"
    text = toml.read_text()  # init wrote a [checks] table: the docker gate replaces its use
    use = next(line for line in text.splitlines() if line.startswith("use = "))
    toml.write_text(text.replace(use, 'use = ["docker"]'))
    plan = build_plan(load_project(movies).config.checks, movies)
    assert plan.step("docker").argv == (
        sys.executable,
        "-m",
        "conveyor",
        "export",
        "docker",
        "--check",
    )
    code, out, _ = _run(movies, capsys, "check")
    assert code == 1 and "Dockerfile is missing" in out
    assert _run(movies, capsys, "export", "docker")[0] == 0
    code, out, _ = _run(movies, capsys, "check")
    assert code == 0, out
    assert _run(movies, capsys, "check", "--fast")[0] == 0
