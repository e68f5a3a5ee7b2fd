"""The log's schema. Created with sqlite-utils (readable, introspectable); triggers and pragmas are raw SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
"""


def open_file(path: str, readonly: bool = False) -> sqlite3.Connection:
    """A bare connection, nothing written yet; `readonly` opens with `mode=ro`, so SQLite writes nothing."""
    target, uri = (f"{Path(path).absolute().as_uri()}?mode=ro", True) if readonly else (path, False)
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def make_durable(conn: sqlite3.Connection, synchronous: str) -> None:
    """WAL mode with the chosen durability; autocommit, so transactions are explicit."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")


def connect(path: str, synchronous: str, readonly: bool = False) -> sqlite3.Connection:
    """A connection ready to use: WAL with the chosen durability, or read-only as the file is."""
    conn = open_file(path, readonly)
    if not readonly:
        make_durable(conn, synchronous)
    return conn


def has_schema(conn: sqlite3.Connection) -> bool:
    """Whether the file holds an event log (an empty or foreign file does not)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone() is not None


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
