"""The HTTP API: health, recommendations and movie details."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from movies import __version__
from movies.config import configure_logging, get_settings
from movies.db import get_engine, get_session, seed
from movies.models import Movie, Recommendation
from movies.recommend import ALGORITHM, UnknownUserError, load_recommender

log = logging.getLogger(__name__)

SessionDep = Annotated[Session, Depends(get_session)]


class MovieOut(BaseModel):
    """A movie as the API shows it."""

    id: int
    title: str
    year: int
    genres: list[str]


class RecommendationOut(BaseModel):
    """One recommended movie; rank 1 is the best."""

    rank: int
    movie_id: int
    title: str
    year: int
    genres: list[str]
    score: float


class PredictionOut(BaseModel):
    """A user's recommendations and where they came from."""

    user_id: int
    algorithm: str
    source: Literal["precomputed", "live"]
    recommendations: list[RecommendationOut]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Configure logging and load the bundled dataset into an empty database."""
    settings = get_settings()  # a configuration error stops the start here, loudly
    configure_logging(settings.LOG_LEVEL)
    try:
        seed(get_engine())
    except SQLAlchemyError as exc:
        # Start anyway: /health reports the database, and a restart will seed.
        log.warning("dataset not loaded (%s); run `alembic upgrade head`", type(exc).__name__)
    yield


app = FastAPI(title="Movies", version=__version__, lifespan=lifespan)


@app.get("/health")
def health() -> JSONResponse:
    """Report the release and colour, and whether the database answers."""
    body: dict[str, str | None] = {
        "status": "ok",
        "version": os.environ.get("APP_VERSION", "dev"),
        "color": os.environ.get("CONVEYOR_COLOR"),
    }
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The class name only: driver messages can include host names and user names.
        log.warning("health: database unreachable (%s)", type(exc).__name__)
        body.update(status="unavailable", detail="database unreachable")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@app.get("/api/v1/predict", response_model=PredictionOut)
def predict(
    user_id: Annotated[int, Query(ge=1, description="The user to recommend movies to.")],
    session: SessionDep,
) -> PredictionOut:
    """Top movies for a user, from the worker's last run or computed now."""
    limit = get_settings().RECOMMENDATIONS_LIMIT
    stored = session.scalars(
        select(Recommendation)
        .where(Recommendation.user_id == user_id)
        .order_by(Recommendation.rank)
        .limit(limit)
    ).all()
    if len(stored) == limit:
        movies = _movies_by_id(session, [r.movie_id for r in stored])
        items = [(r.movie_id, r.score) for r in stored]
        return _prediction(user_id, "precomputed", stored[0].algorithm or ALGORITHM, items, movies)
    # Fewer rows than asked for: the worker has not run yet, or ran with a smaller limit.
    try:
        scored = load_recommender(session).recommend(user_id, limit)
    except UnknownUserError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    movies = _movies_by_id(session, [s.movie_id for s in scored])
    items = [(s.movie_id, s.score) for s in scored]
    return _prediction(user_id, "live", ALGORITHM, items, movies)


@app.get("/api/v1/movies/{movie_id}", response_model=MovieOut)
def get_movie(movie_id: Annotated[int, Path(ge=1)], session: SessionDep) -> MovieOut:
    """One movie by id."""
    movie = session.get(Movie, movie_id)
    if movie is None:
        raise HTTPException(status_code=404, detail=f"unknown movie {movie_id}")
    return MovieOut(id=movie.id, title=movie.title, year=movie.year, genres=movie.genre_list)


def _movies_by_id(session: Session, ids: Sequence[int]) -> dict[int, Movie]:
    return {m.id: m for m in session.scalars(select(Movie).where(Movie.id.in_(ids)))}


def _prediction(
    user_id: int,
    source: Literal["precomputed", "live"],
    algorithm: str,
    items: Sequence[tuple[int, float]],
    movies: dict[int, Movie],
) -> PredictionOut:
    return PredictionOut(
        user_id=user_id,
        algorithm=algorithm,
        source=source,
        recommendations=[
            RecommendationOut(
                rank=rank,
                movie_id=movie_id,
                title=movies[movie_id].title,
                year=movies[movie_id].year,
                genres=movies[movie_id].genre_list,
                score=score,
            )
            for rank, (movie_id, score) in enumerate(items, start=1)
        ],
    )
