"""The OutcomeTracker over a real SQLite log and a recorded feed of real candles.

The property: whatever the signals and wherever the tracker is restarted, the `outcomes` stream
it writes equals `domain.outcomes` applied to the same candles, each event written once; the
feed holds exactly the streams with open signals.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import Future

import numpy as np
import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.messages import CandleClosed, OutcomesQuery, TradeStatus, WinrateQuery
from actors.outcomes import OutcomeTracker
from actors.supervisor import Supervisor
from analysis.candles import load_csv
from domain import outcomes
from domain.events import AutoSignalIssued, ManualSignalIssued, upcast
from eventstore import EventStore, NewEvent
from tests.autosignal_support import Close, RecordedFeed
from tests.conftest import klines_dir

pytestmark = pytest.mark.timeout(120)

HISTORY = 300  # candles closed before the tracker starts
LAST = 360  # candles closed by the end of a run
RULES = outcomes.Rules(horizon_bars=24)


class Market(dict):
    """Candles by symbol, with a short repr for hypothesis' reports."""

    def __repr__(self) -> str:
        return f"Market({', '.join(self)})"


@pytest.fixture(scope="module")
def series() -> Market:
    folder = klines_dir() / "azmath606961__hawk-crypto-bot" / "data"
    return Market({s: load_csv(folder / f"{s}_1h.csv", symbol=s, interval="1h")[:LAST]
                   for s in ("BTCUSDT", "ETHUSDT")})


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def setup_at(candles, i: int, side: str, k: float, tp2: bool = True) -> dict:
    """A setup on candle i: entry at its close, stop k mean ranges away, targets 1x and 2x the risk."""
    entry = float(candles.close[i])
    risk = k * float(np.mean(candles.high[i - 13 : i + 1] - candles.low[i - 13 : i + 1]))
    sign = 1 if side == "LONG" else -1
    return {"symbol": candles.symbol, "interval": "1h", "open_time": int(candles.open_time[i]), "side": side,
            "entry": entry, "stop": entry - sign * risk, "tp1": entry + sign * risk,
            "tp2": entry + 2 * sign * risk if tp2 else None, "confidence": 80}


def issue_auto(store: EventStore, signal: dict) -> str:
    signal_id = f"a:{signal['symbol']}:1h:{signal['open_time']}:{signal['side']}"
    event = AutoSignalIssued(signal_id, signal, [7])
    store.append("autosignal", store.stream_version("autosignal"), [NewEvent(event.type, event.payload(), {})])
    return signal_id


def issue_manual(store: EventStore, user: int, update_id: int, signal: dict) -> str:
    event = ManualSignalIssued(f"m:{user}:{update_id}", update_id, 20, signal)
    stream = f"user-{user}"
    store.append(stream, store.stream_version(stream), [NewEvent(event.type, event.payload(), {})])
    return event.signal_id


def expected(store: EventStore, series: dict) -> dict[str, list[tuple[str, dict]]]:
    """domain.outcomes applied to the same candles, stream by stream, in order."""
    issued = [r for r in store.read_all() if r.type in ("ManualSignalIssued", "AutoSignalIssued")]
    state = outcomes.fold(AutoSignalIssued(r.data["signal_id"], r.data["signal"], []) for r in issued)
    out: dict[str, list[tuple[str, dict]]] = {}
    for symbol, candles in series.items():
        for i in range(len(candles)):
            candle = outcomes.Candle(symbol, "1h", int(candles.open_time[i]), float(candles.open[i]),
                                     float(candles.high[i]), float(candles.low[i]), float(candles.close[i]))
            events = outcomes.decide(state, candle, RULES)
            state = outcomes.fold(events, state)
            for e in events:
                out.setdefault(e.signal_id, []).append((e.type, e.payload()))
    return out


def logged(store: EventStore) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {}
    for r in store.read_stream("outcomes"):
        out.setdefault(r.data["signal_id"], []).append((r.type, r.data))
    return out


def close(feed, symbol: str, indices: range) -> None:
    for i in indices:
        feed.tell(Close(symbol, i))
    feed.ask("holds")  # every close forwarded


