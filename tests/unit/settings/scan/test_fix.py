"""Planning and applying --fix: nothing written until apply, secrets masked in diffs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conveyor.settings.scan.apply import apply, diff
from conveyor.settings.scan.engine import scan
from conveyor.settings.scan.fix import plan_fix, split_url
from conveyor.settings.scan.target import ENVIRONMENT, find_target

URL = "postgresql://admin:admin123@localhost:5435/stocktrading"
CONFIG = """\
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    ENVIRONMENT: str = "development"


settings = Settings()
"""


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_environment_fallback_without_a_settings_class(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.py": f'DB = "{URL}"\nPORT = 5435\nNOTE = "see {URL}"\n'})
    result = scan(root)
    plan = plan_fix(root, result, ENVIRONMENT)
    assert [c.path.name for c in plan.changes] == [
        "a.py",
        ".env.development",
        ".env.example",
        ".gitignore",
    ]
    assert plan.changes[0].new == (
        'import os\n\nDB = os.environ["DATABASE_URL"]\nPORT = int(os.environ["APP_PORT"])\nNOTE = "see '
        + URL
        + '"\n'
    )
    assert [g.setting for g in plan.fixed] == ["DATABASE_URL", "APP_PORT"]
    assert [(f.line, f.fixable) for f in plan.left] == [(3, False)]
    assert (root / "a.py").read_text(encoding="utf-8").startswith("DB =")  # nothing written yet
    shown = diff(plan, root)
    assert "admin123" not in shown
    assert "+DATABASE_URL=postgresql://admin:********@localhost:5435/stocktrading" in shown
    assert "--- /dev/null\n+++ b/.env.development" in shown
    apply(plan)
    assert (root / ".env.development").stat().st_mode & 0o777 == 0o600
    assert (
        (root / ".env.development")
        .read_text(encoding="utf-8")
        .endswith(f"DATABASE_URL={URL}\nAPP_PORT=5435\n")
    )
    assert (root / "a.py").stat().st_mode & 0o777 == 0o644


def test_threshold_and_group_selection(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.py": "PORT = 5435\n", "tests/t.py": f'DB = "{URL}"\n'})
    result = scan(root)
    assert plan_fix(root, result, ENVIRONMENT, threshold=2).changes == ()
    assert [g.setting for g in plan_fix(root, result, ENVIRONMENT).fixed] == ["APP_PORT"]
    low = result.groups[0] if result.groups[0].severity == "low" else result.groups[1]
    assert [g.setting for g in plan_fix(root, result, ENVIRONMENT, only=[low.id]).fixed] == [
        "DATABASE_URL"
    ]


def test_settings_class_gets_fields_and_split_urls(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "app/config.py": CONFIG,
            "app/jobs.py": f'DATABASE_URL = "{URL}"\nREDIS_PORT = 6380\nSECRET = "x"\n',
            "app/more.py": 'DB_HOST = "localhost"\n',
            ".env.example": "ENVIRONMENT=development\n",
            ".gitignore": ".env.*\n",
        },
    )
    target = find_target(root, "app.config:Settings")
    plan = plan_fix(root, scan(root), target, split_urls=True)
    changed = {c.path.relative_to(root).as_posix(): c.new for c in plan.changes}
    assert sorted(changed) == [
        ".env.development",
        ".env.example",
        "app/config.py",
        "app/jobs.py",
        "app/more.py",
    ]
    assert changed["app/jobs.py"] == (
        "from app.config import settings\n\n"
        'DATABASE_URL = settings.DATABASE_URL\nREDIS_PORT = settings.REDIS_PORT\nSECRET = "x"\n'
    )
    assert changed["app/config.py"] == textwrap.dedent('''\
        from pydantic_settings import BaseSettings


        class Settings(BaseSettings):
            ENVIRONMENT: str = "development"
            DB_HOST: str
            DB_PORT: int
            DB_NAME: str
            DB_USER: str
            DB_PASSWORD: str
            REDIS_PORT: int
            @property
            def DATABASE_URL(self) -> str:
                """Built from the DB_* settings."""
                return f"postgresql://{self.DB_USER}:{self.DB_PASSWORD}@{self.DB_HOST}:{self.DB_PORT}/{self.DB_NAME}"


        settings = Settings()
    ''')
    assert changed[".env.development"].splitlines()[1:] == [
        "DB_HOST=localhost", "DB_PORT=5435", "DB_NAME=stocktrading", "DB_USER=admin",
        "DB_PASSWORD=admin123", "REDIS_PORT=6380",
    ]  # fmt: skip
    assert "DB_PASSWORD=<DB_PASSWORD>  # secret" in changed[".env.example"]
    assert "admin123" not in diff(plan, root)


def test_split_needs_every_part() -> None:
    assert split_url("DATABASE_URL", "postgresql://u:p@h/db") is None
    assert split_url("DATABASE_URL", "http://u:p@h:1/db") is None
    assert split_url("DATABASE_URL", "postgresql://u:p@h:x/db") is None
    fields, method = split_url("REPORTS_URL", "mysql://u:p@h:3306/db?ssl=1")  # type: ignore[misc]
    assert [f.name for f in fields][:2] == ["REPORTS_HOST", "REPORTS_PORT"]
    assert "/{self.REPORTS_NAME}?ssl=1" in method


def test_names_the_class_already_has_are_reused(tmp_path: Path) -> None:
    config = CONFIG.replace(
        '    ENVIRONMENT: str = "development"\n', '    database_url: str = ""\n'
    )
    root = project(
        tmp_path,
        {"app/config.py": config, "app/a.py": f'database_url = "{URL}"\n', ".gitignore": ".env*\n"},
    )
    plan = plan_fix(root, scan(root), find_target(root, "app.config:Settings"))
    assert [c.path.name for c in plan.changes] == ["a.py", ".env.development"]
    assert plan.changes[0].new.endswith("database_url = settings.database_url\n")
    # The value the code had is kept, and differs from the default it would fall back to.
    assert f"database_url={URL}\n" in plan.changes[1].new and plan.changes[1].private
    assert plan.notes[0].startswith("database_url: the code had postgresql://admin:")
    assert "admin123" not in plan.notes[0]


def test_files_libcst_cannot_read_are_left_for_a_person(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.py": f'DB = "{URL}"\n'})
    result = scan(root)
    (root / "a.py").write_text(f'DB = "{URL}"\nprint "py2"\n', encoding="utf-8")
    plan = plan_fix(root, result, ENVIRONMENT)
    assert (plan.changes, plan.fixed) == ((), ())
    assert [f.path for f in plan.left] == ["a.py"]
