"""A release's manifest.json: what it holds, typed, and the content id derived from it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1
ID_HASH_LENGTH = 12


def path_safe(version: str) -> str:
    """`version` as the start of a release id: "+" and other characters outside
    [A-Za-z0-9._-] are not safe in paths and URLs, so they become "_"."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", version)


def id_digest(release_id: str, version: str) -> str | None:
    """The content hash that ends `release_id` when it is `<version>-<hash>`, else None."""
    prefix = f"{path_safe(version)}-"
    digest = release_id[len(prefix) :]
    if version and release_id.startswith(prefix) and re.fullmatch(r"[0-9a-f]+", digest):
        return digest
    return None


@dataclass(frozen=True)
class ManifestFile:
    """One file of the release: path under `app/`, sha256 of its bytes, git mode, size."""

    path: str
    sha256: str
    mode: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Everything that defines a release; `built_at` is the only field not in its id."""

    app: str
    version: str
    commit: str
    commit_time: str
    python: str
    lock_hash: str
    lock_source: str
    files: tuple[ManifestFile, ...]
    built_at: str = ""
    format: int = FORMAT
    skipped: tuple[str, ...] = field(default=())

    def content(self) -> dict[str, Any]:
        """The manifest as JSON data without the time of the build."""
        data = asdict(self)
        del data["built_at"]
        return data

    def release_id(self) -> str:
        """`<version>-<12 hex>`: the same commit and lock give the same id, on any machine."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:ID_HASH_LENGTH]
        return f"{path_safe(self.version)}-{digest}"

    def to_json(self) -> str:
        """manifest.json's text: sorted keys, indented, ending in a newline."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read manifest.json; KeyError or TypeError when it is not one of ours."""
        data = json.loads(text)
        files = tuple(ManifestFile(**f) for f in data.pop("files"))
        skipped = tuple(data.pop("skipped", ()))
        return cls(**data, files=files, skipped=skipped)