def wait_for(probe, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def ask(tracker, message):
    tracker.tell(message)
    return message.reply_to.result(10)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(side=st.sampled_from(["LONG", "SHORT"]), k=st.floats(0.4, 3.0), late=st.integers(0, 8),
       down=st.integers(301, 340), gap=st.integers(1, 15))
def test_live_outcomes_equal_the_decider_on_the_same_candles_across_a_restart(
        tmp_path_factory, series, side, k, late, down, gap):
    path = tmp_path_factory.mktemp("log") / "events.db"
    store = EventStore.open(path, upcast=upcast)
    btc, eth = series["BTCUSDT"], series["ETHUSDT"]
    issue_auto(store, setup_at(btc, HISTORY - 1, side, k))
    feed = RecordedFeed.start(series, history=HISTORY)
    tracker = OutcomeTracker.start(store, feed, rules=RULES)
    # a manual signal issued while running, on an earlier candle than the feed has closed since
    issue_manual(store, 42, 1001, setup_at(eth, HISTORY - 1 - late, "SHORT" if side == "LONG" else "LONG", k, False))
    close(feed, "BTCUSDT", range(HISTORY, down))
    close(feed, "ETHUSDT", range(HISTORY, down))
    wait_for(lambda: len(store.read_stream("outcomes")) >= 2)  # both entered
    tracker.stop()
    close(feed, "BTCUSDT", range(down, down + gap))  # missed while down
    close(feed, "ETHUSDT", range(down, down + gap))
    store.close()
    store = EventStore.open(path, upcast=upcast)
    tracker = OutcomeTracker.start(store, feed, rules=RULES)
    close(feed, "BTCUSDT", range(down + gap, LAST))
    close(feed, "ETHUSDT", range(down + gap, LAST))
    want = expected(store, series)
    wait_for(lambda: logged(store) == want)
    time.sleep(0.1)
    ask(tracker, WinrateQuery(reply_to=Future()))  # anything still queued is handled by now
    assert logged(store) == want
    keys = Counter((r.meta["key"], r.type, r.data.get("target")) for r in store.read_stream("outcomes"))
    assert keys and max(keys.values()) == 1, "an outcome event was written twice for one (signal, candle)"
    closed = [sid for sid, events in want.items() if events[-1][0] == "SignalClosed"]
    assert len(closed) == 2  # the horizon is 24 bars: both closed
    assert feed.ask("holds") == {}  # every stream released once its last signal closed
    store.close()


def test_queries_answer_from_state(tmp_path, series):
    store = EventStore.open(tmp_path / "events.db", upcast=upcast)
    btc = series["BTCUSDT"]
    auto = issue_auto(store, setup_at(btc, HISTORY - 1, "LONG", 1.0))
    manual = issue_manual(store, 42, 1001, setup_at(btc, HISTORY - 1, "SHORT", 1.0))
    feed = RecordedFeed.start(series, history=HISTORY)
    tracker = OutcomeTracker.start(store, feed, rules=RULES)
    ask(tracker, WinrateQuery(reply_to=Future()))
    assert feed.ask("holds") == {("BTCUSDT", "1h"): 1}  # one hold for the stream, whatever the signals on it
    close(feed, "BTCUSDT", range(HISTORY, LAST))
    want = expected(store, series)
    wait_for(lambda: logged(store) == want)
    results = {sid: events[-1][1] for sid, events in want.items()}
    status = ask(tracker, OutcomesQuery((auto, manual, "m:42:9"), reply_to=Future()))
    assert status == {sid: TradeStatus(r["reason"], r["result_r"]) for sid, r in results.items()}
    report = ask(tracker, WinrateQuery(per_symbol=True, reply_to=Future()))
    assert (report.auto.closed, report.manual.closed, report.open_auto, report.open_manual) == (1, 1, 0, 0)
    assert report.auto.avg_r == round(results[auto]["result_r"], 3)
    assert [symbol for symbol, _ in report.by_symbol] == ["BTCUSDT"] and report.by_symbol[0][1].closed == 2
    recent = ask(tracker, WinrateQuery(period_ms=3_600_000, reply_to=Future()))  # the last hour of market time
    assert recent.auto.closed + recent.manual.closed < 2
    assert ask(tracker, WinrateQuery(symbol="ETHUSDT", reply_to=Future())).auto.closed == 0
    store.close()


def test_a_signal_whose_candles_never_come_expires_in_market_time(tmp_path, series):
    """DOGEUSDT is not served: once market time (other streams' closes) passes twice the horizon,
    the setup closes at 0 R, never filled."""
    store = EventStore.open(tmp_path / "events.db", upcast=upcast)
    btc = series["BTCUSDT"]
    doge = {**setup_at(btc, HISTORY - 1, "LONG", 1.0), "symbol": "DOGEUSDT"}
    sid = issue_manual(store, 42, 1001, doge)
    feed = RecordedFeed.start(series, history=HISTORY)
    tracker = OutcomeTracker.start(store, feed, rules=RULES)
    close(feed, "BTCUSDT", range(HISTORY, HISTORY + 2 * RULES.horizon_bars))
    ask(tracker, WinrateQuery(reply_to=Future()))
    assert store.read_stream("outcomes") == []  # 48 bars on: not yet
    close(feed, "BTCUSDT", range(HISTORY + 2 * RULES.horizon_bars, LAST))
    wait_for(lambda: store.read_stream("outcomes"))
    assert [(r.type, r.data) for r in store.read_stream("outcomes")] == [
        ("SignalExpired", {"signal_id": sid, "price": None, "open_time": None}),
        ("SignalClosed", {"signal_id": sid, "result_r": 0.0, "result_pct": 0.0, "reason": "expired",
                          "bars": 2 * RULES.horizon_bars})]
    assert ask(tracker, OutcomesQuery((sid,), reply_to=Future())) == {sid: TradeStatus("expired", 0.0)}
    store.close()


def test_a_failed_tracker_is_restarted_from_the_log_by_its_supervisor(tmp_path, series):
    """An unhandled failure (here a malformed message) stops the actor; it releases its streams, and the
    Supervisor starts a fresh one from the log, which holds them again and carries on."""
    store = EventStore.open(tmp_path / "events.db", upcast=upcast)
    issue_auto(store, setup_at(series["BTCUSDT"], HISTORY - 1, "LONG", 1.0))
    feed = RecordedFeed.start(series, history=HISTORY)
    supervisor = Supervisor("outcomes", lambda: OutcomeTracker.start(store, feed, rules=RULES), check_every_s=0.02)
    try:
        close(feed, "BTCUSDT", range(HISTORY, HISTORY + 3))
        wait_for(lambda: store.read_stream("outcomes"))
        first = supervisor.ref
        supervisor.tell(CandleClosed("BTCUSDT", "1h", None, True))  # type: ignore[arg-type]
        wait_for(lambda: supervisor.restarts == 1 and not first.is_alive())
        ask(supervisor, WinrateQuery(reply_to=Future()))
        assert feed.ask("holds") == {("BTCUSDT", "1h"): 1}  # released by the dead one, held by the new one
        close(feed, "BTCUSDT", range(HISTORY + 3, LAST))
        want = expected(store, series)
        wait_for(lambda: logged(store) == want)
    finally:
        supervisor.stop()
        store.close()
