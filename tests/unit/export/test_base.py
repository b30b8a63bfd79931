"""`--update-base` against a registry on 127.0.0.1.

The registry is a stand-in for Docker Hub (which this machine cannot reach): a small
HTTP server speaking the distribution API's two requests conveyor makes, a manifest
HEAD answered 401 with a Bearer challenge, then the token endpoint it names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from conveyor.errors import ExportError
from conveyor.export.base import fetch_digest
from tests.conftest import Project

DIGEST = "sha256:" + "ab" * 32
TOKEN = "anonymous-pull-token"
TOML = """
[app]
name = "shop"
python = "3.11"

[services.web]
command = "uvicorn shop:app --port $PORT"
health = "/health"
roles = ["app"]
"""


class _Registry(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        return

    def do_HEAD(self) -> None:
        self.seen.append(f"HEAD {self.path} {self.headers.get('Authorization')}")
        if self.path != "/v2/library/python/manifests/3.11-slim-bookworm":
            self.send_response(404)
        elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            self.send_header(
                "WWW-Authenticate",
                f'Bearer realm="{host}/token",service="registry.test",'
                'scope="repository:library/python:pull"',
            )
        else:
            self.send_response(200)
            self.send_header("Docker-Content-Digest", DIGEST)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # A proxy in the way answers the token request with a page, not JSON.
    html: ClassVar[bool] = False

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        body = b"<html>proxy login</html>" if self.html else f'{{"token": "{TOKEN}"}}'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Registry.seen, _Registry.html = [], False
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_digest_follows_the_bearer_challenge(registry: str) -> None:
    assert fetch_digest("python:3.11-slim-bookworm", registry=registry) == DIGEST
    assert _Registry.seen == [
        "HEAD /v2/library/python/manifests/3.11-slim-bookworm None",
        "GET /token?service=registry.test&scope=repository%3Alibrary%2Fpython%3Apull",
        f"HEAD /v2/library/python/manifests/3.11-slim-bookworm Bearer {TOKEN}",
    ]


def test_an_unknown_tag_says_so(registry: str) -> None:
    with pytest.raises(ExportError) as caught:
        fetch_digest("python:2.7-slim-bookworm", registry=registry)
    assert str(caught.value) == (
        f"{registry}: no digest for python:2.7-slim-bookworm (HTTP 404); nothing was written\n"
        "check the tag exists for this Python version"
    )


def test_a_token_answer_that_is_not_json_is_an_error_not_a_traceback(registry: str) -> None:
    _Registry.html = True
    with pytest.raises(ExportError) as caught:
        fetch_digest("python:3.11-slim-bookworm", registry=registry)
    assert str(caught.value).startswith(
        f"{registry}: cannot ask for the digest of python:3.11-slim-bookworm ("
    )
    assert str(caught.value).endswith(
        "; nothing was written\ncheck the network, or pass --registry with a mirror you can reach"
    )


def test_an_unreachable_registry_says_so() -> None:
    with pytest.raises(ExportError) as caught:
        fetch_digest("python:3.11-slim-bookworm", registry="http://127.0.0.1:9", timeout=2)
    assert str(caught.value).startswith(
        "http://127.0.0.1:9: cannot ask for the digest of python:3.11-slim-bookworm ("
    )


def test_update_base_rewrites_the_pin_and_exports_keep_it(
    registry: str, make_project: Callable[..., Project]
) -> None:
    project = make_project({"conveyor.toml": TOML, "requirements.txt": "uvicorn==0.30.0\n"})
    assert project.run("export", "docker").code == 0
    dockerfile = project.root / "Dockerfile"
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9" in dockerfile.read_text()
    result = project.run("export", "docker", "--update-base", "--registry", registry)
    assert result.code == 0
    assert result.out.startswith("wrote Dockerfile\n.dockerignore is up to date\n")
    assert f"base image: python:3.11-slim-bookworm@{DIGEST}\n" in result.out
    pinned = f"ARG BASE_IMAGE=python:3.11-slim-bookworm@{DIGEST}\n"
    assert pinned in dockerfile.read_text()
    again = project.run("export", "docker")
    assert again.out.startswith("Dockerfile is up to date\n")
    assert project.run("export", "docker", "--check").out == "docker files are up to date\n"
    both = project.run("export", "docker", "--check", "--update-base")
    assert (both.code, both.err) == (
        1,
        "error: --check and --update-base cannot be used together; nothing was done\n",
    )
