"""An Alembic project's revision graph, read from a release's files without running them.

Alembic's own `ScriptDirectory` imports every revision file, and with it the project's
code and its dependencies (SQLAlchemy, the app's models), which conveyor's environment
has no business holding. A revision file declares its place in the graph as literals at
module level (`revision = "ab12"`, `down_revision = ("cd34", "ef56")`, annotated or not),
so the graph is read here with `ast`, and nothing of the project runs.

Where the scripts are comes from `alembic.ini` as Alembic reads it: `script_location`
(relative to the ini's directory; `%(here)s` is that directory) and `version_locations`
(separated by `version_path_separator`: os, space, colon, semicolon or newline; default:
space or comma), else `<script_location>/versions`.
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conveyor.errors import ConfigError


@dataclass(frozen=True)
class Revision:
    """One revision file: its id, the revisions it follows, and where it is."""

    id: str
    down: tuple[str, ...]
    path: str


def version_dirs(ini_path: str, ini_text: str) -> list[str]:
    """The directories (relative to the project, POSIX) that hold the revision files."""
    parser = configparser.ConfigParser(
        defaults={"here": posixpath.dirname(ini_path) or "."}, interpolation=None
    )
    try:
        parser.read_string(ini_text, source=ini_path)
    except configparser.Error as error:
        raise ConfigError(f"{ini_path} cannot be read: {error}") from None
    if not parser.has_option("alembic", "script_location"):
        raise ConfigError(
            f"{ini_path} has no script_location in its [alembic] section",
            hint="point [migrations] config at the project's alembic.ini",
        )
    here = posixpath.dirname(ini_path)

    def local(path: str) -> str:
        path = path.strip().replace("%(here)s", here or ".")
        return posixpath.normpath(posixpath.join(here, path))

    scripts = local(parser.get("alembic", "script_location"))
    locations = parser.get("alembic", "version_locations", fallback="").strip()
    if not locations:
        return [posixpath.join(scripts, "versions")]
    separator = parser.get("alembic", "version_path_separator", fallback="").strip()
    split = {"os": ":", "space": " ", "colon": ":", "semicolon": ";", "newline": "\n"}
    if separator in split:
        parts = locations.split(split[separator])
    else:
        parts = locations.replace(",", " ").split()
    return [local(part) for part in parts if part.strip()]


def revisions(files: Mapping[str, bytes], dirs: Sequence[str]) -> dict[str, Revision]:
    """The revision files directly in `dirs` (path -> content, as the release holds them)."""
    found: dict[str, Revision] = {}
    for path, data in sorted(files.items()):
        if posixpath.dirname(path) not in dirs or not path.endswith(".py"):
            continue
        revision = _read(path, data)
        if revision is None:
            continue
        if revision.id in found:
            raise ConfigError(
                f"{path} and {found[revision.id].path} both declare revision {revision.id!r}",
                hint="give one of them a new revision id (alembic revision makes them unique)",
            )
        found[revision.id] = revision
    return found


def heads(graph: Mapping[str, Revision]) -> list[str]:
    """The revisions no other revision follows: `alembic upgrade head` needs exactly one."""
    followed = {down for revision in graph.values() for down in revision.down}
    return sorted(rid for rid in graph if rid not in followed)


def _read(path: str, data: bytes) -> Revision | None:
    """A file's `revision` and `down_revision`; None for a file that declares no revision."""
    try:
        tree = ast.parse(data, filename=path)
    except SyntaxError as error:
        raise ConfigError(f"{path}:{error.lineno}: not valid Python: {error.msg}") from None
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                raise ConfigError(
                    f"{path}:{node.lineno}: {target.id} is not a literal, so it cannot be "
                    "read without running the file",
                    hint=f"write {target.id} as a string (or a tuple of strings, or None)",
                ) from None
    if "revision" not in values:
        return None
    rid, down = values["revision"], values.get("down_revision")
    if not isinstance(rid, str) or not rid:
        raise ConfigError(f"{path}: revision must be a non-empty string, not {rid!r}")
    if down is None:
        return Revision(rid, (), path)
    if isinstance(down, str):
        return Revision(rid, (down,), path)
    if isinstance(down, (tuple, list)) and all(isinstance(d, str) for d in down):
        return Revision(rid, tuple(down), path)
    raise ConfigError(f"{path}: down_revision must be a string, a tuple of them or None")


def graph_of(ini_path: str, files: Mapping[str, bytes]) -> dict[str, Revision]:
    """A release's revisions (`files`: path -> content, relative to the project), where its
    alembic.ini says they are."""
    ini = files.get(ini_path)
    if ini is None:
        raise ConfigError(
            f"[migrations] config names {ini_path}, which the release does not hold; "
            "nothing was deployed",
            hint="commit it, or point [migrations] config at the project's alembic.ini",
        )
    return revisions(files, version_dirs(ini_path, ini.decode("utf-8", "replace")))


def single_head(ini_path: str, files: Mapping[str, bytes]) -> str | None:
    """The one head of a release's migrations (`files`: path -> content, relative to the
    project); None when it has no revision yet. ConfigError naming the heads when there are
    several: `alembic upgrade head` would refuse them on the host, after the release shipped."""
    found = heads(graph_of(ini_path, files))
    if len(found) > 1:
        raise ConfigError(
            f"the migrations of this release have {len(found)} heads ({', '.join(found)}): "
            "`alembic upgrade head` would refuse to choose; nothing was deployed",
            hint="merge them: alembic merge heads -m merge, commit the new revision, deploy",
        )
    return found[0] if found else None


def versions_digest(graph: Mapping[str, Revision], files: Mapping[str, bytes]) -> str:
    """A digest of the revision files (paths and contents): what ran, recorded per release."""
    digest = hashlib.sha256()
    for path in sorted(r.path for r in graph.values()):
        digest.update(path.encode() + b"\0" + files[path] + b"\0")
    return digest.hexdigest()
