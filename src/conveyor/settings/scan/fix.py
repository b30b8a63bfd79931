"""`conveyor scan --fix`: plan every file change first, then write them, or show the diff."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import libcst as cst

from conveyor.settings.scan import envwrite, invoked
from conveyor.settings.scan.codemod import Edit, Position, add_to_class, replace_literals
from conveyor.settings.scan.imports import sort_imports
from conveyor.settings.scan.model import Finding, Group, ScanResult, rank
from conveyor.settings.scan.rules import DB_SCHEMES, masked
from conveyor.settings.scan.target import Target
from conveyor.settings.secrets import is_secret_name

DEV_ENV = ".env.development"
SECRET_RULES = frozenset({"url-credentials", "hard-coded-secret", "known-token"})
_URL_RULES = frozenset({"url-credentials", "dev-host-url", "hard-coded-url"})
_SEPARATORS = ("/", "?", "#")


@dataclass(frozen=True)
class Change:
    """A file's text before (None: new file) and after; `private` files get mode 0600."""

    path: Path
    old: str | None
    new: str
    private: bool = False


@dataclass(frozen=True)
class NewSetting:
    """A setting --fix declares: its type, the value that moves to .env.development."""

    name: str
    type: str
    value: str
    kind: str | None


@dataclass(frozen=True)
class FixPlan:
    """Every change, the groups fixed, and places left for a person."""

    changes: tuple[Change, ...]
    fixed: tuple[Group, ...]
    left: tuple[Finding, ...]
    # What a person must know: files refused and why, values that differ from a default.
    notes: tuple[str, ...] = ()


def _kind(group: Group) -> tuple[str, str | None]:
    """The field type and the .env.example type comment for a group."""
    if group.rule == "hard-coded-port":
        return ("int" if all(f.is_int for f in group.findings) else "str"), "port"
    if group.rule in ("url-credentials", "dev-host-url", "hard-coded-url"):
        return "str", "url"
    if group.rule in ("hard-coded-secret", "known-token") or is_secret_name(group.setting):
        return "str", "secret"
    return "str", None


def split_url(setting: str, url: str) -> tuple[list[NewSetting], str] | None:
    """DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD and a property that joins them."""
    try:
        parts = urlsplit(url)
        host, port, user, password = parts.hostname, parts.port, parts.username, parts.password
    except ValueError:
        return None
    name = parts.path.lstrip("/")
    if not (DB_SCHEMES.fullmatch(parts.scheme) and host and port and user and password and name):
        return None
    prefix = "DB" if setting == "DATABASE_URL" else setting.removesuffix("_URL")
    fields = [
        NewSetting(f"{prefix}_HOST", "str", host, None),
        NewSetting(f"{prefix}_PORT", "int", str(port), "port"),
        NewSetting(f"{prefix}_NAME", "str", name, None),
        NewSetting(f"{prefix}_USER", "str", user, None),
        NewSetting(f"{prefix}_PASSWORD", "str", password, "secret"),
    ]
    query = f"?{parts.query}" if parts.query else ""
    joined = (
        f"{parts.scheme}://{{self.{prefix}_USER}}:{{self.{prefix}_PASSWORD}}"
        f"@{{self.{prefix}_HOST}}:{{self.{prefix}_PORT}}/{{self.{prefix}_NAME}}{query}"
    )
    method = (
        f"@property\ndef {setting}(self) -> str:\n"
        f'    """Built from the {prefix}_* settings."""\n'
        f'    return f"{joined}"\n'
    )
    return fields, method


