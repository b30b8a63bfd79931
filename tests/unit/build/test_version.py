"""Versions from real git histories: nearest semver tag, commits since, short hash."""

from __future__ import annotations

import pytest

from conveyor.build.version import (
    describe_version,
    format_version,
    semver,
    tag_version,
    version_key,
)
from tests.unit.build.conftest import Repo


def test_without_tags_counts_every_commit(repo: Repo) -> None:
    repo.commit(message="one")
    head = repo.commit(message="two")
    assert describe_version(repo.root, head) == f"0.0.0+2.g{head[:7]}"


@pytest.mark.parametrize("tag", ["v1.4.0", "1.4.0"])
def test_on_the_tag_it_is_the_tag(repo: Repo, tag: str) -> None:
    head = repo.commit()
    repo.git("tag", tag)
    assert describe_version(repo.root, head) == "1.4.0"


def test_after_the_tag_commits_and_hash(repo: Repo) -> None:
    repo.commit()
    repo.git("tag", "-a", "v1.4.0", "-m", "release")
    for n in range(3):
        head = repo.commit(message=f"after {n}")
    assert describe_version(repo.root, head) == f"1.4.0+3.g{head[:7]}"


def test_nearest_tag_wins_and_other_tags_are_ignored(repo: Repo) -> None:
    repo.commit()
    repo.git("tag", "v1.0.0")
    repo.commit()
    repo.git("tag", "v2.1.0-rc.1")
    head = repo.commit()
    repo.git("tag", "nightly")
    assert describe_version(repo.root, head) == f"2.1.0-rc.1+1.g{head[:7]}"


def test_an_older_commit_ignores_later_tags(repo: Repo) -> None:
    first = repo.commit()
    repo.git("tag", "v1.0.0")
    repo.commit()
    repo.git("tag", "v1.1.0")
    assert describe_version(repo.root, first) == "1.0.0"


def test_format_version() -> None:
    commit = "1a2b3c4d5e6f"
    assert format_version("v1.4.0", 3, commit) == "1.4.0+3.g1a2b3c4"
    assert format_version("1.4.0", 0, commit) == "1.4.0"
    assert format_version(None, 5, commit) == "0.0.0+5.g1a2b3c4"


@pytest.mark.parametrize("tag", ["1.4", "v01.2.3", "release-1.0.0", "1.2.3.4"])
def test_semver_refuses_other_tags(tag: str) -> None:
    with pytest.raises(ValueError, match="not a semver tag"):
        semver(tag)


def test_a_version_tag_on_the_commit_is_the_version(repo: Repo) -> None:
    for n in range(3):
        repo.commit(message=f"before {n}")
    head = repo.commit()
    repo.git("tag", "v1")
    repo.git("tag", "nightly")
    assert describe_version(repo.root, head) == "1"
    after = repo.commit()
    assert describe_version(repo.root, after) == f"1+1.g{after[:7]}"
    repo.git("tag", "2024.01.5")
    assert describe_version(repo.root, after) == "2024.01.5"


def test_several_tags_on_the_commit_the_highest_version_wins(repo: Repo) -> None:
    head = repo.commit()
    for tag in ("v1.9.0", "v1.10.0", "v1.10.0-rc.1", "v2"):
        repo.git("tag", tag)
    assert describe_version(repo.root, head) == "2"
    repo.git("tag", "-d", "v2")
    assert describe_version(repo.root, head) == "1.10.0"


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("v1", "1"),
        ("1.4", "1.4"),
        ("v1.2.3", "1.2.3"),
        ("v2.0.0-rc.1", "2.0.0-rc.1"),
        ("1.4rc1", "1.4rc1"),
    ],
)
def test_tag_version(tag: str, version: str) -> None:
    assert tag_version(tag) == version


@pytest.mark.parametrize("tag", ["nightly", "release-1.0.0", "v1+local", "deployed"])
def test_tag_version_refuses_tags_that_are_no_version(tag: str) -> None:
    with pytest.raises(ValueError, match="not a version tag"):
        tag_version(tag)


def test_versions_sort_as_versions() -> None:
    versions = [
        "1.10.0",
        "1.9.0",
        "2.0.0",
        "2.0.0-rc.1",
        "1.0.0-alpha.beta",
        "1.0.0",
        "0.0.0+4.g1a2b3c4",
    ]
    assert sorted(versions, key=version_key) == [
        "0.0.0+4.g1a2b3c4",
        "1.0.0-alpha.beta",
        "1.0.0",
        "1.9.0",
        "1.10.0",
        "2.0.0-rc.1",
        "2.0.0",
    ]
