"""Replay on market time: the same recorded candles fed twice give the same `autosignal` stream.

Real candles, the real analyzer pool and strategy, a real log file; the feed is the recorded-candle
stand-in, so market time moves exactly as the test says.
"""

from __future__ import annotations

import itertools

import pykka
import pytest

from actors.analyzer import AnalyzerPool
from analysis.candles import load_csv
from app import strategy_file
from tests.conftest import klines_dir
from tests.test_autosignal_actor import HISTORY, Harness

pytestmark = pytest.mark.timeout(90)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
FRESH = 120  # candles closed live per symbol, after HISTORY candles of history
COOLDOWN_MIN = 180
CONFIG = {"cooldown_min": COOLDOWN_MIN, "min_confidence": 40}  # the real strategy; calibrated 40 gives signals


@pytest.fixture(scope="module")
def market() -> dict:
    folder = klines_dir() / "azmath606961__hawk-crypto-bot" / "data"
    return {s: load_csv(folder / f"{s}_1h.csv", symbol=s, interval="1h")[: HISTORY + FRESH] for s in SYMBOLS}


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def feed_all(h: Harness, indices: range) -> None:
    """Close the candles in market order; return once the last one is decided (decisions keep that order)."""
    for i, symbol in itertools.product(indices, SYMBOLS):
        h.close(symbol, i)
    last = (SYMBOLS[-1], int(h.series[SYMBOLS[-1]].open_time[indices[-1]]))
    while h.decisions.take(timeout=60)[0][:2] != last:
        pass


def run(path, market, restart_at: int | None = None) -> list[tuple[str, dict]]:
    model = strategy_file.load().calibration  # the shipped parameter file, as `main.py run` loads it
    h = Harness(path, market, None, analyzer=lambda: AnalyzerPool.start(workers=2, calibration=model), **CONFIG)
    try:
        if restart_at is None:
            feed_all(h, range(HISTORY, HISTORY + FRESH))
        else:
            feed_all(h, range(HISTORY, restart_at))
            h.restart()
            h.close(SYMBOLS[0], restart_at - 1)  # a candle seen before the restart comes again
            feed_all(h, range(restart_at, HISTORY + FRESH))
        return h.stream()
    finally:
        h.stop()


def test_same_candles_twice_give_the_same_stream_even_across_a_restart(tmp_path, market):
    first = run(tmp_path / "a.db", market)
    second = run(tmp_path / "b.db", market, restart_at=HISTORY + FRESH // 2)
    assert second == first
    issued = [d for t, d in first if t == "AutoSignalIssued"]
    assert len({d["signal"]["symbol"] for d in issued}) >= 3  # the data really produced signals

    # cooldowns respected: one side of one symbol never fires twice within the window
    closes: dict[tuple[str, str], list[int]] = {}
    for d in issued:
        closes.setdefault((d["signal"]["symbol"], d["signal"]["side"]), []).append(d["signal"]["close_time"])
    for times in closes.values():
        assert all(b - a >= COOLDOWN_MIN * 60_000 for a, b in itertools.pairwise(times))
