"""The deploy half of `conveyor demo`: local staging, a good release, a broken one.

The example app becomes a git repository; staging is pointed at this machine
("local"), on free ports; then three releases go out under a steady load
through Caddy: 1.0.0 (its migrations run), 1.1.0 (a new column, zero downtime), 1.2.0 (broken
health, rolled back automatically while 1.1.0 keeps serving); then the database's
revision, and a rollback to 1.0.0 that checks the schema first; and 1.3.0, whose
migration drops a column, refused by the migrations' lint, then accepted and
deployed once a reviewer signed the plan (`demo/approvals.py`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from conveyor.demo import FIXTURES_DIR
from conveyor.demo.approvals import approve_and_deploy, require_approval
from conveyor.demo.hook import Hook
from conveyor.demo.load import Load
from conveyor.demo.ports import free_pair
from conveyor.runtime.base import socket_dir, supervisor_socket_path
from conveyor.runtime.supervisor import supervisorctl_shutdown

GIT = ("git", "-c", "user.name=Conveyor Demo", "-c", "user.email=demo@example.com")
Invoke = Callable[[Sequence[str]], int]


@dataclass(frozen=True)
class Staging:
    """Where the demo's staging serves."""

    listen: int
    port: int

    @property
    def url(self) -> str:
        """Caddy's /health."""
        return f"http://127.0.0.1:{self.listen}/health"


def local_staging(app: Path) -> Staging:
    """Point the staging environment of the init-written conveyor.toml at this machine."""
    staging = Staging(listen=free_pair(), port=free_pair())
    path = app / "conveyor.toml"
    text = path.read_text()
    text = text.replace(
        'health = "/health"\n',
        f'health = "/health"\nport = {staging.port}\nlisten = "127.0.0.1:{staging.listen}"\n',
        1,
    )
    text = re.sub(
        r'(\[environments\.staging\][^\n]*\nbranch = "develop"\n)hosts = \{[^\n]*\}',
        r'\1hosts = { backend = ["local"] }\n'
        r'strategy = { healthy_threshold = 2, watch = "3s", keep_previous_warm = "15m" }',
        text,
    )
    path.write_text(text)
    with (app / ".gitignore").open("a") as ignore:
        ignore.write(".conveyor/\n*.db\n__pycache__/\n")
    return staging


def commit(app: Path, message: str, tag: str) -> None:
    """Commit everything and tag it, so the release gets a clean version."""
    if not (app / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=app, check=True)
    subprocess.run(["git", "add", "-A"], cwd=app, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", message], cwd=app, check=True)
    subprocess.run([*GIT, "tag", tag], cwd=app, check=True)


def set_version(app: Path, version: str) -> None:
    """The app's own version string."""
    init = app / "movies" / "__init__.py"
    init.write_text(
        re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text())
    )


def add_revisions(app: Path, *names: str) -> None:
    """Revisions of the story (demo/fixtures) into the app's migrations."""
    for name in names:
        shutil.copyfile(FIXTURES_DIR / name, app / "migrations" / "versions" / name)


_HEALTH = '    """Report the release and colour, and whether the database answers."""\n'
_BROKEN = '    return JSONResponse({"status": "broken"}, status_code=500)  # demo: a bad release\n'


def break_health(app: Path) -> None:
    """Make /health answer 500, the way a bad release does."""
    main = app / "movies" / "main.py"
    main.write_text(main.read_text().replace(_HEALTH, _HEALTH + _BROKEN, 1))


def mend_health(app: Path) -> None:
    """Take the bad release's 500 out again."""
    main = app / "movies" / "main.py"
    main.write_text(main.read_text().replace(_BROKEN, "", 1))


def served(staging: Staging) -> str:
    """What Caddy serves now, as one line."""
    try:
        return json.dumps(httpx.get(staging.url, timeout=5).json())
    except (httpx.HTTPError, ValueError) as error:
        return f"nothing ({type(error).__name__})"


def stop_everything(app: Path) -> None:
    """Shut down the demo's supervisord (and with it the app and Caddy)."""
    stop_supervisors(app / ".conveyor" / "hosts")


def stop_supervisors(hosts: Path) -> None:
    """Shut down the supervisord of every app_dir under `hosts` (local hosts of a test or bench)."""
    for app_dir in hosts.glob("*"):
        if Path(supervisor_socket_path(str(app_dir))).exists():
            subprocess.run(
                supervisorctl_shutdown(str(app_dir), str(app_dir / "tools")),
                capture_output=True,
                timeout=60,
                check=False,
            )
        sockets = Path(socket_dir(str(app_dir)))
        if sockets.parent == Path("/tmp"):
            # The short socket directory of a deep app_dir: empty once supervisord is gone.
            shutil.rmtree(sockets, ignore_errors=True)


def run_deploys(
    app: Path, invoke: Invoke, say: Callable[[str], None], show: Callable[[str], None]
) -> list[tuple[str, int, int]]:
    """The three releases; returns (title, expected exit, got) for each command."""
    staging = local_staging(app)
    results: list[tuple[str, int, int]] = []

    def step(title: str, argv: Sequence[str], expected: int) -> None:
        say(f"{title}: conveyor {' '.join(argv)}")
        results.append((title, expected, invoke(["-C", str(app), *argv])))

    commit(app, "movies 1.0.0", "v1.0.0")
    step("Deploy 1.0.0 to staging (this machine)", ("deploy", "staging"), 0)
    show(f"Caddy on 127.0.0.1:{staging.listen} serves: {served(staging)}")

    set_version(app, "1.1.0")
    # Expand: a nullable column 1.0.0 keeps working with; then its backfill, on its own.
    add_revisions(app, "0003_movie_tagline.py", "0004_movie_tagline_backfill.py")
    commit(app, "movies 1.1.0: movies get a tagline", "v1.1.0")
    with Load(staging.url) as load:
        step("Deploy 1.1.0 (a new column) under load: zero downtime", ("deploy", "staging"), 0)
    show(f"load during the deploy: {load.summary()}")

    set_version(app, "1.2.0")
    break_health(app)
    commit(app, "movies 1.2.0 (broken /health)", "v1.2.0")
    with Load(staging.url) as load:
        step("Deploy a broken 1.2.0: rolled back automatically", ("deploy", "staging"), 1)
    show(f"load during the bad deploy: {load.summary()}")
    show(f"still serving: {served(staging)}")

    step("What runs where", ("status", "staging"), 0)
    step("The database, read through the serving release", ("db", "status", "staging"), 0)
    step("Roll back to 1.0.0: proven against the new column, code only", ("rollback", "staging"), 0)
    show(f"serving after the rollback: {served(staging)}")
    # Contract, later: dropping the column loses its data; the lint stops it on staging.
    set_version(app, "1.3.0")
    mend_health(app)
    add_revisions(app, "0005_drop_movie_tagline.py")
    with Hook() as hook:
        # From 1.3.0 on, staging deploys what a reviewer signed, and says so to a webhook.
        keys = require_approval(app, hook.url)
        commit(app, "movies 1.3.0: /health mended, tagline dropped; approvals", "v1.3.0")
        step("Deploy 1.3.0 that drops a column: refused until accepted", ("deploy", "staging"), 1)
        show(f"still serving: {served(staging)}")
        approve_and_deploy(app, keys, step)
        show(f"serving after the approved deploy: {served(staging)}")
        refused = sum(status == 429 for status, _key, _title in hook.got)
        show(f"the webhook answered {refused} message(s) 429 with Retry-After, and took each once:")
        for title in hook.delivered():
            show(f"  {title}")
    step("Every deploy, recorded", ("history", "staging"), 0)
    return results
