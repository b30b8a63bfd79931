"""A saved plan's file from data: its digest, tampering, and what differs (no host needed)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conveyor.deploy.plan import Inputs, Plan, Step
from conveyor.deploy.saved import differences, document, read, write
from conveyor.errors import ConveyorError

PLAN = Plan("production", "1.2.0", (Step("deploy@app-1", "switch", "Caddy on :80 -> 9001"),))
STATE = {"release": "r1", "colour": "blue", "pending_release": None}


def plan(**changes: object) -> Plan:
    return replace(PLAN, inputs=inputs(**changes))


def inputs(**changes: object) -> Inputs:
    base: dict[str, object] = {
        "release": "r2",
        "commit": "abc",
        "values": "sha256:v1",
        "config": "sha256:c1",
        "hosts": {"deploy@app-1": STATE},
    }
    return Inputs(**{**base, **changes})  # type: ignore[arg-type]


def test_the_digest_covers_every_part_and_is_stable(tmp_path: Path) -> None:
    first, again = document(plan()), document(plan())
    assert first["digest"] == again["digest"] and first["digest"].startswith("sha256:")
    changed = [
        plan(values="sha256:v2"),
        plan(config="sha256:c2"),
        plan(release="r3"),
        plan(hosts={"deploy@app-1": {**STATE, "pending_release": "r2"}}),
        replace(plan(), steps=(Step("deploy@app-1", "switch", "Caddy on :80 -> 9002"),)),
    ]
    assert len({document(p)["digest"] for p in changed} | {first["digest"]}) == 6
    written = write(tmp_path / "plan.json", plan())
    assert written == first["digest"]
    assert read(tmp_path / "plan.json") == first


def test_an_edited_plan_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write(path, plan())
    doc = json.loads(path.read_text())
    doc["steps"][0]["description"] = "Caddy on :80 -> 9002"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConveyorError, match="the plan was changed after it was written"):
        read(path)


def test_a_missing_or_foreign_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConveyorError, match="no such plan file"):
        read(tmp_path / "nope.json")
    (tmp_path / "other.json").write_text('{"format": 9}')
    with pytest.raises(ConveyorError, match="not a plan file of format 1"):
        read(tmp_path / "other.json")


def test_what_changed_is_named_never_a_value() -> None:
    saved = document(plan())
    assert differences(saved, saved) == []
    later = {**STATE, "release": "r3", "colour": "green"}
    now = document(plan(release="r9", values="sha256:v2", hosts={"deploy@app-1": later}))
    assert differences(saved, now) == [
        "the release is r9, the plan's was r2",
        "the environment's values changed",
        "deploy@app-1 is not as the plan saw it (serves r1 on blue then, serves r3 on green now)",
    ]
