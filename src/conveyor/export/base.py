"""The Dockerfile's base image: a tag pinned by digest, and asking a registry for the digest.

The pin lives in one line of the user's generated Dockerfile (`ARG BASE_IMAGE=...`);
exporting again keeps it, and `conveyor export docker --update-base` replaces it with
the digest the registry serves for the tag now. `DIGESTS` are the pins a first export
starts from, one per Python version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.errors import ExportError

if TYPE_CHECKING:
    import httpx

# Multi-platform index digests of Docker Hub's official python images, as pinned in
# public Dockerfiles; refresh them (and your own pin) with `conveyor export docker --update-base`.
DIGESTS = {
    "3.10": "sha256:68d914ec641a0b69267ce65184d000a2bc3a9ee2590ab702b82250ab2385735a",
    "3.11": "sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b",
    "3.12": "sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254",
    "3.13": "sha256:01f42367a0a94ad4bc17111776fd66e3500c1d87c15bbd6055b7371d39c124fb",
}
REGISTRY = "https://registry-1.docker.io"
REPOSITORY = "library/python"
ARG = "BASE_IMAGE"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PIN_LINE = re.compile(rf"^ARG {ARG}=(?P<tag>python:\S+?)@(?P<digest>sha256:[0-9a-f]{{64}})$", re.M)
# Index formats first: one digest for every platform the tag is built for.
_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@dataclass(frozen=True)
class BaseImage:
    """`python:3.11-slim-bookworm` at `sha256:...`."""

    tag: str
    digest: str

    @property
    def reference(self) -> str:
        """The pinned reference a FROM line uses."""
        return f"{self.tag}@{self.digest}"


def image_tag(python: str) -> str:
    """The official slim Debian 12 image of a Python version."""
    return f"python:{python}-slim-bookworm"


def pinned_in(dockerfile: str | None) -> BaseImage | None:
    """The pin of an earlier export's Dockerfile text, or None."""
    match = _PIN_LINE.search(dockerfile or "")
    return BaseImage(match["tag"], match["digest"]) if match else None


def choose_base(python: str, dockerfile: str | None) -> BaseImage:
    """The Dockerfile's own pin when it is for this Python; else conveyor's pin for it."""
    tag = image_tag(python)
    earlier = pinned_in(dockerfile)
    if earlier is not None and earlier.tag == tag:
        return earlier
    if python in DIGESTS:
        return BaseImage(tag, DIGESTS[python])
    raise ExportError(
        f"conveyor has no pinned digest for {tag}; nothing was written",
        hint="run: conveyor export docker --update-base (asks the registry for the digest)",
    )


def fetch_digest(tag: str, *, registry: str = REGISTRY, timeout: float = 20.0) -> str:
    """The digest `registry` serves for `tag` now (anonymous pull token when asked for one)."""
    import httpx  # here: only a digest update talks to a registry, every command imports this

    name = tag.split(":", 1)[1]
    url = f"{registry.rstrip('/')}/v2/{REPOSITORY}/manifests/{name}"
    headers = {"Accept": _ACCEPT}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.head(url, headers=headers)
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code == 401 and challenge.lower().startswith("bearer "):
                token = _token(client, challenge)
                headers["Authorization"] = f"Bearer {token}"
                response = client.head(url, headers=headers)
    except (httpx.HTTPError, ValueError) as error:  # ValueError: a token answer not JSON
        raise ExportError(
            f"{registry}: cannot ask for the digest of {tag} ({error}); nothing was written",
            hint="check the network, or pass --registry with a mirror you can reach",
        ) from None
    digest = str(response.headers.get("docker-content-digest", ""))
    if response.status_code != 200 or not _DIGEST.match(digest):
        raise ExportError(
            f"{registry}: no digest for {tag} (HTTP {response.status_code}); nothing was written",
            hint="check the tag exists for this Python version",
        )
    return digest


def _token(client: httpx.Client, challenge: str) -> str:
    """An anonymous token from the realm a registry's Bearer challenge names."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.pop("realm", "")
    response = client.get(realm, params=fields)
    response.raise_for_status()
    body = response.json()
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise ValueError(f"{realm} answered without a token")
    return token
