"""What `conveyor init` finds in an existing project: web apps, workers, DAGs, migrations, settings.

Detection reads source files as syntax trees; it never imports the project's code.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from conveyor.project.python import requires_python_text
from conveyor.project.routes import find_health
from conveyor.project.static import Unknown, env_text, evaluate
from conveyor.project.tools import DetectedChecks, detect_checks
from conveyor.settings.scan.grammar import parse_newest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "env",
        "node_modules",
        "__pycache__",
        "build",
        "dist",
        ".tox",
        "tests",
        "test",
        "site-packages",
        ".conveyor",
        ".mypy_cache",
        ".ruff_cache",
    }
)
_HEALTH_PATHS = ("/health", "/healthz", "/health/", "/ping", "/status")


@dataclass(frozen=True)
class SettingsClassField:
    """A field of a pydantic-settings class, read statically."""

    name: str
    annotation: str
    default: str | None


@dataclass
class Detected:
    """Everything init found, each with the module path that proves it."""

    name: str
    web: list[tuple[str, str | None]] = field(
        default_factory=list
    )  # ("backend.main:app", "/health")
    celery: list[str] = field(default_factory=list)  # "backend.celery_app" (module of a Celery app)
    workers: list[str] = field(default_factory=list)  # "movies.worker": runnable with python -m
    beat: bool = False
    dags: list[str] = field(default_factory=list)  # "airflow/dags"
    alembic: bool = False
    settings_class: str | None = None  # "backend.config:Settings"
    settings_fields: list[SettingsClassField] = field(default_factory=list)
    checks: DetectedChecks = field(default_factory=lambda: DetectedChecks((), False))
    requires_python: str | None = None  # pyproject's requires-python, e.g. ">=3.10,<4.0"


def detect(root: Path) -> Detected:
    """Scan the project under `root`."""
    found = Detected(name=_project_name(root), alembic=(root / "alembic.ini").is_file())
    found.checks = detect_checks(root)
    found.requires_python = requires_python_text(root)
    for path in _python_files(root):
        try:
            text = path.read_text(encoding="utf-8")
            # A PEP 695 alias (Python 3.12) must not hide the app defined next to it.
            tree = parse_newest(text, str(path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue  # not ours to judge; `conveyor check` will
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        _visit(tree, text, module, found)
        if path.parent.name == "dags" and "DAG" in text:
            rel = str(path.parent.relative_to(root))
            if rel not in found.dags:
                found.dags.append(rel)
    # A route the app serves, found through its routers, beats a string that looks like one.
    found.web = [(t, find_health(root, *t.split(":", 1)) or health) for t, health in found.web]
    return found


def _visit(tree: ast.Module, text: str, module: str, found: Detected) -> None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            called = _name(node.value.func)
            target = node.targets[0]
            if called == "FastAPI" and isinstance(target, ast.Name):
                health = next(
                    (p for p in _HEALTH_PATHS if f'"{p}"' in text or f"'{p}'" in text), None
                )
                found.web.append((f"{module}:{target.id}", health))
            elif called == "Celery":
                found.celery.append(module)
        elif (
            isinstance(node, ast.ClassDef)
            and found.settings_class is None
            and any(_name(base) == "BaseSettings" for base in node.bases)
        ):
            found.settings_class = f"{module}:{node.name}"
            found.settings_fields = _fields(node)
    if "beat_schedule" in text:
        found.beat = True
    if "worker" in module.rsplit(".", 1)[-1] and module not in found.celery and _runnable(tree):
        found.workers.append(module)


def _runnable(tree: ast.Module) -> bool:
    """True for a module that runs when executed: an `if __name__ == "__main__":` block, or a
    loop at the top level (a worker written as a script; `python -m` runs it as it is)."""
    return any(
        (isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
        or isinstance(node, ast.While)
        for node in tree.body
    )


def _fields(node: ast.ClassDef) -> list[SettingsClassField]:
    fields = []
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            default = None
            if item.value is not None:
                # `60 * 24 * 8` is 11520; a call such as secrets.token_urlsafe(32) stays unknown.
                with contextlib.suppress(Unknown):
                    value = evaluate(_field_default(item.value))
                    default = None if value is None else env_text(value)
            fields.append(SettingsClassField(item.target.id, ast.unparse(item.annotation), default))
    return fields


def literal_choices(annotation: str) -> list[str] | None:
    """The values of `Literal["a", "b"]` as a `.env` file spells them, else None."""
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.Subscript) and _name(node.value) == "Literal"):
        return None
    items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    try:
        return [env_text(evaluate(item)) for item in items if not _is_none(item)]
    except Unknown:
        return None


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _field_default(node: ast.expr) -> ast.expr:
    """The default inside `Field(default=...)` or `Field(...)`, else the expression itself."""
    if isinstance(node, ast.Call) and _name(node.func) == "Field":
        given = [k.value for k in node.keywords if k.arg == "default"] or node.args[:1]
        if given:
            return given[0]
    return node


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if not any(part in _SKIP_DIRS for part in parts[:-1]):
            yield path


def _project_name(root: Path) -> str:
    name = root.resolve().name
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        # A broken pyproject.toml is reported by the loader, not here.
        with contextlib.suppress(OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            name = data.get("project", {}).get("name", name)
    slug = re.sub(r"[^a-z0-9_-]+", "-", str(name).lower()).strip("-")
    return slug or "app"
