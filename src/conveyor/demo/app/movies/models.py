"""Database tables: movies, ratings, and the worker's precomputed recommendations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; its metadata is what migrations must match."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Movie(Base):
    """A movie of the catalogue; ids come from the bundled dataset."""

    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    # Pipe-separated, as in the dataset: "Sci-Fi|Thriller".
    genres: Mapped[str] = mapped_column(String(200))

    @property
    def genre_list(self) -> list[str]:
        """The genres as a list."""
        return [g for g in self.genres.split("|") if g]


class Rating(Base):
    """One user's rating of one movie, 1 to 5."""

    __tablename__ = "ratings"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id"), primary_key=True)
    rating: Mapped[float] = mapped_column(Float)


class Recommendation(Base):
    """A recommendation precomputed by the worker; rank 1 is the best."""

    __tablename__ = "recommendations"
    __table_args__ = (Index("ix_recommendations_user_rank", "user_id", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Added by revision 0002; rows written before it have no algorithm recorded.
    algorithm: Mapped[str | None] = mapped_column(String(64), nullable=True)
