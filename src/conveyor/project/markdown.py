"""Render the JSON schema of conveyor.toml as a Markdown reference page."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

INTRO = """\
<!-- Generated from src/conveyor/project/model.py by `make docs`; do not edit by hand. -->

Conveyor reads `conveyor.toml` from the current directory or the nearest parent
that has one. A directory without it may hold the same keys in `pyproject.toml`,
under `[tool.conveyor]` (so `[app]` becomes `[tool.conveyor.app]`); when a
directory has both, `conveyor.toml` wins.

Unknown keys are errors, and values must have the type shown: TOML's `true`,
not `"yes"`. Every problem is reported at once, one per line, with the file,
the line and the key:

```text
conveyor.toml:3: app.nmae: unknown key (did you mean "name"?)
conveyor.toml:14: environments.production.hosts.backend[0]: expected "user@host", \
"user@host:port" or "local", got "app 1"
```

References between sections (the roles of a service, `migrations.run_on`,
`needs` of a step) are checked once every value has the right type.

A key conveyor does not carry out yet is refused, never ignored:
`strategy.kind = "rolling"` and the `migrations` preset are described below
but marked *not available yet*, and setting them is an error naming the key.
So are options that would do nothing: `[checks.presets.X]` for a preset not
in `checks.use`, `settings.python` without `settings.class`, `listen` on a
service that is not `http`, `port` or `drain` on a `sync` service.

A file is at most 512 KiB, nested at most 32 levels deep, with strings (and
keys) of at most 4,096 characters; names at most 63.

A table written as a section, `[environments.production.strategy]`, may as well
be written inline: `strategy = { batch = 1 }`. Without an `[environments]`
section there is one environment, `development`, on this machine: every role
that the services and migrations name gets the host `"local"`.

Editors that read JSON schemas (Taplo, Even Better TOML) can check the file
with `docs/conveyor.schema.json`: put `#:schema ./docs/conveyor.schema.json`
on its first line."""


def render(schema: Mapping[str, Any], *, example: str, formats: Mapping[str, str]) -> str:
    """The whole page: intro, example, one section per table, then the value types."""
    defs = schema["$defs"]
    lines = [f"# {schema['title']} reference", "", INTRO, "", "## Example", ""]
    lines += ["```toml", example.rstrip("\n"), "```", ""]
    for header, node, intro in _tables(schema, defs, prefix=""):
        lines += _section(header, node, intro, defs)
    used = _formats_in(schema)
    if used - set(formats):
        raise KeyError(f"formats without a description: {sorted(used - set(formats))}")
    lines += ["## Value types", "", "| Type | Written as |", "| --- | --- |"]
    lines += [f"| {name} | {_cell(text)} |" for name, text in formats.items() if name in used]
    return "\n".join(lines) + "\n"


def _tables(
    node: Mapping[str, Any], defs: Mapping[str, Any], *, prefix: str
) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """(header, model, intro) for every table below `node`, depth first, in key order."""
    for key, prop in node.get("properties", {}).items():
        found = _table_of(key, prop, defs)
        if found is not None:
            header, child = f"{prefix}{found[0]}", found[1]
            # A table of tables is described by its key ("services by name"), then its model.
            intro = [prop.get("description", "")] if header.endswith("<name>") else []
            yield header, child, " ".join([*intro, child.get("description", "")])
            yield from _tables(child, defs, prefix=f"{header}.")


def _table_of(
    key: str, prop: Mapping[str, Any], defs: Mapping[str, Any]
) -> tuple[str, Mapping[str, Any]] | None:
    if "$ref" in prop:
        return key, defs[prop["$ref"].rsplit("/", 1)[-1]]
    values = [*prop.get("patternProperties", {}).values()]
    if values and "$ref" in values[0]:
        return f"{key}.<name>", defs[values[0]["$ref"].rsplit("/", 1)[-1]]
    # Hosts by role: arrays whose items are a string or a table ("{ host = ... }").
    items = values[0].get("items", {}) if values else {}
    refs = [o["$ref"] for o in items.get("anyOf", []) if "$ref" in o]
    if refs:
        return f"{key}.<name>[]", defs[refs[0].rsplit("/", 1)[-1]]
    return None


def _section(
    header: str, node: Mapping[str, Any], intro: str, defs: Mapping[str, Any]
) -> list[str]:
    lines = [f"## `[{header}]`", "", intro, ""]
    lines += ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    required = node.get("required", [])
    for key, prop in node.get("properties", {}).items():
        description = prop.get("description", "")
        found = _table_of(key, prop, defs)
        if found is not None:
            description += f" See `[{header}.{found[0]}]`."
        if "default" in prop:
            default = f"`{_toml(prop['default'])}`"
        else:
            default = "required" if key in required else "—"
        cells = [f"`{key}`", _type(prop), default, description]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return [*lines, ""]


def _type(node: Mapping[str, Any]) -> str:
    """A short name for a schema node's type: "duration", "array of host", ..."""
    if "$ref" in node:
        return "table"
    if "format" in node:
        return str(node["format"])
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " or ".join(json.dumps(value) for value in node["enum"])
    if "anyOf" in node:
        return " or ".join(_type(option) for option in node["anyOf"])
    kind = node.get("type")
    if kind == "array":
        return f"array of {_type(node.get('items', {}))}"
    if kind == "object":
        values = [*node.get("patternProperties", {}).values()]
        value = values[0] if values else node.get("additionalProperties", {})
        return f"table (name → {_type(value)})" if isinstance(value, dict) and value else "table"
    if kind == "integer" and "minimum" in node and "maximum" in node:
        return f"integer, {node['minimum']} to {node['maximum']}"
    if kind == "integer" and "minimum" in node:
        return f"integer >= {node['minimum']}"
    return str(kind or "any")


def _toml(value: Any) -> str:
    """A default value as TOML would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{key} = {_toml(item)}" for key, item in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return json.dumps(value)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _formats_in(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_formats_in(item) for item in node))
    if not isinstance(node, dict):
        return set()
    found = {node["format"]} if isinstance(node.get("format"), str) else set()
    return found.union(*(_formats_in(value) for value in node.values()))
