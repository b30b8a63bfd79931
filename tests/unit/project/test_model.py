"""The conveyor.toml model: defaults, inference, and what environments resolve to."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from conveyor.errors import ConfigError
from conveyor.project.environment import StrategyConfig, infer_tier
from conveyor.project.model import PRESETS, ConveyorConfig, ServiceConfig, SettingsConfig
from tests.unit.project.toml_files import load

FULL = """\
[app]
name = "stocktrading"
python = "3.11"

[settings]
example = ".env.example"
class = "backend.config:Settings"
python = ".venv/bin/python"

[checks]
use = ["ruff-format", "ruff", "mypy", "bandit", "secrets", "pytest"]
coverage = 90
python = ["3.10", "3.11", "3.12"]

[checks.steps.docs]
run = ["mkdocs", "build"]
needs = ["ruff"]
inputs = ["docs/**/*.md"]

[services.web]
command = "uvicorn backend.main:app --host 127.0.0.1 --port $PORT"
health = "/health"
roles = ["backend"]
kind = "http"

[services.worker]
command = "celery -A backend.celery_app worker"
roles = ["backend"]

[services.dags]
sync = { from = "airflow/dags", to = "/opt/airflow/dags" }
after = "docker restart stock-airflow-scheduler"
roles = ["scheduler"]

[migrations]
tool = "alembic"
config = "alembic.ini"
run_on = "backend"
backup = false

[environments.staging]
branch = "develop"
env_file = ".env.staging"
tier = "staging"
hosts = { backend = ["deploy@stage-1"], scheduler = ["deploy@stage-1"] }

