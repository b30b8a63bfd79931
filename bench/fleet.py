"""Scale benchmark: the example app deployed to 1, 5, 20 and 50 SSH hosts.

    sudo .venv/bin/python bench/fleet.py              # root: network namespaces, an account
    sudo .venv/bin/python bench/fleet.py --sizes 1,5  # a quick run

Each host is a Linux network namespace with its own loopback and its own real
sshd (bench/netns.py); conveyor logs in as a plain account made for the run.
The app is the demo's movies service (FastAPI web + worker + Alembic
migrations) as `conveyor init` describes it, with `strategy.batch = "25%"`,
healthy_threshold 2 and a 1 s watch. Per fleet size it deploys twice, each
`conveyor deploy` a subprocess of this script:

- cold: the first deploy to fresh hosts (supervisord and Caddy start, the
  migrations run, the blue colour starts);
- measured: a new commit (only the version string changes) deployed on top,
  so dependencies are unchanged and the green colour starts beside the warm
  blue one. This is the "good deploy with unchanged dependencies".

For the measured deploy it prints the wall time, conveyor's peak memory (the
ru_maxrss of the conveyor process as wait4 reports it, which includes what it
ran locally such as git), conveyor's CPU time, the CPU time the whole machine
spent meanwhile, and the SSH connections opened (the "Accepted publickey"
lines each host's sshd logged during that deploy). Then the time per phase,
from the deploy's own event lines, timestamped as they arrive.

Namespaces have no route to PyPI, so what a host would download is prepared
once on this side and shared, the way a host keeps it between deploys:

- the tools venv (supervisor, Caddy) is installed once with the hosts' Python
  and linked into each app_dir as `tools/` (bench/deploy.py does the same);
- the app's venv is built once, exactly as a host builds it (hostops'
  script: a venv at `<app_dir>/venvs/<lock hash>-py3`, then
  `.conveyor-complete` written last), and each host's `venvs/<key>` is a
  symlink to it. A host's own first deploy would have built the same
  directory; every later deploy of the same lock finds the marker and reuses
  it. That is exactly the state "unchanged dependencies" means, so the
  measured deploy does the work it would on a real fleet: the venv step only
  checks the marker.

All hosts share this machine's cores (2 here): whatever a host does (its
supervisorctl calls, uvicorn and worker start-ups) competes with every other
host and with conveyor, unlike on a real fleet where each host has its own
CPUs. The "machine cpu" column shows how busy the machine was. Everything the
run creates (namespaces and what runs in them, the account, temporary
directories) is removed at the end, also on Ctrl-C, SIGTERM or a failure.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.netns import Fleet, NetnsHost, ensure_user, remove_user  # noqa: E402
from conveyor.demo.deploys import commit, set_version, stop_supervisors  # noqa: E402
from conveyor.demo.driver import prepare  # noqa: E402
from conveyor.runtime.tools import install_tools_argv  # noqa: E402

DEPLOY_USER = "cvfleet"  # a plain account on the namespaced hosts, created and removed here
SUBNET = "10.78"  # host N is 10.78.N.2 (bench/deploy.py uses 10.77)
HOST_PYTHON = "/usr/bin/python3"  # what `python3` is for the plain account
STRATEGY = (
    'batch = "25%", healthy_threshold = 2, watch = "1s", health_timeout = "120s", '
    'keep_previous_warm = "15m"'
)
GOAL_RATIO = 4.0  # 50 hosts in under 4x the time of 1 host
GOAL_MB = 300.0
GOAL_CONNECTIONS = 1  # per host per deploy


@dataclass
class Deploy:
    """One `conveyor deploy` run, measured from outside."""

    exit_code: int
    seconds: float
    peak_mb: float
    cpu: float  # conveyor's user + system seconds
    machine_cpu: float  # busy CPU seconds of the whole machine meanwhile
    connections: int
    lines: list[tuple[float, str]] = field(default_factory=list)

    def phases(self) -> list[tuple[str, float]]:
        """Seconds per phase; a phase runs from its first event to the next phase's first.

        Before the first event: interpreter start-up, loading the project, building the
        release; after "deploy" ends it: closing connections, recording, exiting.
        """
        marks: list[tuple[str, float]] = [("start-up + build", 0.0)]
        for at, line in self.lines:
            phase = PHASES.get(_step(line) or "")
            if phase and phase not in {name for name, _ in marks}:
                marks.append((phase, at))
        marks.append(("end", self.seconds))
        return [(name, b - a) for (name, a), (_, b) in itertools.pairwise(marks)]


# The deploy's steps that begin a phase (others, e.g. health or state, happen inside one).
PHASES = {
    "connect": "connect",
    "lock": "lock",
    "prepare": "prepare",
    "upload": "upload",
    "env": "env",
    "venv": "venv",
    "migrate": "migrate",
    "start": "start + health gates",
    "batch": "switch, batch by batch",
    "switch": "switch, batch by batch",
    "watch": "watch",
    "retire": "retire (schedule)",
    "deploy": "close + exit",
}


@dataclass
class Row:
    """One fleet size."""

    hosts: int
    batch: int
    cold: Deploy
    good: Deploy


def _step(line: str) -> str | None:
    """The step of a deploy event line (`host  step  message`), None for other output."""
    host = line[:22].strip()
    if len(line) < 32 or line[21] != " " or not (host == "*" or "@" in host):
        return None
    step = line[22:31].strip()
    return step if re.fullmatch(r"[a-z]+", step) else None


class Bench:
    """The namespaced fleet, the project and the shared venvs; `close()` removes them all."""

    def __init__(self, log: Path | None) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="cvfl-"))
        self.base.chmod(0o755)
        self.fleet = Fleet(user=DEPLOY_USER, subnet=SUBNET)
        self.created_user = False
        self.sized: list[Path] = []
        self.log = log
        self.version = 0
        self.venv_key = ""

    @property
    def shared(self) -> Path:
        """Tools and app venvs, built once on this side."""
        return self.base / "shared"

    @property
    def project(self) -> Path:
        """The example app as a git project."""
        return self.base / "work" / "movies"

    def setup(self, sizes: Sequence[int]) -> None:
        """Account, hosts, project with one environment per size, tools and app venv."""
        self.created_user = ensure_user(DEPLOY_USER)
        say(f"starting {max(sizes)} namespaced hosts with sshd")
        self.fleet.start(max(sizes), prefix="cvf")
        say("writing the example app's project (conveyor init)")
        write_project(self.project, self.fleet.hosts, sizes, base=self.base)
        say("installing the tools venv and the app venv once (hosts have no route to PyPI)")
        subprocess.run(
            install_tools_argv(str(self.shared), HOST_PYTHON),
            check=True,
            timeout=900,
            capture_output=True,
        )
        self.venv_key = build_shared_venv(self.project, self.shared, environment=env_name(sizes[0]))

    def app_dirs(self, size: int) -> list[Path]:
        """Each host's app_dir for the environment of `size`."""
        return [self.base / f"s{size}" / host.address for host in self.fleet.hosts[:size]]

    def link(self, size: int) -> None:
        """Link the shared tools and app venv into each host's app_dir; the account owns it."""
        sized = self.base / f"s{size}"
        self.sized.append(sized)
        for app_dir in self.app_dirs(size):
            (app_dir / "venvs").mkdir(parents=True)
            (app_dir / "tools").symlink_to(self.shared / "tools")
            (app_dir / "venvs" / self.venv_key).symlink_to(self.shared / "venvs" / self.venv_key)
        subprocess.run(["chown", "-R", f"{DEPLOY_USER}:", str(sized)], check=True)

    def measure(self, size: int) -> Row:
        """Cold deploy, then a new commit with the same dependencies, measured."""
        say(f"{size} host(s): cold deploy")
        self.link(size)
        hosts = self.fleet.hosts[:size]
        cold = self.deploy(size, hosts)
        if cold.exit_code != 0:
            self.dump(cold)
            raise SystemExit(f"the cold deploy to {size} host(s) failed (exit {cold.exit_code})")
        self.bump()
        say(f"{size} host(s): measured deploy (new commit, dependencies unchanged)")
        good = self.deploy(size, hosts)
        if good.exit_code != 0:
            self.dump(good)
        self.write_log(size, cold, good)
        stop_supervisors(self.base / f"s{size}")  # frees the hosts' ports for the next size
        return Row(size, batch_of(size), cold, good)

    def bump(self) -> None:
        """A new release of the app that changes nothing but its version string."""
        self.version += 1
        set_version(self.project, f"1.{self.version}.0")
        commit(self.project, f"movies 1.{self.version}.0", f"v1.{self.version}.0")

    def deploy(self, size: int, hosts: Sequence[NetnsHost]) -> Deploy:
        """`conveyor deploy sN` as a subprocess, with its lines timestamped as they come."""
        argv = [
            *conveyor_argv(),
            "-C",
            str(self.project),
            "deploy",
            env_name(size),
            "--known-hosts",
            str(self.fleet.known_hosts),
            "--identity",
            str(self.fleet.identity),
        ]
        before = [accepted(host) for host in hosts]
        busy = machine_busy()
        began = time.monotonic()
        env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        # Its own session: a Ctrl-C reaches this script only, which passes on exactly one
        # (a second SIGINT could cut short the undo conveyor runs after the first).
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        lines = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append((time.monotonic() - began, line.rstrip("\n")))
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if process.returncode is None:  # interrupted: conveyor gets a Ctrl-C and undoes
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=300)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        seconds = time.monotonic() - began
        return Deploy(
            exit_code=process.returncode,
            seconds=seconds,
            peak_mb=usage.ru_maxrss / 1024,
            cpu=usage.ru_utime + usage.ru_stime,
            machine_cpu=machine_busy() - busy,
            connections=sum(accepted(h) - b for h, b in zip(hosts, before, strict=True)),
            lines=lines,
        )

    def dump(self, run: Deploy) -> None:
        """The end of a failed deploy's output."""
        for at, line in run.lines[-40:]:
            print(f"  {at:7.2f}  {line}", file=sys.stderr)

    def write_log(self, size: int, cold: Deploy, good: Deploy) -> None:
        """Both deploys' lines with their times, for --log."""
        if self.log is None:
            return
        with self.log.open("a") as out:
            for title, run in (("cold", cold), ("measured", good)):
                out.write(f"== {size} host(s), {title} deploy, exit {run.exit_code}\n")
                out.writelines(f"{at:8.3f}  {line}\n" for at, line in run.lines)

    def close(self) -> None:
        """Stop everything the run started and remove everything it made."""
        for sized in self.sized:
            stop_supervisors(sized)
        self.fleet.close()
        shutil.rmtree(self.fleet.directory, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)
        if self.created_user:
            remove_user(DEPLOY_USER)


