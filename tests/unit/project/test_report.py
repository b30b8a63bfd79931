"""Retelling pydantic errors: the allowed keys at a location, and the fallback message."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from conveyor.project.model import ConveyorConfig
from conveyor.project.report import describe, keys_at, problems_from


class Item(BaseModel):
    """A table inside an array."""

    size: int
    colour: str | int


class Box(BaseModel):
    """A model with an array of tables, which conveyor.toml itself does not have."""

    items: list[Item]
    label: str | None = None


def test_keys_at_walks_tables_dicts_and_aliases() -> None:
    assert keys_at(ConveyorConfig, ()) == [
        "app",
        "settings",
        "checks",
        "services",
        "migrations",
        "release",
        "export",
        "notify",
        "environments",
    ]
    assert keys_at(ConveyorConfig, ("settings",)) == ["example", "class", "python"]
    assert keys_at(ConveyorConfig, ("services", "web", "sync")) == ["from", "to"]
    assert "keep_previous_warm" in keys_at(ConveyorConfig, ("environments", "x", "strategy"))
    assert keys_at(ConveyorConfig, ("migrations",))[0] == "tool"


def test_keys_at_walks_arrays_and_gives_up_quietly() -> None:
    assert keys_at(Box, ("items", 0)) == ["size", "colour"]
    assert keys_at(Box, ("items", "x")) == []
    assert keys_at(Box, ("nope", "deeper")) == []
    assert keys_at(Box, ("label",)) == []
    assert keys_at(Box, ("items", 0, "colour")) == []


def test_an_error_without_a_retelling_keeps_pydantics_message() -> None:
    try:
        Box.model_validate({"items": [{"size": "big", "colour": 1.5}]})
    except ValidationError as error:
        details = error.errors()
        problems = problems_from(error, Box)
    else:  # pragma: no cover
        raise AssertionError("expected a validation error")
    # Lax mode (not conveyor's strict sections) gives int_parsing, which has no retelling.
    assert details[0]["type"] == "int_parsing"
    assert describe(details[0], Box) == details[0]["msg"]
    assert problems[0].path == ("items", 0, "size")
