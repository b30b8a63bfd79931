"""Item-based co-occurrence recommendations over the users' ratings.

Two movies are similar when the same people rated them: the cosine of their
sets of raters. A user's score for a movie they have not rated is the sum, over
the movies they rated, of similarity times how much they liked that movie
(rating minus 3, so a 1 counts against similar movies). Ties go to the more
popular movie (a damped mean rating), then to the lower id, so the result is
deterministic.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from movies.models import Movie, Rating

ALGORITHM = "item-cooccurrence-v1"
NEUTRAL_RATING = 3.0
# Weight of the global mean in the popularity score: few ratings pull towards it.
POPULARITY_DAMPING = 3.0


class UnknownUserError(LookupError):
    """The user has no ratings, so nothing can be said about their taste."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"unknown user {user_id}: no ratings")
        self.user_id = user_id


@dataclass(frozen=True)
class Scored:
    """One recommended movie and its score (higher is better)."""

    movie_id: int
    score: float


class Recommender:
    """Recommendations from a fixed set of ratings; build one per batch or request."""

    def __init__(self, ratings: Iterable[tuple[int, int, float]], movie_ids: Iterable[int]) -> None:
        self._by_user: dict[int, dict[int, float]] = defaultdict(dict)
        self._raters: dict[int, set[int]] = defaultdict(set)
        for user_id, movie_id, rating in ratings:
            self._by_user[user_id][movie_id] = rating
            self._raters[movie_id].add(user_id)
        self._movie_ids = sorted(set(movie_ids) | set(self._raters))
        self._global_mean = self._mean_of_all()
        self._popularity = self._damped_means()
        self._similarity: dict[tuple[int, int], float] = {}

    @property
    def users(self) -> list[int]:
        """Every user with at least one rating, ascending."""
        return sorted(self._by_user)

    def rated_by(self, user_id: int) -> set[int]:
        """The movies a user has rated."""
        return set(self._by_user.get(user_id, {}))

    def similarity(self, a: int, b: int) -> float:
        """Cosine similarity of two movies' sets of raters, 0 to 1."""
        key = (a, b) if a <= b else (b, a)
        if key not in self._similarity:
            raters_a, raters_b = self._raters.get(a, set()), self._raters.get(b, set())
            both = len(raters_a & raters_b)
            self._similarity[key] = both / math.sqrt(len(raters_a) * len(raters_b)) if both else 0.0
        return self._similarity[key]

    def recommend(self, user_id: int, limit: int) -> list[Scored]:
        """The user's top `limit` movies among those they have not rated."""
        if user_id not in self._by_user:
            raise UnknownUserError(user_id)
        rated = self._by_user[user_id]
        scored = [
            Scored(
                movie_id=candidate,
                score=round(
                    sum(
                        self.similarity(movie_id, candidate) * (rating - NEUTRAL_RATING)
                        for movie_id, rating in rated.items()
                    ),
                    6,
                ),
            )
            for candidate in self._movie_ids
            if candidate not in rated
        ]
        # A movie nobody rated is as popular as the average one.
        popularity = self._popularity
        scored.sort(
            key=lambda s: (-s.score, -popularity.get(s.movie_id, self._global_mean), s.movie_id)
        )
        return scored[:limit]

    def _mean_of_all(self) -> float:
        everything = [r for rated in self._by_user.values() for r in rated.values()]
        return sum(everything) / len(everything) if everything else NEUTRAL_RATING

    def _damped_means(self) -> dict[int, float]:
        totals: dict[int, list[float]] = defaultdict(list)
        for rated in self._by_user.values():
            for movie_id, rating in rated.items():
                totals[movie_id].append(rating)
        prior = POPULARITY_DAMPING * self._global_mean
        return {
            movie_id: (sum(rs) + prior) / (len(rs) + POPULARITY_DAMPING)
            for movie_id, rs in totals.items()
        }


def load_recommender(session: Session) -> Recommender:
    """Build a recommender from every rating in the database."""
    rows = session.execute(select(Rating.user_id, Rating.movie_id, Rating.rating)).all()
    ratings = [(user_id, movie_id, rating) for user_id, movie_id, rating in rows]
    movie_ids = session.scalars(select(Movie.id)).all()
    return Recommender(ratings, movie_ids)