[environments.production]
strategy = { kind = "blue-green", batch = "25%", keep_previous_warm = "15m", \
healthy_threshold = 3, health_timeout = "60s", watch = "500ms", max_failures = 0 }
hosts = { backend = ["deploy@app-1", "deploy@[::1]:2222"], scheduler = ["local"] }
"""


@pytest.fixture
def full(tmp_path: Path) -> ConveyorConfig:
    return load(tmp_path, FULL)


def test_the_full_example_loads(full: ConveyorConfig) -> None:
    assert full.app.python == "3.11"
    assert full.settings.class_ == "backend.config:Settings"
    assert full.checks.steps["docs"].run == ["mkdocs", "build"]
    assert full.services["dags"].sync is not None
    assert full.services["dags"].sync.from_ == "airflow/dags"
    assert full.migrations is not None and full.migrations.run_on == "backend"
    assert full.roles == ("backend", "scheduler")


def test_services_infer_their_kind_and_split_their_commands(full: ConveyorConfig) -> None:
    web, worker, dags = full.services["web"], full.services["worker"], full.services["dags"]
    assert [web.resolved_kind, worker.resolved_kind, dags.resolved_kind] == [
        "http",
        "worker",
        "sync",
    ]
    assert web.argv == ["uvicorn", "backend.main:app", "--host", "127.0.0.1", "--port", "$PORT"]
    assert dags.argv == []
    assert dags.after_argv == ["docker", "restart", "stock-airflow-scheduler"]
    assert web.after_argv == []


def test_environments_resolve_their_file_and_tier(full: ConveyorConfig) -> None:
    staging, production = full.environment("staging"), full.environment("production")
    assert (staging.name, staging.resolved_env_file, staging.resolved_tier) == (
        "staging",
        ".env.staging",
        "staging",
    )
    assert (production.resolved_env_file, production.resolved_tier) == (
        ".env.production",
        "production",
    )
    assert staging.is_production_like and production.is_production_like


def test_strategy_values_are_parsed(full: ConveyorConfig) -> None:
    strategy = full.environment("production").strategy
    assert strategy.keep_previous_warm == timedelta(minutes=15)
    assert strategy.health_timeout == timedelta(seconds=60)
    assert strategy.watch == timedelta(milliseconds=500)
    assert strategy.batch_size(8) == 2
    dumped = strategy.model_dump(mode="json")
    assert (dumped["keep_previous_warm"], dumped["health_timeout"], dumped["watch"]) == (
        "15m",
        "1m",
        "500ms",
    )


def test_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    config = load(tmp_path, '[app]\nname = "shop"\n')
    assert config.app.python is None
    assert config.settings == SettingsConfig(example=".env.example")
    assert config.checks.use == ["ruff-format", "ruff", "mypy", "pytest"]
    assert (config.checks.coverage, config.checks.python, config.checks.steps) == (0, [], {})
    assert config.services == {} and config.migrations is None
    assert config.migrations is None and "notify" not in config.model_fields_set
    assert list(config.environments) == ["development"]
    env = config.environment("development")
    assert env.hosts == {"app": ["local"]}
    assert (env.resolved_env_file, env.resolved_tier, env.is_production_like) == (
        ".env.development",
        "development",
        False,
    )
    assert env.strategy == StrategyConfig()
    assert (env.branch, env.approval, env.notify) == (None, None, None)


def test_without_environments_every_named_role_runs_locally(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[app]\nname = "shop"\n'
        '[services.web]\ncommand = "serve"\nhealth = "/"\nroles = ["backend"]\n'
        '[services.dags]\nsync = { from = "dags", to = "/opt/dags" }\nroles = ["scheduler", "backend"]\n'
        '[migrations]\nrun_on = "database"\n',
    )
    hosts = config.environment("development").hosts
    assert hosts == {"backend": ["local"], "scheduler": ["local"], "database": ["local"]}


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("development", "development"),
        ("dev", "development"),
        ("local", "development"),
        ("test", "development"),
        ("prod", "production"),
        ("production", "production"),
        ("live", "production"),
        ("staging", "staging"),
        ("qa", "staging"),
        ("production-eu", "staging"),
    ],
)
def test_tier_is_inferred_from_the_name(name: str, tier: str) -> None:
    assert infer_tier(name) == tier


def test_an_explicit_tier_wins(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[app]\nname = "shop"\n'
        '[environments.prod]\ntier = "development"\nhosts = { app = ["local"] }\n'
        '[environments.sandbox]\ntier = "production"\nenv_file = "env/sandbox"\nhosts = { app = ["local"] }\n',
    )
    assert not config.environment("prod").is_production_like
    sandbox = config.environment("sandbox")
    assert (sandbox.resolved_tier, sandbox.resolved_env_file) == ("production", "env/sandbox")


@pytest.mark.parametrize(
    ("batch", "hosts", "size"),
    [(1, 5, 1), (3, 2, 2), ("25%", 5, 2), ("100%", 3, 3), ("1%", 3, 1), ("50%", 0, 1)],
)
def test_batch_size(batch: int | str, hosts: int, size: int) -> None:
    assert StrategyConfig(batch=batch).batch_size(hosts) == size


def test_unknown_environment_suggests_a_known_one(full: ConveyorConfig) -> None:
    with pytest.raises(ConfigError) as caught:
        full.environment("producton")
    assert str(caught.value) == (
        'unknown environment "producton" (did you mean "production"?); known: "staging", "production"'
    )


def test_the_model_can_be_built_in_python_and_checks_references() -> None:
    settings = SettingsConfig(class_="app.settings:Settings")
    assert settings.model_dump(by_alias=True)["class"] == "app.settings:Settings"
    with pytest.raises(ValidationError) as caught:
        ConveyorConfig.model_validate(
            {
                "app": {"name": "shop"},
                "services": {"web": {"command": "serve", "roles": ["web"]}},
                "environments": {"dev": {"hosts": {"app": ["local"]}}},
            }
        )
    assert 'services.web.roles[0]: role "web" has no hosts in any environment' in str(caught.value)


def test_sections_are_frozen(full: ConveyorConfig) -> None:
    with pytest.raises(ValidationError):
        full.app.name = "other"  # type: ignore[misc]


def test_service_kind_singleton_is_kept(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[app]\nname = "s"\n[services.beat]\ncommand = "beat"\nroles = ["app"]\nkind = "singleton"\n',
    )
    assert config.services["beat"].resolved_kind == "singleton"
    assert ServiceConfig(command="x", roles=["app"]).resolved_kind == "worker"


def test_presets_list_is_the_literal() -> None:
    assert "ruff-format" in PRESETS and "pip-audit" in PRESETS and len(set(PRESETS)) == len(PRESETS)
