"""Where the generated workflows install Conveyor from, read from real package metadata."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor.errors import ConfigError, ExportError
from conveyor.export.github import ci_workflow, deploy_workflow, install_command, write
from conveyor.export.source import installed_source
from conveyor.project.load import load_project
from tests.unit.export.lint import actionlint

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOML = """
[app]
name = "shop"
{export}
[environments.staging]
branch = "develop"
hosts = {{ app = ["deploy@stage-1"] }}
"""


def _project(tmp_path: Path, export: str = "") -> Any:
    (tmp_path / "conveyor.toml").write_text(textwrap.dedent(TOML.format(export=export)))
    return load_project(tmp_path)


def _installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct_url: object) -> None:
    """A Conveyor distribution found first on sys.path, with this PEP 610 direct_url.json."""
    site = tmp_path / "site"
    info = site / "conveyor-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: conveyor\nVersion: 0.1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    monkeypatch.syspath_prepend(str(site))


def _install_steps(project: Any, **options: str) -> list[str]:
    runs = []
    for generated in (ci_workflow(project, **options), deploy_workflow(project, **options)):
        assert generated is not None
        data = yaml.safe_load(generated.text)
        runs += [
            s["run"]
            for job in data["jobs"].values()
            for s in job["steps"]
            if s.get("name") == "Install"
        ]
    return runs


def test_the_install_step_installs_exactly_the_configured_source(tmp_path: Path) -> None:
    source = f"git+https://git.example.org/team/conveyor.git@{COMMIT}"
    project = _project(tmp_path, f'[export]\nconveyor = "{source}"\n')
    assert _install_steps(project) == [f"python -m pip install {source} ruff mypy pytest"] * 2
    for generated in (ci_workflow(project), deploy_workflow(project)):
        assert generated is not None
        write(tmp_path, generated)
    done = actionlint(*sorted((tmp_path / ".github/workflows").glob("*.yml")))
    assert (done.returncode, done.stdout) == (0, "")


def test_the_option_wins_over_the_key(tmp_path: Path) -> None:
    project = _project(tmp_path, '[export]\nconveyor = "git+https://a.example/c@1"\n')
    wheel = "https://files.example.org/conveyor-0.1.0-py3-none-any.whl"
    assert (
        _install_steps(project, conveyor_source=wheel)
        == [f"python -m pip install {wheel} ruff mypy pytest"] * 2
    )


def test_a_conveyor_installed_from_git_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://github.com/team/conveyor.git"
    _installed(
        tmp_path,
        monkeypatch,
        {"url": url, "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "main"}},
    )
    assert installed_source() == f"git+{url}@{COMMIT}"
    project = _project(tmp_path)
    assert install_command(project) == f"python -m pip install git+{url}@{COMMIT} ruff mypy pytest"


def test_an_editable_conveyor_is_refused_saying_how_to_set_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed(
        tmp_path, monkeypatch, {"url": "file:///work/conveyor", "dir_info": {"editable": True}}
    )
    project = _project(tmp_path)
    with pytest.raises(ExportError) as raised:
        ci_workflow(project)
    assert str(raised.value) == (
        "export github: the workflows install Conveyor, but this Conveyor was installed from "
        "file:///work/conveyor (editable), a source CI cannot install from\n"
        'to say where CI gets Conveyor, set [export] conveyor = "git+https://<host>/<owner>/'
        'conveyor@<commit>" in conveyor.toml, or pass --conveyor-source (any pip requirement: '
        "a git URL at a commit, a wheel URL)"
    )


def test_a_conveyor_from_an_index_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed(tmp_path, monkeypatch, None)
    with pytest.raises(ExportError, match="installed from a package index, where no Conveyor"):
        install_command(_project(tmp_path))


def test_a_source_with_spaces_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _project(tmp_path, '[export]\nconveyor = "conveyor @ git+https://x"\n')
    assert str(raised.value).splitlines()[0] == (
        f"{tmp_path / 'conveyor.toml'}:5: export.conveyor: expected a pip requirement without spaces, "
        'e.g. "git+https://...@<commit>", got "conveyor @ git+https://x"'
    )
