"""Hosts written as tables in `hosts`: their own app_dir and listen, checked word for word."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.deploy.layout import app_dir_for
from conveyor.project.hosts import HostOptions
from tests.unit.project.toml_files import error, load

APP = (
    '[app]\nname = "shop"\n\n'
    '[services.web]\ncommand = "uvicorn app:app"\nhealth = "/health"\nroles = ["backend"]\n\n'
    '[services.worker]\ncommand = "celery worker"\nroles = ["backend"]\n\n'
)
FLEET = (
    APP + "[environments.production]\n"
    "hosts = { backend = [\n"
    '    { host = "deploy@app-1", app_dir = "~/stocktrading", listen = "10.0.0.5:80" },\n'
    '    "deploy@app-2",\n'
    '], scheduler = ["deploy@sched-1", "deploy@app-1"] }\n'
)
HOST = 'expected "user@host", "user@host:port" or "local"'


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_tables_beside_plain_hosts_and_every_reader_still_gets_strings(tmp_path: Path) -> None:
    config = load(tmp_path, FLEET)
    env = config.environment("production")
    assert env.hosts == {
        "backend": ["deploy@app-1", "deploy@app-2"],
        "scheduler": ["deploy@sched-1", "deploy@app-1"],
    }
    assert env.host_options("deploy@app-1") == HostOptions(
        host="deploy@app-1", app_dir="~/stocktrading", listen="10.0.0.5:80"
    )
    assert env.host_options("deploy@app-2") == HostOptions(host="deploy@app-2")
    assert env.host_options("deploy@app-1").listen_for("web") == "10.0.0.5:80"
    assert config.roles == ("backend", "scheduler")
    # "~" stays for the host to expand: the controller's home is never used.
    assert app_dir_for(config, env, "deploy@app-1", tmp_path) == "~/stocktrading"
    assert app_dir_for(config, env, "deploy@app-2", tmp_path) == "/srv/shop/production"


def test_a_listen_table_by_service_and_app_dir_with_the_host_name(tmp_path: Path) -> None:
    text = APP.replace('roles = ["backend"]\n', 'roles = ["backend"]\nlisten = ":8080"\n', 1)
    text += (
        '[services.admin]\ncommand = "uvicorn admin:app"\nhealth = "/h"\nroles = ["backend"]\n\n'
        "[environments.staging]\n"
        'app_dir = "/srv/{host}/shop"\n'
        'hosts = { backend = [{ host = "deploy@stage-1", listen = { admin = "127.0.0.1:81" } },'
        ' { host = "deploy@stage-2", app_dir = "~/{host}" }] }\n'
    )
    config = load(tmp_path, text)
    env = config.environment("staging")
    one = env.host_options("deploy@stage-1")
    assert (one.listen_for("admin"), one.listen_for("web")) == ("127.0.0.1:81", None)
    assert app_dir_for(config, env, "deploy@stage-1", tmp_path) == "/srv/stage-1/shop"
    assert app_dir_for(config, env, "deploy@stage-2", tmp_path) == "~/stage-2"


PREFIX = "conveyor.toml:14: environments.production.hosts.backend[0]"
CASES = [
    (
        '{ host = "deploy@app-1", app_dir = "stocktrading" }',
        f"{PREFIX}.app_dir: expected an absolute path or one under the SSH user's home "
        '("~/app"), got "stocktrading"',
    ),
    (
        '{ host = "deploy@app-1", listen = "10.0.0.5" }',
        f'{PREFIX}.listen: expected an address like ":80" or "10.0.0.5:80", got "10.0.0.5"',
    ),
    (
        '{ host = "deploy@app-1", listen = { web = ":99999" } }',
        f'{PREFIX}.listen: web: expected a port from 1 to 65535, got ":99999"',
    ),
    (
        '{ host = "app 1" }',
        f'{PREFIX}.host: {HOST}, got "app 1"',
    ),
    (
        '{ app_dir = "/srv/x" }',
        "conveyor.toml: environments.production.hosts.backend[0].host: required key is missing",
    ),
    (
        '{ host = "deploy@app-1", appdir = "/srv/x" }',
        f'{PREFIX}.appdir: unknown key (did you mean "app_dir"?)',
    ),
    (
        "7",
        f'{PREFIX}: expected "user@host", "user@host:port", "local" or a table '
        '{ host = "user@host", ... }, got 7',
    ),
    (
        '{ host = "deploy@app-1", port = 9000 }',
        f'{PREFIX}: "port" cannot vary per host: a service\'s blue and green ports are on the '
        "host's loopback, behind Caddy, and the same on every host (services.NAME.port); what "
        'the world reaches is "listen" (per host here), and the SSH port goes in "host" '
        '("user@host:2222")',
    ),
    (
        '{ host = "deploy@app-1", listen = { wbe = ":80" } }',
        f'{PREFIX}.listen.wbe: no http service "wbe" runs on deploy@app-1 (did you mean "web"?); '
        "deploy@app-1 runs the http services web",
    ),
]


@pytest.mark.parametrize(("entry", "expected"), CASES)
def test_host_table_errors(tmp_path: Path, entry: str, expected: str) -> None:
    text = APP + f"[environments.production]\nhosts = {{ backend = [{entry}] }}\n"
    assert error(tmp_path, text) == expected


def test_a_plain_listen_on_a_host_without_one_http_service(tmp_path: Path) -> None:
    text = (
        APP + "[environments.production]\n"
        'hosts = { backend = ["deploy@app-1"], scheduler = [{ host = "deploy@sched-1", '
        'listen = ":80" }] }\n'
    )
    assert error(tmp_path, text) == (
        "conveyor.toml:14: environments.production.hosts.scheduler[0].listen: a plain address is "
        "for a host with one http service, and deploy@sched-1 runs no http service: give a "
        'table by service, e.g. { web = ":80" }'
    )


def test_one_host_with_two_different_tables(tmp_path: Path) -> None:
    text = (
        APP + "[environments.production]\n"
        'hosts = { backend = [{ host = "deploy@app-1", app_dir = "/srv/a" }], '
        'scheduler = [{ host = "deploy@app-1", app_dir = "/srv/b" }] }\n'
    )
    assert error(tmp_path, text) == (
        "conveyor.toml:14: environments.production.hosts.scheduler[0]: deploy@app-1 has other "
        "settings in hosts.backend[0]; a host is one machine: give its table once, and its "
        "plain name under its other roles"
    )


def test_a_relative_app_dir_is_for_local_hosts_only(tmp_path: Path) -> None:
    text = APP + (
        "[environments.production]\n"
        'app_dir = ".conveyor/prod"\n'
        'hosts = { backend = ["local", "deploy@app-1"] }\n'
    )
    assert error(tmp_path, text) == (
        "conveyor.toml:14: environments.production.app_dir: a relative app_dir is a directory "
        "of this project, not of deploy@app-1: give an absolute path or one under the SSH "
        'user\'s home ("~/app")'
    )
