"""What a deploy checks before it touches a host: the hosts a limit selects, the values it
ships, the targets it reaches and its timing. A project on disk under tmp_path; no host
is connected to (a target's SSH connector is only made, never opened)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from conveyor.build import Prepared
from conveyor.build import Release as Built
from conveyor.deploy.preflight import (
    Access,
    Limit,
    host_roles,
    idle_hosts,
    preflight,
    rendered_env,
    select_hosts,
    settings_for,
    targets_for,
    venv_key,
)
from conveyor.errors import ConfigError
from conveyor.project.load import Project, load_config_file

TOML = """\
[app]
name = "shop"
python = "3.11"
[services.web]
command = "uvicorn shop.main:app --port $PORT"
health = "/health"
roles = ["backend"]
[services.worker]
command = "celery -A shop worker"
roles = ["jobs"]
[environments.production]
hosts = { backend = [{ host = "deploy@app-1", listen = "10.0.0.5:80", app_dir = "/opt/{host}" }, "deploy@app-2"], jobs = ["deploy@app-2"], db = ["deploy@db-1"] }
[environments.production.strategy]
batch = "50%"
max_failures = 1
watch = "45s"
keep_previous_warm = "5m"
[environments.staging]
hosts = { db = ["deploy@db-1"] }
"""
EXAMPLE = "DATABASE_URL=  # url\nAPI_TOKEN=  # secret\n"
TOKEN = "Qm4tR8yU2iO6pA1sD5fG9hJ3kL7zX0cV"


def shop(tmp_path: Path, values: str | None = None) -> Project:
    """The project; `values`: its .env.production (mode 0600)."""
    root = tmp_path / "shop"
    root.mkdir(exist_ok=True)
    (root / "conveyor.toml").write_text(textwrap.dedent(TOML))
    (root / ".env.example").write_text(EXAMPLE)
    if values is not None:
        env = root / ".env.production"
        env.write_text(values)
        env.chmod(0o600)
    return load_config_file(root / "conveyor.toml")


def test_values_with_check_errors_are_refused_naming_the_file_and_the_first_error(
    tmp_path: Path,
) -> None:
    project = shop(tmp_path, "DATABASE_URL=postgresql://db/shop\n")
    with pytest.raises(ConfigError) as raised:
        rendered_env(project, "production")
    assert raised.value.message == (
        ".env.production has 1 error(s), e.g. .env.production: API_TOKEN: required key is "
        "missing (declared in .env.example:2); nothing was deployed"
    )
    assert raised.value.hint == "run: conveyor config check production"


def test_set_values_are_in_the_hosts_env_and_shown_with_secrets_masked(tmp_path: Path) -> None:
    project = shop(tmp_path, f"DATABASE_URL=postgresql://db/shop\nAPI_TOKEN={TOKEN}\n")
    rendered = rendered_env(
        project, "production", overrides={"DATABASE_URL": "postgresql://other/shop"}
    )
    assert rendered.keys == 2
    assert "DATABASE_URL=postgresql://other/shop\n" in rendered.text
    assert f"API_TOKEN={TOKEN}\n" in rendered.text
    assert rendered.overrides == ("DATABASE_URL=postgresql://other/shop",)
    secret = rendered_env(project, "production", overrides={"API_TOKEN": "Zx8kq2LmP0vR7tY3"})
    assert secret.overrides == ("API_TOKEN=********",)
    assert "API_TOKEN=Zx8kq2LmP0vR7tY3\n" in secret.text


def test_without_a_limit_every_host_is_in_the_deploy(tmp_path: Path) -> None:
    project = shop(tmp_path)
    assert select_hosts(project, "production", Limit()) == (
        ["deploy@app-1", "deploy@app-2", "deploy@db-1"],
        [],
    )


def test_a_limit_leaves_out_the_other_hosts_with_work_but_never_names_idle_ones(
    tmp_path: Path,
) -> None:
    project = shop(tmp_path)
    assert select_hosts(project, "production", Limit(roles=("jobs",))) == (
        ["deploy@app-2"],
        ["deploy@app-1"],  # deploy@db-1 runs nothing: it is not "left out"
    )
    # A host named by its address alone, or in full; and a role and a host together.
    assert select_hosts(project, "production", Limit(hosts=("app-1",)))[0] == ["deploy@app-1"]
    assert select_hosts(project, "production", Limit(hosts=("deploy@app-2",)))[0] == [
        "deploy@app-2"
    ]
    both = select_hosts(project, "production", Limit(roles=("jobs",), hosts=("app-1",)))
    assert both == (["deploy@app-1", "deploy@app-2"], [])


def test_an_unknown_role_is_refused_with_a_suggestion_and_the_roles(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        select_hosts(shop(tmp_path), "production", Limit(roles=("bakend",)))
    assert raised.value.message == (
        '--role bakend: production has no role "bakend" (did you mean "backend"?); '
        "its roles: backend, jobs, db"
    )
    assert raised.value.hint == "the roles are the keys of [environments.production.hosts]"


def test_an_unknown_host_is_refused_with_a_suggestion_and_the_hosts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        select_hosts(shop(tmp_path), "production", Limit(hosts=("app-9",)))
    assert raised.value.message == (
        '--host app-9: production has no such host (did you mean "app-2"?); '
        "its hosts: deploy@app-1, deploy@app-2, deploy@db-1"
    )
    assert raised.value.hint == "the hosts are listed in [environments.production.hosts]"


def test_a_limit_describes_itself_as_it_was_typed() -> None:
    assert Limit(("backend", "jobs"), ("app-2",)).describe() == (
        "--role backend --role jobs --host app-2"
    )
    assert Limit().describe() == ""


def test_a_host_in_several_roles_has_them_all_and_a_host_without_work_is_idle(
    tmp_path: Path,
) -> None:
    project = shop(tmp_path)
    assert host_roles(project, "production") == {
        "deploy@app-1": ["backend"],
        "deploy@app-2": ["backend", "jobs"],
        "deploy@db-1": ["db"],
    }
    assert idle_hosts(project, "production") == {"deploy@db-1": ["db"]}


def test_targets_are_the_hosts_with_work_each_with_its_own_dir_listen_and_python(
    tmp_path: Path,
) -> None:
    targets, roles = targets_for(shop(tmp_path), "production", Access())
    assert [(t.spec, t.python, t.paths.app_dir, t.listen.get("web")) for t in targets] == [
        ("deploy@app-1", "python3.11", "/opt/app-1", "10.0.0.5:80"),
        ("deploy@app-2", "python3.11", "/srv/shop/production", None),
    ]
    assert roles["deploy@db-1"] == ["db"]  # known, though it gets nothing
    only, _ = targets_for(shop(tmp_path), "production", Access(), only=["deploy@app-2"])
    assert [t.spec for t in only] == ["deploy@app-2"]


def test_the_timing_comes_from_the_strategy_and_watch_overrides_its_window(
    tmp_path: Path,
) -> None:
    project = shop(tmp_path)
    timing = settings_for(project, "production")
    assert (timing.watch, timing.keep_warm, timing.batch, timing.max_failures) == (
        45.0,
        300.0,
        "50%",
        1,
    )
    assert settings_for(project, "production", watch=0).watch == 0
    # An environment without a strategy table gets the defaults.
    assert (
        settings_for(project, "staging").batch,
        settings_for(project, "staging").max_failures,
    ) == (
        1,
        0,
    )


def test_a_deploy_where_no_chosen_host_has_work_is_refused_before_anything_else(
    tmp_path: Path,
) -> None:
    project = shop(tmp_path)  # no .env.production either: this check comes first
    with pytest.raises(ConfigError) as raised:
        preflight(project, "staging")
    assert raised.value.message == (
        "staging: none of deploy@db-1 has anything to run: no service, sync, migrations or "
        "release command names their roles; nothing was deployed"
    )
    assert raised.value.hint == "give a service the roles of these hosts (services.NAME.roles)"


def test_a_deploy_with_values_in_error_is_refused_before_any_build(tmp_path: Path) -> None:
    project = shop(tmp_path, "DATABASE_URL=postgresql://db/shop\n")
    with pytest.raises(ConfigError, match=r"^\.env\.production has 1 error\(s\)"):
        preflight(project, "production", release_id="r-does-not-matter")


def test_the_venv_is_named_by_the_locks_hash_and_the_apps_python(tmp_path: Path) -> None:
    project = shop(tmp_path)
    built = Built("r1", "1.0", "abc", tmp_path, "0123456789abcdef0123", None)  # type: ignore[arg-type]
    assert venv_key(project, built) == "0123456789abcdef-py3.11"
    manifest = SimpleNamespace(lock_hash="fedcba9876543210fedc")
    prepared = Prepared("r2", "abc", manifest, (), None)  # type: ignore[arg-type]
    assert venv_key(project, prepared) == "fedcba9876543210-py3.11"
