"""A release's Alembic revision graph, read from its files as they are committed: no
database, no host, and none of the project's code run (the graph is pure data)."""

from __future__ import annotations

import pytest

from conveyor.errors import ConfigError
from conveyor.migrations.revisions import heads, revisions, single_head, version_dirs

INI = "[alembic]\nscript_location = alembic\nprepend_sys_path = .\n"


def rev(rid: str, down: str | tuple[str, ...] | None, *, annotated: bool = False) -> bytes:
    """A revision file as `alembic revision` writes it (the 1.13 template when annotated)."""
    if annotated:
        head = "from typing import Sequence, Union\n\n"
        return (
            f'{head}revision: str = "{rid}"\n'
            f"down_revision: Union[str, Sequence[str], None] = {down!r}\n"
            "branch_labels: Union[str, Sequence[str], None] = None\n\n\n"
            "def upgrade() -> None:\n    pass\n"
        ).encode()
    return (
        f'"""{rid}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f'revision = "{rid}"\ndown_revision = {down!r}\n\n\ndef upgrade():\n    op.drop_table("x")\n'
    ).encode()


def tree(
    *revs: tuple[str, bytes], ini: str = INI, ini_path: str = "alembic.ini"
) -> dict[str, bytes]:
    files = {ini_path: ini.encode(), "alembic/env.py": b"from alembic import context\n"}
    files.update({f"alembic/versions/{name}.py": data for name, data in revs})
    return files


@pytest.mark.parametrize(
    ("ini_path", "ini", "dirs"),
    [
        ("alembic.ini", INI, ["alembic/versions"]),
        ("alembic.ini", "[alembic]\nscript_location = %(here)s/alembic\n", ["alembic/versions"]),
        ("db/alembic.ini", "[alembic]\nscript_location = migrations\n", ["db/migrations/versions"]),
        (
            "alembic.ini",
            "[alembic]\nscript_location = alembic\nversion_locations = a/v b/v\n",
            ["a/v", "b/v"],
        ),
        (
            "alembic.ini",
            "[alembic]\nscript_location = alembic\nversion_locations = %(here)s/a;%(here)s/b\n"
            "version_path_separator = semicolon\n",
            ["a", "b"],
        ),
    ],
)
def test_the_revision_files_are_where_alembic_ini_says(
    ini_path: str, ini: str, dirs: list[str]
) -> None:
    assert version_dirs(ini_path, ini) == dirs


def test_an_ini_without_script_location_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"alembic\.ini has no script_location"):
        version_dirs("alembic.ini", "[alembic]\nsqlalchemy.url = x\n")


def test_a_linear_history_has_one_head_whatever_the_files_style() -> None:
    files = tree(
        ("0001_init", rev("0001", None)),
        ("0002_add", rev("0002", "0001", annotated=True)),
        ("0003_more", rev("0003", "0002")),
    )
    graph = revisions(files, ["alembic/versions"])
    assert sorted(graph) == ["0001", "0002", "0003"]
    assert graph["0002"].down == ("0001",) and graph["0001"].down == ()
    assert heads(graph) == ["0003"]
    assert single_head("alembic.ini", files) == "0003"


def test_two_branches_are_two_heads_and_the_deploy_is_refused_naming_them() -> None:
    files = tree(
        ("0001_init", rev("0001", None)),
        ("0002_alice", rev("a2", "0001")),
        ("0002_bob", rev("b2", "0001", annotated=True)),
    )
    with pytest.raises(ConfigError) as refused:
        single_head("alembic.ini", files)
    assert "2 heads (a2, b2)" in refused.value.message
    assert "nothing was deployed" in refused.value.message
    assert refused.value.hint is not None and "alembic merge heads" in refused.value.hint


def test_a_merge_revision_joins_the_heads_again() -> None:
    files = tree(
        ("0001_init", rev("0001", None)),
        ("0002_alice", rev("a2", "0001")),
        ("0002_bob", rev("b2", "0001")),
        ("0003_merge", rev("m3", ("a2", "b2"), annotated=True)),
    )
    assert single_head("alembic.ini", files) == "m3"


def test_no_revision_yet_is_no_head_and_other_files_are_not_read() -> None:
    files = tree()
    files["alembic/versions/__init__.py"] = b""
    files["app/models.py"] = b'revision = "not a migration"\n'  # outside the versions directory
    assert single_head("alembic.ini", files) is None


def test_what_cannot_be_read_without_running_the_file_is_said_with_its_line() -> None:
    computed = b'import os\nrevision = os.environ["REV"]\ndown_revision = None\n'
    with pytest.raises(ConfigError, match=r"alembic/versions/x\.py:2: revision is not a literal"):
        single_head("alembic.ini", tree(("x", computed)))
    with pytest.raises(ConfigError, match=r"alembic/versions/y\.py:1: not valid Python"):
        single_head("alembic.ini", tree(("y", b"revision = (\n")))


def test_two_files_with_one_revision_id_are_refused() -> None:
    files = tree(("one", rev("0001", None)), ("two", rev("0001", None)))
    with pytest.raises(ConfigError, match=r"both declare revision '0001'"):
        single_head("alembic.ini", files)


def test_an_ini_the_release_does_not_hold_is_named() -> None:
    with pytest.raises(ConfigError, match=r"names db/alembic\.ini, which the release does not"):
        single_head("db/alembic.ini", tree())
