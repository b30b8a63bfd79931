"""Several file writes and commands on a host in one round trip.

Each `put` over SFTP is several requests one after the other (directories, open,
write, mode, rename) and each command its own channel; a phase that writes a few
files and then runs a command pays for each. `batch` sends them to the host's `python` as
one small script on stdin: the files are written atomically (a temp file, its mode, then a
rename) and the commands run in order; the first command that fails (when it is
checked) stops the batch and raises CommandFailed, as `conn.run` would. A command that is
a script for the batch's own interpreter (`python -c CODE ARGS`) runs inside it, with its
output (and that of anything it starts) caught in files: on a busy host a Python start-up
costs more than the round trip it shares.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.errors import CommandFailed, HostError
from conveyor.hosts.as_c import AS_C
from conveyor.hosts.base import Connector, RunResult
from conveyor.hosts.trips import command_label

# Runs on the host: the actions come as JSON on stdin, the results go back as JSON.
_BATCH = (
    AS_C
    + r"""
import base64, json, os, subprocess, sys, tempfile, time, traceback


def inline(code, argv, cwd):
    # A script for this very interpreter runs here, not in a Python started for it: its
    # stdout and stderr (and any process it starts) go to files, sys.exit is its exit code.
    saved = [os.dup(1), os.dup(2)]
    here = os.getcwd()
    outs = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    os.dup2(outs[0].fileno(), 1)
    os.dup2(outs[1].fileno(), 2)
    code_exit = 1
    try:
        if cwd:
            os.chdir(cwd)
        code_exit = as_c(code, argv)
    except OSError:
        traceback.print_exc()  # its directory: as `python -c` started there would fail
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        os.chdir(here)
    texts = []
    for out in outs:
        out.seek(0)
        texts.append(out.read().decode("utf-8", "replace"))
        out.close()
    return {"exit": code_exit, "stdout": texts[0], "stderr": texts[1]}


results = []
for action in json.load(sys.stdin):
    began = time.monotonic()
    if "put" in action:
        path = action["put"]
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, action["mode"])
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64decode(action["data"]))
            os.chmod(temp, action["mode"])
            os.replace(temp, path)
        except OSError as error:
            results.append({"put": path, "error": error.strerror or str(error)})
            break
        results.append({"put": path, "seconds": time.monotonic() - began})
        continue
    if action.get("inline"):
        results.append(inline(action["run"][2], action["run"][3:], action["cwd"]))
    else:
        done = subprocess.run(action["run"], capture_output=True, text=True, cwd=action["cwd"])
        results.append({"exit": done.returncode, "stdout": done.stdout, "stderr": done.stderr})
    results[-1]["seconds"] = time.monotonic() - began
    if results[-1]["exit"] != 0 and action["check"]:
        break
sys.stdout.flush()
print(json.dumps(results))
"""
)


def _script(argv: Sequence[str]) -> bool:
    """A Python script given as `-c CODE`: its code is too long to name it by."""
    return len(argv) >= 3 and argv[1] == "-c" and "python" in argv[0].rsplit("/", 1)[-1]


def _same(run: Run, python: str) -> bool:
    """`python -c CODE ...` for the batch's own interpreter: run in it, not in a new one."""
    argv = list(run.argv)
    return len(argv) >= 3 and argv[0] == python and argv[1] == "-c"


@dataclass(frozen=True)
class Put:
    """Write `data` to `path` with `mode`, atomically."""

    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Run:
    """Run `argv` (in `cwd`); `check`: a non-zero exit stops the batch and raises."""

    argv: Sequence[str]
    check: bool = True
    cwd: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the host said of one action: a command's result, or a write (failed: `error`)."""

    action: Put | Run
    result: RunResult | None = None  # None for a write
    error: str = ""  # why a write failed
    seconds: float = 0.0  # how long it took on the host

    def check(self, conn: Connector) -> None:
        """Raise as `batch` does for a write that failed or a checked command that did."""
        action, result = self.action, self.result
        if isinstance(action, Put):
            if self.error:
                raise HostError(f"cannot write {action.path} on {conn.name}: {self.error}")
            return
        assert result is not None
        if not result.ok and action.check:
            # A script's text is no name for it: `python3 -c`, and what it said, are.
            what = command_label(action.argv) if _script(action.argv) else shlex.join(action.argv)
            raise CommandFailed(
                f"{what} failed on {conn.name} (exit {result.exit_code}): "
                f"{(result.stderr or result.stdout).strip()[-300:]}",
                host=conn.name,
                argv=result.argv,
                exit_code=result.exit_code,
                output=result.stdout + result.stderr,
            )


async def carry_out(
    conn: Connector, python: str, actions: Sequence[Put | Run], *, timeout: float = 600
) -> list[Answer]:
    """Carry out `actions` in order in one round trip; the answers of those that ran: the
    host stops after a write that failed or a checked command that failed (its answer is
    the last). HostError when the host gave no answer at all."""
    sent = [
        {"put": a.path, "data": base64.b64encode(a.data).decode(), "mode": a.mode}
        if isinstance(a, Put)
        else {"run": list(a.argv), "check": a.check, "cwd": a.cwd, "inline": _same(a, python)}
        for a in actions
    ]
    done = await conn.run([python, "-c", _BATCH], stdin=json.dumps(sent).encode(), timeout=timeout)
    try:
        replies = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise HostError(
            f"{conn.name}: a batch of {len(actions)} step(s) gave no answer: "
            f"{(done.stdout + done.stderr).strip()[-300:]}"
        ) from None
    answers = []
    for action, reply in zip(actions, replies, strict=False):
        seconds = float(reply.get("seconds", 0.0))
        if isinstance(action, Put):
            answers.append(Answer(action, error=reply.get("error", ""), seconds=seconds))
            continue
        result = RunResult(
            conn.name, tuple(action.argv), reply["exit"], reply["stdout"], reply["stderr"]
        )
        answers.append(Answer(action, result, seconds=seconds))
    return answers


async def batch(
    conn: Connector, python: str, actions: Sequence[Put | Run], *, timeout: float = 600
) -> list[RunResult]:
    """Carry out `actions` in order in one round trip; the results of the commands, in order.

    A write that fails raises HostError naming the file; a checked command that exits
    non-zero raises CommandFailed with its output (nothing after it runs).
    """
    results = []
    for answer in await carry_out(conn, python, actions, timeout=timeout):
        answer.check(conn)
        if answer.result is not None:
            results.append(answer.result)
    return results
