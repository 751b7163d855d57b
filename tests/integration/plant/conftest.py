"""Fixtures for the plant tests: a real PostgreSQL for the session and a fresh database per test."""

from tests.support.postgres import own_postgres, plant_db, postgres_server  # noqa: F401
