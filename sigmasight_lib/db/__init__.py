"""Persistence: typed ORM models, engine/session handling, Alembic migrations, store."""
