"""The reference page and the JSON schema of conveyor.toml, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conveyor.project.markdown import render
from conveyor.project.model import ConveyorConfig

DOCS_FILES = ("docs/configuration.md", "docs/conveyor.schema.json")
SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"

EXAMPLE = """\
[app]
name = "stocktrading"
python = "3.11"

[settings]
example = ".env.example"
class = "backend.config:Settings"

[checks]
use = ["ruff-format", "ruff", "mypy", "bandit", "secrets", "pytest"]
coverage = 90
python = ["3.10", "3.11", "3.12"]

[checks.steps.docs]
run = ["mkdocs", "build"]
needs = ["ruff"]
inputs = ["docs/**/*.md"]

[services.web]
command = "uvicorn backend.main:app --host 127.0.0.1 --port $PORT"
health = "/health"
roles = ["backend"]

[services.worker]
command = "celery -A backend.celery_app worker"
roles = ["backend"]

[services.dags]
sync = { from = "airflow/dags", to = "/opt/airflow/dags" }
after = "docker restart stock-airflow-scheduler"
roles = ["scheduler"]

[migrations]
run_on = "backend"

[environments.staging]
branch = "develop"
hosts = { backend = ["deploy@stage-1"], scheduler = ["deploy@stage-1"] }

[environments.production]
branch = "main"
hosts = { backend = ["deploy@app-1", "deploy@app-2"], scheduler = ["deploy@sched-1"] }
strategy = { batch = 1, keep_previous_warm = "15m" }
"""

# What each `format` in the schema means; the docs list the ones the schema uses.
FORMATS = {
    "name": 'lowercase letters, digits, "-" and "_", starting with a letter or digit',
    "host": '"local" (this machine, no SSH), "user@host" or "user@host:port"; IPv6 in brackets',
    "duration": 'a whole number and a unit: "500ms", "30s", "15m", "1h"',
    "command": "a command line, split into arguments like a POSIX shell would; no shell runs it",
    "argv": 'an array of strings, the program first: `["mkdocs", "build"]`',
    "batch": 'a number of hosts (>= 1) or a share of them, "25%" (rounded up, at least 1)',
    "class path": '"package.module:Name", imported by `settings.python`',
    "python version": 'a minor version, "3.11"',
    "apprise url": 'an [Apprise](https://github.com/caronc/apprise) URL; "$VAR" is read from '
    "the environment when sending",
    "url path": 'an HTTP path starting with "/"',
    "host path": 'an absolute directory on the host, or one under the SSH user\'s home: "~/app" '
    "(the host's $HOME, asked when conveyor connects; never the controller's)",
    "relative path": 'a path inside the project, with "/" and no ".."',
    "sync target": "an absolute directory on the host, at least two levels deep "
    '("/opt/airflow/dags"), not "/" and not in a system directory (/etc, /usr, /bin, /proc, ...); '
    '".." is resolved first',
}


def json_schema() -> dict[str, Any]:
    """The JSON schema of conveyor.toml (draft 2020-12), tidied for TOML editors."""
    raw = ConveyorConfig.model_json_schema(by_alias=True)
    schema: dict[str, Any] = {"$schema": SCHEMA_URL, **_tidy(raw)}
    schema["title"] = "conveyor.toml"
    return schema


def _tidy(node: Any) -> Any:
    """Drop titles and nulls: TOML has no null, and an unset key is simply left out."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _tidy(value) for key, value in node.items() if key != "title"}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del out["anyOf"]
        out = {**rest[0], **out} if len(rest) == 1 else {"anyOf": rest, **out}
    if out.get("default") is None or "$ref" in out:
        # A table's defaults are those of its keys, documented in its own section.
        out.pop("default", None)
    return out


def render_json_schema() -> str:
    """docs/conveyor.schema.json, byte for byte."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_docs(root: Path) -> list[Path]:
    """Write docs/configuration.md and docs/conveyor.schema.json under `root`."""
    written = []
    for name, text in zip(DOCS_FILES, (render_markdown(), render_json_schema()), strict=True):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def render_markdown() -> str:
    """docs/configuration.md: every section and key, with type, default and description."""
    return render(json_schema(), example=EXAMPLE, formats=FORMATS)
