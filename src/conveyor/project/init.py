"""`conveyor init`: write conveyor.toml, .env.example and .gitignore lines for a project.

Planning (`plan_init`) is pure; `apply_init` writes, and never overwrites without `force`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet

from conveyor.project.detect import Detected, SettingsClassField, detect, literal_choices
from conveyor.project.python import choose_python
from conveyor.settings.render import quote
from conveyor.settings.secrets import is_secret_name

# .conveyor/ holds rendered env files (plaintext values), releases, venvs, caches and logs.
GITIGNORE_LINES = (".env", ".env.*", "!.env.example", ".conveyor/")


@dataclass(frozen=True)
class FileChange:
    """One file init wants to write: the whole text, or lines to append."""

    path: Path
    text: str
    append: bool = False


@dataclass(frozen=True)
class InitResult:
    """What init did to each file: "wrote", "kept" (exists) or "updated" (appended)."""

    actions: tuple[tuple[str, Path], ...]
    detected: Detected


def plan_init(root: Path, detected: Detected) -> list[FileChange]:
    """The files init would write for what it detected."""
    changes = [FileChange(root / "conveyor.toml", render_toml(detected))]
    changes.append(FileChange(root / ".env.example", render_example(detected)))
    missing = _missing_gitignore_lines(root / ".gitignore")
    if missing:
        header = (
            "\n# Values per environment and conveyor's local state stay out of git;"
            " the schema (.env.example) is committed.\n"
        )
        changes.append(
            FileChange(root / ".gitignore", header + "\n".join(missing) + "\n", append=True)
        )
    return changes


def apply_init(root: Path, *, force: bool = False) -> InitResult:
    """Detect, plan and write; existing files are kept unless `force`."""
    detected = detect(root)
    actions: list[tuple[str, Path]] = []
    for change in plan_init(root, detected):
        if change.append:
            existing = change.path.read_text(encoding="utf-8") if change.path.exists() else ""
            sep = "\n" if existing and not existing.endswith("\n") else ""
            text = change.text if existing else change.text.lstrip("\n")
            change.path.write_text(existing + sep + text, encoding="utf-8")
            actions.append(("updated" if existing else "wrote", change.path))
        elif change.path.exists() and not force:
            actions.append(("kept", change.path))
        else:
            change.path.write_text(change.text, encoding="utf-8")
            actions.append(("wrote", change.path))
    return InitResult(tuple(actions), detected)


def _missing_gitignore_lines(path: Path) -> list[str]:
    present = set()
    if path.is_file():
        present = {
            line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        }
    return [line for line in GITIGNORE_LINES if line not in present]


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_toml(found: Detected) -> str:
    """conveyor.toml for the detected project, with comments saying what to change."""
    lines = [
        "# Written by conveyor init. Reference: docs/configuration.md",
        "",
        "[app]",
        f"name = {_q(found.name)}",
        *_python(found),
        "",
    ]
    lines += ["[settings]", 'example = ".env.example"']
    if found.settings_class:
        lines.append(
            f"class = {_q(found.settings_class)}   # the schema; .env.example is the template"
        )
    lines.append("")
    lines += _checks(found)
    roles: dict[str, None] = {}
    for index, (target, health) in enumerate(found.web):
        name = "web" if index == 0 else f"web-{index + 1}"
        lines += [
            f"[services.{name}]",
            f"command = {_q(f'uvicorn {target} --host 127.0.0.1 --port $PORT')}",
        ]
        lines += [
            f"health = {_q(health or '/health')}"
            + ("" if health else "   # add this endpoint to the app")
        ]
        lines += ['roles = ["backend"]', ""]
        roles["backend"] = None
    for index, module in enumerate(found.celery):
        suffix = "" if index == 0 else f"-{index + 1}"
        lines += [
            f"[services.worker{suffix}]",
            f"command = {_q(f'celery -A {module} worker --loglevel info')}",
        ]
        lines += ['roles = ["backend"]', ""]
        if found.beat and index == 0:
            lines += [
                "[services.beat]",
                f"command = {_q(f'celery -A {module} beat --loglevel info')}",
            ]
            lines += [
                'kind = "singleton"   # exactly one scheduler in the environment',
                'roles = ["backend"]',
                "",
            ]
        roles["backend"] = None
    for index, module in enumerate(found.workers):
        name = (
            "worker" if index == 0 and not found.celery else f"worker-{module.rsplit('.', 1)[-1]}"
        )
        lines += [f"[services.{name}]", f"command = {_q(f'python -m {module}')}"]
        lines += ['roles = ["backend"]', ""]
        roles["backend"] = None
    for index, dags in enumerate(found.dags):
        suffix = "" if index == 0 else f"-{index + 1}"
        lines += [
            f"[services.dags{suffix}]",
            f'sync = {{ from = {_q(dags)}, to = "/opt/airflow/dags" }}',
        ]
        lines += ['roles = ["scheduler"]', ""]
        roles["scheduler"] = None
    if found.alembic:
        run_on = "backend" if "backend" in roles else next(iter(roles), "app")
        roles.setdefault(run_on, None)
        lines += [
            "[migrations]",
            'tool = "alembic"',
            f"run_on = {_q(run_on)}",
            "",
        ]
    if not roles:
        roles["app"] = None
    lines += _environments(list(roles))
    return "\n".join(lines).rstrip("\n") + "\n"


def _checks(found: Detected) -> list[str]:
    """The gates the project already uses (its config or dev requirements name them)."""
    use = ", ".join(_q(p) for p in found.checks.use)
    lines = [
        "[checks]   # the tools this project configures or lists in its dev requirements",
        f"use = [{use}]",
    ]
    if "pytest" in found.checks.use and not found.checks.has_tests:
        lines.append('no_tests = "pass"   # no tests yet; remove this line once there are')
    return [*lines, ""]


def _python(found: Detected) -> list[str]:
    """`python = "3.11"` meeting pyproject's requires-python, which builds and hosts must meet."""
    if found.requires_python is None:
        return []
    chosen = choose_python(SpecifierSet(found.requires_python))
    if chosen is None:
        return [f"# no Python release meets requires-python {_q(found.requires_python)}"]
    return [f"python = {_q(chosen)}   # meets requires-python {_q(found.requires_python)}"]


