"""`conveyor init`: set a project up for conveyor."""

from __future__ import annotations

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.output import out
from conveyor.project.init import apply_init


def register(app: typer.Typer) -> None:
    """Add the init command."""
    app.command("init")(init)


def init(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Overwrite conveyor.toml and .env.example."),
) -> None:
    """Detect services, settings and migrations; write conveyor.toml and .env.example."""
    root = project_dir(ctx)
    result = apply_init(root, force=force)
    found = result.detected
    console = out()
    seen = [f"web app {target}" for target, _ in found.web]
    seen += [f"Celery app {module}" for module in found.celery]
    seen += ["Celery beat schedule"] if found.beat else []
    seen += [f"worker {module}" for module in found.workers]
    seen += [f"Airflow DAGs in {dags}/" for dags in found.dags]
    seen += ["Alembic migrations (alembic.ini)"] if found.alembic else []
    seen += [f"settings class {found.settings_class}"] if found.settings_class else []
    console.print(
        "found: " + ("; ".join(seen) if seen else "no services (wrote a starter)"), markup=False
    )
    for action, path in result.actions:
        note = " (exists; --force to overwrite)" if action == "kept" else ""
        console.print(f"{action} {path.relative_to(root)}{note}", markup=False)
    console.print(
        "next: replace the staging/production hosts in conveyor.toml, create .env.<environment> "
        "from .env.example (chmod 600), then run: conveyor config check <environment>",
        markup=False,
    )
    return
