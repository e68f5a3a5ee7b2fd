"""`main.py demo` runs the whole system offline and checks its own log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_demo_tour_completes_offline_and_its_log_replays():
    result = subprocess.run([sys.executable, "main.py", "demo"], cwd=ROOT, capture_output=True, text=True,
                            timeout=110, stdin=subprocess.DEVNULL)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    steps = ["ann> /start", "Welcome, ann!", "ann> /analyze BTC", "== 2. Out of credits", "admin> /set_premium 4242",
             "Tier: lifetime", "== 4. The market moves", "ann> /history", "admin> /audit 4242", "budi> /start",
             "Selamat datang, budi!", "budi> /credits", "Saldo: ", "verify:\n  chain:"]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "invariants: ok" in out and "replay matches" in out and "MISMATCH" not in out
    assert "metrics: http://127.0.0.1:" in out  # served on a free port for the tour
    assert "Traceback" not in result.stderr
