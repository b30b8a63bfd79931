"""Engine and sessions for the configured database, and the dataset loader."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from movies.config import get_settings
from movies.models import Movie, Rating

log = logging.getLogger(__name__)


def normalize_url(url: str) -> URL:
    """Parse a database URL; a bare `postgresql://` means the psycopg 3 driver."""
    parsed = make_url(url)
    # SQLAlchemy's default PostgreSQL driver is psycopg2, which this app does not ship.
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str) -> Engine:
    """Create an engine for SQLite or PostgreSQL with settings that suit each."""
    parsed = normalize_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        # FastAPI runs sync endpoints in a thread pool; SQLite connections cross threads.
        connect_args["check_same_thread"] = False
    elif parsed.get_backend_name() == "postgresql":
        # A health check must answer quickly when the database host is gone.
        connect_args["connect_timeout"] = 3
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """Return the process-wide engine for `settings.DATABASE_URL`."""
    return make_engine(get_settings().DATABASE_URL)


@lru_cache(maxsize=1)
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def get_session() -> Iterator[Session]:
    """Yield a session for one request (a FastAPI dependency)."""
    with _session_factory()() as session:
        yield session


def reset() -> None:
    """Forget the cached engine and settings (tests change DATABASE_URL between cases)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    _session_factory.cache_clear()
    get_settings.cache_clear()


def _read_csv(name: str) -> list[dict[str, str]]:
    text = (resources.files("movies") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def seed(engine: Engine) -> int:
    """Load the bundled movies and ratings if the movies table is empty; return rows added."""
    with Session(engine) as session:
        if session.scalar(select(func.count()).select_from(Movie)):
            return 0
        movies = [
            Movie(id=int(r["movie_id"]), title=r["title"], year=int(r["year"]), genres=r["genres"])
            for r in _read_csv("movies.csv")
        ]
        ratings = [
            Rating(
                user_id=int(r["user_id"]), movie_id=int(r["movie_id"]), rating=float(r["rating"])
            )
            for r in _read_csv("ratings.csv")
        ]
        try:
            session.add_all(movies)
            session.flush()  # movies first: ratings reference them
            session.add_all(ratings)
            session.commit()
        except IntegrityError:
            # Another process (the other colour, or the worker) seeded at the same time.
            session.rollback()
            log.info("dataset already loaded by another process")
            return 0
    log.info("loaded %d movies and %d ratings", len(movies), len(ratings))
    return len(movies) + len(ratings)
