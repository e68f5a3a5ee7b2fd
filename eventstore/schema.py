"""The log's schema. Created with sqlite-utils (readable, introspectable); triggers and pragmas are raw SQL."""

from __future__ import annotations

import sqlite3

import sqlite_utils

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
"""


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """A connection in WAL mode with the chosen durability; autocommit so transactions are explicit."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the events and snapshots tables, the stream index and the append-only triggers if missing."""
    db = sqlite_utils.Database(conn)
    if not db["events"].exists():
        db["events"].create(
            {
                "position": int,
                "stream": str,
                "version": int,
                "type": str,
                "data": bytes,
                "meta": bytes,
                "recorded_at": int,
                "hash": bytes,
            },
            pk="position",
            not_null={"stream", "version", "type", "data", "meta", "recorded_at", "hash"},
        )
        db["events"].create_index(["stream", "version"], index_name="events_stream_version", unique=True)
    if not db["snapshots"].exists():
        db["snapshots"].create({"stream": str, "version": int, "state": bytes}, pk="stream")
    conn.executescript(_TRIGGERS)