def _environments(roles: list[str]) -> list[str]:
    def hosts(value: str) -> str:
        return "{ " + ", ".join(f"{role} = [{_q(value)}]" for role in roles) + " }"

    return [
        "[environments.development]",
        f"hosts = {hosts('local')}",
        "",
        "[environments.staging]   # replace the hosts with yours",
        'branch = "develop"',
        f"hosts = {hosts('deploy@staging-1')}",
        "",
        "[environments.production]   # replace the hosts with yours",
        'branch = "main"',
        f"hosts = {hosts('deploy@app-1')}",
        'strategy = { batch = 1, keep_previous_warm = "15m" }',
    ]


_TYPES = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "SecretStr": "secret",
    "EmailStr": "email",
}


def _type_comment(field: SettingsClassField) -> str | None:
    annotation = re.sub(r"^(Optional\[(.*)\]|(.*)\s*\|\s*None)$", r"\2\3", field.annotation).strip()
    choices = literal_choices(annotation)
    if choices:
        return "one of " + "|".join(choices)
    kind = _TYPES.get(annotation)
    if kind is None and re.search(r"(Url|Dsn)$", annotation):
        kind = "url"
    if kind == "int" and re.search(r"(^|_)PORT$", field.name.upper()):
        kind = "port"
    if kind is None and is_secret_name(field.name):
        kind = "secret"
    return kind


def render_example(found: Detected) -> str:
    """.env.example from the settings class when there is one, else a starter."""
    header = [
        "# The schema of this app's configuration. Committed to git; holds no real secrets.",
        "# Copy it to .env.<environment> and fill it in; `conveyor config check <environment>`.",
    ]
    if not found.settings_fields:
        return "\n".join(
            [
                *header,
                "",
                "ENVIRONMENT=development",
                "LOG_LEVEL=info",
                "DATABASE_URL=  # url",
                "SECRET_KEY=  # secret",
                "",
            ]
        )
    lines = [*header, f"# Generated from {found.settings_class}.", ""]
    for field in found.settings_fields:
        kind = _type_comment(field)
        value = "" if kind == "secret" or field.default is None else field.default
        lines.append(f"{field.name}={quote(value)}" + (f"  # {kind}" if kind else ""))
    return "\n".join(lines) + "\n"