def env_name(size: int) -> str:
    """The environment that deploys to the first `size` hosts."""
    return f"s{size}"


def batch_of(size: int) -> int:
    """Hosts per batch for 25% (rounded up, at least 1), as the config model computes it."""
    from conveyor.project.environment import batch_size

    return batch_size("25%", size)


def write_project(app: Path, hosts: Sequence[NetnsHost], sizes: Sequence[int], base: Path) -> None:
    """The example app after `conveyor init`, one environment per fleet size, committed."""
    prepare(app.parent)
    subprocess.run([*conveyor_argv(), "-C", str(app), "init"], check=True, capture_output=True)
    config = app / "conveyor.toml"
    text = config.read_text().split("[environments.development]")[0]
    staging = (app / ".env.staging").read_text()
    for size in sizes:
        specs = ", ".join(f'"{host.spec}"' for host in hosts[:size])
        text += (
            f"\n[environments.{env_name(size)}]\n"
            f'app_dir = "{base}/s{size}/{{host}}"\n'
            f"hosts = {{ backend = [{specs}] }}\n"
            f"strategy = {{ {STRATEGY} }}\n"
        )
        # Each environment its own secret: conveyor refuses a secret copied between them.
        values = re.sub(
            r"^JWT_SECRET_KEY=.*$",
            f"JWT_SECRET_KEY={secrets.token_urlsafe(36)}",
            staging,
            flags=re.MULTILINE,
        )
        env_file = app / f".env.{env_name(size)}"
        env_file.write_text(values)
        env_file.chmod(0o600)
    config.write_text(text)
    with (app / ".gitignore").open("a") as ignore:
        ignore.write(".conveyor/\n*.db\n__pycache__/\n")
    commit(app, "movies 1.0.0", "v1.0.0")


