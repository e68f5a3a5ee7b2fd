"""The strategy parameter file: `main.py calibrate` writes it, `backtest --strategy` and `run` load it, and the
log records which one every later signal came from (StrategyLoaded, once per change)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from analysis.calibration import FEATURES
from app import strategy_file
from app.calibrate import calibrate
from domain.events import upcast
from eventstore import EventStore
from tests.conftest import klines_dir

ROOT = Path(__file__).resolve().parents[1]
SLICE = [str(klines_dir() / f"intabyu__interview-at/data/BTCUSDT-1h-2023-0{m}.csv") for m in (1, 2, 3)]  # Q1 2023


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_calibrate_on_a_slice_writes_a_parameter_file_that_backtest_strategy_loads(tmp_path: Path) -> None:
    out = tmp_path / "strategy.json"
    loaded = calibrate(SLICE, out, workers=1, min_history=300)  # the product needs 2,000: a short slice here
    document = orjson.loads(out.read_bytes())
    assert document["version"] == loaded.version and all(m["features"] == list(FEATURES) for m in document["models"])
    assert [m["version"] for m in document["models"]] == [f"{loaded.version}@2023-{m}-01" for m in ("04", "07")]
    assert document["fitted_on"]["files"] == [Path(f).name for f in SLICE] and document["fitted_on"]["setups"] > 300
    assert set(document["policies"]) == {"15m", "30m", "1h", "4h", "1d"} and "policy_rule" in document["fitted_on"]
    assert document["models"][-1]["period"] == "2023" and len(loaded.sha256) == 64
    later = [str(klines_dir() / f"intabyu__interview-at/data/BTCUSDT-1h-2023-0{m}.csv") for m in (4, 5)]
    run = cli("backtest", "--data", *later, "--strategy", str(out), "--db", str(tmp_path / "bt.db"), "--json",
              "--min-confidence", "0")
    assert run.returncode == 0, run.stderr
    doc = orjson.loads(run.stdout)
    assert doc["strategy_version"] == loaded.version
    with EventStore.open(tmp_path / "bt.db", upcast=upcast) as store:
        issued = [r.data["signal"] for r in store.read_all() if r.type == "AutoSignalIssued"]
    assert issued and all(s["strategy_version"] == loaded.models[0].version and 0 <= s["confidence"] <= 100
                          for s in issued)
    assert all(s["record"] == loaded.calibration.record(s["confidence"]) for s in issued)


def test_a_bad_parameter_file_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "x", "models": [{"features": ["long"]}]}')
    with pytest.raises(ValueError, match=r"bad\.json"):
        strategy_file.load(bad)
    run = cli("backtest", "--data", SLICE[0], "--strategy", str(bad), "--db", str(tmp_path / "bt.db"))
    assert run.returncode == 2 and "bad.json" in run.stderr


def test_strategy_loaded_is_recorded_once_per_change(tmp_path: Path) -> None:
    shipped = strategy_file.load()
    other_path = tmp_path / "other.json"
    strategy_file.write(other_path, "other", (replace(shipped.calibration, version="other"),), shipped.policies, {})
    other = strategy_file.load(other_path)
    with EventStore.open(tmp_path / "events.db", upcast=upcast) as store:
        assert strategy_file.record(store, shipped)
        assert not strategy_file.record(store, shipped)  # a restart with the same file appends nothing
        assert strategy_file.record(store, other)
        assert strategy_file.record(store, shipped)  # back to the shipped one: a change again
        logged = [(r.type, r.data) for r in store.read_stream("strategy")]
    assert logged == [("StrategyLoaded", {"version": v, "sha256": s}) for v, s in
                      ((shipped.version, shipped.sha256), ("other", other.sha256), (shipped.version, shipped.sha256))]


@pytest.mark.parametrize(("out", "interval", "message"), [
    ("c.json", "7m", "unknown interval"),
    ("missing/c.json", "1h", "does not exist"),
    (".", "1h", "is a directory"),
])
def test_calibrate_refuses_a_bad_interval_or_output_before_fitting(tmp_path: Path, out: str, interval: str,
                                                                  message: str) -> None:
    result = cli("calibrate", "--data", SLICE[0], "--out", str(tmp_path / out), "--interval", interval)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "c.json").exists()
