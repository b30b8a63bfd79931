"""The schema of an app's configuration, from `.env.example` or from a pydantic-settings class."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.errors import SchemaError
from conveyor.settings import types
from conveyor.settings.envfile import EnvEntry, read_env_file
from conveyor.settings.secrets import decide_secret, is_placeholder, secret_mark

# Problems that do not make a line unreadable; they are reported by `config check` instead.
_HARMLESS = frozenset({"bom", "crlf"})
_MARKER = "--conveyor-settings-schema--"
_CLASS_HINT = "check [settings] class in conveyor.toml (the form is package.module:ClassName)"
_INSTALL_HINT = (
    "install the project's dependencies into that interpreter, "
    'or set [settings] python = ".venv/bin/python" in conveyor.toml'
)


@dataclass(frozen=True)
class SettingField:
    """One setting: its environment variable name, type, default and whether it is needed."""

    name: str
    type: str
    choices: tuple[str, ...] | None
    default: str | None
    required: bool
    secret: bool
    description: str | None
    line: int | None


@dataclass(frozen=True)
class SettingsSchema:
    """Every setting an app reads, and where that list came from."""

    source: str
    fields: tuple[SettingField, ...]
    case_sensitive: bool

    def get(self, name: str) -> SettingField | None:
        """The field for an environment variable name, matching case as the app does."""
        if self.case_sensitive:
            return next((field for field in self.fields if field.name == name), None)
        folded = name.casefold()
        return next((field for field in self.fields if field.name.casefold() == folded), None)

    def names(self) -> list[str]:
        """Every field's environment variable name, in order."""
        return [field.name for field in self.fields]


def schema_from_example(path: Path) -> SettingsSchema:
    """The schema written down in a `.env.example`; raise SchemaError on malformed lines."""
    env = read_env_file(path)
    errors = [(p.line, p.message) for p in env.problems if p.code not in _HARMLESS]
    fields = []
    for entry in env.entries:
        field = _field_from_entry(entry)
        if field.default is not None:
            wrong = types.validate(field.type, field.default, choices=field.choices)
            if wrong:
                errors.append((entry.line, f"the default of {entry.key}: {wrong}"))
        fields.append(field)
    if errors:
        listing = "\n".join(f"{path.name}:{line}: {message}" for line, message in sorted(errors))
        raise SchemaError(
            f"{path} cannot be used as the settings schema:\n{listing}",
            hint=f"fix these lines in {path.name}",
        )
    return SettingsSchema(path.name, tuple(fields), case_sensitive=True)


def _field_from_entry(entry: EnvEntry) -> SettingField:
    """A field from one `.env.example` line: a placeholder or empty value means required."""
    declared = types.parse_type_comment(entry.comment)
    type_name, choices = declared if declared else ("str", None)
    required = not entry.value.strip() or is_placeholder(entry.value)
    # A trailing comment that names no type still describes the setting.
    description = entry.doc or (entry.comment if declared is None else None)
    return SettingField(
        name=entry.key,
        type=type_name,
        choices=choices,
        default=None if required else entry.value,
        required=required,
        secret=decide_secret(entry.key, type_name, mark=secret_mark(entry.comment)),
        description=description,
        line=entry.line,
    )


# What the interpreter that reads a settings class gets of conveyor's own environment.
_BASE_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR"})


