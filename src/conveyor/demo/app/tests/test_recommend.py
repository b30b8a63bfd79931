"""The co-occurrence recommender, on hand-made data and on the bundled dataset."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from movies.recommend import Recommender, UnknownUserError

DATA = Path(__file__).resolve().parents[1] / "movies" / "data"

# Movies 1 and 2 are always rated together; 3 and 4 together; 5 by one person.
# fmt: off
RATINGS = [
    (1, 1, 5.0), (1, 2, 5.0), (1, 3, 2.0),
    (2, 1, 4.0), (2, 2, 5.0), (2, 4, 2.0),
    (3, 3, 5.0), (3, 4, 5.0),
    (4, 3, 4.0), (4, 4, 4.0), (4, 5, 3.0),
    (5, 1, 5.0),
    (6, 3, 1.0),
]
# fmt: on
MOVIES = [1, 2, 3, 4, 5, 6]


def bundled() -> tuple[Recommender, dict[int, set[str]], list[tuple[int, int, float]]]:
    with (DATA / "movies.csv").open(encoding="utf-8") as f:
        genres = {int(r["movie_id"]): set(r["genres"].split("|")) for r in csv.DictReader(f)}
    with (DATA / "ratings.csv").open(encoding="utf-8") as f:
        ratings = [
            (int(r["user_id"]), int(r["movie_id"]), float(r["rating"])) for r in csv.DictReader(f)
        ]
    return Recommender(ratings, genres), genres, ratings


def test_a_movie_rated_together_with_a_liked_one_comes_first() -> None:
    recommender = Recommender(RATINGS, MOVIES)

    top = recommender.recommend(5, limit=1)

    # Movie 1 (rated 5, so weight 2) and movie 2 share 2 of their 3 and 2 raters.
    assert [s.movie_id for s in top] == [2]
    assert top[0].score == pytest.approx(2 * 2 / math.sqrt(3 * 2))


def test_a_disliked_movie_pushes_its_companions_down() -> None:
    recommender = Recommender(RATINGS, MOVIES)

    ranked = [s.movie_id for s in recommender.recommend(6, limit=5)]

    # User 6 gave movie 3 a 1: movie 4 (always rated with 3) must come last.
    assert ranked[-1] == 4


def test_unrated_and_unrelated_movies_are_ordered_by_popularity_then_id() -> None:
    recommender = Recommender([(1, 1, 5.0), (2, 2, 1.0), (3, 3, 5.0)], [1, 2, 3, 4])

    ranked = [s.movie_id for s in recommender.recommend(3, limit=3)]

    # No co-ratings: every score is 0; movie 1 is popular, 4 unrated, 2 disliked.
    assert ranked == [1, 4, 2]


def test_limit_and_running_out_of_candidates() -> None:
    recommender = Recommender(RATINGS, MOVIES)

    assert len(recommender.recommend(1, limit=2)) == 2
    assert {s.movie_id for s in recommender.recommend(4, limit=10)} == {1, 2, 6}


def test_unknown_user_raises() -> None:
    with pytest.raises(UnknownUserError, match="unknown user 42"):
        Recommender(RATINGS, MOVIES).recommend(42, limit=3)


def test_similarity_is_a_symmetric_cosine() -> None:
    recommender = Recommender(RATINGS, MOVIES)

    assert recommender.similarity(1, 2) == recommender.similarity(2, 1)
    assert recommender.similarity(3, 4) == pytest.approx(2 / math.sqrt(4 * 3))  # 2 shared
    assert recommender.similarity(1, 6) == 0.0
    assert recommender.similarity(5, 5) == 1.0


def test_bundled_dataset_never_recommends_a_rated_movie() -> None:
    recommender, _, _ = bundled()

    assert len(recommender.users) == 30
    for user_id in recommender.users:
        recommended = {s.movie_id for s in recommender.recommend(user_id, limit=10)}
        assert len(recommended) == 10
        assert not recommended & recommender.rated_by(user_id)


def test_bundled_dataset_recommendations_follow_taste_better_than_chance() -> None:
    recommender, genres, ratings = bundled()
    hits = chance = 0.0
    for user_id in recommender.users:
        liked = set().union(*(genres[m] for u, m, r in ratings if u == user_id and r >= 4))
        top = recommender.recommend(user_id, limit=3)
        hits += sum(bool(genres[s.movie_id] & liked) for s in top) / len(top)
        chance += sum(bool(g & liked) for g in genres.values()) / len(genres)

    # A top-3 movie shares a genre with a movie the user liked more often than a random one.
    assert hits / len(recommender.users) >= 0.75
    assert hits > chance
