"""The app's configuration: one typed field per environment variable."""

from __future__ import annotations

import logging
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Outside development a short or sample secret makes tokens forgeable; refuse to start with one.
MIN_SECRET_LENGTH = 32
SAMPLE_SECRET_MARKERS = ("changeme", "change-me", "change-in-production", "dev-secret")
# The names uvicorn's --log-level accepts; the worker maps them onto `logging` levels.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class Settings(BaseSettings):
    """Settings read from the environment and from `.env` in the working directory."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    ENVIRONMENT: str = Field(
        default="development",
        description="Which environment this is: development, staging or production.",
    )
    DATABASE_URL: str = Field(
        default="sqlite:///./movies.db",
        description="SQLAlchemy URL of the database (SQLite in development, PostgreSQL elsewhere).",
    )
    REDIS_URL: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="URL of the Redis server used as a cache.",
    )
    JWT_SECRET_KEY: SecretStr = Field(
        description=(
            "Key that signs access tokens; at least 32 random characters outside development."
        ),
    )
    API_PORT: int = Field(
        default=8000,
        ge=1,
        le=65535,
        description="TCP port the API listens on when no port is given on the command line.",
    )
    LOG_LEVEL: str = Field(
        default="info",
        description=(
            "Log level of the API and the worker: critical, error, warning, info, debug or trace."
        ),
    )
    RECOMMENDATIONS_LIMIT: int = Field(
        default=10,
        ge=1,
        le=100,
        description="How many movies /api/v1/predict returns.",
    )
    ADMIN_EMAIL: str = Field(
        default="ops@example.com",
        description="Address of the people who operate this service.",
    )
    WORKER_INTERVAL_SECONDS: int = Field(
        default=30,
        ge=1,
        description="Seconds the worker waits between two precompute runs.",
    )

    @field_validator("LOG_LEVEL")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        """Accept a log level in any case; store it in lower case."""
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _secret_strong_outside_development(self) -> Settings:
        """Reject a short or sample JWT secret in staging and production."""
        if self.ENVIRONMENT == "development":
            return self
        secret = self.JWT_SECRET_KEY.get_secret_value()
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"JWT_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters "
                f"when ENVIRONMENT={self.ENVIRONMENT}"
            )
        if any(marker in secret.lower() for marker in SAMPLE_SECRET_MARKERS):
            raise ValueError(
                f"JWT_SECRET_KEY is a sample value; generate a random one for {self.ENVIRONMENT}"
            )
        return self


def configure_logging(level: str) -> None:
    """Send log lines to stderr at `level` (a LOG_LEVELS name) unless logging is set up."""
    # "trace" is uvicorn's level below debug; the standard library stops at debug.
    numeric = logging.DEBUG if level == "trace" else getattr(logging, level.upper())
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("movies").setLevel(numeric)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once per process."""
    return Settings()  # required fields come from the environment
