"""A host written as a table, deployed over a real sshd: app_dir under the SSH user's home
("~" expanded by the host) and a listen address of its own."""

from __future__ import annotations

import pwd
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conveyor.demo.deploys import stop_supervisors
from conveyor.demo.ports import free_pair
from tests.integration.deployed import DeployProject
from tests.integration.sshd import Sshd


@pytest.fixture
def home_dir(sshd: Sshd) -> Iterator[tuple[str, Path]]:
    """A directory of this test under the SSH user's home: ("~/cv-...", its real path)."""
    name = f"cv-{secrets.token_hex(4)}"
    base = Path(pwd.getpwnam(sshd.user).pw_dir) / name
    base.mkdir()
    try:
        yield f"~/{name}", base
    finally:
        stop_supervisors(base)
        shutil.rmtree(base, ignore_errors=True)


def test_a_host_table_deploys_under_the_ssh_users_home_on_its_own_listen(
    make_deploy_project: Callable[..., DeployProject],
    sshd: Sshd,
    home_dir: tuple[str, Path],
) -> None:
    written, real = home_dir
    args = ("--known-hosts", str(sshd.known_hosts), "--identity", str(sshd.identity))
    project = make_deploy_project(hosts=[sshd.spec], ssh_args=args)
    own = free_pair()
    toml = project.root / "conveyor.toml"
    text = toml.read_text()
    plain = f'hosts = {{ web = ["{sshd.spec}"] }}'
    assert plain in text
    table = f'{{ host = "{sshd.spec}", app_dir = "{written}/app", listen = "127.0.0.1:{own}" }}'
    toml.write_text(text.replace(plain, f"hosts = {{ web = [{table}] }}"))
    (real / "app").mkdir()
    (real / "app" / "tools").symlink_to(project.tools)  # the shared tools: no install
    project.commit("ok")

    dry = project.deploy("--dry-run")
    assert dry.code == 0, dry.out + dry.err
    assert f"Caddy on 127.0.0.1:{own} -> port {project.port}" in dry.out
    result = project.deploy()
    assert result.code == 0, result.out + result.err
    # "~" is the SSH user's home on the host, expanded there: never a directory named "~".
    assert (real / "app" / "state.json").is_file()
    assert not (project.root / "~").exists() and not Path("~").exists()
    served = httpx.get(f"http://127.0.0.1:{own}/health", timeout=5).json()
    assert served["color"] == "blue"
    with pytest.raises(httpx.ConnectError):
        httpx.get(project.url, timeout=2)  # the service's own listen is replaced on this host

    status = project.run("status", "staging", *args)
    assert status.code == 0, status.out + status.err
    project.commit("ok")
    assert project.deploy().code == 0
    assert httpx.get(f"http://127.0.0.1:{own}/health", timeout=5).json()["color"] == "green"
    back = project.run("rollback", "staging", *args)
    assert back.code == 0, back.out + back.err
    assert httpx.get(f"http://127.0.0.1:{own}/health", timeout=5).json()["color"] == "blue"
