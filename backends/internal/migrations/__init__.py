"""Alembic migrations of the booking engine, shipped inside the package."""
