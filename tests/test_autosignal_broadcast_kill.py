"""kill -9 in the middle of an autosignal broadcast with charts: after a restart every recipient is settled
once, each with one photo (its chart uploaded once per process, then sent by file_id)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from domain.events import upcast
from eventstore import EventStore, NewEvent
from tests.fakes.bot_api import FakeBotAPI

pytestmark = pytest.mark.timeout(90)

CHILD = Path(__file__).with_name("autosignal_broadcast_child.py")
RECIPIENTS = list(range(5001, 5301))
BLOCKED = {5001, 5002}
SENDER_CONCURRENCY = 8


def spawn(db: Path, url: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), url, "200", "charts"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    return child


def outbox(db: Path) -> list[tuple[str, dict]]:
    """Read the log from outside the running process (WAL lets a reader in while it writes)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT type, data FROM events WHERE stream = 'outbox' ORDER BY position").fetchall()
    return [(t, orjson.loads(d)) for t, d in rows]


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_kill9_mid_broadcast_settles_every_recipient_exactly_once(tmp_path, shared_klines):
    db = tmp_path / "events.db"
    with EventStore.open(db, upcast=upcast) as store:
        for user in RECIPIENTS:
            store.append(f"user-{user}", 0, [NewEvent("PremiumGranted", {"until": None, "lifetime": True}, {})])
    with FakeBotAPI(global_per_s=600, per_chat_rate=20, per_chat_burst=60) as fake:
        fake.blocked = set(BLOCKED)
        child = spawn(db, fake.base_url)
        wait_for(lambda: len(fake.sent) >= len(RECIPIENTS) // 3)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        sent_at_kill = len(fake.sent)
        settled_at_kill = sum(1 for t, _ in outbox(db) if t != "DeliveryAttempted")

        child = spawn(db, fake.base_url)
        try:
            wait_for(lambda: sum(1 for t, _ in outbox(db) if t != "DeliveryAttempted") >= len(RECIPIENTS))
        finally:
            child.kill()
            child.wait()
        sends = Counter(m["chat_id"] for m in fake.sent)

    assert 0 < settled_at_kill < len(RECIPIENTS), "the kill must land in the middle of the broadcast"
    events = outbox(db)
    outcomes = Counter(d["chat_id"] for t, d in events if t != "DeliveryAttempted")
    assert outcomes == Counter(RECIPIENTS)  # each recipient settled exactly once, none missed
    failed = {d["chat_id"]: d["reason"] for t, d in events if t == "DeliveryFailed"}
    assert failed == {chat: "blocked" for chat in BLOCKED}
    assert set(sends) == set(RECIPIENTS) - BLOCKED  # everyone else got the message
    assert {m["method"] for m in fake.sent} == {"sendPhoto"}  # the text is the chart's caption
    assert len(fake.uploads) == 2  # one upload by each process, file_ids after it
    assert {m["photo"] for m in fake.sent} == set(fake.uploads)

    # duplicates only where an attempt was in flight at the kill: attempted, no outcome, attempted again
    attempts = Counter(d["chat_id"] for t, d in events if t == "DeliveryAttempted")
    in_flight = {chat for chat, n in attempts.items() if n > 1}
    duplicates = {chat for chat, n in sends.items() if n > 1}
    assert duplicates <= in_flight
    assert len(in_flight) <= SENDER_CONCURRENCY
    print(f"kill after {sent_at_kill} sends: {len(in_flight)} attempts in flight, {len(duplicates)} duplicates")
    with EventStore.open(db, upcast=upcast) as store:
        assert store.verify().ok
        types = [r.type for r in store.read_stream("autosignal")]
        assert types == ["AutoSignalEnabled", "AutoSignalIssued", "CooldownStarted"]  # not issued again
