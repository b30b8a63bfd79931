"""The release command (once per deploy, before any switch) and a service's pre_start (each
host, before its new release starts): real supervisord and Caddy on a local host."""

from __future__ import annotations

import subprocess

from conveyor.demo.load import Load
from tests.integration.deployed import GIT, DeployProject
from tests.integration.test_deploy import programs

PHASES = """
[release]
command = "python -m tiny.prestart release"
run_on = "web"
"""


def with_phases(project: DeployProject) -> None:
    toml = project.root / "conveyor.toml"
    text = toml.read_text().replace(
        'drain = "2s"\n', 'drain = "2s"\npre_start = "python -m tiny.prestart web"\n', 1
    )
    toml.write_text(text + PHASES)
    subprocess.run([*GIT, "commit", "-qam", "release phase"], cwd=project.root, check=True)


def test_the_release_command_runs_once_then_pre_start_then_the_new_release(
    local: DeployProject,
) -> None:
    with_phases(local)
    plan = local.deploy("--dry-run")
    assert plan.code == 0, plan.out + plan.err
    assert "release command, once, after migrations, before any switch" in plan.out
    assert "python -m tiny.prestart release" in plan.out
    assert "web's pre_start, before its new release starts here" in plan.out
    deployed = local.deploy()
    assert deployed.code == 0, deployed.out + deployed.err
    assert "release command done (" in deployed.out
    assert "web: pre_start done" in deployed.out
    shared = local.hosts_dir / "localhost" / "shared"
    # With the environment's values, the release command first, once per deploy.
    assert (shared / "PRESTART").read_text() == "release hello staging\nweb hello staging\n"


def test_a_failing_release_command_fails_the_deploy_before_anything_starts(
    local: DeployProject,
) -> None:
    assert local.deploy().code == 0
    with_phases(local)
    (local.hosts_dir / "localhost" / "shared" / "FAIL_PRESTART").touch()
    with Load(local.url) as load:
        failed = local.deploy()
    assert failed.code == 1
    assert "release command failed on local (exit 1)" in failed.err
    assert "tiny.prestart release: the database is not ready" in failed.err
    assert load.failed == []
    assert local.get()["version"].startswith("0.0.0+1.g")  # the old release serves on
    assert local.get()["color"] == "blue"
    assert programs(local).get("web-green") != "running"  # nothing new was started
