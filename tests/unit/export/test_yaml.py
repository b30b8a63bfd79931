"""The YAML writer against PyYAML's reading of what it wrote."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from conveyor.export.yaml import dump, scalar


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("ubuntu-latest", "ubuntu-latest"),
        ("on", '"on"'),
        ("yes", '"yes"'),
        ("3.10", '"3.10"'),
        ("${{ matrix.python }}", '"${{ matrix.python }}"'),
        ("a: b", '"a: b"'),
        ("always()", '"always()"'),
        (True, "true"),
        (None, "null"),
        (3, "3"),
    ],
)
def test_scalar(value: Any, text: str) -> None:
    assert scalar(value) == text


def test_dump_round_trips() -> None:
    data = {
        "name": "ci",
        "on": {"push": {"branches": ["main", "develop"]}, "pull_request": None},
        "empty": {},
        "jobs": {
            "a": {
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"name": "Run", "run": "one\n\ntwo\n", "with": {"x": "3.10"}},
                    "plain",
                ],
                "nested": [["x"], {}],
            }
        },
    }
    text = dump(data, header="Generated.\n\nDo not edit.")
    assert text.startswith(
        "# Generated.\n#\n# Do not edit.\nname: ci\non:\n  push:\n    branches: [main, develop]\n  pull_request:\n"
    )
    loaded = yaml.safe_load(text)
    loaded[True] = loaded.pop(True)  # YAML 1.1 reads the key `on` as true; GitHub does not
    assert loaded.pop(True) == data["on"]
    assert {k: v for k, v in data.items() if k != "on"} == loaded
