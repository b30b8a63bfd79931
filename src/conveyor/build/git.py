"""The few git questions a build asks, answered by the real `git` with argv lists."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conveyor.errors import BuildError

# git modes of the entries a release can hold; submodules (160000) are left out.
REGULAR, EXECUTABLE, SYMLINK = "100644", "100755", "120000"


@dataclass(frozen=True)
class TreeFile:
    """One file of a commit: its path (relative to the project), git mode and bytes."""

    path: str
    mode: str
    data: bytes


def git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run `git -C root ARGS`; a failure becomes a BuildError with git's own words."""
    argv = ["git", "-C", str(root), "-c", "core.quotepath=off", *args]
    # LC_ALL=C: messages we show or parse do not change with the user's language.
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, env=env, check=False)
    except FileNotFoundError:
        raise BuildError("git is not installed", hint="install git and run again") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = said[-1] if said else f"exit code {done.returncode}"
        raise BuildError(f"git {args[0]} failed in {root}: {detail}")
    return done.stdout


def text(root: Path, *args: str) -> str:
    """`git` output as stripped text."""
    return git(root, *args).decode("utf-8", "replace").strip()


def file_at(root: Path, commit: str, path: str) -> str:
    """The text of `path` (relative to `root`) as `commit` has it; a BuildError when the
    commit has no such file or it is not UTF-8."""
    try:
        return git(root, "show", f"{commit}:./{path}").decode("utf-8")
    except UnicodeDecodeError:
        raise BuildError(f"{path} at {commit[:12]}: not UTF-8 text") from None


def config_at(root: Path, commit: str) -> tuple[str, str]:
    """Which file `commit` keeps the project's configuration in, and its text, looked for
    as load_project does: conveyor.toml, else pyproject.toml (whose [tool.conveyor] the
    caller reads). A BuildError when it has neither."""
    from conveyor.project.load import CONFIG_NAME, PYPROJECT_NAME

    for name in (CONFIG_NAME, PYPROJECT_NAME):
        try:
            return name, file_at(root, commit, name)
        except BuildError:
            continue  # the configuration moved since (pyproject.toml <-> conveyor.toml)
    raise BuildError(f"commit {commit[:12]} has no {CONFIG_NAME} or {PYPROJECT_NAME}")


def resolve_commit(root: Path, ref: str) -> str:
    """The full hash of the commit `ref` names, or a BuildError saying it names none."""
    if not text(root, "rev-parse", "--is-inside-work-tree") == "true":
        raise BuildError(f"{root} is not inside a git working tree")
    try:
        return text(root, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
    except BuildError:
        raise BuildError(
            f'"{ref}" does not name a commit in {root}',
            hint="give a branch, tag or commit hash with --ref (default: HEAD)",
        ) from None


def head_commit(root: Path) -> str | None:
    """The commit HEAD points at, or None in a repository without commits."""
    try:
        return text(root, "rev-parse", "--verify", "HEAD^{commit}")
    except BuildError:
        return None


def commit_time(root: Path, commit: str) -> str:
    """The commit's committer date, ISO 8601 with its UTC offset."""
    return text(root, "show", "-s", "--format=%cI", commit)


@dataclass(frozen=True)
class Commit:
    """One commit of a deploy's range: who wrote it, who committed it, and when."""

    sha: str
    committed_at: str  # ISO 8601 with its UTC offset
    author: str  # "Name <email>"
    committer: str


def commits_between(root: Path, base: str, tip: str, *, limit: int = 1000) -> list[Commit]:
    """The commits `tip` has and `base` has not, newest first (only `tip` itself when `base`
    is "" or unknown here, e.g. a first deploy or a shallow clone)."""
    known = bool(base)
    if known:
        try:
            git(root, "cat-file", "-e", f"{base}^{{commit}}")
        except BuildError:
            known = False
    spec = [f"{base}..{tip}"] if known else ["-n", "1", tip]
    out = text(
        root,
        "log",
        f"--max-count={limit}",
        "--format=%H%x1f%cI%x1f%an <%ae>%x1f%cn <%ce>",
        *spec,
        "--",
    )
    return [Commit(*line.split("\x1f")) for line in out.splitlines() if line]


def changed_files(root: Path) -> tuple[str, ...]:
    """Tracked files with uncommitted changes (staged or not); untracked files do not count."""
    raw = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=no", "--", ".")
    entries = raw.decode("utf-8", "replace").split("\0")
    paths: list[str] = []
    skip = False
    for entry in entries:
        if skip:  # the source path of a rename, which -z puts in its own field
            skip = False
            continue
        if entry:
            paths.append(entry[3:])
            skip = entry[0] in "RC"
    return tuple(paths)


def tree_files(root: Path, commit: str) -> tuple[tuple[TreeFile, ...], tuple[str, ...]]:
    """Files of `commit` under the project's directory, and the submodule paths left out."""
    prefix = text(root, "rev-parse", "--show-prefix")
    tree = f"{commit}:{prefix}" if prefix else commit
    listing = git(root, "ls-tree", "-r", "-z", "--full-tree", tree).decode("utf-8")
    entries: list[tuple[str, str, str]] = []
    skipped: list[str] = []
    for line in filter(None, listing.split("\0")):
        meta, path = line.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob":
            entries.append((path, mode, sha))
        else:
            skipped.append(path)
    blobs = _read_blobs(root, [sha for _, _, sha in entries])
    files = tuple(TreeFile(path, mode, blobs[sha]) for path, mode, sha in entries)
    return files, tuple(skipped)


def _read_blobs(root: Path, shas: list[str]) -> dict[str, bytes]:
    """Contents of many blobs through one `git cat-file --batch` process."""
    if not shas:
        return {}
    wanted = list(dict.fromkeys(shas))
    raw = git(root, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in wanted).encode())
    blobs: dict[str, bytes] = {}
    at = 0
    for sha in wanted:
        end = raw.index(b"\n", at)
        _, _, size = raw[at:end].decode().split()
        start = end + 1
        blobs[sha] = raw[start : start + int(size)]
        at = start + int(size) + 1  # the content is followed by a newline
    return blobs
