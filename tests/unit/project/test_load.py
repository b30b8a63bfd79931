"""Finding and reading conveyor.toml or `[tool.conveyor]`: locations, syntax, file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import ConfigError
from conveyor.project import Project, load_config_file, load_project
from tests.unit.project.toml_files import error, write

VALID = '[app]\nname = "shop"\n'


def test_finds_conveyor_toml_in_the_start_directory(tmp_path: Path) -> None:
    path = write(tmp_path, "conveyor.toml", VALID)
    project = load_project(tmp_path)
    assert project == Project(
        root=tmp_path.resolve(), config_path=path.resolve(), config=project.config
    )
    assert project.config.app.name == "shop"


def test_finds_conveyor_toml_in_a_parent(tmp_path: Path) -> None:
    write(tmp_path, "conveyor.toml", VALID)
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    project = load_project(tmp_path / "src" / "pkg")
    assert project.root == tmp_path.resolve()


def test_start_defaults_to_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "conveyor.toml", VALID)
    monkeypatch.chdir(tmp_path)
    assert load_project().root == tmp_path.resolve()


def test_start_may_be_the_file_itself(tmp_path: Path) -> None:
    path = write(tmp_path, "conf/staging.toml", VALID)
    assert load_project(path).config_path == path.resolve()


def test_reads_tool_conveyor_in_pyproject(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "shop"\n\n[tool.conveyor.app]\nname = "shop"\n',
    )
    project = load_project(tmp_path)
    assert project.config_path == (tmp_path / "pyproject.toml").resolve()
    assert project.config.app.name == "shop"


def test_conveyor_toml_wins_over_pyproject_in_the_same_directory(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.conveyor.app]\nname = "other"\n')
    write(tmp_path, "conveyor.toml", VALID)
    assert load_project(tmp_path).config.app.name == "shop"


def test_a_pyproject_without_tool_conveyor_is_passed_over(tmp_path: Path) -> None:
    write(tmp_path, "conveyor.toml", VALID)
    write(
        tmp_path, "lib/pyproject.toml", '[project]\nname = "lib"\n[tool.ruff]\nline-length = 99\n'
    )
    assert load_project(tmp_path / "lib").config_path == (tmp_path / "conveyor.toml").resolve()


def test_the_nearest_pyproject_with_tool_conveyor_wins_over_a_parent(tmp_path: Path) -> None:
    write(tmp_path, "conveyor.toml", '[app]\nname = "outer"\n')
    write(tmp_path, "inner/pyproject.toml", '[tool.conveyor.app]\nname = "inner"\n')
    assert load_project(tmp_path / "inner").config.app.name == "inner"


def test_errors_in_pyproject_carry_the_tool_conveyor_prefix_and_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        '[project]\nname = "shop"\nversion = "1.0"\n\n[tool.ruff]\nline-length = 100\n\n'
        '[tool.conveyor.app]\nname = "Shop"\nnmae = "x"\n\n'
        "[tool.conveyor.environments.staging]\n"
        'hosts = { web = ["app 1"] }\n'
    )
    assert error(tmp_path, text, name="pyproject.toml") == (
        'pyproject.toml:9: tool.conveyor.app.name: expected lowercase letters, digits, "-" or "_",'
        ' got "Shop"\n'
        'pyproject.toml:10: tool.conveyor.app.nmae: unknown key (did you mean "name"?)\n'
        "pyproject.toml:13: tool.conveyor.environments.staging.hosts.web[0]: "
        'expected "user@host", "user@host:port" or "local", got "app 1"'
    )


def test_a_missing_key_in_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = '[tool.conveyor.app]\npython = "3.11"\n'
    assert error(tmp_path, text, name="pyproject.toml") == (
        "pyproject.toml: tool.conveyor.app.name: required key is missing"
    )


def test_tool_conveyor_that_is_not_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = '[project]\nname = "x"\n[tool]\nconveyor = 3\n'
    assert error(tmp_path, text, name="pyproject.toml") == (
        "pyproject.toml:4: tool.conveyor: expected a table, got 3"
    )


def test_loading_a_pyproject_without_tool_conveyor_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert str(caught.value) == (
        'pyproject.toml: no [tool.conveyor] table\nrun "conveyor init" to create one'
    )


def test_no_config_anywhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    start = tmp_path.resolve()
    assert caught.value.message == f"no conveyor.toml found in {start} or its parents"
    assert caught.value.hint == 'run "conveyor init" to create one'


def test_invalid_toml_names_the_line_without_tomllibs_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = '[app]\nname = "shop"\n\n[checks]\ncoverage = 90\n\nuse = ["ruff" "mypy"]\n'
    assert error(tmp_path, text) == "conveyor.toml:7: invalid TOML: Unclosed array"


def test_invalid_toml_duplicate_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert error(tmp_path, '[app]\nname = "a"\n[app]\n') == (
        "conveyor.toml:3: invalid TOML: Cannot declare ('app',) twice"
    )


def test_invalid_toml_at_the_end_points_at_the_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert error(tmp_path, '[app]\nname = "shop') == (
        "conveyor.toml:2: invalid TOML: Unterminated string"
    )


def test_invalid_toml_in_pyproject_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert error(tmp_path, "[project\n", name="pyproject.toml").startswith(
        "pyproject.toml:1: invalid TOML: "
    )


def test_a_file_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conveyor.toml").write_bytes(b'[app]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert str(caught.value) == "conveyor.toml: cannot read: not UTF-8 (byte 17)"


def test_a_file_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conveyor.d").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config_file(tmp_path / "conveyor.d")
    assert str(caught.value) == "conveyor.d: cannot read: Is a directory"


def test_the_path_is_relative_to_the_cwd_inside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "shop/conveyor.toml", "[app]\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path / "shop")
    assert str(caught.value) == "shop/conveyor.toml: app.name: required key is missing"


def test_the_path_is_absolute_outside_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "conveyor.toml", "[app]\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ConfigError) as caught:
        load_project()
    absolute = (tmp_path / "conveyor.toml").resolve()
    assert str(caught.value) == f"{absolute}: app.name: required key is missing"