def plan_fix(
    root: Path,
    result: ScanResult,
    target: Target,
    *,
    only: Collection[str] = (),
    threshold: int = 1,
    split_urls: bool = False,
    example: str = ".env.example",
    use: Collection[str] = (),
) -> FixPlan:
    """What --fix would change; reads files, writes nothing."""
    groups = [
        g for g in result.groups
        if g.fixable
        and (g.id in only or g.setting in only if only else rank(g.severity) >= threshold)
    ]  # fmt: skip
    edits: dict[str, dict[Position, Edit]] = defaultdict(dict)
    whole: set[tuple[str, Position]] = set()
    class_file = target.class_file.resolve() if target.class_file else None
    notes: list[str] = []
    refused = _refused(root, result, groups, target)
    notes += sorted(set(refused.values()))
    for group in groups:
        if target.module is not None and _base_of(group.value, groups) is not None:
            continue  # http://h/api/v1/health becomes f"{settings.API_BASE_URL}/health"
        for finding in group.findings:
            if not finding.fixable or (root / finding.path).resolve() == class_file:
                continue
            if finding.path in refused:
                continue
            key = (finding.line, finding.column - 1)
            edits[finding.path][key] = target.expression(group.setting, is_int=finding.is_int)
            whole.add((finding.path, key))
    extra = _prefix_edits(result, groups, target, edits, whole)
    changes: list[Change] = []
    applied: set[tuple[str, Position]] = set()
    for path, file_edits in sorted(edits.items()):
        old = (root / path).read_text(encoding="utf-8")
        name = None if target.module is None else target.import_name
        try:
            new, done = replace_literals(old, file_edits, module=target.module or "os", name=name)
        except cst.ParserSyntaxError:
            continue  # syntax libcst cannot read yet: its places are reported as left
        applied |= {(path, key) for key in done}
        if new != old and done and target.module is not None:
            new = sort_imports(root, root / path, new, use=use)
        if new != old:
            changes.append(Change(root / path, old, new))

    def touched(group: Group, places: set[tuple[str, Position]]) -> bool:
        return any((f.path, (f.line, f.column - 1)) in places for f in group.findings)

    # Only groups rewritten to their own setting need it declared.
    declare = tuple(g for g in groups if touched(g, applied & whole))
    settings, methods, kept = _new_settings(declare, target, split_urls=split_urls)
    changes += _settings_changes(root, target, settings, methods, kept, example=example)
    checks_env = _checks_env(root, [s.name for s in settings])
    if checks_env is not None:
        changes.append(checks_env)
        names = ", ".join(s.name for s in settings)
        notes.append(
            f'conveyor.toml: [checks] env = "development": the class now requires {names}, '
            f"so the tests get {DEV_ENV}'s values (another environment's file works too)"
        )
    notes += _default_notes(root, target, kept)
    considered = [*groups, *(g for g in extra if g not in groups)]
    fixed = tuple(g for g in considered if touched(g, applied))
    left = tuple(
        f for g in considered for f in g.findings if (f.path, (f.line, f.column - 1)) not in applied
    )
    return FixPlan(tuple(changes), fixed, left, tuple(notes))


def _refused(root: Path, result: ScanResult, groups: list[Group], target: Target) -> dict[str, str]:
    """Files --fix leaves alone because the import would break how they are run, and why."""
    if target.module is None:
        return {}  # os.environ imports anywhere
    package = target.module.split(".")[0]
    commands = invoked.commands(root)
    paths = {f.path for g in groups for f in g.findings if f.path.endswith((".py", ".pyw"))}
    reasons = {p: invoked.script_reason(root, p, package=package, commands=commands) for p in paths}
    return {p: r for p, r in reasons.items() if r is not None}


def _shown(setting: NewSetting, value: str) -> str:
    """A value as output may show it: secrets masked, URLs without their password."""
    if setting.kind == "secret" or is_secret_name(setting.name):
        return masked("hard-coded-secret", value)
    return masked("url-credentials", value) if "://" in value else value


def _default_notes(root: Path, target: Target, kept: list[NewSetting]) -> list[str]:
    """Each value the code had that differs from the class default it would fall back to."""
    notes = []
    for setting in kept:
        default = target.defaults.get(setting.name.upper())
        if default is None or default == setting.value:
            continue
        value, shown = _shown(setting, setting.value), _shown(setting, default)
        notes.append(
            f"{setting.name}: the code had {value}, the class default is {shown}; "
            f"{DEV_ENV} sets {value}; other environments fall back to {shown} "
            "unless their file sets it"
        )
    return notes


def _prefix_edits(
    result: ScanResult,
    groups: list[Group],
    target: Target,
    edits: dict[str, dict[Position, Edit]],
    whole: set[tuple[str, Position]],
) -> list[Group]:
    """URLs that start with a fixed group's URL become f-strings on its setting."""
    bases = [g for g in groups if g.rule in _URL_RULES]
    # The environment fallback's expression has quotes, which an f-string before 3.12 cannot.
    if target.module is None or not bases:
        return []
    extra: list[Group] = []
    for group in result.groups:
        for finding in group.findings:
            key = (finding.line, finding.column - 1)
            if finding.rule not in _URL_RULES or finding.context == "text":
                continue
            if (finding.path, key) in whole or not finding.path.endswith((".py", ".pyw")):
                continue
            base = _base_of(finding.value, bases)
            if base is not None:
                expression = target.expression(base.setting, is_int=False)
                edits[finding.path][key] = (base.value, expression)
                extra.append(group)
    return extra


