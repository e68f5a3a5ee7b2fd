"""An attacker with the file: every edit, deletion, insertion, swap or truncation is reported."""

from __future__ import annotations

import sqlite3

import pytest

from eventstore import CorruptLogError, EventStore
from tests.eventstore.contract import ev


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "events.db"
    with EventStore.open(path) as store:
        for k in range(20):
            store.append(f"s{k % 3}", k // 3, [ev(k)])
        assert store.verify().ok
    return path


def tamper(path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.close()


def verify(path):
    conn = sqlite3.connect(path)
    conn.close()
    from eventstore.verify import verify_log

    conn = sqlite3.connect(path)
    try:
        return verify_log(conn)
    finally:
        conn.close()


def test_clean_log_verifies(log):
    report = verify(log)
    assert report.ok and report.events_checked == 20 and report.first_bad_position is None
    assert len(report.head_hash) == 64


def test_cutting_off_the_newest_events_changes_the_head_an_auditor_recorded(log):
    recorded = verify(log).head_hash
    tamper(log, "DELETE FROM events WHERE position >= 19")
    report = verify(log)
    assert report.ok and report.events_checked == 18  # the chain alone cannot see a clean cut at the end...
    assert report.head_hash != recorded  # ...the head hash kept from an earlier verify does


def test_edited_payload(log):
    tamper(log, "UPDATE events SET data = CAST('{\"n\":999}' AS BLOB) WHERE position = 7")
    report = verify(log)
    assert not report.ok and report.first_bad_position == 7 and "hash" in report.reason


def test_deleted_row(log):
    tamper(log, "DELETE FROM events WHERE position = 9")
    report = verify(log)
    assert not report.ok and report.first_bad_position == 9 and "missing" in report.reason


def test_swapped_rows(log):
    tamper(
        log,
        "UPDATE events SET position = -1 WHERE position = 4",
        "UPDATE events SET position = 4 WHERE position = 5",
        "UPDATE events SET position = 5 WHERE position = -1",
    )
    report = verify(log)
    assert not report.ok and report.first_bad_position == 4


def test_inserted_row(log):
    tamper(
        log,
        "INSERT INTO events SELECT 21, stream, version + 100, type, data, meta, recorded_at, hash "
        "FROM events WHERE position = 20",
    )
    report = verify(log)
    assert not report.ok and report.first_bad_position == 21


def test_truncated_middle(log):
    tamper(log, "DELETE FROM events WHERE position BETWEEN 8 AND 12")
    report = verify(log)
    assert not report.ok and report.first_bad_position == 8


def test_tampered_newest_row_is_refused_at_open(log):
    tamper(log, "UPDATE events SET meta = CAST('{}' AS BLOB) WHERE position = 20")
    with pytest.raises(CorruptLogError) as info:
        EventStore.open(log)
    assert info.value.position == 20


def test_truncated_file_is_reported(log):
    conn = sqlite3.connect(log)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = log.read_bytes()
    log.write_bytes(data[: len(data) // 2])
    try:
        store = EventStore.open(log)
    except CorruptLogError:
        return
    with store:
        report = store.verify()
    assert not report.ok and report.first_bad_position is not None


@pytest.mark.parametrize("position", [5, 20])
def test_a_blob_turned_into_text_is_a_break_not_a_crash(log, position):
    tamper(log, f"UPDATE events SET data = CAST(data AS TEXT) WHERE position = {position}")
    if position == 20:
        with pytest.raises(CorruptLogError):
            EventStore.open(log)
    report = verify(log)
    assert not report.ok and report.first_bad_position == position and "wrong type" in report.reason
