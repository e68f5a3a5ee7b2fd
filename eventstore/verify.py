"""Full verification of the log: hash chain, contiguous positions, gap-free versions per stream."""

from __future__ import annotations

import sqlite3

from .chain import GENESIS, row_hash, well_typed
from .records import VerifyReport


def verify_log(conn: sqlite3.Connection) -> VerifyReport:
    """Recompute every hash in position order and report the first row that breaks anything.

    Catches an edited row (hash), a deleted or inserted row (position or hash), reordered rows
    (hash), and a torn or truncated file (SQLite refuses to read it).
    """
    prev = GENESIS
    expected_position = 1
    versions: dict[str, int] = {}
    checked = 0
    try:
        cursor = conn.execute(
            "SELECT position, stream, version, type, data, meta, recorded_at, hash FROM events ORDER BY position"
        )
        for position, stream, version, type_, data, meta, recorded_at, stored in cursor:
            if position != expected_position:
                return VerifyReport(
                    False, checked, expected_position, f"position {expected_position} is missing (next is {position})"
                )
            if version != versions.get(stream, 0) + 1:
                return VerifyReport(
                    False, checked, position,
                    f"stream {stream!r} jumps from version {versions.get(stream, 0)} to {version}",
                )
            if not well_typed(stream, version, type_, data, meta, recorded_at):
                return VerifyReport(False, checked, position, "a column holds a value of the wrong type: the row "
                                    "was altered")
            if row_hash(prev, position, stream, version, type_, data, meta, recorded_at) != stored:
                return VerifyReport(False, checked, position, "hash mismatch: the row or its predecessor was altered")
            prev = stored
            versions[stream] = version
            expected_position += 1
            checked += 1
    except sqlite3.DatabaseError as exc:
        return VerifyReport(False, checked, expected_position, f"unreadable log: {exc}")
    return VerifyReport(True, checked, head_hash=prev.hex() if checked else None)
