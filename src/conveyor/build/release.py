"""Build an immutable release from a git commit into `.conveyor/releases/<id>/`.

A release directory holds `app/` (the commit's files), `requirements.lock` and
`manifest.json`. It is written under a temporary name and renamed into place, so
a directory with a release id is always complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from packaging.specifiers import SpecifierSet

from conveyor.build.git import (
    EXECUTABLE,
    SYMLINK,
    TreeFile,
    changed_files,
    commit_time,
    head_commit,
    resolve_commit,
    tree_files,
)
from conveyor.build.lock import Lock, lock_requirements
from conveyor.build.manifest import Manifest, ManifestFile, id_digest
from conveyor.build.version import describe_version, version_key
from conveyor.build.workspace import workspace_lock
from conveyor.errors import BuildError
from conveyor.project.load import Project
from conveyor.project.python import choose_python, minor_allowed, requires_python_text
from conveyor.settings.check import untrack_hint

RELEASES = Path(".conveyor", "releases")
LOCKS = Path(".conveyor", "locks")
MANIFEST, LOCK_FILE, APP = "manifest.json", "requirements.lock", "app"
BUILD_LOCK, EXAMPLE = ".build.lock", ".env.example"
STATE_PREFIX = ".conveyor/"
DIRTY_HINT = "commit or stash your changes, or build for development"
_STALE_SECONDS = 3600


@dataclass(frozen=True)
class Release:
    """A built release; `reused` when it was already built, `notes`/`warnings` for the person."""

    id: str
    version: str
    commit: str
    path: Path
    lock_hash: str
    manifest: Manifest
    reused: bool = False
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A release checked and described but not written: what `build_release` would write."""

    id: str
    commit: str
    manifest: Manifest
    files: tuple[TreeFile, ...]
    lock: Lock
    notes: tuple[str, ...] = ()


def prepare_release(
    project: Project, *, ref: str = "HEAD", environment: str | None = None
) -> Prepared:
    """Every check of a build of `ref` for `environment` (BuildError), writing nothing."""
    env = project.config.environment(environment) if environment is not None else None
    strict = f'{env.name} (tier "{env.resolved_tier}")' if env and env.is_production_like else None
    root = project.root
    commit = resolve_commit(root, ref)
    notes: list[str] = []
    # Only a build of the checked-out commit can be mistaken for one of the working tree.
    changed = changed_files(root) if commit == head_commit(root) else ()
    if changed and strict:
        raise BuildError(
            f"the working tree has uncommitted changes to {_count(changed)}; "
            f'a release for "{environment}" is built from a commit only, so nothing was built',
            hint=DIRTY_HINT,
        )
    if changed:
        notes.append(
            f"uncommitted changes to {_count(changed)} are not in the release: "
            f"it is built from commit {commit[:7]}"
        )
    files, skipped = tree_files(root, commit)
    # conveyor's own state committed by mistake would put old releases inside new ones.
    own = tuple(f for f in files if f.path.startswith(STATE_PREFIX))
    if own:
        files = tuple(f for f in files if not f.path.startswith(STATE_PREFIX))
        notes.append(
            f"{len(own)} file(s) under {STATE_PREFIX} are committed; left out of the release"
        )
    _refuse_env_files(project, files, commit)
    if skipped:
        notes.append(f"submodules are not part of a release: {', '.join(skipped)}")
    python = project.config.app.python or f"{sys.version_info.major}.{sys.version_info.minor}"
    _refuse_python(project, python)
    lock = lock_requirements(
        _reader(files),
        strict=strict,
        python=python,
        cache=root / LOCKS,
        workspace=workspace_lock(root, commit),
    )
    manifest = Manifest(
        app=project.config.app.name,
        version=describe_version(root, commit),
        commit=commit,
        commit_time=commit_time(root, commit),
        python=python,
        lock_hash=lock.hash,
        lock_source=lock.source,
        files=tuple(_entry(f) for f in sorted(files, key=lambda f: f.path)),
        skipped=skipped,
    )
    return Prepared(manifest.release_id(), commit, manifest, files, lock, tuple(notes))


