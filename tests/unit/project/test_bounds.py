"""Bad input that used to get through: sync targets, sizes, nesting, lengths — word for word."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.unit.project.toml_files import error, load

APP = '[app]\nname = "shop"\n'
WHY = 'a sync writes files into it and deletes the ones it wrote before: give it a directory of its own, e.g. "/opt/airflow/dags"'


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _sync(to: str) -> str:
    return APP + f'[services.dags]\nsync = {{ from = "dags", to = "{to}" }}\nroles = ["app"]\n'


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("/", f'"/" is the root directory; {WHY}'),
        ("/srv/../", f'"/srv/../" is the root directory; {WHY}'),
        ("//", f'"//" is the root directory; {WHY}'),
        ("/etc", f'"/etc" is in the system directory /etc; {WHY}'),
        ("/usr/local/lib/x", f'"/usr/local/lib/x" is in the system directory /usr; {WHY}'),
        (
            "/opt/app/../../proc/1",
            f'"/opt/app/../../proc/1" (/proc/1) is in the system directory /proc; {WHY}',
        ),
        (
            "/var/lib/dpkg/info",
            f'"/var/lib/dpkg/info" is in the system directory /var/lib/dpkg; {WHY}',
        ),
        ("/opt", f'"/opt" is a top-level directory, shared with others; {WHY}'),
        (
            "/srv/app/..",
            f'"/srv/app/.." (/srv) is a top-level directory, shared with others; {WHY}',
        ),
    ],
)
def test_a_sync_target_outside_a_directory_of_its_own_is_refused(
    tmp_path: Path, to: str, message: str
) -> None:
    assert error(tmp_path, _sync(to)) == f"conveyor.toml:4: services.dags.sync.to: {message}"


@pytest.mark.parametrize(
    "to", ["/opt/airflow/dags", "/srv/shop/dags", "/var/www/shop", "/home/deploy/dags"]
)
def test_a_sync_target_of_its_own_is_accepted(tmp_path: Path, to: str) -> None:
    config = load(tmp_path, _sync(to))
    assert config.services["dags"].sync is not None
    assert config.services["dags"].sync.to == to


def test_deeply_nested_arrays_are_refused_without_a_traceback(
    make_project: Callable[..., Project],
) -> None:
    project = make_project({"conveyor.toml": APP + "x = " + "[" * 5000 + "]" * 5000 + "\n"})
    result = project.run("config", "show", "development")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "error: project/conveyor.toml: arrays or tables are nested too deeply to read "
        "(a configuration may nest at most 32 levels); flatten them\n"
    )


def test_nesting_the_parser_reads_is_still_bounded(tmp_path: Path) -> None:
    text = (
        APP + '[environments.dev]\nhosts = { app = ["local"] }\nx = ' + "[" * 40 + "]" * 40 + "\n"
    )
    assert error(tmp_path, text) == (
        "conveyor.toml:5: environments.dev.x: nested more than 32 levels deep; flatten it"
    )


def test_a_megabyte_file_is_refused(tmp_path: Path) -> None:
    text = APP.replace('"shop"', '"' + "a" * 1_000_000 + '"')
    assert error(tmp_path, text) == (
        "conveyor.toml: is 1,000,016 bytes; a configuration file may be at most "
        "524,288 bytes (512 KiB)"
    )


def test_a_long_string_is_refused_naming_its_key(tmp_path: Path) -> None:
    text = APP + '[services.web]\ncommand = "' + "x" * 5000 + '"\nroles = ["app"]\n'
    assert error(tmp_path, text) == (
        "conveyor.toml:4: services.web.command: is 5,000 characters long; at most 4,096 are allowed"
    )


def test_a_name_longer_than_63_characters_is_refused(tmp_path: Path) -> None:
    text = '[app]\nname = "' + "a" * 100 + '"\n'
    assert (
        error(tmp_path, text)
        == "conveyor.toml:2: app.name: expected at most 63 characters, got 100"
    )


def test_a_pyproject_is_bounded_too(tmp_path: Path) -> None:
    text = '[tool.conveyor.app]\nname = "' + "a" * 5000 + '"\n'
    assert error(tmp_path, text, name="pyproject.toml") == (
        "pyproject.toml:2: tool.conveyor.app.name: is 5,000 characters long; "
        "at most 4,096 are allowed"
    )
