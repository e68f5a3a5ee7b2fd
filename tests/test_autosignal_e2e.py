"""End to end: simulator -> MarketFeed -> AutoSignal -> analyzer pool -> log -> Outbox -> aiogram Sender.

`marketsim` replays real 1h candles of 5 symbols at high speed; every part is the real one and
Telegram is the fake Bot API server. The signals issued must be exactly those the strategy
yields offline on the same candles under the same rules, each delivered once to each recipient.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter

import pykka
import pytest

from actors.analyzer import AnalyzerPool
from actors.autosignal import AutoSignal
from actors.market_feed import MarketFeed
from actors.messages import FeedStats, SubscribeCandles
from analysis.candles import load_csv
from analysis.strategy import Signal, analyze
from app import strategy_file
from domain.autosignal import Policy
from domain.events import upcast
from eventstore import EventStore, NewEvent
from marketsim import BackgroundSim, MarketSim, market_from_files
from tests.autosignal_support import Decisions, SenderLoop
from tests.fakes.bot_api import FakeBotAPI
from tests.feed_harness import Sink, feed_config

pytestmark = pytest.mark.timeout(90)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
HISTORY = 500  # candles closed before the simulator starts: the analysis window
LIVE = 48  # candles the simulator then closes per symbol
SPEED = 36_000.0  # one 1h candle per 0.1 s
MIN_CONFIDENCE = 40  # calibrated %: low enough that two days of real data give several signals
COOLDOWN_MIN = 240
MODEL = strategy_file.load().calibration  # the shipped parameter file, as `main.py run` loads it
ADMIN = 99
LIFETIME = (1, 2)
MUTED = 3


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def expected_signals(files, fresh: list) -> list[str]:
    """The strategy offline on the same candles, with the issue's rules written out plainly."""
    data = {s: load_csv(files[s], symbol=s, interval="1h")[: HISTORY + LIVE] for s in SYMBOLS}
    last_issue: dict[tuple[str, str], int] = {}
    triggers: dict[str, set[str]] = {s: set() for s in SYMBOLS}
    issued = []
    for msg in fresh:
        candles = data[msg.symbol]
        i = int((candles.open_time == msg.candle.open_time).nonzero()[0][0])
        result = analyze(candles[max(0, i + 1 - HISTORY) : i + 1], mode="causal", calibration=MODEL)
        if not isinstance(result, Signal) or result.confidence < MIN_CONFIDENCE:
            continue
        key = (msg.symbol, result.side)
        close = msg.candle.close_time
        if key in last_issue and close <= last_issue[key] + max(COOLDOWN_MIN * 60_000, 3_600_000):
            continue  # in cooldown (one that ends on this close included; at least one bar)
        if triggers[msg.symbol].intersection(result.setup["triggers"]):
            continue  # the same setup, already issued
        last_issue[key] = close
        triggers[msg.symbol].update(result.setup["triggers"])
        issued.append(f"a:{msg.symbol}:1h:{msg.candle.open_time}:{result.side}")
    return issued


