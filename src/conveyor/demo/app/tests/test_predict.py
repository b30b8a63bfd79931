"""GET /api/v1/predict and GET /api/v1/movies/{id}."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from movies import worker
from movies.config import get_settings

DATA = Path(__file__).resolve().parents[1] / "movies" / "data"


def rated_movies() -> dict[int, set[int]]:
    """Each user's rated movie ids, straight from the bundled CSV."""
    rated: dict[int, set[int]] = defaultdict(set)
    with (DATA / "ratings.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rated[int(row["user_id"])].add(int(row["movie_id"]))
    return rated


def test_predict_returns_the_top_ten_ranked_by_score(client: TestClient) -> None:
    response = client.get("/api/v1/predict", params={"user_id": 1})

    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == 1
    assert body["algorithm"] == "item-cooccurrence-v1"
    assert body["source"] == "live"
    recommendations = body["recommendations"]
    assert [r["rank"] for r in recommendations] == list(range(1, 11))
    scores = [r["score"] for r in recommendations]
    assert scores == sorted(scores, reverse=True)
    assert set(recommendations[0]) == {"rank", "movie_id", "title", "year", "genres", "score"}
    assert len({r["movie_id"] for r in recommendations}) == 10


def test_predict_is_deterministic(client: TestClient) -> None:
    first = client.get("/api/v1/predict?user_id=7").json()
    second = client.get("/api/v1/predict?user_id=7").json()

    assert first == second


def test_predict_never_recommends_a_movie_the_user_rated(client: TestClient) -> None:
    for user_id, rated in rated_movies().items():
        body = client.get("/api/v1/predict", params={"user_id": user_id}).json()
        recommended = {r["movie_id"] for r in body["recommendations"]}
        assert recommended, user_id
        assert not recommended & rated, user_id


def test_predict_honours_recommendations_limit(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOMMENDATIONS_LIMIT", "3")
    get_settings.cache_clear()  # settings are read once per process
    from movies.main import app

    with TestClient(app) as client:
        body = client.get("/api/v1/predict?user_id=2").json()

    assert len(body["recommendations"]) == 3


def test_predict_serves_the_workers_precomputed_rows(client: TestClient, seeded: Engine) -> None:
    live = client.get("/api/v1/predict?user_id=5").json()
    worker.run_once(seeded, limit=10)

    stored = client.get("/api/v1/predict?user_id=5").json()

    assert stored["source"] == "precomputed"
    assert stored["recommendations"] == live["recommendations"]


def test_predict_unknown_user_is_404_with_a_json_error(client: TestClient) -> None:
    response = client.get("/api/v1/predict?user_id=999")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "unknown user 999: no ratings"}


@pytest.mark.parametrize(
    "query", ["", "?user_id=", "?user_id=abc", "?user_id=0", "?user_id=-3", "?user_id=1.5"]
)
def test_predict_missing_or_invalid_user_id_is_422(client: TestClient, query: str) -> None:
    response = client.get(f"/api/v1/predict{query}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "user_id"]


def test_movie_by_id(client: TestClient) -> None:
    response = client.get("/api/v1/movies/2")

    assert response.status_code == 200
    assert response.json() == {
        "id": 2,
        "title": "Orbit of Silence",
        "year": 2019,
        "genres": ["Sci-Fi", "Thriller"],
    }


def test_unknown_movie_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/movies/4040")

    assert response.status_code == 404
    assert response.json() == {"detail": "unknown movie 4040"}


@pytest.mark.parametrize("movie_id", ["x", "0"])
def test_invalid_movie_id_is_422(client: TestClient, movie_id: str) -> None:
    assert client.get(f"/api/v1/movies/{movie_id}").status_code == 422
