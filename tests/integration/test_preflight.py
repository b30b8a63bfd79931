"""What a deploy refuses before it touches a host, its --dry-run refuses the same way.

Real parts only: git projects, real sshd (one without the sftp subsystem, known_hosts
files with changed and @revoked keys), real deploys to a local host started at once.
"""

from __future__ import annotations

import getpass
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.integration.deployed import GIT, DeployProject
from tests.integration.sshd import Sshd

CONVEYOR = Path(sys.executable).parent / "conveyor"


def both(project: DeployProject) -> tuple[Result, Result]:
    """`deploy --dry-run`, then the deploy itself."""
    return project.deploy("--dry-run"), project.deploy()


def assert_refused_alike(dry: Result, real: Result, expected: str) -> None:
    """Both exit 1 with the same message (no traceback), and it is `expected`."""
    assert (dry.code, real.code) == (1, 1), dry.out + dry.err + real.out + real.err
    assert dry.out == ""
    assert dry.err == expected
    assert real.err.endswith(expected), real.err
    assert "Traceback" not in dry.err + real.err


def fingerprint(sshd: Sshd) -> str:
    """SHA256:... of the sshd's host key, from ssh-keygen."""
    pub = sshd.log.parent / "ssh_host_ed25519_key.pub"
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True)
    return out.stdout.split()[1]


def ssh_project(
    make_deploy_project: Callable[..., DeployProject], sshd: Sshd, known_hosts: Path
) -> DeployProject:
    args = ("--known-hosts", str(known_hosts), "--identity", str(sshd.identity))
    project = make_deploy_project(hosts=[sshd.spec], ssh_args=args)
    project.app_dir(sshd.host)
    return project


def test_a_dirty_tree_fails_the_dry_run_as_it_fails_the_deploy(local: DeployProject) -> None:
    (local.root / "MODE").write_text("500\n")
    dry, real = both(local)
    assert_refused_alike(
        dry,
        real,
        "error: the working tree has uncommitted changes to 1 tracked file(s) (MODE); "
        'a release for "staging" is built from a commit only, so nothing was built\n'
        "commit or stash your changes, or build for development\n",
    )
    assert not list(local.hosts_dir.glob("*/releases"))