def test_simulated_market_to_telegram(tmp_path, shared_klines):
    folder = shared_klines / "azmath606961__hawk-crypto-bot" / "data"
    files = {s: folder / f"{s}_1h.csv" for s in SYMBOLS}
    market = market_from_files([files[s] for s in SYMBOLS], list(SYMBOLS), limit=HISTORY + LIVE, history=HISTORY)
    store = EventStore.open(tmp_path / "events.db", upcast=upcast)
    for user in (*LIFETIME, MUTED):
        store.append(f"user-{user}", 0, [NewEvent("PremiumGranted", {"until": None, "lifetime": True}, {})])
    store.append(f"user-{MUTED}", 1, [NewEvent("AutoSignalMuted", {}, {})])
    recipients = sorted((*LIFETIME, ADMIN))
    limits = {"global_per_s": 600, "per_chat_rate": 50.0, "per_chat_burst": 50.0}
    sender_options = {"rate": 500.0, "per_chat_interval": 0.02}

    with FakeBotAPI(**limits) as fake, SenderLoop(store, fake.base_url, **sender_options):
        pool = AnalyzerPool.start(workers=2, calibration=MODEL)
        decisions = Decisions()
        with BackgroundSim(lambda: MarketSim(market, SPEED, seed=3, paused=True)) as sim:
            feed = MarketFeed.start(feed_config(sim, SYMBOLS, ("1h",)))
            sink = Sink.start()
            feed.tell(SubscribeCandles(sink, intervals=("1h",)))
            autosignal = AutoSignal.start(
                store,
                feed,
                pool,
                admin_ids=(ADMIN,),
                watchlist=SYMBOLS,
                interval="1h",
                policy=Policy(MIN_CONFIDENCE, COOLDOWN_MIN * 60_000),
                on_decided=decisions,
            )
            autosignal.proxy().version.get()  # started: its SubscribeCandles is on the way to the feed
            feed.ask(FeedStats())  # ... and, being ahead of this request, now registered
            deadline = time.monotonic() + 30
            while len(sink.ask("received")) < len(SYMBOLS) * HISTORY:  # the history is loaded
                assert time.monotonic() < deadline, "the feed did not load the history"
                time.sleep(0.05)
            sim.resume()  # now the market moves: every later candle is live
            last_close = market.end_ms
            deadline = time.monotonic() + 45
            while sim.clock.now_ms() <= last_close or len(sink.ask("received")) < len(SYMBOLS) * (HISTORY + LIVE):
                assert time.monotonic() < deadline, "the feed did not deliver every candle"
                time.sleep(0.05)
            received = sink.ask("received")
            fresh = [m for m in received if m.fresh]
            decided = decisions.take(len(fresh), timeout=30)
            feed.stop()
        assert len(fresh) == len(SYMBOLS) * LIVE  # every live candle, and only those
        for symbol in SYMBOLS:  # the initial history never counts as fresh, so it never triggers
            assert not any(m.fresh for m in [m for m in received if m.symbol == symbol][:HISTORY])

        issued = [r.data for r in store.read_stream("autosignal") if r.type == "AutoSignalIssued"]
        owed = len(issued) * len(recipients)
        deadline = time.monotonic() + 30
        while sum(1 for r in store.read_stream("outbox") if r.type == "SignalDelivered") < owed:
            assert time.monotonic() < deadline, "deliveries did not settle"
            time.sleep(0.05)
        sent = Counter(m["chat_id"] for m in fake.sent)
        autosignal.stop()
        pool.stop()

    # the signals issued equal the strategy's offline, under the same threshold and cooldowns
    assert [d["signal_id"] for d in issued] == expected_signals(files, fresh)
    assert len(issued) >= 3
    assert {(s, o.params["signal"], o.params["recipients"]) for s, _, o in decided if o.code == "issued"} == {
        (d["signal"]["symbol"], d["signal_id"], len(recipients)) for d in issued
    }
    assert all(d["recipients"] == recipients for d in issued)
    assert any(o.code == "repeated_setup" for _, _, o in decided)  # the setup identity really held some back
    closes: dict[tuple[str, str], list[int]] = {}
    for d in issued:
        closes.setdefault((d["signal"]["symbol"], d["signal"]["side"]), []).append(d["signal"]["close_time"])
    assert all(b - a >= COOLDOWN_MIN * 60_000 for t in closes.values() for a, b in itertools.pairwise(t))

    # each signal delivered once to each recipient; the muted user got nothing
    delivered = Counter(
        (r.data["signal_id"], r.data["chat_id"]) for r in store.read_stream("outbox") if r.type == "SignalDelivered"
    )
    assert delivered == Counter({(d["signal_id"], chat): 1 for d in issued for chat in recipients})
    assert sent == Counter({chat: len(issued) for chat in recipients})
    store.close()
