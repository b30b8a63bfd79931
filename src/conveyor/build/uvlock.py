"""The runtime pins of a `uv.lock`, as `uv export --no-dev` would list them, without uv."""

from __future__ import annotations

from collections import deque
from typing import Any

from conveyor.build.requirements import Pin, canonical_name
from conveyor.errors import BuildError
from conveyor.project.load import parse_toml

UV_LOCK = "uv.lock"
# Sources that are files of the app itself: walked through, never pinned.
_LOCAL = ("editable", "virtual", "directory", "path")
_MAX_MARKERS = 16


def export_uv_lock(
    text: str, *, member: str | None = None, shown: str = UV_LOCK
) -> tuple[Pin, ...]:
    """Packages the project needs at run time (no dev groups), with the markers that bring them.

    `member` names the workspace member whose part of a workspace's root lock is wanted.
    """
    data = parse_toml(text, shown=shown)
    packages = [p for p in data.get("package", []) if isinstance(p, dict) and "name" in p]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(canonical_name(package["name"]), []).append(package)
    roots = _roots(data, packages, member, shown)
    pins = _walk(roots, by_name)
    return tuple(pins)


def _roots(
    data: dict[str, Any], packages: list[dict[str, Any]], member: str | None, shown: str
) -> list[dict[str, Any]]:
    """The project's own package in the lock: the member's, else the one at "."."""
    local = [p for p in packages if _source(p)[0] in _LOCAL]
    members = _members(data, local)
    if member is not None:
        found = [p for p in local if canonical_name(p["name"]) == canonical_name(member)]
        if not found:
            raise BuildError(
                f'{shown}: the uv workspace lock has no member named "{member}" '
                f"(members: {', '.join(members) or 'none'}); nothing was built",
                hint="add this directory to [tool.uv.workspace] members in the workspace's "
                "pyproject.toml, then run: uv lock",
            )
        return found
    roots = [p for p in local if _source(p)[1] == "."]
    if roots:
        return roots
    if members:
        raise BuildError(
            f"{shown}: a uv workspace lock (members: {', '.join(members)}) with no package "
            "for this directory itself; nothing was built",
            hint="run conveyor in the directory of the member to deploy "
            f"(e.g. cd {_path_of(local, members[0])} && conveyor init): "
            "a member's release uses its part of this lock",
        )
    raise BuildError(f'{shown}: no package for the project itself (source editable or virtual ".")')


def _members(data: dict[str, Any], local: list[dict[str, Any]]) -> list[str]:
    """The workspace's members, from `[manifest] members` (or its local packages)."""
    manifest = data.get("manifest", {})
    given = manifest.get("members") if isinstance(manifest, dict) else None
    if isinstance(given, list) and given:
        return sorted(canonical_name(str(m)) for m in given)
    return sorted(canonical_name(p["name"]) for p in local if _source(p)[1] != ".")


def _path_of(local: list[dict[str, Any]], member: str) -> str:
    return next((_source(p)[1] for p in local if canonical_name(p["name"]) == member), member)


def _walk(roots: list[dict[str, Any]], by_name: dict[str, list[dict[str, Any]]]) -> list[Pin]:
    """Every package reachable from the roots, pinned, with the markers of its paths."""
    packages = [p for group in by_name.values() for p in group]
    # Each package collects the markers of the paths that reach it; None is "always".
    markers: dict[tuple[str, str], set[str | None]] = {}
    queue: deque[tuple[dict[str, Any], tuple[str, ...], str | None]] = deque(
        (root, (), None) for root in roots
    )
    seen: set[tuple[str, str, tuple[str, ...], str | None]] = set()
    while queue:
        package, extras, marker = queue.popleft()
        key = (canonical_name(package["name"]), str(package.get("version", "")))
        if (*key, extras, marker) in seen:
            continue
        seen.add((*key, extras, marker))
        reached = markers.setdefault(key, set())
        if len(reached) >= _MAX_MARKERS:
            # Cycles with markers would grow them forever; past a few, install it everywhere.
            marker = None
        reached.add(marker)
        edges = list(package.get("dependencies", []))
        optional = package.get("optional-dependencies", {})
        for extra in extras:
            edges.extend(optional.get(extra, []))
        for edge in edges:
            target = _find(by_name, edge, wanted_by=package["name"])
            queue.append(
                (target, tuple(sorted(edge.get("extra", []))), _both(marker, edge.get("marker")))
            )
    pins = []
    for package in packages:
        key = (canonical_name(package["name"]), str(package.get("version", "")))
        if key in markers and _source(package)[0] not in _LOCAL:
            pins.append(_pin(package, _any(markers[key])))
    return pins


def _source(package: dict[str, Any]) -> tuple[str, str]:
    """("registry", url), ("editable", "."), ...: the kind and value of a package's source."""
    source = package.get("source", {})
    for kind, value in source.items() if isinstance(source, dict) else ():
        return str(kind), str(value)
    return "registry", ""


def _find(
    by_name: dict[str, list[dict[str, Any]]], edge: dict[str, Any], *, wanted_by: str
) -> dict[str, Any]:
    """The package a dependency entry points at; `version` decides when the lock forks."""
    candidates = by_name.get(canonical_name(str(edge.get("name", ""))), [])
    if "version" in edge:
        candidates = [c for c in candidates if c.get("version") == edge["version"]]
    if not candidates:
        raise BuildError(
            f"{UV_LOCK}: {wanted_by} depends on {edge.get('name')}, which the lock does not list",
            hint="run: uv lock",
        )
    return candidates[0]


def _pin(package: dict[str, Any], marker: str | None) -> Pin:
    name = canonical_name(package["name"])
    kind, value = _source(package)
    if kind == "git":
        # uv writes "https://host/repo?rev=main#<commit>"; pip wants "git+https://host/repo@<commit>".
        url, _, commit = value.partition("#")
        return Pin(name, f"@ git+{url.split('?')[0]}@{commit}", marker=marker, where=UV_LOCK)
    if kind == "url":
        return Pin(name, f"@ {value}", marker=marker, where=UV_LOCK)
    return Pin(name, f"=={package['version']}", marker=marker, where=UV_LOCK)


def _both(outer: str | None, inner: object) -> str | None:
    """The marker of a path: its parent's and its own edge's, joined with "and"."""
    edge = str(inner) if inner else None
    if outer is None or edge is None:
        return edge or outer
    return f"({outer}) and ({edge})"


def _any(markers: set[str | None]) -> str | None:
    """None when some path always applies, else the paths' markers joined with "or"."""
    if None in markers:
        return None
    ordered = sorted(m for m in markers if m is not None)
    return ordered[0] if len(ordered) == 1 else " or ".join(f"({m})" for m in ordered)
