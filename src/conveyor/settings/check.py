"""`conveyor config check`: an environment's values against the schema, before any deploy."""

from __future__ import annotations

import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conveyor.settings.envfile import EnvFile
from conveyor.settings.resolve import OVERRIDE, Environment, read_optional, resolve
from conveyor.settings.schema import SettingsSchema
from conveyor.settings.secrets import is_placeholder, is_secret, url_password, weakness
from conveyor.settings.types import validate
from conveyor.suggest import suggestion_suffix

# Problems of the file's form that do not change what the app reads.
_WARNING_CODES = frozenset({"bom", "crlf"})


@dataclass(frozen=True)
class Finding:
    """One problem, located at file:line and key; the message never holds a secret."""

    file: str
    line: int | None
    key: str | None
    code: str
    message: str
    severity: str = "error"

    def location(self) -> str:
        """`file:line: KEY` as far as known."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}" if self.key else where


def check_environment(schema: SettingsSchema, env: Environment) -> list[Finding]:
    """Every problem with the environment's values (its file and `--set`), sorted by line."""
    values = read_optional(env.env_file)
    name = env.display()
    findings: list[Finding] = []
    if values is None:
        findings.append(
            Finding(name, None, None, "no-file", f"does not exist; {create_hint(schema, env)}")
        )
    else:
        findings += _file_problems(values, name)
        findings += _unknown_keys(schema, values, name, known=env.conveyor_keys)
        if env.production_like:
            findings += _exposure(env)
    findings += _unknown_overrides(schema, env)
    resolved = resolve(schema, env, values)
    for field in schema.fields:
        entry = values.get(field.name) if values else None
        where, line = name, entry.line if entry else None
        got = resolved.get(field.name)
        if got is not None and got.source == OVERRIDE:
            # A value given with --set is checked like the file's, and reported as --set's.
            where, line = OVERRIDE, None
        if got is None and not field.required:
            continue  # optional (`X | None = None`) and not given: the app reads None
        if got is None or (field.required and got.value == ""):
            declared = f" (declared in {schema.source}" + (f":{field.line})" if field.line else ")")
            # A key written down with no value is a different slip from a key never written.
            what = "missing" if got is None else "empty"
            message = f"required key is {what}{declared}"
            if got is not None:
                message += f"; give it a value: {field.name}=..."
            findings.append(Finding(where, line, field.name, what, message))
            continue
        if is_placeholder(got.value):
            findings.append(
                Finding(
                    where,
                    line,
                    field.name,
                    "placeholder",
                    "still holds a template placeholder; set a real value",
                )
            )
            continue
        problem = validate(field.type, got.value, choices=field.choices) if got.value else None
        if problem:
            findings.append(Finding(where, line, field.name, "type", problem))
        # An empty optional secret is unset, not weak: the app reads no value.
        unset = got.value == "" and field.default is None
        if env.production_like and got.secret and not unset:
            findings += _weak(got.key, got.value, where, line, env.name)
    if env.production_like and values is not None:
        findings += _copied(schema, env, values, name)
    return sorted(findings, key=lambda f: (f.line or 0, f.key or "", f.code))


def create_hint(schema: SettingsSchema, env: Environment) -> str:
    """How to create a missing environment file: copy the template, or which keys to write."""
    name = env.display()
    if env.example is not None and env.example.is_file():
        example = env.display(env.example)
        return f"create it from {example}: cp {example} {name}, then fill it in"
    required = [field.name for field in schema.fields if field.required]
    keys = f" (required: {', '.join(required)})" if required else ""
    return f"create it with a KEY=value line for each setting of {schema.source}{keys}"


def _file_problems(values: EnvFile, name: str) -> list[Finding]:
    out = []
    for problem in values.problems:
        severity = "warning" if problem.code in _WARNING_CODES else "error"
        out.append(Finding(name, problem.line, None, problem.code, problem.message, severity))
    return out


def _unknown_overrides(schema: SettingsSchema, env: Environment) -> list[Finding]:
    out = []
    for key in env.overrides:
        if schema.get(key) is None:
            hint = suggestion_suffix(key, schema.names())
            message = f"unknown key, not in {schema.source}{hint}"
            out.append(Finding(OVERRIDE, None, key, "unknown", message))
    return out


def _unknown_keys(
    schema: SettingsSchema, values: EnvFile, name: str, *, known: frozenset[str]
) -> list[Finding]:
    out = []
    for entry in values.entries:
        if schema.get(entry.key) is None and entry.key not in known:
            hint = suggestion_suffix(entry.key, schema.names())
            message = f"unknown key, not in {schema.source}{hint}"
            out.append(Finding(name, entry.line, entry.key, "unknown", message))
    return out


def _weak(key: str, value: str, name: str, line: int | None, env_name: str) -> list[Finding]:
    # A URL's secret is its password; the rest of it (host, user) is not secret.
    secret = url_password(value) or value
    why = weakness(secret)
    if why is None:
        return []
    what = "the password in this URL" if secret != value else "the secret"
    message = f"{what} {why}; {env_name} needs a strong, unique value"
    return [Finding(name, line, key, "weak-secret", message)]


def _copied(schema: SettingsSchema, env: Environment, values: EnvFile, name: str) -> list[Finding]:
    out = []
    for other_name, other_path in sorted(env.others.items()):
        other = read_optional(other_path)
        if other is None:
            continue
        for entry in values.entries:
            field = schema.get(entry.key)
            declared = field.secret if field else None
            if not entry.value or not is_secret(entry.key, entry.value, declared=declared):
                continue
            theirs = other.get(entry.key)
            if theirs is not None and theirs.value == entry.value:
                message = (
                    f"same secret as in {env.display(other_path)}:{theirs.line} ({other_name}); "
                    f"give {env.name} its own value"
                )
                out.append(Finding(name, entry.line, entry.key, "copied-secret", message))
    return out


def _exposure(env: Environment) -> list[Finding]:
    out = []
    name = env.display()
    mode = stat.S_IMODE(env.env_file.stat().st_mode)
    if mode & 0o077:
        message = f"is readable by other users (mode {mode:04o}); run: chmod 600 {name}"
        out.append(Finding(name, None, None, "permissions", message))
    if _tracked_by_git(env.env_file):
        message = f"is tracked by git; {untrack_hint(name)}"
        out.append(Finding(name, None, None, "tracked", message))
    return out


def untrack_hint(*names: str) -> str:
    """How to stop git tracking environment files (the files stay on disk)."""
    them = "it" if len(names) == 1 else "them"
    return f"run: git rm --cached {shlex.join(names)} and add {them} to .gitignore"


def _tracked_by_git(path: Path) -> bool:
    try:
        result = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False  # no git here: nothing can be tracked
    return result.returncode == 0
