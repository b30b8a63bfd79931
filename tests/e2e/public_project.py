"""A project shaped like the backend of fastapi/full-stack-fastapi-template, written from scratch.

A pydantic-settings class with `int`, `bool`, `Literal`, `SecretStr`, optional fields and
computed defaults; a FastAPI app whose health route sits behind two router prefixes, one of
them a setting; `requires-python` newer than some hosts have.
"""

from __future__ import annotations

CONFIG = """\
import secrets
from typing import Literal

from pydantic import HttpUrl, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file="../.env", env_ignore_empty=True, extra="ignore")

    API_V1_STR: str = "/api/v1"
    SECRET_KEY: str = secrets.token_urlsafe(32)
    # 60 minutes * 24 hours * 8 days = 8 days
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 60 * 24 * 8
    ENVIRONMENT: Literal["local", "staging", "production"] = "local"
    PROJECT_NAME: str
    SENTRY_DSN: HttpUrl | None = None
    POSTGRES_SERVER: str
    POSTGRES_PORT: int = 5432
    POSTGRES_USER: str
    POSTGRES_PASSWORD: SecretStr
    SMTP_TLS: bool = True
    SMTP_PASSWORD: str | None = None
    EMAIL_RESET_TOKEN_EXPIRE_HOURS: int = 48
    TOKEN_AUDIENCE: str = "conveyor-app"


settings = Settings()  # type: ignore[call-arg]
"""

MAIN = """\
from fastapi import FastAPI

from app.api.main import api_router
from app.core.config import settings

app = FastAPI(title=settings.PROJECT_NAME, openapi_url=f"{settings.API_V1_STR}/openapi.json")
app.include_router(api_router, prefix=settings.API_V1_STR)
"""

API_MAIN = """\
from fastapi import APIRouter

from app.api.routes import login, utils

api_router = APIRouter()
api_router.include_router(login.router)
api_router.include_router(utils.router)
"""

LOGIN = """\
from fastapi import APIRouter

router = APIRouter(tags=["login"])


@router.post("/login/access-token")
def login_access_token() -> dict[str, str]:
    return {"access_token": "x"}
"""

UTILS = """\
from fastapi import APIRouter

router = APIRouter(prefix="/utils", tags=["utils"])


@router.get("/health-check/")
async def health_check() -> bool:
    return True
"""

PYPROJECT = """\
[project]
name = "app"
version = "0.1.0"
requires-python = ">=3.10,<4.0"
dependencies = ["fastapi[standard]", "pydantic-settings"]  # as the template has it
"""

FILES = {
    "pyproject.toml": PYPROJECT,
    "app/__init__.py": "",
    "app/main.py": MAIN,
    "app/core/__init__.py": "",
    "app/core/config.py": CONFIG,
    "app/api/__init__.py": "",
    "app/api/main.py": API_MAIN,
    "app/api/routes/__init__.py": "",
    "app/api/routes/login.py": LOGIN,
    "app/api/routes/utils.py": UTILS,
}
