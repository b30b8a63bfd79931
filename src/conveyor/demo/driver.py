"""`conveyor demo`: the story so far, on a copy of the bundled example app.

It copies the app to a work directory, runs `conveyor init` there, and checks
three environments' files, one of them broken the way hand-kept files break.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from conveyor.demo import APP_DIR, FIXTURES_DIR

# (what to say, argv for conveyor, the exit code the story expects)
STORY: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("Detect the app and write conveyor.toml", ("init",), 0),
    ("Development values against the schema", ("config", "check", "development"), 0),
    ("Staging values against the schema", ("config", "check", "staging"), 0),
    ("Production, kept by hand: conveyor refuses it", ("config", "check", "production"), 1),
    ("What differs between staging and production", ("config", "diff", "staging", "production"), 0),
    ("What production would run with (secrets masked)", ("config", "show", "production"), 0),
)

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", ".pytest_cache", ".conveyor")


def prepare(workdir: Path) -> Path:
    """A fresh copy of the example app with its three environment files; returns its path."""
    target = workdir / "movies"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(APP_DIR, target, ignore=_IGNORE)
    for name in (".env.development", ".env.staging", ".env.production"):
        shutil.copyfile(FIXTURES_DIR / name, target / name)
    # Staging was set up with care; production was copied around by hand (mode 0644).
    (target / ".env.staging").chmod(0o600)
    (target / ".env.production").chmod(0o644)
    return target


def run_story(
    app_dir: Path,
    invoke: Callable[[Sequence[str]], int],
    say: Callable[[str], None],
) -> list[tuple[str, int, int]]:
    """Run each step through `invoke` (the CLI's main); returns (title, expected, got)."""
    results = []
    for number, (title, argv, expected) in enumerate(STORY, start=1):
        say(f"{number}. {title}: conveyor {' '.join(argv)}")
        got = invoke(["-C", str(app_dir), *argv])
        results.append((title, expected, got))
    return results