def schema_from_class(
    root: Path, spec: str, *, python: str | None = None, timeout: float = 60
) -> SettingsSchema:
    """The schema of a pydantic-settings class, read by the project's own interpreter."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise SchemaError(
            f'the settings class "{spec}" must look like package.module:ClassName',
            hint=_CLASS_HINT,
        )
    # Absolute, not resolved: a venv's python is a symlink that must be run by its own path.
    root = root.absolute()
    interpreter = _interpreter(root, spec, python)
    prefix = f"cannot read the settings class {spec} with {interpreter}"
    # Defaults computed at import (`os.getenv("ENVIRONMENT", "development")`) are read as on a
    # clean machine: the shell's exports are no environment's values, and never reach a host.
    env = {k: v for k, v in os.environ.items() if k in _BASE_ENV or k.startswith("LC_")}
    # The project's own import path is kept (a src layout may need it): a path, not a value.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ behind in the user's project
    argv = [interpreter, "-c", _SCRIPT, spec]
    try:
        done = _run(argv, root, env, timeout)
    except subprocess.TimeoutExpired:
        raise SchemaError(
            f"{prefix}: no answer after {timeout:g} s",
            hint=f"importing {module} must not wait for a database or the network; "
            "move that work out of import time",
        ) from None
    except OSError as error:
        raise SchemaError(f"{prefix}: cannot run it ({error.strerror})") from None
    payload = _payload(done, prefix)
    failure = payload.get("error")
    if failure is not None:
        raise _class_error(str(failure), str(payload.get("detail", "")), prefix, spec)
    try:
        fields = tuple(_field_from_json(item) for item in payload["fields"])
        case_sensitive = bool(payload["case_sensitive"])
    except (KeyError, TypeError, ValueError):
        raise SchemaError(f"{prefix}: unexpected output from the interpreter") from None
    return SettingsSchema(spec, fields, case_sensitive=case_sensitive)


def _run(
    argv: list[str], root: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run argv in its own process group, so a timeout also ends whatever user code started."""
    with subprocess.Popen(
        argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8", errors="replace", start_new_session=True,
    ) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _interpreter(root: Path, spec: str, python: str | None) -> str:
    """The interpreter to run: the given one, else the project's .venv, else this one."""
    if python is None:
        venv = root / ".venv" / "bin" / "python"
        return str(venv) if venv.exists() else sys.executable
    if "/" in python or os.sep in python:
        path = Path(python).expanduser()
        path = path if path.is_absolute() else root / path
        if path.is_file():
            return str(path)
    else:
        found = shutil.which(python)
        if found:
            return found
    raise SchemaError(
        f"cannot read the settings class {spec}: the Python interpreter {python} does not exist",
        hint="set [settings] python in conveyor.toml to the project's interpreter, "
        'e.g. ".venv/bin/python"',
    )


def _payload(done: subprocess.CompletedProcess[str], prefix: str) -> dict[str, Any]:
    """The JSON object after the marker on stdout."""
    lines = [line for line in done.stdout.splitlines() if line.startswith(_MARKER)]
    if not lines:
        tail = done.stderr.strip().splitlines()
        detail = f": {tail[-1].strip()}" if tail else ""
        raise SchemaError(
            f"{prefix}: it exited with code {done.returncode} before describing the class{detail}",
            hint=_INSTALL_HINT,
        )
    try:
        payload = json.loads(lines[-1][len(_MARKER) :])
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise SchemaError(f"{prefix}: unexpected output from the interpreter")
    return payload


def _class_error(kind: str, detail: str, prefix: str, spec: str) -> SchemaError:
    """The SchemaError for a failure the script reported."""
    module, _, attribute = spec.partition(":")
    parts = module.split(".")
    if kind == "import":
        # The module itself missing is a wrong path, not a missing dependency.
        own = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if any(detail == f"ModuleNotFoundError: No module named '{name}'" for name in own):
            return SchemaError(f"{prefix}: {detail}", hint=_CLASS_HINT)
        return SchemaError(f"{prefix}: {detail}", hint=_INSTALL_HINT)
    if kind == "attribute":
        return SchemaError(f"{prefix}: module {module} has no attribute {detail}", hint=_CLASS_HINT)
    if kind == "not-model":
        message = f"{prefix}: {attribute} is not a pydantic BaseSettings or BaseModel class"
        return SchemaError(message, hint=_CLASS_HINT)
    if kind == "pydantic1":
        return SchemaError(
            f"{prefix}: {attribute} is a pydantic 1 model; conveyor reads pydantic 2 classes",
            hint="upgrade to pydantic 2 and pydantic-settings, "
            "or remove [settings] class to use .env.example as the schema",
        )
    return SchemaError(f"{prefix}: reading its fields failed: {detail}")


def _field_from_json(item: dict[str, Any]) -> SettingField:
    """A field from the script's description of it."""
    name, type_name = str(item["name"]), str(item["type"])
    if type_name not in types.TYPE_NAMES:
        type_name = "str"
    choices = item.get("choices")
    default, description = item.get("default"), item.get("description")
    return SettingField(
        name=name,
        type=type_name,
        choices=tuple(str(choice) for choice in choices) if choices is not None else None,
        default=None if default is None else str(default),
        required=bool(item["required"]),
        secret=decide_secret(name, type_name),
        description=None if description is None else str(description),
        line=None,
    )


