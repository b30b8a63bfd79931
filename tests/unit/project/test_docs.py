"""The reference docs and JSON schema come from the models and match what is committed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from conveyor.project import docs
from conveyor.project.markdown import render
from conveyor.project.model import ConveyorConfig
from tests.unit.project.toml_files import load

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("name", "render_file"),
    [
        ("docs/configuration.md", docs.render_markdown),
        ("docs/conveyor.schema.json", docs.render_json_schema),
    ],
)
def test_committed_docs_are_up_to_date(name: str, render_file: Any) -> None:
    committed = REPO / name
    expected = render_file()
    actual = committed.read_text(encoding="utf-8") if committed.is_file() else ""
    assert actual == expected, f"{name} is out of date with src/conveyor/project; run `make docs`"


def test_write_docs_writes_both_files(tmp_path: Path) -> None:
    written = docs.write_docs(tmp_path)
    assert written == [tmp_path / "docs/configuration.md", tmp_path / "docs/conveyor.schema.json"]
    assert written[0].read_text(encoding="utf-8") == docs.render_markdown()
    assert json.loads(written[1].read_text(encoding="utf-8")) == docs.json_schema()


def test_output_is_deterministic() -> None:
    assert docs.render_markdown() == docs.render_markdown()
    assert docs.render_json_schema() == docs.render_json_schema()


def test_the_example_in_the_docs_is_valid(tmp_path: Path) -> None:
    config = load(tmp_path, docs.EXAMPLE)
    assert config.app.name == "stocktrading"
    assert config.environment("production").branch == "main"


def _models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for field in model.model_fields.values():
        for candidate in _types_in(field.annotation):
            if candidate not in found:
                found |= _models(candidate)
    return found


def _types_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [t for arg in getattr(annotation, "__args__", ()) for t in _types_in(arg)]


def test_every_key_has_a_description_and_appears_in_the_docs() -> None:
    page = docs.render_markdown()
    models = _models(ConveyorConfig)
    assert len(models) == 17
    for model in models:
        assert model.__doc__ and "\n" not in model.__doc__.strip()
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            if model is not ConveyorConfig:
                assert f"| `{field.alias or name}` |" in page


def test_schema_has_no_nulls_or_titles_and_forbids_unknown_keys() -> None:
    text = docs.render_json_schema()
    schema = json.loads(text)
    assert '"null"' not in text
    assert '"title"' not in text.replace('"title": "conveyor.toml"', "")
    assert schema["$schema"] == docs.SCHEMA_URL
    assert schema["additionalProperties"] is False
    assert all(node["additionalProperties"] is False for node in schema["$defs"].values())
    assert schema["required"] == ["app"]


def test_the_docs_show_types_defaults_and_required_keys() -> None:
    page = docs.render_markdown()
    assert "## `[environments.<name>.strategy]`" in page
    assert (
        '| `keep_previous_warm` | duration | `"15m"` | How long the old release keeps running. |'
        in page
    )
    assert "| `name` | name | required |" in page
    assert '| `tool` | "alembic" | `"alembic"` |' in page
    assert "| `coverage` | integer, 0 to 100 | `0` |" in page
    assert "| `hosts` | table (name → array of host or table) | required |" in page
    assert "| duration | " in page


def test_a_format_without_a_description_is_an_error() -> None:
    with pytest.raises(KeyError, match="formats without a description: \\['host'\\]"):
        render(
            docs.json_schema(),
            example="",
            formats={k: v for k, v in docs.FORMATS.items() if k != "host"},
        )
