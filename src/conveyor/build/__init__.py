"""Releases: version from git, locked requirements, the commit's files, a content id.

`build_release()` turns a commit into `.conveyor/releases/<id>/` (`app/`,
`requirements.lock`, `manifest.json`); the same commit gives the same id. This
package imports without typer or rich.
"""

from __future__ import annotations

from conveyor.build.lock import Lock
from conveyor.build.manifest import Manifest, ManifestFile
from conveyor.build.release import (
    Prepared,
    Release,
    build_release,
    list_releases,
    load_release,
    prepare_release,
    write_release,
)

__all__ = [
    "Lock",
    "Manifest",
    "ManifestFile",
    "Prepared",
    "Release",
    "build_release",
    "list_releases",
    "load_release",
    "prepare_release",
    "write_release",
]