# Runs in the project's interpreter (any Python 3.8+), so it uses nothing newer and imports
# only the user's module; our process never imports user code.
_SCRIPT = r"""
import enum, importlib, json, sys, traceback, typing

MARKER = "--conveyor-settings-schema--"
REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr  # user code may print on import; only our line goes to stdout


def finish(payload):
    REAL_STDOUT.write("\n" + MARKER + json.dumps(payload) + "\n")
    REAL_STDOUT.flush()
    sys.exit(0)


def last_line(exc):
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip() if lines else type(exc).__name__


def env_text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return env_text(value.value)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        try:
            return json.dumps(value if isinstance(value, dict) else list(value))
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def describe(tp):
    origin = typing.get_origin(tp)
    if origin is not None and origin is getattr(typing, "Annotated", object()):
        return describe(typing.get_args(tp)[0])
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return describe(args[0]) if len(args) == 1 else ("str", None)
    if origin is typing.Literal:
        args = typing.get_args(tp)
        return "choice", [env_text(arg) for arg in args if arg is not None]
    if not isinstance(tp, type):
        return "str", None
    if issubclass(tp, enum.Enum):
        return "choice", [env_text(member.value) for member in tp]
    names = [klass.__name__ for klass in tp.__mro__]
    if "SecretStr" in names or "SecretBytes" in names:
        return "secret", None
    if any(name.endswith(("Url", "Dsn")) for name in names):
        return "url", None
    if "EmailStr" in names or "NameEmail" in names:
        return "email", None
    if issubclass(tp, bool):
        return "bool", None
    if issubclass(tp, int):
        return "int", None
    if issubclass(tp, float) or "Decimal" in names:
        return "float", None
    return "str", None


def env_name(name, info, prefix):
    alias = info.validation_alias
    if isinstance(alias, str):
        return alias
    for choice in getattr(alias, "choices", None) or ():
        if isinstance(choice, str):
            return choice
    if isinstance(info.alias, str):
        return info.alias
    return prefix + name


def field(name, info, prefix, case_sensitive):
    kind, choices = describe(info.annotation)
    required = info.is_required()
    no_default = required or info.default_factory is not None
    env = env_name(name, info, prefix)
    return {
        "name": env if case_sensitive else env.upper(),
        "type": kind,
        "choices": choices,
        "default": None if no_default else env_text(info.default),
        "required": required,
        "description": info.description,
    }


def construct_without_values():
    # Modules often build `settings = Settings()` on import, which fails without the real
    # values. Reading the schema needs no values: instances are built unvalidated, from
    # nothing but their defaults, and no .env file or environment variable is read.
    try:
        import pydantic_settings
    except Exception:
        return

    def init(self, *args, **values):
        built = type(self).model_construct(**values)
        for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                     "__pydantic_private__"):
            object.__setattr__(self, name, getattr(built, name, None))

    pydantic_settings.BaseSettings.__init__ = init


def main():
    spec = sys.argv[1]
    module_name, _, attribute = spec.partition(":")
    construct_without_values()
    try:
        target = importlib.import_module(module_name)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code too
        finish({"error": "import", "detail": last_line(exc)})
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except Exception:
            finish({"error": "attribute", "detail": part})
    if not isinstance(target, type):
        finish({"error": "not-model"})
    if not (hasattr(target, "model_fields") and hasattr(target, "model_config")):
        finish({"error": "pydantic1" if hasattr(target, "__fields__") else "not-model"})
    try:
        config = dict(target.model_config)
        prefix = config.get("env_prefix") or ""
        case_sensitive = bool(config.get("case_sensitive", False))
        fields = [
            field(name, info, prefix, case_sensitive)
            for name, info in target.model_fields.items()
        ]
    except Exception as exc:
        finish({"error": "internal", "detail": last_line(exc)})
    finish({"case_sensitive": case_sensitive, "fields": fields})


main()
"""
