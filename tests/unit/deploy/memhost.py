"""A host kept in memory, for unit tests of the engine's and the journal's own logic.

It is a fake on purpose, and only for logic no real host is needed for: files live in
a dict; of the host scripts, it carries out only what their callers read back (a
batch's writes and its JSON answer, Caddy's upstream rewrite, which prints what it
wrote, supervisor's control script, which says each program started or stopped, and its
status script, which prints `status`);
every other command succeeds and prints nothing. Each write and command is logged in
order as a short label ("put state.json", "route 127.0.0.1:8101", "stop worker-green").
What these do on a real host is tested against sshd, supervisor and Caddy in
tests/integration.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from conveyor.errors import CommandFailed, HostUnreachable
from conveyor.hosts.base import RunResult


class MemoryHost:
    """`refuse`: a command whose argv contains it exits 1; `down`: every command raises
    HostUnreachable; `stopped`: what a stop of each program says ("stopped" unless
    given, e.g. "ERROR (no such process)")."""

    def __init__(self, name: str, *, refuse: str = "", down: bool = False) -> None:
        self.name = name
        self.home: str | None = None
        self.files: dict[str, bytes] = {}
        self.log: list[str] = []
        self.refuse, self.down = refuse, down
        self.stopped: dict[str, str] = {}
        self.status = ""  # what supervisor's status script prints (supervisorctl's lines)
        self.unwritable = ""  # a path a batch cannot write (its disk is full)
        self.pid = 100

    async def connect(self) -> None:
        return None

    async def open_files(self) -> None:
        pass

    def warm(self, interpreters: Sequence[str]) -> None:
        return None

    async def close(self) -> None:
        return None

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        self.files[path] = data
        self.log.append(f"put {path.rsplit('/', 1)[-1]}")

    async def get(self, path: str) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    async def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        stdin: bytes | None = None,
        **_: Any,
    ) -> RunResult:
        if self.down:
            raise HostUnreachable(f"{self.name}: connection refused")
        if len(argv) > 2 and "json.load(sys.stdin)" in argv[2]:
            return self._batch(argv, stdin or b"[]")
        code, out = self._answer(list(argv))
        result = RunResult(self.name, tuple(argv), code, out, "")
        if code and check:
            raise CommandFailed(
                f"{_label(argv)} failed on {self.name}",
                host=self.name,
                argv=tuple(argv),
                exit_code=code,
                output=out,
            )
        return result

    def _answer(self, argv: list[str]) -> tuple[int, str]:
        text = " ".join(argv)
        if self.refuse and self.refuse in text:
            self.log.append(f"refused {_label(argv)}")
            return 1, "refused"
        self.log.append(_label(argv))
        if len(argv) == 5 and argv[1] == "-c" and "upstream" in argv[3]:
            self.files[argv[3]] = argv[4].encode()
            return 0, argv[4]  # Caddy's upstream rewrite prints what it wrote
        if "venv.create" in text:  # the venv script: this lock's venv is there
            return 0, "reused\n"
        if "sys.version_info[:3]" in text:  # the interpreter's version
            return 0, "3.11.2\n"
        if "getAllProcessInfo" in text and "startProcess" not in text:  # the status script
            return 0, self.status
        if "xmlrpc" in text and "startProcess" in text:  # supervisor's control script
            said = []
            for word in argv[5:]:
                if word.startswith("stop="):
                    name = word[len("stop=") :]
                    said.append(f"{name}: {self.stopped.get(name, 'stopped')}")
                elif "nowait" in argv[5:] and word not in ("update", "nowait"):
                    said.append(f"{word}: spawned")
                elif word not in ("update", "nowait", "started") and "=" not in word:
                    self.pid += 1
                    said.append(f"{word}: started (pid {self.pid})")
            return 0, "".join(f"{line}\n" for line in said)
        return 0, ""

    def _batch(self, argv: Sequence[str], stdin: bytes) -> RunResult:
        answers: list[dict[str, Any]] = []
        for action in json.loads(stdin):
            if "put" in action and action["put"] == self.unwritable:
                answers.append({"put": action["put"], "error": "No space left on device"})
                break
            if "put" in action:
                self.files[action["put"]] = base64.b64decode(action["data"])
                self.log.append(f"put {action['put'].rsplit('/', 1)[-1]}")
                answers.append({"put": action["put"]})
                continue
            code, out = self._answer(list(action["run"]))
            answers.append({"exit": code, "stdout": out, "stderr": ""})
            if code and action["check"]:
                break
        return RunResult(self.name, tuple(argv), 0, json.dumps(answers) + "\n", "")


def _label(argv: Sequence[str]) -> str:
    """A command as the tests read it."""
    text = " ".join(argv)
    if "upstream" in text and len(argv) == 5:
        return f"route {argv[-1].strip()}"
    if "supervisorctl" in argv[0]:
        return " ".join(argv[-2:])
    if "xmlrpc" in text and "startProcess" in text:
        words = [w.replace("=", " ") for w in argv[5:]]
        return "supervisor " + ", ".join(words)
    if "symlink" in text:
        return f"link {argv[-2].rsplit('/', 1)[-1]}"
    return argv[0].rsplit("/", 1)[-1]
