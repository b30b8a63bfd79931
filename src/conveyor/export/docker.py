"""`conveyor export docker`: the files, writing them safely, and `--check` for staleness."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from conveyor.build.lock import Lock, lock_requirements
from conveyor.build.release import LOCKS
from conveyor.build.requirements import parse_requirement
from conveyor.errors import BuildError, ExportError
from conveyor.export.base import BaseImage, choose_base
from conveyor.export.compose import (
    BASE_FILE,
    MIGRATE,
    Needs,
    base_compose,
    env_compose,
    header,
    needs_of,
    override_file,
)
from conveyor.export.dockerfile import (
    HEADER,
    LOCK_PATH,
    containers,
    dockerfile,
    dockerignore,
    lock_file,
)
from conveyor.export.github import Workflow
from conveyor.export.roundtrip import drift
from conveyor.export.yaml import dump
from conveyor.project.load import Project
from conveyor.settings.envfile import parse_env

DOCKERFILE, DOCKERIGNORE = "Dockerfile", ".dockerignore"
_RESERVED = (MIGRATE, "postgres", "redis")


@dataclass(frozen=True)
class DockerExport:
    """The generated files and what the person should know about them."""

    files: tuple[Workflow, ...]
    base: BaseImage
    notes: tuple[str, ...] = ()


def python_of(project: Project) -> str:
    """The Python the image runs: `app.python`, else the one running conveyor."""
    return project.config.app.python or f"{sys.version_info.major}.{sys.version_info.minor}"


def docker_export(project: Project, *, base: BaseImage | None = None) -> DockerExport:
    """Every file of the export, computed from conveyor.toml and the locked requirements."""
    config, root = project.config, project.root
    runnable = containers(config)
    if not runnable:
        raise ExportError(
            "conveyor.toml: no service has a command to run in a container; nothing was written",
            hint="add a [services.<name>] with command = ...",
        )
    taken = [name for name in _RESERVED if name in config.services]
    if taken:
        raise ExportError(
            f'conveyor.toml: services.{taken[0]}: the name "{taken[0]}" is the export\'s own '
            "compose service; nothing was written",
            hint="rename the service",
        )
    base = base or choose_base(python_of(project), _read(root / DOCKERFILE))
    lock = _lock(project)
    packages = [parse_requirement(line.split(" ; ")[0]).name for line in lock.lines]
    example = _read(root / config.settings.example)
    keys = parse_env(example, path=root / config.settings.example).keys() if example else []
    needs = needs_of(packages, keys)
    names = list(config.environments)
    files = [
        Workflow(DOCKERFILE, dockerfile(config, base, lock)),
        Workflow(DOCKERIGNORE, dockerignore(config)),
        Workflow(LOCK_PATH, lock_file(lock)),
        Workflow(BASE_FILE, dump(base_compose(config), header=header(names[-1], base=True))),
    ]
    for name in names:
        text = dump(env_compose(config, name, needs), header=header(name))
        files.append(Workflow(override_file(name), text))
    return DockerExport(tuple(files), base, _notes(project, needs))


def _lock(project: Project) -> Lock:
    """The lock a release of the working tree gets; unpinned requirements are refused."""
    root = project.root

    def read(path: str) -> str | None:
        return _read(root / path)

    # The image is what production would run: locked as strictly as a production release.
    envs = project.config.environments
    strict = next((name for name, env in envs.items() if env.is_production_like), "an image")
    try:
        return lock_requirements(read, strict=strict, python=python_of(project), cache=root / LOCKS)
    except BuildError as error:
        raise ExportError(
            f"{error.message}\nnothing was written",
            hint="the image installs exactly what a release locks: pin every requirement",
        ) from None


def _notes(project: Project, needs: Needs) -> tuple[str, ...]:
    """Sync services left out; where development's own servers are."""
    config = project.config
    notes = [
        f"{name}: a sync service has no container; not exported"
        for name, service in config.services.items()
        if service.command is None
    ]
    servers = [
        s for s, on in (("postgres:5432", needs.postgres), ("redis:6379", needs.redis)) if on
    ]
    for name, env in config.environments.items():
        if servers and not env.is_production_like:
            notes.append(
                f"{name}: compose starts {' and '.join(servers)} beside the app; "
                f"point the URLs in {env.resolved_env_file} at them"
            )
    return tuple(notes)


def refuse_foreign(root: Path, export: DockerExport, *, force: bool = False) -> None:
    """ExportError when a file conveyor did not generate would be overwritten (unless forced);
    the real export and its --dry-run both ask."""
    foreign = [
        f.path
        for f in export.files
        if (text := _read(root / f.path)) is not None and not _generated(text)
    ]
    if foreign and not force:
        raise ExportError(
            f"{', '.join(foreign)}: not written by conveyor export docker; nothing was written",
            hint="move them away (conveyor's files replace them), or pass --force to overwrite",
        )


def write_files(root: Path, export: DockerExport, *, force: bool = False) -> list[str]:
    """Write what changed; a file conveyor did not generate is never overwritten unless forced."""
    refuse_foreign(root, export, force=force)
    written = []
    for generated in export.files:
        path = root / generated.path
        if _read(path) != generated.text:
            path.write_text(generated.text, "utf-8")
            written.append(generated.path)
    return written


def stale_files(project: Project, export: DockerExport) -> list[str]:
    """Why the committed files differ from a fresh export; [] when they are up to date."""
    root = project.root
    problems = []
    texts: dict[str, str] = {}
    for generated in export.files:
        text = _read(root / generated.path)
        if text is None:
            problems.append(f"{generated.path} is missing")
            continue
        texts[generated.path] = text
        if text != generated.text:
            problems.append(f"{generated.path} is stale")
    if problems:
        problems += drift(project.config, texts)
    return problems


def _generated(text: str) -> bool:
    return text.startswith(f"# {HEADER}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ExportError(f"{path}: cannot be read ({error})") from None