def build_release(
    project: Project,
    *,
    ref: str = "HEAD",
    environment: str | None = None,
    keep: int = 10,
    protect: Collection[str] = (),
) -> Release:
    """Build (or find already built) the release of `ref` for `environment`; keep `keep`
    (and every release in `protect`)."""
    if keep < 1:
        raise BuildError(f"keep must be at least 1, got {keep}", hint="nothing was built")
    prepared = prepare_release(project, ref=ref, environment=environment)
    return write_release(project, prepared, keep=keep, protect=protect)


def write_release(
    project: Project, prepared: Prepared, *, keep: int = 10, protect: Collection[str] = ()
) -> Release:
    """Write a prepared release (or find it already written), then keep the newest `keep`
    and every release in `protect` (those hosts serve or would roll back to)."""
    notes = list(prepared.notes)
    releases = project.root / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    # Two builds of one project at once (two deploys started together) take turns here: the
    # second finds the release the first wrote, and never prunes or cleans under its feet.
    with _build_lock(releases):
        if (releases / prepared.id / MANIFEST).is_file():
            release = replace(load_release(project, prepared.id), reused=True)
        else:
            built = replace(prepared.manifest, built_at=datetime.now(timezone.utc).isoformat())
            release = _write(releases, prepared.id, built, prepared.files, prepared.lock.text)
        removed = prune_releases(project, keep=keep, protect={release.id, *protect})
    if removed:
        notes.append(f"removed {len(removed)} old release(s), keeping {keep}: {', '.join(removed)}")
    return replace(release, notes=tuple(notes), warnings=prepared.lock.warnings)


