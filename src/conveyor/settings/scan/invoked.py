"""How a file is run: a script run by its path cannot import the settings package by name."""

from __future__ import annotations

import re
from pathlib import Path

from conveyor.checks.files import project_files

_MAIN = re.compile(r"^if\s+__name__\s*==\s*['\"]__main__['\"]\s*:", re.MULTILINE)
# Files where commands that run scripts are written: DAGs, shell, compose, CI, Makefiles.
_COMMANDS = (".py", ".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", "Makefile", "Dockerfile")


def script_reason(
    root: Path, path: str, *, package: str, commands: dict[str, tuple[str, str]]
) -> str | None:
    """Why `path` must not import `package` (it is run as a script from elsewhere), or None."""
    base = root / "src" if (root / "src" / package).is_dir() else root
    if base != root or (root / path).parent == base:
        return None  # an installed src layout, or a script beside the package: it imports
    text = (root / path).read_text("utf-8", "replace")
    name = Path(path).name
    how = None
    if _MAIN.search(text):
        how = 'has `if __name__ == "__main__"`'
    else:
        if name in commands:
            command, where = commands[name]
            how = f"is run as `{command}` ({where})"
    if how is None:
        return None
    module = Path(path).with_suffix("").as_posix().replace("/", ".")
    return (
        f"left as is: {path} {how}; run as a script from its own folder it cannot import "
        f"{package}. Run it as `python -m {module}` from {root.name}/, then fix it"
    )


def commands(root: Path) -> dict[str, tuple[str, str]]:
    """Script names run by path (`python x.py`, `python3 dir/x.py`): the command and its file."""
    found: dict[str, tuple[str, str]] = {}
    pattern = re.compile(r"python[0-9.]*\s+((?:[\w.-]+/)*([\w-]+\.py))\b")
    for rel in project_files(root):
        if not rel.endswith(_COMMANDS):
            continue
        text = (root / rel).read_text("utf-8", "replace")
        for match in pattern.finditer(text):
            found.setdefault(match.group(2), (match.group(0), rel))
    return found
