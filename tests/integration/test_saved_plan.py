"""A saved plan on a real local host (supervisor, Caddy, the tiny app): `deploy --plan-out`
writes it, `deploy --plan` runs exactly it, and refuses, touching nothing, once anything it
was built from has changed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from conveyor.deploy.run import deploy
from conveyor.deploy.saved import check_saved
from conveyor.errors import ConveyorError
from conveyor.project.load import load_project
from tests.integration.deployed import DeployProject

SECRET = "Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g"  # the staging API_TOKEN


def test_a_saved_plan_runs_only_while_it_holds(local: DeployProject) -> None:
    assert local.deploy().code == 0
    local.commit("ok")
    path = local.root / "plan.json"
    saved = local.run("deploy", "staging", "--plan-out", str(path))
    assert saved.code == 0, saved.out + saved.err
    assert f"saved the plan to {path} (sha256:" in saved.out
    assert local.get()["color"] == "blue"  # writing a plan changes nothing
    text = path.read_text()
    assert SECRET not in text  # the values are in it by their digest only
    doc = json.loads(text)
    assert doc["inputs"]["values"].startswith("sha256:")
    assert [s["action"] for s in doc["steps"]][:2] == ["check", "connect"]  # never "recover"

    # A value changed since: refused, naming it, and nothing deployed.
    env = local.root / ".env.staging"
    before = env.read_text()
    env.write_text(before.replace("hello staging", "hello again"))
    refused = local.run("deploy", "staging", "--plan", str(path))
    assert refused.code == 1
    assert "the saved plan no longer holds: the environment's values changed" in refused.err
    assert local.get()["color"] == "blue"
    env.write_text(before)

    # An edited plan file: refused.
    doc["steps"][0]["description"] = "something else"
    edited = local.root / "edited.json"
    edited.write_text(json.dumps(doc))
    tampered = local.run("deploy", "staging", "--plan", str(edited))
    assert tampered.code == 1
    assert "the plan was changed after it was written" in tampered.err

    # As it was planned: it runs.
    ran = local.run("deploy", "staging", "--plan", str(path))
    assert ran.code == 0, ran.out + ran.err
    assert "the saved plan" in ran.out and "holds (sha256:" in ran.out
    assert local.get()["color"] == "green"

    # The host has moved on since (that plan's own deploy): the plan no longer holds.
    again = local.run("deploy", "staging", "--plan", str(path))
    assert again.code == 1
    assert "local is not as the plan saw it (serves " in again.err
    assert "on blue then, serves " in again.err and " on green now)" in again.err
    assert local.get()["color"] == "green"


def test_a_host_that_changed_after_the_check_stops_the_deploy_once_locked(
    local: DeployProject,
) -> None:
    """The saved plan's check and the deploy's lock are moments apart: what the deploy reads
    under its lock is compared again, and a host that moved on stops it before any change."""
    assert local.deploy().code == 0
    served = local.get()
    local.commit("ok")
    project = load_project(local.root)
    path = local.root / "plan.json"
    assert local.run("deploy", "staging", "--plan-out", str(path)).code == 0
    inputs = check_saved(project, "staging", path).inputs
    moved = replace(inputs, hosts={"local": {"release": "another"}})
    with pytest.raises(ConveyorError, match="local: not as the saved plan saw it"):
        deploy(project, "staging", ref=inputs.commit, saved=moved)
    assert local.get() == served
    # The values changed between the check and the deploy's own reading: refused too.
    env = local.root / ".env.staging"
    env.write_text(env.read_text().replace("hello staging", "hello later"))
    with pytest.raises(ConveyorError, match="its values changed just now"):
        deploy(project, "staging", ref=inputs.commit, saved=inputs)
    assert local.get() == served