@contextlib.contextmanager
def _build_lock(releases: Path) -> Iterator[None]:
    """An exclusive flock on `releases/.build.lock` for as long as the block runs."""
    with (releases / BUILD_LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _refuse_python(project: Project, python: str) -> None:
    """BuildError when the release's Python does not meet pyproject's requires-python."""
    text = requires_python_text(project.root)
    if text is None or minor_allowed(SpecifierSet(text), python):
        return
    spec = SpecifierSet(text)
    given = "[app] python in conveyor.toml" if project.config.app.python else "conveyor's own"
    raise BuildError(
        f"the project requires Python {text} (pyproject.toml requires-python), but the "
        f"release would be for Python {python} ({given}); nothing was built",
        hint=f'set [app] python in conveyor.toml to a version that meets {text}, e.g. "'
        f'{choose_python(spec) or "?"}"',
    )


def _refuse_env_files(project: Project, files: tuple[TreeFile, ...], commit: str) -> None:
    """A committed `.env` / `.env.<name>` (not the schema) would ship its secrets: refuse."""
    schema = project.config.settings.example
    named = {e.resolved_env_file for e in project.config.environments.values()}
    found = [f.path for f in files if f.path != schema and (f.path in named or _dotenv(f.path))]
    if found:
        shown = ", ".join(found)
        raise BuildError(
            f"{shown} {'is' if len(found) == 1 else 'are'} tracked by git (commit {commit[:7]}): "
            "a release never ships an environment file (its values go to each host's "
            "shared/.env), so nothing was built",
            hint=untrack_hint(*found) + ", then commit",
        )


# Names that say a file holds placeholders, not values: `.env.example`, `.env.staging.sample`.
_TEMPLATE_SUFFIXES = frozenset({"example", "sample", "template", "dist"})
# Test data lives here; an environment's own env_file is refused wherever it is.
_TEST_DIRS = frozenset({"test", "tests", "fixtures"})


def _dotenv(path: str) -> bool:
    """`.env` or `.env.<name>` holding values: not a template (`.env.example`,
    `.env.sample`, ...) and not test data under tests/ or fixtures/."""
    pure = PurePosixPath(path)
    name = pure.name
    if name != ".env" and not name.startswith(".env."):
        return False
    if name == EXAMPLE or name.rsplit(".", 1)[-1] in _TEMPLATE_SUFFIXES:
        return False
    return not _TEST_DIRS & set(pure.parts[:-1])


def list_releases(project: Project) -> tuple[Release, ...]:
    """Releases in `.conveyor/releases/`, newest build first."""
    releases = project.root / RELEASES
    found = []
    for path in releases.iterdir() if releases.is_dir() else ():
        if path.name.startswith(".") or not (path / MANIFEST).is_file():
            continue
        try:
            found.append(_load(path))
        except BuildError:
            continue  # not written by conveyor: neither listed nor ever deleted by retention
    return tuple(sorted(found, key=lambda r: (r.manifest.built_at, r.id), reverse=True))


def load_release(project: Project, wanted: str) -> Release:
    """The release `wanted` names: its id, its version (as history and status show it) or
    the hash its id ends in; a BuildError lists the releases, highest version first."""
    path = project.root / RELEASES / wanted
    if "/" not in wanted and not wanted.startswith(".") and (path / MANIFEST).is_file():
        return _load(path)
    known = list_releases(project)
    named = [r for r in known if wanted in (r.version, id_digest(r.id, r.version))]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(sorted(r.id for r in named))
        raise BuildError(
            f'"{wanted}" names {len(named)} releases in {RELEASES}: {ids}',
            hint="give one of these release ids",
        )
    by_version = sorted(known, key=lambda r: (version_key(r.version), r.manifest.built_at))
    shown = [f"{r.version} ({r.id})" for r in reversed(by_version[-5:])]
    hint = f"highest versions: {', '.join(shown)}" if shown else "run: conveyor build"
    raise BuildError(f'no release "{wanted}" in {RELEASES}', hint=hint)


def prune_releases(
    project: Project, *, keep: int, protect: Collection[str] = ()
) -> tuple[str, ...]:
    """Delete all but the newest `keep` releases (never one in `protect`); the ids removed."""
    old = [r for r in list_releases(project)[keep:] if r.id not in protect]
    for release in old:
        shutil.rmtree(release.path)
    return tuple(r.id for r in old)


def _load(path: Path) -> Release:
    try:
        manifest = Manifest.from_json((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BuildError(f"{path / MANIFEST}: not a conveyor manifest ({error})") from None
    return Release(path.name, manifest.version, manifest.commit, path, manifest.lock_hash, manifest)


def _write(
    releases: Path, release_id: str, manifest: Manifest, files: tuple[TreeFile, ...], lock: str
) -> Release:
    """Write the release under a temporary name, then rename it into place in one step."""
    releases.mkdir(parents=True, exist_ok=True)
    _remove_stale(releases)
    scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{release_id}-", dir=releases))
    try:
        for file in files:
            target = scratch / APP / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if file.mode == SYMLINK:
                os.symlink(file.data.decode("utf-8"), target)
            else:
                target.write_bytes(file.data)
                target.chmod(0o755 if file.mode == EXECUTABLE else 0o644)
        (scratch / APP).mkdir(exist_ok=True)
        (scratch / LOCK_FILE).write_text(lock, encoding="utf-8")
        (scratch / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        scratch.chmod(0o755)
        scratch.rename(releases / release_id)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        if (releases / release_id / MANIFEST).is_file():  # a concurrent build of the same id won
            return replace(_load(releases / release_id), reused=True)
        raise
    return _load(releases / release_id)


def _remove_stale(releases: Path) -> None:
    """Temporary directories left by a build that was killed an hour or more ago."""
    for path in releases.glob(".tmp-*"):
        with contextlib.suppress(FileNotFoundError):  # renamed into place meanwhile
            if time.time() - path.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)


def _reader(files: tuple[TreeFile, ...]) -> Callable[[str], str | None]:
    """Text of a file of the commit by its path (None when the commit lacks it)."""
    by_path = {f.path: f for f in files if f.mode != SYMLINK}

    def read(path: str) -> str | None:
        file = by_path.get(path)
        if file is None:
            return None
        try:
            return file.data.decode("utf-8")
        except UnicodeDecodeError:
            raise BuildError(f"{path}: not UTF-8") from None

    return read


def _entry(file: TreeFile) -> ManifestFile:
    return ManifestFile(file.path, hashlib.sha256(file.data).hexdigest(), file.mode, len(file.data))


def _count(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
    return f"{len(paths)} tracked file(s) ({shown})"
