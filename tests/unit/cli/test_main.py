"""The CLI boundary: help, pending commands, exit codes, no tracebacks for known failures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from conveyor import __version__
from conveyor.cli import app, main
from conveyor.cli.pending import PENDING
from tests.conftest import Project


def test_help_lists_every_command_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ["init", "config", "schema", "demo", *PENDING]:
        assert f"  {name} " in out
    assert "(not available yet)" in out or "not available" in out


PLACEHOLDERS = sorted(
    command.name
    for command in app.registered_commands
    if command.name and getattr(command.callback, "__name__", "").endswith("_pending")
)


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_pending_commands_say_so_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "production", "--whatever"]) == 2
    err = capsys.readouterr().err
    assert f'error: "conveyor {name}" is not available yet in conveyor {__version__}.' in err
    assert "Nothing was done. Available now: " in err
    assert "config" in err.split("Available now: ")[1]
    assert name not in err.split("Available now: ")[1]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"conveyor {__version__}\n"


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check"]) == 2
    assert "Error: Missing argument 'ENV'." in capsys.readouterr().err


def test_no_project_is_a_clear_error(make_project: Callable[..., Project]) -> None:
    project = make_project()
    result = project.run("config", "check", "production")
    assert result.code == 1
    assert result.err == (
        f"error: no conveyor.toml found in {project.root} or its parents\n"
        'run "conveyor init" to create one\n'
    )


def test_ctrl_c_exits_130(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("conveyor.cli.config.load_project", interrupted)
    result = make_project().run("config", "check", "production")
    assert result.code == 130
    assert result.err == "interrupted\n"


def test_a_bug_prints_the_traceback_and_says_it_is_a_bug(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("conveyor.cli.config.load_project", broken)
    result = make_project().run("config", "check", "production")
    assert result.code == 3
    assert "RuntimeError: boom" in result.err
    assert "a bug, not your fault" in result.err


def test_console_script_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "not available yet" in done.stderr
    assert "Traceback" not in done.stderr
