"""Shared fixtures. Real kline files live in ../shared/data/klines and are never copied here."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

SHARED_KLINES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "klines"


def klines_dir() -> Path:
    """The shared kline folder; skip (or fail under REQUIRE_SHARED_DATA=1) when it is absent."""
    if SHARED_KLINES.is_dir():
        return SHARED_KLINES
    reason = f"real Binance klines not found at {SHARED_KLINES} (../shared is absent)"
    if os.environ.get("REQUIRE_SHARED_DATA") == "1":
        pytest.fail(reason + "; REQUIRE_SHARED_DATA=1 demands them")
    pytest.skip(reason)


@pytest.fixture
def shared_klines() -> Path:
    return klines_dir()


def foreign_sqlite(path: Path) -> bytes:
    """Write an SQLite file that is not an event log (one unrelated table); returns its bytes."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    return path.read_bytes()
