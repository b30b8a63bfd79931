"""The content-hash cache: a step whose key passed before is skipped; --why explains a miss."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conveyor import __version__
from conveyor.checks.step import Step

CACHE_DIR = ".conveyor/cache"
_PROBE = (
    "import importlib.metadata as m, json, sys\n"
    "def v(d):\n"
    "    try: return m.version(d)\n"
    "    except m.PackageNotFoundError: return 'not installed'\n"
    "tools = {d: v(d) for d in sys.argv[1:]}\n"
    "print(json.dumps({'python': sys.version.split()[0], 'tools': tools}))"
)


@dataclass(frozen=True)
class Interpreter:
    """An interpreter's version and the versions of the tools installed in it."""

    python: str
    version: str
    tools: Mapping[str, str]


def probe(python: str, dists: Sequence[str]) -> Interpreter:
    """Versions of `dists` in `python`: in this process when it is conveyor's own interpreter."""
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return Interpreter(python, sys.version.split()[0], {d: _version(d) for d in dists})
    try:
        done = subprocess.run(
            [python, "-c", _PROBE, *dists], capture_output=True, text=True, check=False
        )
        data = json.loads(done.stdout)
    except (OSError, ValueError):
        return Interpreter(python, "unusable", {d: "unknown" for d in dists})
    return Interpreter(python, str(data["python"]), dict(data["tools"]))


def _version(dist: str) -> str:
    if dist == "conveyor":
        return __version__
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def key_parts(step: Step, interpreter: Interpreter, hashes: Mapping[str, str]) -> dict[str, Any]:
    """Everything a step's result depends on: tools, configuration, interpreter, file contents."""
    gate = None if step.gate is None else [step.gate.kind, step.gate.minimum, step.gate.threshold]
    return {
        "tools": {d: interpreter.tools.get(d, "unknown") for d in step.tools},
        "config": {"argv": list(step.argv), "env": dict(step.env), "gate": gate},
        "interpreter": f"{interpreter.python} ({interpreter.version})",
        "files": dict(hashes),
    }


def cache_key(parts: Mapping[str, Any]) -> str:
    """The key of a set of parts: sha256 over their canonical JSON."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """Passed keys in `.conveyor/cache/<step>.json`, one file per step."""

    def __init__(self, root: Path) -> None:
        self.folder = root / CACHE_DIR

    def _path(self, step: str) -> Path:
        return self.folder / (re.sub(r"[^A-Za-z0-9_.@-]", "_", step) + ".json")

    def load(self, step: str) -> dict[str, Any] | None:
        """The last passing record of `step`, or None."""
        try:
            data = json.loads(self._path(step).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and "key" in data else None

    def hit(self, step: str, key: str) -> bool:
        """True when `key` is the key of the step's last pass."""
        record = self.load(step)
        return record is not None and record["key"] == key

    def store(self, step: str, key: str, parts: Mapping[str, Any]) -> None:
        """Record a pass, atomically (steps finish in parallel)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record = {"key": key, "passed_at": when, "parts": parts}
        path = self._path(step)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record, sort_keys=True), "utf-8")
        temporary.replace(path)


def explain(step: str, parts: Mapping[str, Any], record: Mapping[str, Any] | None) -> list[str]:
    """Why `step` would run (or not): each part of the key that differs from its last pass."""
    if record is None:
        return [f"{step}: no passing run recorded in {CACHE_DIR}: it runs"]
    if record["key"] == cache_key(parts):
        return [f"{step}: cache hit: the same key passed at {record['passed_at']}: it is skipped"]
    old = record["parts"]
    lines = [f"{step}: cache miss: it runs because"]
    for tool, version in parts["tools"].items():
        before = old["tools"].get(tool)
        if before != version:
            lines.append(f"  tool {tool} changed: {before} -> {version}")
    if old["interpreter"] != parts["interpreter"]:
        lines.append(f"  interpreter changed: {old['interpreter']} -> {parts['interpreter']}")
    if old["config"] != parts["config"]:
        lines.append("  its configuration changed (command, environment or gate)")
    files, before_files = parts["files"], old["files"]
    for name in sorted(set(files) | set(before_files)):
        if name not in before_files:
            lines.append(f"  input added: {name}")
        elif name not in files:
            lines.append(f"  input removed: {name}")
        elif files[name] != before_files[name]:
            lines.append(f"  input changed: {name}")
    return lines
