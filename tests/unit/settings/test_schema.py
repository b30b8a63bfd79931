"""Tests for the settings schema from `.env.example` and from a pydantic-settings class."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conveyor.errors import EnvFileError, SchemaError
from conveyor.settings.schema import (
    SettingField,
    SettingsSchema,
    schema_from_class,
    schema_from_example,
)

INSTALL_HINT = (
    "install the project's dependencies into that interpreter, "
    'or set [settings] python = ".venv/bin/python" in conveyor.toml'
)
CLASS_HINT = "check [settings] class in conveyor.toml (the form is package.module:ClassName)"


def field(name: str, **changes: object) -> SettingField:
    values: dict[str, object] = {
        "type": "str",
        "choices": None,
        "default": None,
        "required": False,
        "secret": False,
        "description": None,
        "line": None,
    }
    values.update(changes)
    return SettingField(name, **values)  # type: ignore[arg-type]


# --- .env.example --------------------------------------------------------------------------

EXAMPLE = """\
# The application's database.
DATABASE_URL=<DATABASE_URL>  # url
DB_PASSWORD=
PORT=8000  # port
LOG_LEVEL=info  # one of debug|info|warning

SECRET_KEY=changeme # secret
API_TOKEN=${API_TOKEN}
DEBUG=false # bool
WORKERS=4 # number of worker processes
"""


def write_example(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env.example"
    path.write_text(text)
    return path


def test_schema_from_example(tmp_path: Path) -> None:
    schema = schema_from_example(write_example(tmp_path, EXAMPLE))
    assert schema == SettingsSchema(
        ".env.example",
        (
            field(
                "DATABASE_URL",
                type="url",
                required=True,
                description="The application's database.",
                line=2,
            ),
            field("DB_PASSWORD", required=True, secret=True, line=3),
            field("PORT", type="port", default="8000", line=4),
            field(
                "LOG_LEVEL",
                type="choice",
                choices=("debug", "info", "warning"),
                default="info",
                line=5,
            ),
            field("SECRET_KEY", type="secret", required=True, secret=True, line=7),
            field("API_TOKEN", required=True, secret=True, line=8),
            field("DEBUG", type="bool", default="false", line=9),
            field("WORKERS", default="4", description="number of worker processes", line=10),
        ),
        case_sensitive=True,
    )
    assert schema.names()[:3] == ["DATABASE_URL", "DB_PASSWORD", "PORT"]


def test_example_get_is_case_sensitive(tmp_path: Path) -> None:
    schema = schema_from_example(write_example(tmp_path, "PORT=1\n"))
    assert schema.get("PORT") is not None
    assert schema.get("port") is None


def test_example_bom_and_crlf_are_not_errors(tmp_path: Path) -> None:
    path = tmp_path / ".env.example"
    path.write_bytes(b"\xef\xbb\xbfA=1\r\n")
    assert schema_from_example(path).names() == ["A"]


def test_example_with_malformed_lines(tmp_path: Path) -> None:
    path = write_example(tmp_path, 'A=1\nnot a line\nPORT=http # port\nA=2\nB="open\n')
    with pytest.raises(SchemaError) as caught:
        schema_from_example(path)
    assert str(caught.value) == (
        f"{path} cannot be used as the settings schema:\n"
        '.env.example:2: expected KEY=value, but this line has no "=" (comments start with "#")\n'
        ".env.example:3: the default of PORT: expected a port number between 1 and 65535\n"
        ".env.example:4: A is set twice (first on line 1); the last value wins — remove one\n"
        ".env.example:5: the double quote that starts the value of B is never closed; "
        'add the closing " (the value was read to the end of this line)\n'
        "fix these lines in .env.example"
    )


def test_example_missing(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="file not found"):
        schema_from_example(tmp_path / ".env.example")


def test_get_case_insensitive() -> None:
    schema = SettingsSchema("x:S", (field("APP_PORT"),), case_sensitive=False)
    assert schema.get("app_port") == field("APP_PORT")
    assert schema.get("APP_PORT") == field("APP_PORT")
    assert schema.get("PORT") is None


# --- a pydantic-settings class -------------------------------------------------------------

CONFIG = '''\
import enum
from typing import Literal, Optional

from pydantic import Field, HttpUrl, PostgresDsn, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

print("noise on stdout while importing")


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


class EmailStr(str):
    """Stands in for pydantic's EmailStr, which needs email-validator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="app_", env_file=".env")

    database_url: PostgresDsn = Field(description="Where the data lives.")
    secret_key: SecretStr
    api_password: SecretStr = SecretStr("dev-password")
    port: int = 8000
    ratio: float = 0.5
    debug: bool = False
    log_level: Literal["debug", "info", "warning"] = "info"
    mode: Mode = Mode.SAFE
    sentry: Optional[HttpUrl] = None
    workers: Optional[int]
    admin: EmailStr = EmailStr("ops@example.com")
    service: str = Field("api", alias="SERVICE_NAME")
    region: str = Field("eu", validation_alias="CLOUD_REGION")
    tags: list[str] = ["a", "b"]
    hosts: list[str] = Field(default_factory=list)

    @property
    def is_production(self) -> bool:
        return not self.debug
