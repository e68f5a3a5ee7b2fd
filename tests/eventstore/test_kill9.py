"""SIGKILL at random moments: every acknowledged event survives, and the log stays valid."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventstore import EventStore

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 20


@pytest.mark.timeout(180)
def test_kill9_loses_nothing_acknowledged(tmp_path):
    path = tmp_path / "events.db"
    rng = random.Random(1234)
    acknowledged: dict[str, int] = {}
    for _ in range(ROUNDS):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.eventstore.kill_writer", str(path), "4"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        first = child.stdout.readline()  # the child is up and has committed at least once
        assert first, "writer child died before its first acknowledgement"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        for line in [first, *child.stdout.read().splitlines()]:
            stream, version, _position = line.split()
            acknowledged[stream] = max(acknowledged.get(stream, 0), int(version))

        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        with EventStore.open(path) as store:
            assert store.verify().ok
            for stream, version in acknowledged.items():
                versions = [r.version for r in store.read_stream(stream)]
                assert versions == list(range(1, len(versions) + 1)), f"{stream} has a version gap"
                assert len(versions) >= version, f"{stream}: acknowledged v{version}, log has {len(versions)}"
    assert sum(acknowledged.values()) > ROUNDS
