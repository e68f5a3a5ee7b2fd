"""`main.py backtest` on short slices of real candles: a real log that verify, replay and audit accept,
figures that are the log's, the live actor's payloads, the policy knobs, aggregation and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import orjson
import pytest

from analysis.calibration import model_at
from analysis.candles import load_csv
from analysis.strategy import analyze
from app import strategy_file
from app.backtest_report import summary_row
from domain.events import upcast
from domain.track_record import TrackRecord, summarize
from eventstore import EventStore
from tests.conftest import klines_dir

ROOT = Path(__file__).resolve().parents[1]
MISRORI = "misrori__binance_startegy/data/{}_1h.csv"
FIVE_MINUTES_2022 = "Benicio1007__Bot_trading/data/dataset/2022/BTCUSDT_5m.csv"
HOUR = 3_600_000


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def backtest(db: Path, *args: str) -> dict:
    result = cli("backtest", "--db", str(db), "--json", *args)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)  # stdout holds only the JSON document


def logged(db: Path) -> list:
    with EventStore.open(db, upcast=upcast) as store:
        return list(store.read_all())


@pytest.fixture(scope="module")
def two_symbols(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """BTC and ETH 1h, three weeks of January 2022 (two series: the process pool's path), threshold 40 given
    (the shipped file issues no 1h autosignals)."""
    db = tmp_path_factory.mktemp("backtest") / "events.db"
    files = [str(klines_dir() / MISRORI.format(s)) for s in ("BTCUSDT", "ETHUSDT")]
    return db, backtest(db, "--data", *files, "--from", "2022-01-01", "--to", "2022-01-21", "--min-confidence", "40")


def test_the_log_verifies_and_replay_and_audit_outcomes_accept_it(two_symbols: tuple[Path, dict]) -> None:
    db, doc = two_symbols
    assert doc["log"] == str(db)
    assert [(s["symbol"], s["interval"], s["bars"]) for s in doc["series"]] == [("BTCUSDT", "1h", 504),
                                                                                 ("ETHUSDT", "1h", 504)]
    verify = cli("verify", "--db", str(db))
    assert verify.returncode == 0 and "invariants: ok" in verify.stdout, verify.stdout + verify.stderr
    issued = sum(1 for r in logged(db) if r.type == "AutoSignalIssued")
    replay = cli("replay", "--db", str(db))
    assert replay.returncode == 0 and f"autosignals: {issued}" in replay.stdout
    audit = cli("audit", "--db", str(db), "--outcomes", "--json")
    assert audit.returncode == 0, audit.stderr
    rows = orjson.loads(audit.stdout)["signals"]
    auto = doc["autosignal"]
    assert len(rows) == issued == auto["overall"]["closed"] + auto["open_at_end"] > 0
    assert {r["status"] for r in rows} <= {"open", "tp1", "tp2", "stopped", "expired"}
    assert all(r["fill"] is not None for r in rows if r["result_r"] is not None)
    text = cli("audit", "--db", str(db), "--outcomes", "--since", "2022-01-20")
    assert text.returncode == 0 and "signals," in text.stdout.splitlines()[-1]


def test_the_zero_counts_no_repeated_setup_no_fees_over_the_max_share_no_equal_targets(
        two_symbols: tuple[Path, dict]) -> None:
    _, doc = two_symbols
    assert doc["outcome_rules"]["max_fee_share"] == 0.10
    auto, every = doc["autosignal"], doc["every_setup"]
    assert auto["repeats"] == auto["repeated_setups"] == 0 < every["repeated_setups"]
    assert auto["fees_over_max_share"] == every["fees_over_max_share"] == 0
    assert auto["equal_targets"] == every["equal_targets"] == 0


def test_the_figures_are_the_fold_of_the_logs_events(two_symbols: tuple[Path, dict]) -> None:
    db, doc = two_symbols
    record = TrackRecord()
    for r in logged(db):
        record.apply(r)
    assert doc["autosignal"]["overall"] == asdict(summarize(record.closed))
    for label, figures in doc["autosignal"]["by_symbol"].items():
        symbol = label.split()[0]
        assert figures == asdict(summarize(r for r in record.closed if r.symbol == symbol))
    assert doc["autosignal"]["open_at_end"] == len(record.open)
    closes = [r.data["signal_id"] for r in logged(db) if r.type == "SignalClosed"]
    assert len(closes) == len(set(closes)) == len(record.closed)
    calibration = doc["calibration"]["autosignal"]["bands"]
    assert sum(b["n"] for b in calibration) == len(record.closed)
    for band in calibration:  # the stated confidence, averaged, lies in its band
        low, high = map(int, band["band"].split("-"))
        assert low <= band["stated_pct"] <= high
    every = doc["every_setup"]
    assert every["overall"]["closed"] >= doc["autosignal"]["overall"]["closed"]
    assert doc["baselines"]["every_setup"]["random_side"]["seeds"] >= 100
    low, high = doc["baselines"]["every_setup"]["strategy_ci95"]  # the goal's interval: of the mean R itself
    assert low <= doc["baselines"]["every_setup"]["strategy_avg_r"] <= high


def test_autosignals_are_logged_as_the_live_actor_writes_them_from_the_causal_window(
        two_symbols: tuple[Path, dict]) -> None:
    db, _ = two_symbols
    records = logged(db)
    stream = [r for r in records if r.stream == "autosignal"]
    assert stream[0].type == "AutoSignalEnabled" and stream[0].meta["key"] == "setting/AUTOSIGNAL_ENABLED"
    issued = [r for r in stream if r.type == "AutoSignalIssued"]
    candles = {s: load_csv(klines_dir() / MISRORI.format(s)) for s in ("BTCUSDT", "ETHUSDT")}
    for r in issued[:: max(1, len(issued) // 5)]:
        signal = r.data["signal"]
        assert r.meta == {"schema": 1, "key": f"{signal['symbol']}/1h/{signal['open_time']}", "actor": "autosignal"}
        assert r.data["recipients"] == [] and r.data["signal_id"].startswith(f"a:{signal['symbol']}:1h:")
        series = candles[signal["symbol"]]
        end = int(np.searchsorted(series.open_time, signal["open_time"])) + 1
        model = model_at(strategy_file.load().models, signal["open_time"])  # the shipped file's model then
        assert analyze(series[end - 500 : end], mode="causal", calibration=model).to_dict() == signal  # no later bar
        assert signal["strategy_version"] == model.version
        cooldown = stream[stream.index(r) + 1]
        assert cooldown.type == "CooldownStarted" and cooldown.data["until"] == signal["close_time"] + 60 * 60_000
    outcome_times = [r.data["open_time"] for r in records if r.stream == "outcomes" and r.type != "SignalClosed"]
    assert outcome_times == sorted(outcome_times)  # merged across symbols in market time


def test_no_gate_makes_every_new_setup_an_autosignal_once(tmp_path: Path) -> None:
    data = str(klines_dir() / MISRORI.format("SOLUSDT"))
    doc = backtest(tmp_path / "all.db", "--data", data, "--from", "2023-02-01", "--to", "2023-02-10",
                   "--min-confidence", "0", "--cooldown-min", "0")
    assert doc["policy"] == {"1h": {"enabled": True, "min_confidence": 0, "cooldown_min": 0, "why": ""}}
    auto, every = doc["autosignal"], doc["every_setup"]
    assert auto["repeats"] == auto["repeated_setups"] == 0  # no gate still issues a setup once
    assert every["repeats"] > 0 and every["repeated_setups"] > 0
    issued = sum(1 for r in logged(tmp_path / "all.db") if r.type == "AutoSignalIssued")
    assert issued == auto["overall"]["closed"] + auto["open_at_end"] > 10
    gated = backtest(tmp_path / "gated.db", "--data", data, "--from", "2023-02-01", "--to", "2023-02-10")
    assert gated["every_setup"] == doc["every_setup"]
    assert gated["autosignal"]["overall"]["closed"] < doc["autosignal"]["overall"]["closed"]
    printed = cli("backtest", "--data", data, "--from", "2023-02-01", "--to", "2023-02-10", "--db", str(tmp_path / "t"))
    assert printed.returncode == 0, printed.stderr
    assert summary_row("overall", gated["autosignal"]["overall"]) in printed.stdout.splitlines()
    assert summary_row("overall", gated["every_setup"]["overall"]) in printed.stdout.splitlines()


def test_five_minute_candles_aggregated_to_1h_backtest_like_the_1h_file(tmp_path: Path) -> None:
    """SOURCE.md: these 5m bars aggregate to the misrori 1h bars exactly, so the logs must match."""
    five = backtest(tmp_path / "5m.db", "--data", str(klines_dir() / FIVE_MINUTES_2022), "--interval", "1h")
    [series] = five["series"]
    assert series["interval"] == "1h" and series["first"] % HOUR == 0 and series["bars"] > 300
    first, last = series["first"], series["last"]
    iso = {ms: np.datetime_as_string(np.datetime64(ms, "ms"), unit="m") for ms in (first, last)}
    hourly = backtest(tmp_path / "1h.db", "--data", str(klines_dir() / MISRORI.format("BTCUSDT")),
                      "--from", iso[first], "--to", iso[last])
    assert hourly["series"][0]["bars"] == series["bars"]

    def events(db: Path) -> list:
        return [(r.stream, r.type, r.data) for r in logged(db)]

    assert events(tmp_path / "5m.db") == events(tmp_path / "1h.db")
    assert five["every_setup"] == hourly["every_setup"]


def test_a_files_last_row_is_never_scored_and_the_symbol_option_wins(tmp_path: Path) -> None:
    lines = (klines_dir() / MISRORI.format("XRPUSDT")).read_text().splitlines()[:561]  # header + 560 bars
    part = tmp_path / "XRPUSDT_1h_part.csv"
    part.write_text("\n".join(lines) + "\n")
    doc = backtest(tmp_path / "part.db", "--data", str(part), "--symbol", "TESTUSDT",
                   "--min-confidence", "0", "--cooldown-min", "0")
    candles = load_csv(part)
    assert doc["series"][0]["symbol"] == "TESTUSDT" and doc["series"][0]["bars"] == 560 - 1 - 499
    assert doc["series"][0]["last"] == int(candles.open_time[-2])
    assert all(r.data["signal_id"].startswith("a:TESTUSDT:1h:") for r in logged(tmp_path / "part.db")
               if r.type == "AutoSignalIssued")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "1m"], "cannot make 1m candles from 1h ones"),
        (["--interval", "7m"], "unknown interval"),
        (["--from", "yesterday"], "needs a date"),
        (["--min-confidence", "101"], "between 0 and 100"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = cli("backtest", "--data", str(klines_dir() / MISRORI.format("BTCUSDT")), *args,
                 "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_missing_file_and_existing_log_are_refused(tmp_path: Path) -> None:
    missing = cli("backtest", "--data", str(tmp_path / "NOPEUSDT_1h.csv"))
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no such file")
    (tmp_path / "old.db").write_bytes(b"")
    existing = cli("backtest", "--data", str(klines_dir() / MISRORI.format("BTCUSDT")),
                   "--db", str(tmp_path / "old.db"))
    assert existing.returncode == 2 and "already exists" in existing.stderr


def test_one_symbols_files_join_when_they_touch_and_stay_apart_across_a_long_hole() -> None:
    from app.backtest import load_series

    names = ["c9s__bbgo/pkg/datasource/csvsource/testdata/BTCUSDT-1h-2021-Q1.csv",  # ends 4 days before misrori
             "intabyu__interview-at/data/BTCUSDT-1h-2023-02.csv", "intabyu__interview-at/data/BTCUSDT-1h-2023-01.csv",
             MISRORI.format("BTCUSDT")]
    series = load_series([klines_dir() / name for name in names])
    assert [(s.candles.symbol, len(s.candles), len(s.files)) for s in series] == [("BTCUSDT", 2157, 1),
                                                                                   ("BTCUSDT", 23987, 3)]
    months = load_series([klines_dir() / name for name in names[1:3]])  # Jan's dropped last row: a 1-bar hole
    assert len(months) == 1 and len(months[0].candles) == 744 + 672 - 2


def _slice(tmp_path: Path, name: str, rows: int, symbol: str = "BTCUSDT") -> Path:
    """The first `rows` candles of a real hourly file, as `name` in tmp_path."""
    lines = (klines_dir() / MISRORI.format(symbol)).read_text().splitlines()[: rows + 1]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_backtest_that_replays_nothing_is_one_line_and_exit_2(tmp_path: Path) -> None:
    short = _slice(tmp_path, "BTCUSDT_1h.csv", 200)
    cases = [(["--from", "2021-05-01", "--to", "2021-04-20"], "--from is after --to"),
             (["--from", "2030-01-01"], "--from is after its last candle"),
             ([], "needs 500 candles before the first bar; this series has 199")]
    for args, message in cases:
        result = cli("backtest", "--data", str(short), *args, "--db", str(tmp_path / "x.db"))
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.db").exists()


def test_a_series_too_short_is_named_and_skipped_while_the_others_run(tmp_path: Path) -> None:
    long, short = _slice(tmp_path, "BTCUSDT_1h.csv", 512), _slice(tmp_path, "ETHUSDT_1h.csv", 100, "ETHUSDT")
    result = cli("backtest", "--data", str(long), str(short), "--db", str(tmp_path / "x.db"), "--json")
    assert result.returncode == 0, result.stderr
    assert "skipped ETHUSDT 1h: needs 500 candles before the first bar; this series has 99" in result.stderr
    assert "BTCUSDT" in result.stdout and "ETHUSDT" not in result.stdout


def test_a_bad_file_is_named_and_leaves_no_temporary_folder(tmp_path: Path) -> None:
    prices = _slice(tmp_path, "BTCUSDT_1h.csv", 10)
    prices.write_text(prices.read_text().replace("57953.86000000", "abc", 1))
    binary = tmp_path / "ETHUSDT_1h.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    temp = tmp_path / "temp"
    temp.mkdir()
    for bad in (prices, binary):
        result = subprocess.run([sys.executable, "main.py", "backtest", "--data", str(bad)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(temp)})
        assert result.returncode == 2 and str(bad) in result.stderr and "Traceback" not in result.stderr
    assert list(temp.iterdir()) == []
