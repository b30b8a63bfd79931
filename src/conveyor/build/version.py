"""A release's version: the nearest semver tag, commits since it, and the commit."""

from __future__ import annotations

import re
from pathlib import Path

from conveyor.build.git import text

# v1.4.0, 1.4.0, 1.4.0-rc.1: SemVer 2.0 cores with an optional pre-release part.
SEMVER_TAG = re.compile(
    r"^v?(?P<version>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)$"
)
NO_TAG = "0.0.0"
HASH_LENGTH = 7


def format_version(tag: str | None, since: int, commit: str) -> str:
    """`1.4.0` on the tag itself, `1.4.0+3.g1a2b3c4` after it, `0.0.0+N.gHASH` with no tag."""
    base = NO_TAG if tag is None else semver(tag)
    if tag is not None and since == 0:
        return base
    # A fixed-length hash: git's --short grows with the repository, which would change ids.
    return f"{base}+{since}.g{commit[:HASH_LENGTH]}"


def semver(tag: str) -> str:
    """The version a semver tag names, without its "v"; ValueError for other tags."""
    match = SEMVER_TAG.match(tag)
    if match is None:
        raise ValueError(f"not a semver tag: {tag}")
    return match.group("version")


def describe_version(root: Path, commit: str) -> str:
    """The version of `commit` from the nearest semver tag reachable from it."""
    merged = text(root, "tag", "--list", "--merged", commit).splitlines()
    tags = [tag for tag in merged if SEMVER_TAG.match(tag)]
    if not tags:
        return format_version(None, int(text(root, "rev-list", "--count", commit)), commit)
    # git describe finds the nearest tag by commit distance; --match limits it to semver tags
    # (tag names that pass SEMVER_TAG hold no glob characters, so each matches only itself).
    matches = [arg for tag in tags for arg in ("--match", tag)]
    described = text(root, "describe", "--tags", "--long", "--abbrev=40", *matches, commit)
    tag, since, _ = described.rsplit("-", 2)
    return format_version(tag, int(since), commit)