def _base_of(value: str, groups: Collection[Group]) -> Group | None:
    """The URL group whose value `value` extends with a path, query or fragment."""
    for group in groups:
        tail = value[len(group.value) :]
        if group.rule in _URL_RULES and value.startswith(group.value) and tail[:1] in _SEPARATORS:
            return group
    return None


def _new_settings(
    groups: tuple[Group, ...], target: Target, *, split_urls: bool
) -> tuple[list[NewSetting], list[str], list[NewSetting]]:
    """Settings to declare, properties to add, and values of settings declared already."""
    settings: dict[str, NewSetting] = {}
    methods: list[str] = []
    kept: dict[str, NewSetting] = {}
    for group in groups:
        if target.module is not None and group.setting.upper() in target.existing:
            # Declared already: the value still goes to the development file, never lost.
            type_name, kind = _kind(group)
            name = target.attribute(group.setting)
            kept.setdefault(name, NewSetting(name, type_name, group.value, kind))
            continue
        split = split_url(group.setting, group.value) if split_urls and target.module else None
        if split and group.rule == "url-credentials":
            fields, method = split
            methods.append(method)
            for field in fields:
                if field.name.upper() not in target.existing:
                    settings.setdefault(field.name, field)
                else:
                    kept.setdefault(field.name, field)
            continue
        type_name, kind = _kind(group)
        settings.setdefault(group.setting, NewSetting(group.setting, type_name, group.value, kind))
    return list(settings.values()), methods, list(kept.values())


def _settings_changes(
    root: Path,
    target: Target,
    settings: list[NewSetting],
    methods: list[str],
    kept: list[NewSetting],
    *,
    example: str,
) -> list[Change]:
    """The class gets fields; .env.development the values; the template placeholders."""
    changes: list[Change] = []
    if not settings and not methods and not kept:
        return changes
    if target.class_file is not None and target.class_name is not None and settings + methods:
        old = target.class_file.read_text(encoding="utf-8")
        fields = [f"{s.name}: {s.type}" for s in settings]
        new = add_to_class(old, target.class_name, fields=fields, methods=methods)
        if new != old:
            changes.append(Change(target.class_file, old, new))
    env_path, example_path, ignore_path = root / DEV_ENV, root / example, root / ".gitignore"
    values = [(s.name, s.value) for s in [*settings, *kept]]
    kinds = [(s.name, s.kind) for s in settings]
    old_env, old_example, old_ignore = (_read(env_path), _read(example_path), _read(ignore_path))
    for path, old_text, new_text, private in (
        (env_path, old_env, envwrite.add_values(old_env, values, path=env_path), True),
        (
            example_path,
            old_example,
            envwrite.add_placeholders(old_example, kinds, path=example_path),
            False,
        ),
        (ignore_path, old_ignore, envwrite.add_ignore(old_ignore, DEV_ENV), False),
    ):
        if new_text is not None:
            changes.append(Change(path, old_text, new_text, private))
    return changes


def _checks_env(root: Path, required: Sequence[str]) -> Change | None:
    """conveyor.toml gains `[checks] env = "development"` when the class gains required
    fields and no checks environment is set: else the tests that import the settings would
    fail right after the fix (their values are only in .env.development)."""
    path = root / "conveyor.toml"
    old = _read(path)
    if not required or old is None:
        return None
    lines = old.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if line.split("#")[0].strip() == "[checks]"), None
    )
    line = 'env = "development"   # the values conveyor scan --fix moved; tests import them\n'
    if start is None:
        new = old + ("" if old.endswith("\n") else "\n") + "\n[checks]\n" + line
        return Change(path, old, new)
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines)
    )
    if any(lines[i].split("=")[0].strip() == "env" for i in range(start + 1, end)):
        return None
    return Change(path, old, "".join([*lines[: start + 1], line, *lines[start + 1 :]]))


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None
