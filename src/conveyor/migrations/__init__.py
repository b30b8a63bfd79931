"""Database migrations in a deploy (Alembic): what a release's scripts hold, read before a
host is touched."""
