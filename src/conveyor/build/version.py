"""A release's version: a version tag on the commit, else the nearest one, commits since it, and
the commit; versions sort by `packaging.version`."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import InvalidVersion, Version

from conveyor.build.git import text

# v1.4.0, 1.4.0, 1.4.0-rc.1: SemVer 2.0 cores with an optional pre-release part.
SEMVER_TAG = re.compile(
    r"^v?(?P<version>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)$"
)
# Other version tags: v1, 1.4, 2024.01.5, 1.4rc1 — what PEP 440 reads, without a local part
# (conveyor adds "+N.gHASH" itself) and without the characters git's --match takes as a glob.
_OTHER_TAG = re.compile(r"^v?(?P<version>[0-9][0-9A-Za-z.!_-]*)$")
NO_TAG = "0.0.0"
HASH_LENGTH = 7


def format_version(tag: str | None, since: int, commit: str) -> str:
    """`1.4.0` on the tag itself, `1.4.0+3.g1a2b3c4` after it, `0.0.0+N.gHASH` with no tag."""
    base = NO_TAG if tag is None else tag_version(tag)
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


def tag_version(tag: str) -> str:
    """The version a version tag names, without its "v" (`v1.2.3` -> `1.2.3`, `v1` -> `1`);
    ValueError for a tag that is no version (`nightly`, `release-1`)."""
    if SEMVER_TAG.match(tag):
        return semver(tag)
    match = _OTHER_TAG.match(tag)
    if match is not None:
        try:
            if Version(match.group("version")).local is None:
                return match.group("version")
        except InvalidVersion:
            pass
    raise ValueError(f"not a version tag: {tag}")


def is_version_tag(tag: str) -> bool:
    """True for a tag `tag_version` reads."""
    try:
        tag_version(tag)
    except ValueError:
        return False
    return True


def version_key(version: str) -> tuple[int, Version, str]:
    """Sort key: versions in `packaging.version` order (`1.10.0` after `1.9.0`, a pre-release
    before its release); one PEP 440 cannot read (`1.0.0-alpha.beta`) by its semver core."""
    try:
        return (1, Version(version), version)
    except InvalidVersion:
        core = SEMVER_TAG.match(version.partition("+")[0])
        if core is None:
            return (0, Version("0"), version)
        # A semver pre-release sorts before its release: just below it, by its text.
        return (1, Version(f"{core.group(2)}.{core.group(3)}.{core.group(4)}rc0"), version)


def describe_version(root: Path, commit: str) -> str:
    """The version of `commit`: its own version tag (the highest, if several), else the
    nearest version tag reachable from it with the commits since."""
    pointing = text(root, "tag", "--list", "--points-at", commit).splitlines()
    own = [tag_version(tag) for tag in pointing if is_version_tag(tag)]
    if own:
        return max(own, key=version_key)
    merged = text(root, "tag", "--list", "--merged", commit).splitlines()
    tags = [tag for tag in merged if is_version_tag(tag)]
    if not tags:
        return format_version(None, int(text(root, "rev-list", "--count", commit)), commit)
    # git describe finds the nearest tag by commit distance; --match limits it to version tags
    # (tag names that pass is_version_tag hold no glob characters, so each matches only itself).
    matches = [arg for tag in tags for arg in ("--match", tag)]
    described = text(root, "describe", "--tags", "--long", "--abbrev=40", *matches, commit)
    tag, since, _ = described.rsplit("-", 2)
    return format_version(tag, int(since), commit)
