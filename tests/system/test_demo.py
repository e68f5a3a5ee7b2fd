"""`main.py demo` runs the whole system offline and checks its own log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(200)  # the tour may wait for setups to spend on, and out the rate limit
def test_demo_tour_completes_offline_and_its_log_replays(tmp_path):
    """Run from an empty folder with TMPDIR there: the demo writes nothing beside the working directory
    (its charts once went to ./data/charts, the live bot's cache) and keeps its own folder for a later look."""
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "demo"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=190, stdin=subprocess.DEVNULL,
                            env=os.environ | {"TMPDIR": str(tmp_path)})
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    steps = ["ann> /start", "Welcome, ann!", "ann> /analyze BTC", "ann> /signals", "Scan of the top",
             "== 2. Out of credits", "/analyze costs 20 credits and your balance is 0.", "ann> /credits",
             "Balance: 0 credits", "admin> /set_premium 4242",
             "Tier: lifetime", "== 4. The market moves", "ann> /history", "admin> /audit 4242", "budi> /start",
             "Selamat datang, budi!", "budi> /credits", "Saldo: ", "verify:\n  chain:"]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "invariants: ok" in out and "replay matches" in out and "MISMATCH" not in out
    assert "metrics: http://127.0.0.1:" in out  # served on a free port for the tour
    assert "Traceback" not in result.stderr
    [kept] = [p for p in tmp_path.iterdir() if p.name.startswith("signalbot-demo-")]
    assert f"the demo's log and charts are in {kept};" in out and f"verify --db {kept / 'events.db'}" in out
    assert (kept / "events.db").is_file() and any((kept / "charts").glob("*.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]  # no ./data/charts
