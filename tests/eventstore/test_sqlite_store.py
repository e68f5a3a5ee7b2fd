"""The SQLite backend: the shared contract, plus what only a file on disk can show."""

from __future__ import annotations

import sqlite3

import pytest

from eventstore import ConcurrencyError, CorruptLogError, EventStore, NewEvent, NotALogError
from tests.conftest import foreign_sqlite
from tests.eventstore.contract import EventStoreContract, ev


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "events.db"


@pytest.fixture
def open_store(db_path):
    return lambda **options: EventStore.open(db_path, **options)


class TestSQLiteContract(EventStoreContract):
    pass


def test_triggers_refuse_update_and_delete(db_path):
    with EventStore.open(db_path) as store:
        store.append("s", 0, [ev(1)])
    conn = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET data = x'7b7d'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")
    conn.close()


def test_wal_mode_and_selectable_synchronous(db_path):
    with EventStore.open(db_path, synchronous="normal") as store:
        store.append("s", 0, [ev(1)])
        conn = sqlite3.connect(db_path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    with pytest.raises(ValueError, match="synchronous"):
        EventStore.open(db_path, synchronous="sometimes")


def test_a_file_that_is_not_a_log_is_refused(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CorruptLogError):
        EventStore.open(path)


def test_injected_clock_stamps_recorded_at(db_path):
    with EventStore.open(db_path, clock=lambda: 1_700_000_000_000) as store:
        store.append("s", 0, [NewEvent("T", {})])
        assert store.read_stream("s")[0].recorded_at == 1_700_000_000_000


def test_a_second_writer_on_the_same_file_is_caught_not_silently_merged(db_path):
    with EventStore.open(db_path) as first, EventStore.open(db_path) as second:
        first.append("s", 0, [ev(1)])
        second.append("other", 0, [ev(2)])  # second's cached tail is stale: it must re-read, not fork the chain
        with pytest.raises(ConcurrencyError):
            second.append("s", 0, [ev(3)])
        first.append("s", 1, [ev(4)])
        assert [r.position for r in first.read_all()] == [1, 2, 3]
        assert first.verify().ok


def test_a_correct_retry_after_another_store_wrote_the_stream_succeeds(db_path):
    with EventStore.open(db_path) as a, EventStore.open(db_path) as b:
        a.append("s", 0, [ev(1)])  # A caches s@1
        b.append("s", 1, [ev(2)])  # B moves s to 2 behind A's back
        assert a.stream_version("s") == 2
        assert a.append("s", 2, [ev(3)]) == [3]  # A's correct retry is not refused by its stale cache
        with pytest.raises(ConcurrencyError, match="expected version 2, actual version 3"):
            b.append("s", 2, [ev(4)])
        assert [r.version for r in b.read_stream("s")] == [1, 2, 3] and b.verify().ok


def test_an_empty_or_foreign_file_is_refused_unless_a_new_log_is_asked_for(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(NotALogError, match="empty"):
        EventStore.open(empty, create=False)
    assert empty.stat().st_size == 0
    foreign = tmp_path / "foreign.db"
    foreign_sqlite(foreign)
    with pytest.raises(NotALogError, match="no event log"):
        EventStore.open(foreign, create=False)
    with EventStore.open(empty, create=True) as store:
        store.append("s", 0, [ev(1)])
    EventStore.open(empty, create=False).close()


def test_read_only_opens_write_nothing_and_refuse_a_file_without_the_schema(tmp_path, db_path):
    foreign = tmp_path / "foreign.db"
    before = foreign_sqlite(foreign)
    with pytest.raises(NotALogError):
        EventStore.open(foreign, readonly=True)
    assert foreign.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["foreign.db"]
    with EventStore.open(db_path) as store:
        store.append("s", 0, [ev(1)])
    with EventStore.open(db_path, readonly=True) as reader:
        assert [r.version for r in reader.read_stream("s")] == [1] and reader.verify().ok
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.append("s", 1, [ev(2)])