'''


def write_project(root: Path, config: str = CONFIG) -> Path:
    (root / "backend").mkdir(parents=True, exist_ok=True)
    (root / "backend" / "__init__.py").write_text("")
    (root / "backend" / "config.py").write_text(config)
    return root


def read_class(
    root: Path, spec: str = "backend.config:Settings", **kwargs: object
) -> SettingsSchema:
    return schema_from_class(root, spec, python=sys.executable, **kwargs)  # type: ignore[arg-type]


def test_schema_from_class(tmp_path: Path) -> None:
    schema = read_class(write_project(tmp_path))
    assert schema == SettingsSchema(
        "backend.config:Settings",
        (
            field(
                "APP_DATABASE_URL",
                type="url",
                required=True,
                secret=False,
                description="Where the data lives.",
            ),
            field("APP_SECRET_KEY", type="secret", required=True, secret=True),
            field("APP_API_PASSWORD", type="secret", default="dev-password", secret=True),
            field("APP_PORT", type="int", default="8000"),
            field("APP_RATIO", type="float", default="0.5"),
            field("APP_DEBUG", type="bool", default="false"),
            field(
                "APP_LOG_LEVEL",
                type="choice",
                choices=("debug", "info", "warning"),
                default="info",
            ),
            field("APP_MODE", type="choice", choices=("fast", "safe"), default="safe"),
            field("APP_SENTRY", type="url"),
            # Optional without a default: pydantic still requires the variable.
            field("APP_WORKERS", type="int", required=True),
            field("APP_ADMIN", type="email", default="ops@example.com"),
            field("SERVICE_NAME", default="api"),
            field("CLOUD_REGION", default="eu"),
            field("APP_TAGS", default='["a", "b"]'),
            field("APP_HOSTS"),
        ),
        case_sensitive=False,
    )
    assert schema.get("app_port") == field("APP_PORT", type="int", default="8000")


def test_class_case_sensitive_and_plain_base_model(tmp_path: Path) -> None:
    config = """\
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True)
    Mixed_Case: str = "x"

class Plain(BaseModel):
    name: str
"""
    root = write_project(tmp_path, config)
    schema = read_class(root)
    assert schema.case_sensitive is True
    assert schema.fields == (field("Mixed_Case", default="x"),)
    assert schema.get("MIXED_CASE") is None
    assert read_class(root, "backend.config:Plain").fields == (field("NAME", required=True),)


def test_class_in_nested_attribute(tmp_path: Path) -> None:
    config = """\
from pydantic_settings import BaseSettings

class Outer:
    class Settings(BaseSettings):
        port: int = 1
"""
    schema = read_class(write_project(tmp_path, config), "backend.config:Outer.Settings")
    assert schema.names() == ["PORT"]


def test_default_interpreter_is_the_project_venv(tmp_path: Path) -> None:
    config = """\
import os
from pydantic_settings import BaseSettings

class Settings(BaseSettings):
    via: str = os.environ.get("VIA", "not the venv")
"""
    root = write_project(tmp_path, config)
    venv_python = root / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nVIA=venv exec "{sys.executable}" "$@"\n')
    venv_python.chmod(0o755)
    schema = schema_from_class(root, "backend.config:Settings")
    assert schema.fields == (field("VIA", default="venv"),)


def test_a_default_computed_at_import_never_takes_the_shells_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seeds tell users to `export ENVIRONMENT=development`: a class default read from
    it would carry that shell into every environment's values."""
    config = """\
import os
from pydantic_settings import BaseSettings

class Settings(BaseSettings):
    ENVIRONMENT: str = os.getenv("ENVIRONMENT", "production")
"""
    monkeypatch.setenv("ENVIRONMENT", "development")
    schema = schema_from_class(write_project(tmp_path, config), "backend.config:Settings")
    assert schema.fields == (field("ENVIRONMENT", default="production"),)


def test_relative_interpreter_path_is_relative_to_root(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    (root / "py").symlink_to(sys.executable)
    schema = schema_from_class(root, "backend.config:Settings", python="./py")
    assert len(schema.fields) == 15


def test_interpreter_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    name = Path(sys.executable).name
    assert len(schema_from_class(root, "backend.config:Settings", python=name).fields) == 15


def test_user_code_is_not_imported_here(tmp_path: Path) -> None:
    read_class(write_project(tmp_path))
    assert "backend" not in sys.modules
    assert not (tmp_path / "backend" / "__pycache__").exists()


# --- failures ------------------------------------------------------------------------------


def failure(root: Path, spec: str = "backend.config:Settings", **kwargs: object) -> str:
    with pytest.raises(SchemaError) as caught:
        read_class(root, spec, **kwargs)
    return str(caught.value)


def test_bad_spec(tmp_path: Path) -> None:
    for spec in ("backend.config", "backend.config:", ":Settings"):
        assert failure(tmp_path, spec) == (
            f'the settings class "{spec}" must look like package.module:ClassName\n{CLASS_HINT}'
        )


def test_interpreter_not_found(tmp_path: Path) -> None:
    for python in (".venv/bin/python", "no-such-python-3.99"):
        with pytest.raises(SchemaError) as caught:
            schema_from_class(tmp_path, "backend.config:Settings", python=python)
        assert str(caught.value) == (
            "cannot read the settings class backend.config:Settings: "
            f"the Python interpreter {python} does not exist\n"
            "set [settings] python in conveyor.toml to the project's interpreter, "
            'e.g. ".venv/bin/python"'
        )


def test_interpreter_cannot_run(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text("not a program")
    python.chmod(0o644)
    with pytest.raises(SchemaError) as caught:
        schema_from_class(tmp_path, "backend.config:Settings", python=str(python))
    assert str(caught.value) == (
        f"cannot read the settings class backend.config:Settings with {python}: "
        "cannot run it (Permission denied)"
    )


def test_module_not_found(tmp_path: Path) -> None:
    assert failure(tmp_path) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        f"ModuleNotFoundError: No module named 'backend'\n{CLASS_HINT}"
    )


def test_dependency_not_installed(tmp_path: Path) -> None:
    root = write_project(tmp_path, "import pydantic_settings_not_installed\n")
    assert failure(root) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        f"ModuleNotFoundError: No module named 'pydantic_settings_not_installed'\n{INSTALL_HINT}"
    )


def test_module_raises_on_import(tmp_path: Path) -> None:
    root = write_project(tmp_path, "import os\nHOST = os.environ['NO_SUCH_VARIABLE_X']\n")
    assert failure(root) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        f"KeyError: 'NO_SUCH_VARIABLE_X'\n{INSTALL_HINT}"
    )


def test_module_calls_exit_on_import(tmp_path: Path) -> None:
    root = write_project(tmp_path, "import sys\nsys.exit(3)\n")
    assert failure(root).startswith(
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        "SystemExit: 3\n"
    )


def test_interpreter_dies_without_answer(tmp_path: Path) -> None:
    config = "import os, sys\nsys.stderr.write('fatal: gone\\n')\nos._exit(7)\n"
    assert failure(write_project(tmp_path, config)) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        f"it exited with code 7 before describing the class: fatal: gone\n{INSTALL_HINT}"
    )


def test_interpreter_dies_silently(tmp_path: Path) -> None:
    root = write_project(tmp_path, "import os\nos._exit(0)\n")
    assert failure(root) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        f"it exited with code 0 before describing the class\n{INSTALL_HINT}"
    )


def test_forged_marker_with_bad_json(tmp_path: Path) -> None:
    config = "import os, sys\nsys.__stdout__.write('--conveyor-settings-schema--{oops\\n')\n"
    config += "sys.__stdout__.flush()\nos._exit(0)\n"
    assert failure(write_project(tmp_path, config)) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        "unexpected output from the interpreter"
    )


def test_forged_marker_with_wrong_shape(tmp_path: Path) -> None:
    config = "import os, sys\nsys.__stdout__.write('--conveyor-settings-schema--{}\\n')\n"
    config += "sys.__stdout__.flush()\nos._exit(0)\n"
    assert failure(write_project(tmp_path, config)) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        "unexpected output from the interpreter"
    )


def test_attribute_missing(tmp_path: Path) -> None:
    root = write_project(tmp_path, "X = 1\n")
    assert failure(root) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        f"module backend.config has no attribute Settings\n{CLASS_HINT}"
    )


@pytest.mark.parametrize(
    "config",
    ["def Settings():\n    pass\n", "class Settings:\n    port = 1\n", "Settings = 3\n"],
)
def test_not_a_model(tmp_path: Path, config: str) -> None:
    assert failure(write_project(tmp_path, config)) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        f"Settings is not a pydantic BaseSettings or BaseModel class\n{CLASS_HINT}"
    )


def test_pydantic_1_model(tmp_path: Path) -> None:
    # pydantic 1's models have __fields__ but no model_fields; a stand-in keeps this test
    # independent of whether pydantic.v1 imports on this Python.
    config = "class Settings:\n    __fields__ = {}\n"
    assert failure(write_project(tmp_path, config)) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        "Settings is a pydantic 1 model; conveyor reads pydantic 2 classes\n"
        "upgrade to pydantic 2 and pydantic-settings, "
        "or remove [settings] class to use .env.example as the schema"
    )


def test_fields_cannot_be_read(tmp_path: Path) -> None:
    config = "class Settings:\n    model_config = 5\n    model_fields = {}\n"
    assert failure(write_project(tmp_path, config)) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        "reading its fields failed: TypeError: 'int' object is not iterable"
    )


def test_timeout(tmp_path: Path) -> None:
    root = write_project(tmp_path, "import time\ntime.sleep(30)\n")
    assert failure(root, timeout=0.5) == (
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        "no answer after 0.5 s\n"
        "importing backend.config must not wait for a database or the network; "
        "move that work out of import time"
    )


def test_timeout_also_ends_processes_started_on_import(tmp_path: Path) -> None:
    config = "import subprocess, sys, time\n"
    config += "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
    config += "time.sleep(30)\n"
    root = write_project(tmp_path, config)
    assert failure(root, timeout=1).startswith(
        f"cannot read the settings class backend.config:Settings with {sys.executable}: "
        "no answer after 1 s\n"
    )


def test_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    assert len(read_class(Path("project")).fields) == 15


def test_module_that_builds_its_settings_on_import(tmp_path: Path) -> None:
    """The seeds' config.py does `settings = Settings()` at import; reading the schema must
    not need the real values, nor read a .env file lying next to it."""
    write_project(
        tmp_path,
        CONFIG + "\nsettings = Settings()\nLISTEN = settings.port + 1\n",
    )
    (tmp_path / ".env").write_text("APP_SECRET_KEY=from-a-file\n")
    schema = read_class(tmp_path)
    secret = schema.get("APP_SECRET_KEY")
    assert secret is not None and secret.required and secret.default is None
