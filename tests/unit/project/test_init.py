"""`conveyor init` on a project shaped like the seeds' stock-trading backend."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.project.load import load_project
from tests.conftest import Project

SEED = Path(__file__).parents[2] / "fixtures" / "stocktrading"


@pytest.fixture
def seed(make_project: Callable[..., Project]) -> Project:
    project = make_project()
    shutil.copytree(SEED, project.root, dirs_exist_ok=True)
    return project


def test_init_detects_services_migrations_and_settings(seed: Project) -> None:
    result = seed.run("init")
    assert result.code == 0, result.err
    assert "web app backend.main:app" in result.out
    assert "Celery app backend.celery_app" in result.out
    assert "Airflow DAGs in airflow/dags/" in result.out
    assert "Alembic migrations (alembic.ini)" in result.out
    assert "settings class backend.config:Settings" in result.out
    assert "wrote conveyor.toml\nwrote .env.example\nwrote .gitignore\n" in result.out
    assert "next: " in result.out

    config = load_project(seed.root).config
    assert set(config.services) >= {"web", "worker", "dags"}
    assert (
        config.services["web"].command == "uvicorn backend.main:app --host 127.0.0.1 --port $PORT"
    )
    assert config.services["web"].health == "/health"
    assert config.services["dags"].resolved_kind == "sync"
    assert config.migrations is not None and config.migrations.run_on == "backend"
    assert set(config.environments) == {"development", "staging", "production"}
    # Only keys that conveyor carries out: no approval, no backup, no notifications.
    assert config.environments["production"].approval is None
    assert not config.migrations.backup and "notify" not in config.model_fields_set
    assert config.settings.class_ == "backend.config:Settings"


def test_a_worker_written_as_a_script_is_a_service_a_library_module_is_not(
    make_project: Callable[..., Project],
) -> None:
    loop = "import time\n\nwhile True:\n    time.sleep(1)\n"
    functions = "def work() -> None:\n    pass\n"
    files = {"shop/__init__.py": "", "shop/worker.py": loop, "shop/workers_util.py": functions}
    project = make_project(files, mode=None)
    result = project.run("init")
    assert result.code == 0, result.err
    assert "worker shop.worker" in result.out
    services = load_project(project.root).config.services
    assert services["worker"].command == "python -m shop.worker"
    assert all("workers_util" not in (s.command or "") for s in services.values())


def test_init_writes_env_example_from_the_settings_class(seed: Project) -> None:
    seed.run("init")
    example = (seed.root / ".env.example").read_text()
    assert "DB_PORT=5432  # port\n" in example
    assert "DB_PASSWORD=  # secret\n" in example
    assert "JWT_SECRET_KEY=  # secret\n" in example
    assert "DATABASE_URL" not in example.split("Generated from")[1]  # a @property, not a field


def test_init_ignores_environment_files_in_git(seed: Project) -> None:
    (seed.root / ".gitignore").write_text("__pycache__/")
    seed.run("init")
    assert (seed.root / ".gitignore").read_text().splitlines()[-4:] == [
        ".env",
        ".env.*",
        "!.env.example",
        ".conveyor/",
    ]
    result = seed.run("init")
    assert "updated .gitignore" not in result.out
    assert (seed.root / ".gitignore").read_text().count(".env.*") == 1


def test_init_never_overwrites_without_force(seed: Project) -> None:
    (seed.root / "conveyor.toml").write_text("# mine\n")
    result = seed.run("init")
    assert "kept conveyor.toml (exists; --force to overwrite)" in result.out
    assert (seed.root / "conveyor.toml").read_text() == "# mine\n"
    assert seed.run("init", "--force").code == 0
    assert (seed.root / "conveyor.toml").read_text().startswith("# Written by conveyor init")


def test_init_on_an_empty_project_writes_a_starter(make_project: Callable[..., Project]) -> None:
    project = make_project()
    result = project.run("init")
    assert result.code == 0
    assert "found: no services (wrote a starter)" in result.out
    config = load_project(project.root).config
    assert config.environments["development"].hosts == {"app": ["local"]}
    assert "SECRET_KEY=  # secret" in (project.root / ".env.example").read_text()
    assert project.run("config", "check", "development").code == 1  # nothing filled in yet


def test_after_init_the_settings_class_is_the_schema(seed: Project) -> None:
    """The seed's config.py builds `settings = Settings()` on import; the check still reads it."""
    seed.run("init")
    values = "\n".join(
        f"{key}=x"
        for key in (
            *("DB_HOST", "DB_USER", "DB_PASSWORD", "REDIS_HOST", "INFLUXDB_URL"),
            *("INFLUXDB_TOKEN", "BACKEND_URL", "FRONTEND_URL", "GRAFANA_URL", "AIRFLOW_URL"),
        )
    )
    seed.write({".env.development": values + "\nJWT_SECRET_KEY=dev\nDB_PORT=5435\n"})
    result = seed.run("config", "check", "development")
    assert result.out == "ok: .env.development matches backend.config:Settings (19 keys)\n"
    seed.write({".env.development": values + "\nDB_PORT=5435x\n"})
    result = seed.run("config", "check", "development")
    assert (
        ".env.development: JWT_SECRET_KEY: error: required key is missing (declared in backend.config:Settings) [missing]"
        in result.out
    )
    assert (
        ".env.development:11: DB_PORT: error: expected a port number between 1 and 65535 [type]"
        in result.out
    )


def test_init_reads_modules_in_a_newer_grammar(make_project: Callable[..., Project]) -> None:
    """A PEP 695 alias next to the app (valid on Python 3.12) does not hide the app."""
    main = (
        "from fastapi import FastAPI\n\ntype Payload = dict[str, str]\n\napp = FastAPI()\n\n\n"
        '@app.get("/healthz")\ndef healthz() -> Payload:\n    return {}\n'
    )
    project = make_project({"svc/__init__.py": "", "svc/main.py": main})
    result = project.run("init")
    assert result.code == 0, result.err
    assert "web app svc.main:app" in result.out
    toml = (project.root / "conveyor.toml").read_text()
    assert '\nhealth = "/healthz"\n' in toml
