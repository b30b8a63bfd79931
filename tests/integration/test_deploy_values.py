"""What a deployed host's `.env` holds: the environment's file and `--set`, never the shell's
values (real supervisord and Caddy on a local host)."""

from __future__ import annotations

import pytest

from conveyor.history.store import HistoryStore
from tests.integration.deployed import DeployProject

TOKEN = "Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g"


def _host_env(project: DeployProject) -> str:
    return (project.app_dir("localhost") / "shared" / ".env").read_text()


def test_the_shell_environment_never_reaches_a_host(
    local: DeployProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Exported in the shell that runs conveyor, as the seeds' guide has users do.
    monkeypatch.setenv("GREETING", "from the shell")
    shown = local.run("config", "show", "staging")
    assert shown.code == 0 and "from the shell" not in shown.out
    deployed = local.deploy()
    assert deployed.code == 0, deployed.out + deployed.err
    assert local.get()["greeting"] == "hello staging"
    env = _host_env(local)
    assert 'GREETING="hello staging"\n' in env and "from the shell" not in env


def test_set_is_shown_in_the_plan_masked_and_reaches_the_host(local: DeployProject) -> None:
    secret = "Qm4tR8yU2iO6pA1sD5fG9hJ3kL7zX0cV"
    sets = ("--set", "GREETING=hi there", "--set", f"API_TOKEN={secret}")
    dry = local.deploy("--dry-run", *sets)
    assert dry.code == 0, dry.out + dry.err
    lines = [line.split(None, 2)[1:] for line in dry.out.splitlines() if " set " in line]
    assert lines == [
        ["set", "--set GREETING=hi there: replaces the environment file's value"],
        ["set", "--set API_TOKEN=********: replaces the environment file's value"],
    ]
    assert secret not in dry.out
    assert not list(local.hosts_dir.glob("*/releases"))  # the dry run touched nothing

    bad = local.deploy("--set", "GREETNG=hi")
    assert bad.code == 1
    assert bad.err.startswith(
        "error: .env.staging has 1 error(s), e.g. --set: GREETNG: unknown key, not in "
        '.env.example (did you mean "GREETING"?); nothing was deployed\n'
    )

    deployed = local.deploy(*sets)
    assert deployed.code == 0, deployed.out + deployed.err
    assert secret not in deployed.out + deployed.err
    assert local.get()["greeting"] == "hi there"
    env = _host_env(local)
    assert env.splitlines()[0] == (
        "# staging: rendered by conveyor from .env.staging and --set GREETING and --set "
        "API_TOKEN; edit that file, not this one"
    )
    assert f"API_TOKEN={secret}\n" in env and TOKEN not in env
    with HistoryStore.for_project(local.root) as store:
        [record] = store.deploys("staging")
        said = [e.message for e in store.events(record.id) if e.kind == "set:info"]
    assert said == ["--set GREETING=hi there", "--set API_TOKEN=********"]