def test_migrations_with_two_heads_fail_the_dry_run_as_they_fail_the_deploy(
    local: DeployProject,
) -> None:
    """Two people each added a revision on the same parent: `alembic upgrade head` would
    refuse on the host after the upload, so the deploy refuses before touching it."""
    versions = local.root / "alembic" / "versions"
    versions.mkdir(parents=True)
    (local.root / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")
    for name, rid, down in [("0001_init", "0001", None), ("0002_a", "a2", "0001"),
                            ("0002_b", "b2", "0001")]:  # fmt: skip
        (versions / f"{name}.py").write_text(f"revision = {rid!r}\ndown_revision = {down!r}\n")
    toml = local.root / "conveyor.toml"
    toml.write_text(toml.read_text() + '\n[migrations]\nconfig = "alembic.ini"\nrun_on = "web"\n')
    local.commit("ok")
    dry, real = both(local)
    assert_refused_alike(
        dry,
        real,
        "error: the migrations of this release have 2 heads (a2, b2): `alembic upgrade head` "
        "would refuse to choose; nothing was deployed\n"
        "merge them: alembic merge heads -m merge, commit the new revision, deploy\n",
    )
    assert not list(local.hosts_dir.glob("*/releases"))


def test_unpinned_requirements_fail_the_dry_run_naming_the_environment(
    local: DeployProject,
) -> None:
    (local.root / "requirements.txt").write_text("httpx\n")
    local.commit("ok")
    dry, real = both(local)
    assert_refused_alike(
        dry,
        real,
        "error: requirements.txt:1: httpx is not pinned (use httpx==X.Y.Z); "
        'a release for staging (tier "staging") must be reproducible\n'
        "nothing was built; pin every requirement, or build for a development environment\n",
    )


def test_a_tracked_env_file_is_never_shipped(local: DeployProject) -> None:
    """Another environment's file, force-added: staging's own check never looks at it."""
    (local.root / ".env.production").write_text("API_TOKEN=Qm3xR8tLw2Zp6Vb1Nc5Hy9Kd4Fs7Gj0a\n")
    subprocess.run(["git", "add", "-f", ".env.production"], cwd=local.root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "oops"], cwd=local.root, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"],
        cwd=local.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dry, real = both(local)
    assert_refused_alike(
        dry,
        real,
        f"error: .env.production is tracked by git (commit {commit}): a release never ships "
        "an environment file (its values go to each host's shared/.env), so nothing was built\n"
        "run: git rm --cached .env.production and add it to .gitignore, then commit\n",
    )
    assert not list((local.root / ".conveyor" / "releases").glob("[!.]*"))


def test_an_unknown_host_key_fails_the_dry_run(
    make_deploy_project: Callable[..., DeployProject], sshd: Sshd, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    dry, real = both(ssh_project(make_deploy_project, sshd, empty))
    assert_refused_alike(
        dry,
        real,
        f"error: the host key of {sshd.spec} ({sshd.host}:{sshd.port}) is not in {empty}; "
        "conveyor did not connect.\n"
        f"It offers an ssh-ed25519 key with fingerprint {fingerprint(sshd)}.\n"
        "Verify that fingerprint out of band (on the host: ssh-keygen -lf "
        "/etc/ssh/ssh_host_*_key.pub), then trust it:\n"
        f"    ssh-keyscan -p {sshd.port} {sshd.host} >> {empty}\n",
    )


def test_a_changed_host_key_fails_the_dry_run(
    make_deploy_project: Callable[..., DeployProject], sshd: Sshd, tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    stale = tmp_path / "stale_known_hosts"
    entry = f"[{sshd.host}]:{sshd.port}"
    stale.write_text(f"{entry} {Path(f'{other}.pub').read_text()}")
    dry, real = both(ssh_project(make_deploy_project, sshd, stale))
    assert_refused_alike(
        dry,
        real,
        f"error: WARNING: the host key of {sshd.spec} ({sshd.host}:{sshd.port}) has CHANGED; "
        "conveyor refused to connect.\n"
        f"{stale} holds a different key for it; it now offers an ssh-ed25519 key with "
        f"fingerprint {fingerprint(sshd)}.\n"
        "Someone may be intercepting the connection (man-in-the-middle), or the host was "
        "reinstalled.\n"
        "Only if you have verified the new fingerprint out of band (on the host: ssh-keygen "
        "-lf /etc/ssh/ssh_host_*_key.pub), replace the old entry:\n"
        f"    ssh-keygen -R '{entry}' -f {stale}\n"
        f"    ssh-keyscan -p {sshd.port} {sshd.host} >> {stale}\n",
    )


def test_a_revoked_host_key_is_named_revoked_and_never_offered_back(
    make_deploy_project: Callable[..., DeployProject], sshd: Sshd, tmp_path: Path
) -> None:
    revoked = tmp_path / "revoked_known_hosts"
    # The host's real key, trusted and revoked: revoked wins, as in OpenSSH.
    scanned = sshd.known_hosts.read_text()
    revoked.write_text(scanned + "".join(f"@revoked {line}\n" for line in scanned.splitlines()))
    dry, real = both(ssh_project(make_deploy_project, sshd, revoked))
    assert_refused_alike(
        dry,
        real,
        f"error: the host key of {sshd.spec} ({sshd.host}:{sshd.port}) is REVOKED: {revoked} "
        f"marks its key (ssh-ed25519 {fingerprint(sshd)}) @revoked; conveyor refused to "
        "connect.\n"
        "A revoked key is never to be trusted again: keep the @revoked line. The host needs "
        "new host keys (whoever runs it regenerates them); then verify the new fingerprint "
        "out of band before adding it.\n",
    )
    assert "ssh-keyscan" not in dry.err + real.err


@pytest.fixture(scope="module")
def sshd_without_sftp(sshd_factory: Callable[..., Sshd]) -> Sshd:
    """A real sshd whose config has no `Subsystem sftp` line."""
    return sshd_factory(sftp=False)


def test_a_host_without_sftp_is_one_line_naming_the_host_and_the_requirement(
    make_deploy_project: Callable[..., DeployProject], sshd_without_sftp: Sshd
) -> None:
    sshd = sshd_without_sftp
    dry, real = both(ssh_project(make_deploy_project, sshd, sshd.known_hosts))
    assert_refused_alike(
        dry,
        real,
        f"error: {sshd.spec} ({sshd.host}:{sshd.port}) refused SFTP: conveyor needs an sshd "
        "with the sftp subsystem\n"
        "On the host, add `Subsystem sftp internal-sftp` to /etc/ssh/sshd_config and reload "
        "sshd.\n",
    )


def test_two_deploys_started_at_once_one_deploys_the_other_meets_the_lock(
    local: DeployProject,
) -> None:
    argv = [str(CONVEYOR), "-C", str(local.root), "deploy", "staging"]
    started = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    done = [(*p.communicate(timeout=300), p.returncode, p.pid) for p in started]
    assert sorted(code for _, _, code, _ in done) == [0, 1], done
    (won, _, _, pid), (_, lost, _, _) = sorted(done, key=lambda d: d[2])
    assert "deployed: staging now runs 0.0.0+1.g" in won
    who = f"{getpass.getuser()} on {socket.gethostname()} (pid {pid})"
    assert re.fullmatch(
        f"error: staging is locked on local by {re.escape(who)} since "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, deploy \S+; last heartbeat [^\n]+ ago\n"
        "a deploy is running: wait for it \\(conveyor status staging\\); if you are sure its "
        "process is gone, break the lock: conveyor unlock staging --force\n",
        lost,
    ), lost
    assert local.get()["version"].startswith("0.0.0+1.g")
    # One release, built once and reused; no temporary directory is left behind.
    releases = local.root / ".conveyor" / "releases"
    assert len(list(releases.glob("[!.]*"))) == 1
    assert not list(releases.glob(".tmp-*"))


def test_a_host_python_older_than_requires_python_fails_the_dry_run(local: DeployProject) -> None:
    """The host's python3 must meet pyproject's requires-python; the dry run finds out too."""
    argv = ["python3", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]
    version = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    pyproject = f'[project]\nname = "tiny"\nversion = "1"\nrequires-python = ">{version}"\n'
    (local.root / "pyproject.toml").write_text(pyproject)
    subprocess.run([*GIT, "add", "pyproject.toml"], cwd=local.root, check=True)
    local.commit("ok")
    dry, real = both(local)
    message = (
        f"error: local: python3 is Python {version}, but the project requires Python "
        f">{version} (pyproject.toml requires-python); nothing was changed\n"
        "install a Python that meets it on the host, or set [app] python in conveyor.toml "
        "to a version the host has that meets it\n"
    )
    assert (dry.code, dry.out, dry.err) == (1, "", message)
    assert real.code == 1
    assert f"local: python3 is Python {version}, but the project requires" in real.out + real.err
    assert not list(local.hosts_dir.glob("*/venvs/*/bin"))