def build_shared_venv(project: Path, shared: Path, *, environment: str) -> str:
    """Build the release's venv once, as a host would; returns its key (`<lock>-py3`)."""
    from conveyor.build import build_release
    from conveyor.deploy.hostops import _VENV  # the very script a host runs
    from conveyor.project.load import load_project

    loaded = load_project(project)
    built = build_release(loaded, environment=environment)
    # The key conveyor.deploy.run gives the release: lock hash and the app's Python ("3").
    key = f"{built.lock_hash[:16]}-py{loaded.config.app.python or '3'}"
    path = shared / "venvs" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = built.path / "requirements.lock"
    built_venv = subprocess.run(
        [HOST_PYTHON, "-c", _VENV, str(path), str(lock)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if built_venv.returncode != 0:
        raise SystemExit(f"building the app venv failed:\n{built_venv.stderr[-2000:]}")
    # Byte-code now: the account cannot write __pycache__ into a venv root owns.
    subprocess.run(
        [str(path / "bin" / "python"), "-m", "compileall", "-q", str(path)],
        check=False,
        capture_output=True,
    )
    return key


def conveyor_argv() -> list[str]:
    """The conveyor CLI of this checkout's venv."""
    return [sys.executable, "-c", "import sys; from conveyor.cli import run; sys.exit(run())"]


def accepted(host: NetnsHost) -> int:
    """SSH logins the host's sshd has accepted so far."""
    return host.log.read_text(errors="replace").count("Accepted publickey")


def machine_busy() -> float:
    """CPU seconds the machine has spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    """Progress on stderr, so stdout is the tables."""
    print(f"[fleet] {text}", file=sys.stderr, flush=True)


def table(rows: Sequence[Row]) -> str:
    """Per size: the measured deploy against the goals."""
    one = next((r.good.seconds for r in rows if r.hosts == 1), None)
    head = (
        f"{'hosts':>5} {'batch':>5} {'cold s':>7} {'deploy s':>8} {'x 1 host':>8} "
        f"{'peak MB':>7} {'ssh conns':>9} {'per host':>8} {'cpu conveyor s':>14} "
        f"{'cpu machine s':>13} {'exit':>4}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r.good.seconds / one:.2f}" if one else "-"
        lines.append(
            f"{r.hosts:>5} {r.batch:>5} {r.cold.seconds:>7.2f} {r.good.seconds:>8.2f} "
            f"{ratio:>8} {r.good.peak_mb:>7.1f} {r.good.connections:>9} "
            f"{r.good.connections / r.hosts:>8.2f} {r.good.cpu:>14.2f} "
            f"{r.good.machine_cpu:>13.2f} {r.good.exit_code:>4}"
        )
    lines.append(
        f"goals: {max(r.hosts for r in rows)} hosts under {GOAL_RATIO:g}x the time of 1 host "
        f'(batch "25%"); peak under {GOAL_MB:g} MB; {GOAL_CONNECTIONS} SSH connection '
        "per host per deploy"
    )
    lines.extend(verdicts(rows, one))
    return "\n".join(lines)


def verdicts(rows: Sequence[Row], one: float | None) -> list[str]:
    """One line per goal: met or missed, with the figure."""
    out = []
    largest = max(rows, key=lambda r: r.hosts)
    if one and largest.hosts > 1:
        ratio = largest.good.seconds / one
        out.append(_verdict(ratio < GOAL_RATIO, f"time: {largest.hosts} hosts = {ratio:.2f}x"))
    peak = max(r.good.peak_mb for r in rows)
    out.append(_verdict(peak < GOAL_MB, f"memory: peak {peak:.1f} MB"))
    worst = max(r.good.connections / r.hosts for r in rows)
    out.append(_verdict(worst <= GOAL_CONNECTIONS, f"connections: up to {worst:.2f} per host"))
    return out


def _verdict(met: bool, text: str) -> str:
    return f"  {'met   ' if met else 'MISSED'} {text}"


def phase_table(rows: Sequence[Row]) -> str:
    """Seconds per phase of each measured deploy (from the first event of each step)."""
    names: list[str] = []
    per = []
    for r in rows:
        phases = dict(r.good.phases())
        per.append(phases)
        names.extend(n for n in phases if n not in names)
    head = f"{'phase (measured deploy)':<24}" + "".join(f"{f'{r.hosts} h':>9}" for r in rows)
    lines = [head, "-" * len(head)]
    for name in names:
        cells = "".join(f"{p[name]:>9.2f}" if name in p else f"{'-':>9}" for p in per)
        lines.append(f"{name:<24}{cells}")
    return "\n".join(lines)


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM cleans up like Ctrl-C does."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """--sizes 1,5,20,50 and --log FILE."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1,5,20,50",
        help="comma-separated fleet sizes (default 1,5,20,50); 1 is the baseline of the ratio",
    )
    parser.add_argument("--log", type=Path, help="write every deploy's timestamped lines here")
    args = parser.parse_args(argv)
    args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not args.sizes or min(args.sizes) < 1 or max(args.sizes) > 250:
        parser.error("--sizes: numbers from 1 to 250")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sizes, print the tables, remove everything."""
    args = parse(argv)
    if os.geteuid() != 0:
        print("bench/fleet.py needs root (network namespaces, a login account)", file=sys.stderr)
        return 2
    if args.log:
        args.log.write_text("")
    rows: list[Row] = []
    bench = Bench(args.log)
    with terminated_as_interrupt():
        try:
            bench.setup(args.sizes)
            for size in args.sizes:
                rows.append(bench.measure(size))
        except KeyboardInterrupt:
            say("interrupted; cleaning up")
            return 130
        finally:
            say("removing namespaces, processes, the account and temporary directories")
            bench.close()
            if rows:
                print(table(rows))
                print()
                print(phase_table(rows))
                print(notes())
    return 0


def notes() -> str:
    """What the figures mean on this machine."""
    cores = os.cpu_count() or 1
    return (
        f"\nThis machine: {cores} cores for every host, conveyor and anything else running. "
        "Nothing was scaled down: each host runs supervisord, Caddy, two web colours and the "
        "worker, as on a real server.\n'deploy s' is a new commit with unchanged dependencies "
        "after a cold deploy ('cold s') built the hosts' state; 'peak MB' is conveyor's "
        "ru_maxrss; 'ssh conns' counts sshd 'Accepted publickey' lines during that deploy.\n"
        "'cpu machine s' is all CPU time spent on the machine during the deploy (at most "
        f"{cores} x wall time): near that bound, the hosts' own work, not conveyor, sets the "
        "pace here."
    )


if __name__ == "__main__":
    sys.exit(main())
