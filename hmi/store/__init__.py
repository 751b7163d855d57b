"""Records and traceability: the SQLite records database, its writer thread, part images, audit trail and users."""

from __future__ import annotations

from hmi.store.database import DB_FILENAME, SCHEMA_VERSION, database_path, open_database

__all__ = ["DB_FILENAME", "SCHEMA_VERSION", "database_path", "open_database"]
