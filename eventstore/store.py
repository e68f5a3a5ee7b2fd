"""EventStore: the append-only log's public face. Writes go through the journal; reads use a small pool."""

from __future__ import annotations

import os
import queue
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from .chain import GENESIS, row_hash, well_typed
from .errors import CorruptLogError, NotALogError, StoreClosedError
from .journal import (
    SELECT_COLUMNS,
    AppendRequest,
    CloseRequest,
    Journal,
    SnapshotRequest,
    SubscribeRequest,
    Subscription,
    encode_payload,
)
from .records import NewEvent, Recorded, Snapshot, StoreStats, VerifyReport
from .schema import SYNCHRONOUS_MODES, connect, ensure_schema, has_schema, make_durable, open_file
from .verify import verify_log

Upcast = Callable[[str, int, dict[str, Any]], dict[str, Any]]
PAGE = 2000


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class EventStore:
    """An append-only, hash-chained SQLite event log; thread-safe, domain-free."""

    def __init__(self, path: str, synchronous: str, upcast: Upcast | None, clock: Callable[[], int],
                 create: bool, readonly: bool) -> None:
        self.path = path
        self._synchronous = synchronous
        self._readonly = readonly
        self._upcast = upcast
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._closed = False
        writer = None
        try:
            writer = open_file(path, readonly)
            if not has_schema(writer) and (readonly or not create):
                raise NotALogError(_not_a_log(path))
            if not readonly:
                make_durable(writer, synchronous)
                ensure_schema(writer)
            _check_tail(writer)
        except (sqlite3.DatabaseError, CorruptLogError, NotALogError) as exc:
            if writer is not None:
                writer.close()
            if isinstance(exc, CorruptLogError | NotALogError | sqlite3.OperationalError):
                raise  # corrupt, not a log, or simply unreachable (missing folder, permissions): say which
            raise CorruptLogError(f"{path}: {exc}") from exc
        self._journal = Journal(writer, self._decode, clock)
        self.on_append: Callable[[float], None] | None = None  # seconds each committed append took
        self._write_failed = False

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        upcast: Upcast | None = None,
        clock: Callable[[], int] | None = None,
        create: bool = True,
        readonly: bool = False,
    ) -> EventStore:
        """Open (or create) the log at `path`. `clock` stamps recorded_at (ms); the wall clock by default.

        `create=False` refuses (NotALogError) a file without the log's schema, e.g. an empty file where a
        log used to be, instead of silently starting a new log in it. `readonly` opens the file with
        `mode=ro` for reading commands: nothing is written (no schema, no WAL switch), appends fail, and a
        file without the schema is refused.
        """
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, got {synchronous!r}")
        return cls(str(path), mode, upcast, clock or _wall_clock_ms, create, readonly)

    def close(self) -> None:
        """Commit what is queued, stop the journal, close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._journal.submit(CloseRequest())
        except StoreClosedError:
            pass
        self._journal.join()
        self._journal._conn.close()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------

    def append(self, stream: str, expected_version: int, events: list[NewEvent]) -> list[int]:
        """Append atomically if `stream` is at `expected_version`; returns positions once durable."""
        if not isinstance(stream, str) or not stream:
            raise ValueError("stream must be a non-empty string")
        if not isinstance(expected_version, int) or expected_version < 0:
            raise ValueError(f"expected_version must be an int >= 0, got {expected_version!r}")
        if not events:
            raise ValueError("append needs at least one event")
        encoded = []
        for event in events:
            if not isinstance(event, NewEvent) or not isinstance(event.type, str) or not event.type:
                raise TypeError(f"expected NewEvent with a non-empty type, got {event!r}")
            encoded.append(
                (event.type, encode_payload(event.data, "data"), encode_payload(event.meta, "meta"))
            )
        started = time.perf_counter()
        try:
            positions = self._journal.submit(AppendRequest(stream, expected_version, encoded))
        except (sqlite3.Error, OSError):
            self._write_failed = True
            raise
        self._write_failed = False
        if self.on_append is not None:
            self.on_append(time.perf_counter() - started)
        return positions

    def on_commit(self, observer: Callable[[int], None]) -> None:
        """Call `observer` on the journal's thread with the number of appends each transaction committed."""
        self._journal.on_commit = observer

    def writable(self) -> bool:
        """Open, its journal running, the file writable, and the last append not refused by SQLite or the OS."""
        return (not self._closed and self._journal.running and not self._write_failed
                and os.access(self.path, os.W_OK))

    def save_snapshot(self, stream: str, version: int, state: dict[str, Any]) -> None:
        """Store a stream's folded state at `version`, replacing the previous snapshot."""
        self._journal.submit(SnapshotRequest(stream, version, encode_payload(state, "snapshot state")))

    # --- reading -----------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StoreClosedError("the event store is closed")
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = connect(self.path, self._synchronous, self._readonly)
        try:
            yield conn
        finally:
            self._readers.put(conn)

    def _decode(self, row: tuple) -> Recorded:
        position, stream, version, type_, data, meta, recorded_at = row
        meta = orjson.loads(meta)
        data = orjson.loads(data)
        if self._upcast is not None:
            data = self._upcast(type_, meta.get("schema", 1), data)
        return Recorded(position, stream, version, type_, data, meta, recorded_at)

    def read_stream(self, stream: str, after_version: int = 0) -> list[Recorded]:
        with self._reader() as conn:
            rows = conn.execute(
                f"SELECT {SELECT_COLUMNS} FROM events WHERE stream = ? AND version > ? ORDER BY version",
                (stream, after_version),
            ).fetchall()
        return [self._decode(row) for row in rows]

    def read_all(self, after_position: int = 0, limit: int | None = None) -> Iterator[Recorded]:
        """Every event after `after_position` in order, fetched in pages (no long-held read transaction)."""
        remaining = limit
        decode = self._decode
        while remaining is None or remaining > 0:
            page = PAGE if remaining is None else min(PAGE, remaining)
            with self._reader() as conn:
                rows = conn.execute(
                    f"SELECT {SELECT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                    (after_position, page),
                ).fetchall()
            for row in rows:
                yield decode(row)
            if len(rows) < page:
                return
            after_position = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def last_position(self) -> int:
        with self._reader() as conn:
            return conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]

    def stream_version(self, stream: str) -> int:
        with self._reader() as conn:
            row = conn.execute("SELECT coalesce(max(version), 0) FROM events WHERE stream = ?", (stream,))
            return row.fetchone()[0]

    def load_snapshot(self, stream: str) -> Snapshot | None:
        with self._reader() as conn:
            row = conn.execute("SELECT version, state FROM snapshots WHERE stream = ?", (stream,)).fetchone()
        return Snapshot(row[0], orjson.loads(row[1])) if row else None

    # --- following, stats, verification ------------------------------------------------

    def subscribe(
        self, callback: Callable[[list[Recorded]], None], after_position: int | None = None
    ) -> Subscription:
        """Give `callback` every event after `after_position` (None: from now on), catch-up then live.

        The callback runs on the journal's thread: it must hand events on and return at once.
        Returns a handle for `unsubscribe`.
        """
        subscription = Subscription(callback, after_position)
        if self._journal.on_journal_thread:
            self._journal.subscribe_here(subscription)
        else:
            self._journal.submit(SubscribeRequest(subscription))
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._journal.unsubscribe(subscription)

    def stats(self) -> StoreStats:
        j = self._journal
        return StoreStats(appends=j.appends, commits=j.commits, events=j.events, largest_batch=j.largest_batch)

    def verify(self) -> VerifyReport:
        """Walk the whole chain: hashes, positions, per-stream versions (see eventstore.verify)."""
        with self._reader() as conn:
            return verify_log(conn)


def _not_a_log(path: str) -> str:
    if Path(path).stat().st_size == 0:
        return f"{path} is empty (0 bytes), not an event log"
    return f"{path} holds no event log (no events table)"


def _check_tail(conn: sqlite3.Connection) -> None:
    """A cheap check at open: the newest row's hash must follow from the row before it."""
    rows = conn.execute(
        f"SELECT {SELECT_COLUMNS}, hash FROM events ORDER BY position DESC LIMIT 2"
    ).fetchall()
    if not rows:
        return
    prev = rows[1][7] if len(rows) == 2 else GENESIS
    position, stream, version, type_, data, meta, recorded_at, stored = rows[0]
    if not well_typed(stream, version, type_, data, meta, recorded_at) or \
            row_hash(prev, position, stream, version, type_, data, meta, recorded_at) != stored:
        raise CorruptLogError("the newest event's hash does not follow from its predecessor", position)
