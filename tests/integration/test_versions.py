"""Git tags as versions through a real local deploy: `rollback --to` takes the version shown."""

from __future__ import annotations

import subprocess

from tests.integration.deployed import DeployProject


def _tag(project: DeployProject, tag: str) -> None:
    subprocess.run(["git", "tag", tag], cwd=project.root, check=True)


def test_a_tag_is_the_version_and_rollback_to_takes_it(local: DeployProject) -> None:
    _tag(local, "v1")
    first = local.deploy()
    assert first.code == 0, first.out + first.err
    assert "deployed: staging now runs 1 (1-" in first.out
    assert local.get()["version"] == "1"
    local.commit("ok")
    _tag(local, "v1.10.0")
    assert local.deploy().code == 0
    assert local.get()["version"] == "1.10.0"
    history = local.run("history", "staging")
    assert "1.10.0 (" in history.out and "1 (" in history.out

    back = local.run("rollback", "staging", "--to", "1")
    assert back.code == 0, back.out + back.err
    assert local.get()["version"] == "1"
    unknown = local.run("rollback", "staging", "--to", "1.9.0")
    assert unknown.code == 1
    assert 'no release "1.9.0" in .conveyor/releases\nhighest versions: 1.10.0 (1.10.0-' in (
        unknown.err
    )
