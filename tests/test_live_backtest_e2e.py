"""End to end: the live system against the simulator gives the backtest's outcomes.

The in-process `System` (market feed, AutoSignal, analyzer pool, OutcomeTracker, real SQLite log)
runs against `marketsim` replaying a shared 1h file; drained, its `outcomes` stream holds the same
events, for the same signal ids with the same results, as `run_backtest` on that file and range:
live and backtest figures are one computation.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pykka
import pytest

from actors.messages import FeedStats
from analysis.candles import load_csv
from app.backtest import default_setup, run_backtest
from app.config import load_settings
from app.system import System
from domain.events import upcast
from domain.outcomes import Rules
from eventstore import EventStore
from marketsim import BackgroundSim, MarketSim, market_from_files

pytestmark = pytest.mark.timeout(120)

SYMBOL = "BTCUSDT"
HISTORY = 500  # candles closed before the market moves: the analysis window
LIVE = 30  # candles then closed live
SPEED = 7_200.0  # one 1h candle per 0.5 s: a candle is fresh for one interval, so slack for a busy machine
MIN_CONFIDENCE, COOLDOWN_MIN, HORIZON, FEE = 0, 240, 12, 0.0004


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def outcome_events(store: EventStore) -> dict[str, list[tuple[str, dict]]]:
    events: dict[str, list[tuple[str, dict]]] = {}
    for r in store.read_stream("outcomes"):
        events.setdefault(r.data["signal_id"], []).append((r.type, r.data))
    return events


def test_live_outcomes_equal_the_backtest_on_the_same_candles(tmp_path, shared_klines):
    path = shared_klines / "azmath606961__hawk-crypto-bot" / "data" / f"{SYMBOL}_1h.csv"
    times = load_csv(path, symbol=SYMBOL).open_time
    setup = replace(default_setup(MIN_CONFIDENCE, COOLDOWN_MIN, start=int(times[HISTORY]),
                                  end=int(times[HISTORY + LIVE - 1])), rules=Rules(HORIZON, FEE))
    with EventStore.open(run_backtest([path], setup=setup, db=tmp_path / "backtest.db", workers=1).log_path,
                         upcast=upcast) as backtest:
        expected = outcome_events(backtest)
    assert sum(events[-1][0] == "SignalClosed" for events in expected.values()) >= 2

    market = market_from_files([path], [SYMBOL], limit=HISTORY + LIVE, history=HISTORY)
    live_db = tmp_path / "live.db"
    env = {"DB_PATH": str(live_db), "WATCHLIST": SYMBOL, "AUTOSIGNAL_INTERVAL": "1h", "AUTOSIGNAL_ENABLED": "true",
           "AUTOSIGNAL_MIN_CONFIDENCE": str(MIN_CONFIDENCE), "AUTOSIGNAL_COOLDOWN_MIN": str(COOLDOWN_MIN),
           "OUTCOME_HORIZON_BARS": str(HORIZON), "FEE_RATE": str(FEE), "ANALYZER_WORKERS": "1", "LOG_LEVEL": "WARNING"}
    with BackgroundSim(lambda: MarketSim(market, SPEED, seed=3, paused=True)) as sim:
        settings = load_settings({**env, "BINANCE_WS_URL": sim.urls["ws"], "BINANCE_REST_URL": sim.urls["rest"]},
                                 dotenv=None)
        system = System(settings).start(telegram=False)
        try:
            deadline = time.monotonic() + 30
            while system.feed.ask(FeedStats()).closed_emitted < HISTORY:  # the history is loaded
                assert time.monotonic() < deadline, "the feed did not load the history"
                time.sleep(0.05)
            sim.resume()

            def drained() -> bool:  # every candle out, and the tracker's events caught up with the backtest's
                emitted = system.feed.ask(FeedStats()).closed_emitted >= HISTORY + LIVE
                return emitted and outcome_events(system.store) == expected

            deadline = time.monotonic() + 60
            while not drained() and time.monotonic() < deadline:
                time.sleep(0.2)
            live = outcome_events(system.store)
        finally:
            system.stop()
    assert live == expected
