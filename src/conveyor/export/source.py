"""Where CI installs Conveyor from: the same Conveyor that generated the workflow."""

from __future__ import annotations

import json
import re
from importlib import metadata

from conveyor.errors import ExportError
from conveyor.project.model import ConveyorConfig

# What `conveyor export github` tells a user who has to say where Conveyor comes from.
HOW = (
    'set [export] conveyor = "git+https://<host>/<owner>/conveyor@<commit>" in conveyor.toml, '
    "or pass --conveyor-source (any pip requirement: a git URL at a commit, a wheel URL)"
)


def installed_source(distribution: str = "conveyor") -> str | None:
    """`git+<url>@<commit>` when this Conveyor was installed from git (PEP 610), else None."""
    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    data = json.loads(text)
    vcs = data.get("vcs_info") or {}
    if vcs.get("vcs") != "git" or not vcs.get("commit_id"):
        return None
    source = f"git+{data['url']}@{vcs['commit_id']}"
    subdirectory = data.get("subdirectory")
    return f"{source}#subdirectory={subdirectory}" if subdirectory else source


def _installed_from(distribution: str = "conveyor") -> str:
    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return "not installed as a package"
    if not text:
        return "installed from a package index, where no Conveyor is published"
    data = json.loads(text)
    editable = " (editable)" if (data.get("dir_info") or {}).get("editable") else ""
    return f"installed from {data.get('url', 'an unknown place')}{editable}"


def conveyor_source(config: ConveyorConfig, *, option: str | None) -> str:
    """The pip requirement CI installs Conveyor from: `--conveyor-source`, then
    `[export] conveyor`, then where this Conveyor was installed from, if that was git."""
    configured = config.export.conveyor
    for given, where in ((option, "--conveyor-source"), (configured, "export.conveyor")):
        if given is not None:
            if not given.strip() or re.search(r"\s", given):
                raise ExportError(
                    f"{where}: expected a pip requirement without spaces, got {json.dumps(given)}",
                    hint=HOW,
                )
            return given
    found = installed_source()
    if found is not None:
        return found
    raise ExportError(
        f"export github: the workflows install Conveyor, but this Conveyor was "
        f"{_installed_from()}, a source CI cannot install from",
        hint=f"to say where CI gets Conveyor, {HOW}",
    )
