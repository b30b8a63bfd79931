"""`export docker` from data: the Dockerfile, the compose files, the real linters on them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.errors import ExportError
from conveyor.export.base import DIGESTS, BaseImage, choose_base, pinned_in
from conveyor.export.compose import needs_of
from conveyor.export.docker import docker_export, stale_files, write_files
from conveyor.export.dockerfile import container_argv
from conveyor.export.roundtrip import drift
from conveyor.export.yaml import load
from conveyor.project.load import load_project
from conveyor.project.model import ServiceConfig
from tests.conftest import Project
from tests.unit.export.lint import compose_config, hadolint

SHOP = """
[app]
name = "shop"
python = "3.12"

[services.web]
command = "gunicorn shop.wsgi --bind 127.0.0.1:$PORT"
health = "/healthz"
roles = ["app"]
listen = "127.0.0.1:9000"

[services.worker]
command = "celery -A shop worker"
roles = ["app"]
drain = "90s"

[services.dags]
sync = { from = "dags", to = "/opt/airflow/dags" }
roles = ["app"]

[environments.dev]
hosts = { app = ["local"] }

[environments.production]
env_file = ".env.prod"
hosts = { app = ["deploy@app-1"] }
"""
FILES = {
    "conveyor.toml": SHOP,
    "requirements.txt": "gunicorn==23.0.0\ncelery[redis]==5.5.3\npsycopg2-binary==2.9.10\n",
    ".env.example": "DATABASE_URL=postgresql://localhost/shop\n",
    ".env.prod": "DATABASE_URL=postgresql://shop:s3cret-prod-value@db/shop\n",
    ".env.dev": "DATABASE_URL=postgresql://postgres@postgres/shop\n",
}
ENVS = ("dev", "production")


@pytest.fixture
def shop(make_project: Callable[..., Project]) -> Project:
    return make_project(FILES)


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        (
            "uvicorn a:app --host 127.0.0.1 --port $PORT",
            ("uvicorn", "a:app", "--host", "0.0.0.0", "--port", "8100"),
        ),
        ("gunicorn a --bind=127.0.0.1:${PORT}", ("gunicorn", "a", "--bind=0.0.0.0:8100")),
        ("gunicorn a -b localhost:$PORT", ("gunicorn", "a", "-b", "0.0.0.0:8100")),
        ("uvicorn a:app --host 10.1.2.3", ("uvicorn", "a:app", "--host", "10.1.2.3")),
        ("python -m worker", ("python", "-m", "worker")),
    ],
)
def test_container_commands_fill_the_port_and_listen_beyond_loopback(
    command: str, argv: tuple[str, ...]
) -> None:
    service = ServiceConfig(command=command, roles=["app"])
    assert container_argv(service, 8100) == argv


def test_the_dockerfile_is_multi_stage_non_root_pinned_and_hadolint_clean(shop: Project) -> None:
    export = docker_export(load_project(shop.root))
    files = {f.path: f.text for f in export.files}
    assert list(files) == [
        "Dockerfile",
        ".dockerignore",
        "requirements.lock",
        "docker-compose.yml",
        "docker-compose.dev.yml",
        "docker-compose.production.yml",
    ]
    text = files["Dockerfile"]
    assert f"ARG BASE_IMAGE=python:3.12-slim-bookworm@{DIGESTS['3.12']}\n" in text
    assert text.count("FROM ${BASE_IMAGE}") == 2 and "AS build\n" in text
    assert (
        "RUN /opt/venv/bin/python -m pip install --no-cache-dir -r /tmp/requirements.lock\n" in text
    )
    assert "USER 10001:10001\n" in text
    assert (
        'HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["python", '
        '"-c", "import urllib.request; urllib.request.urlopen(\'http://127.0.0.1:8100/healthz\', '
        'timeout=4)"]\n'
    ) in text
    assert text.endswith('CMD ["gunicorn", "shop.wsgi", "--bind", "0.0.0.0:8100"]\n')
    # The image installs the release's lock: the same lines `conveyor build` writes.
    assert files["requirements.lock"].splitlines()[2:] == [
        "celery[redis]==5.5.3",
        "gunicorn==23.0.0",
        "psycopg2-binary==2.9.10",
    ]
    # Values files never enter the image: in any folder (patterns match from the root, so
    # ".env*" alone would let backend/.env in), and each environment's own env_file.
    assert files[".dockerignore"].splitlines()[1:] == [
        ".git",
        ".conveyor",
        ".venv",
        "venv",
        "**/__pycache__",
        "**/*.pyc",
        "**/.env",
        "**/.env.*",
        "!**/.env.example",
        ".env.dev",
        ".env.prod",
    ]
    write_files(shop.root, export)
    done = hadolint(shop.root / "Dockerfile")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_hadolint_catches_what_the_export_avoids(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python\nRUN pip install flask\n")
    done = hadolint(broken)
    assert done.returncode == 1
    codes = [line.split()[1] for line in done.stdout.splitlines()]
    assert codes == ["DL3006", "DL3013", "DL3042"]


def test_compose_files_carry_services_ports_health_and_env_files_never_values(
    shop: Project,
) -> None:
    export = docker_export(load_project(shop.root))
    files = {f.path: f.text for f in export.files}
    base = load(files["docker-compose.yml"])["services"]
    assert list(base) == ["web", "worker"]  # the sync service has no container
    assert base["web"]["ports"] == ["127.0.0.1:9000:8100"]
    assert base["web"]["command"] == ["gunicorn", "shop.wsgi", "--bind", "0.0.0.0:8100"]
    assert base["worker"]["healthcheck"] == {"disable": True}
    assert base["worker"]["stop_grace_period"] == "90s"
    assert {s["restart"] for s in base.values()} == {"unless-stopped"}
    prod = load(files["docker-compose.production.yml"])["services"]
    assert prod == {"web": {"env_file": [".env.prod"]}, "worker": {"env_file": [".env.prod"]}}
    dev = load(files["docker-compose.dev.yml"])["services"]
    assert list(dev) == ["web", "worker", "postgres", "redis"]
    healthy = {"condition": "service_healthy"}
    assert dev["web"]["depends_on"] == {"postgres": healthy, "redis": healthy}
    assert all("s3cret-prod-value" not in text for text in files.values())
    assert export.notes == (
        "dags: a sync service has no container; not exported",
        "dev: compose starts postgres:5432 and redis:6379 beside the app; "
        "point the URLs in .env.dev at them",
    )
    write_files(shop.root, export)
    for env in ENVS:
        done = compose_config(shop.root, "docker-compose.yml", f"docker-compose.{env}.yml")
        assert (done.returncode, done.stderr) == (0, "")


def test_compose_validation_rejects_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    portz: [80]\n")
    done = compose_config(tmp_path, "docker-compose.yml")
    assert done.returncode == 1
    assert "Unsupported config option for services.web: 'portz'" in done.stderr


def test_needs_from_packages_or_settings() -> None:
    assert needs_of(["psycopg"], []).postgres and not needs_of(["psycopg"], []).redis
    assert needs_of([], ["CACHE_REDIS_URL"]).redis
    assert not needs_of(["fastapi"], ["DATABASE_URL"]).postgres


def test_the_base_pin_is_kept_across_exports_and_changes_with_python() -> None:
    mine = "sha256:" + "1" * 64
    earlier = f"# x\nARG BASE_IMAGE=python:3.12-slim-bookworm@{mine}\n"
    assert pinned_in(earlier) == BaseImage("python:3.12-slim-bookworm", mine)
    assert choose_base("3.12", earlier).digest == mine
    assert choose_base("3.11", earlier).digest == DIGESTS["3.11"]
    with pytest.raises(ExportError) as caught:
        choose_base("3.9", earlier)
    assert str(caught.value) == (
        "conveyor has no pinned digest for python:3.9-slim-bookworm; nothing was written\n"
        "run: conveyor export docker --update-base (asks the registry for the digest)"
    )


def test_round_trip_names_what_drifted(shop: Project) -> None:
    project = load_project(shop.root)
    export = docker_export(project)
    texts = {f.path: f.text for f in export.files}
    assert drift(project.config, texts) == []
    texts["docker-compose.yml"] = (
        texts["docker-compose.yml"]
        .replace("127.0.0.1:9000:8100", "9000:8100")
        .replace("/healthz", "/health")
    )
    texts["docker-compose.production.yml"] = texts["docker-compose.production.yml"].replace(
        "[.env.prod]", "[.env.production]", 1
    )
    texts["docker-compose.dev.yml"] += "  extra:\n    image: busybox\n"
    assert drift(project.config, texts) == [
        "docker-compose.dev.yml: services.extra is not in conveyor.toml",
        "docker-compose.production.yml: services.web.env_file is ['.env.production'], "
        "conveyor.toml says ['.env.prod']",
        "docker-compose.yml: services.web.healthcheck.test is ['CMD', 'python', '-c', "
        "\"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8100/health', "
        "timeout=4)\"], conveyor.toml says ['CMD', 'python', '-c', \"import urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:8100/healthz', timeout=4)\"]",
        "docker-compose.yml: services.web.ports is ['9000:8100'], "
        "conveyor.toml says ['127.0.0.1:9000:8100']",
    ]
    del texts["docker-compose.yml"]
    assert (
        "docker-compose.yml: services.web.command is None, "
        "conveyor.toml says ['gunicorn', 'shop.wsgi', '--bind', '0.0.0.0:8100']"
    ) in drift(project.config, texts)


def test_check_names_missing_and_stale_files(shop: Project) -> None:
    project = load_project(shop.root)
    export = docker_export(project)
    assert stale_files(project, export)[:2] == ["Dockerfile is missing", ".dockerignore is missing"]
    write_files(shop.root, export)
    assert stale_files(project, export) == []
    (shop.root / ".dockerignore").write_text((shop.root / ".dockerignore").read_text() + "x\n")
    assert stale_files(project, export) == [".dockerignore is stale"]


def test_a_hand_written_file_is_not_overwritten_without_force(shop: Project) -> None:
    (shop.root / "docker-compose.yml").write_text("services: {}\n")
    export = docker_export(load_project(shop.root))
    with pytest.raises(ExportError) as caught:
        write_files(shop.root, export)
    assert str(caught.value) == (
        "docker-compose.yml: not written by conveyor export docker; nothing was written\n"
        "move them away (conveyor's files replace them), or pass --force to overwrite"
    )
    assert not (shop.root / "Dockerfile").exists()
    # The dry run refuses the same way (exit 1, same message) and writes nothing either.
    dry = shop.run("export", "docker", "--dry-run")
    assert dry.code == 1
    assert dry.err.startswith(
        "error: docker-compose.yml: not written by conveyor export docker; nothing was written\n"
    )
    assert shop.run("export", "docker", "--dry-run", "--force").code == 0
    assert not (shop.root / "Dockerfile").exists()
    assert "docker-compose.yml" in write_files(shop.root, export, force=True)


def test_unpinned_requirements_are_refused(make_project: Callable[..., Project]) -> None:
    project = make_project({**FILES, "requirements.txt": "gunicorn>=23\n"})
    with pytest.raises(ExportError) as caught:
        docker_export(load_project(project.root))
    assert str(caught.value) == (
        "requirements.txt:1: gunicorn is not pinned (use gunicorn==X.Y.Z); "
        "a release for production must be reproducible\nnothing was written\n"
        "the image installs exactly what a release locks: pin every requirement"
    )


def test_export_names_the_service_it_cannot_name_its_own(
    make_project: Callable[..., Project],
) -> None:
    toml = SHOP.replace("[services.worker]", "[services.redis]")
    project = make_project({**FILES, "conveyor.toml": toml})
    with pytest.raises(ExportError) as caught:
        docker_export(load_project(project.root))
    assert str(caught.value) == (
        'conveyor.toml: services.redis: the name "redis" is the export\'s own compose service; '
        "nothing was written\nrename the service"
    )
