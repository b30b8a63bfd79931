"""Finding the project's settings object."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import ConfigError
from conveyor.settings.scan.target import ENVIRONMENT, find_target, module_file

CONFIG = """
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    database_url: str = "sqlite://"
    @property
    def REDIS_URL(self) -> str:
        return "x"
"""


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_instance(tmp_path: Path) -> None:
    write(tmp_path, "backend/config.py", CONFIG + "\nsettings = Settings()\n")
    target = find_target(tmp_path, "backend.config:Settings")
    assert (target.module, target.import_name, target.class_name) == (
        "backend.config",
        "settings",
        "Settings",
    )
    assert target.class_file == tmp_path / "backend/config.py"
    assert target.expression("DATABASE_URL", is_int=False) == "settings.database_url"
    assert target.expression("REDIS_URL", is_int=False) == "settings.REDIS_URL"
    assert target.expression("DB_PORT", is_int=True) == "settings.DB_PORT"


def test_function(tmp_path: Path) -> None:
    write(
        tmp_path,
        "src/app/config/__init__.py",
        CONFIG + '\ndef get_settings() -> "Settings":\n    return Settings()\n',
    )
    target = find_target(tmp_path, "app.config:Settings")
    assert target.expression("X", is_int=False) == "get_settings().X"
    assert target.import_name == "get_settings"


def test_environment() -> None:
    assert find_target(Path("."), None) is ENVIRONMENT
    assert ENVIRONMENT.expression("DB_PORT", is_int=True) == 'int(os.environ["DB_PORT"])'
    assert ENVIRONMENT.expression("DB_HOST", is_int=False) == 'os.environ["DB_HOST"]'


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "cannot find the module app.config of the settings class app.config:Settings"),
        ({"app/config.py": "class (:\n"}, "{root}/app/config.py: cannot be read as Python"),
        ({"app/config.py": "x = 1\n"}, "{root}/app/config.py: has no class Settings"),
        (
            {"app/config.py": CONFIG + "\ndef make() -> None:\n    pass\n"},
            "{root}/app/config.py: has no settings object to import (like `settings = Settings()`)",
        ),
    ],
)
def test_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(ConfigError) as caught:
        find_target(tmp_path, "app.config:Settings")
    assert caught.value.message.startswith(message.format(root=tmp_path))


def test_module_file(tmp_path: Path) -> None:
    assert module_file(tmp_path, "nothing.here") is None
