"""MarketFeed requests against the simulator: GetCandles, EnsureStream, TopSymbols, 451, futures, buffers."""

from __future__ import annotations

import time
from concurrent.futures import Future

import numpy as np
import pykka
import pytest

from actors.clock import ManualClock
from actors.market_feed import MarketFeed
from actors.messages import (
    EnsureStream,
    FeedError,
    FeedStats,
    GetCandles,
    GetLivePrice,
    Kline,
    ReleaseStream,
    StreamReady,
    SubscribeCandles,
    TopSymbols,
)
from analysis.candles import Candles, load_csv
from marketdata.binance_client import full_jitter
from marketdata.binance_symbols import SymbolInfo, parse_exchange_info, top_usdt_pairs
from marketdata.candle_buffer import CandleBuffer
from marketdata.feed_config import FeedConfig
from marketsim import BackgroundSim, MarketSim, market_from_files, synthetic_market
from tests.conftest import klines_dir
from tests.feed_harness import DATA_2025, Sink, feed_config


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def answer_of(feed, message, timeout: float = 10.0):
    """Ask until the feed answers with something other than a FeedError."""
    answers = []

    def ok():
        answers.append(feed.ask(message))
        return not isinstance(answers[-1], FeedError)

    wait_for(ok, timeout)
    return answers[-1]


def btc_eth(rows: int = 300):
    d = klines_dir() / DATA_2025
    return market_from_files([d / "BTCUSDT_5m.csv", d / "ETHUSDT_5m.csv"], ["BTCUSDT", "ETHUSDT"], limit=rows)


@pytest.mark.timeout(60)
def test_requests_get_candles_and_ensure_stream_on_demand():
    market = btc_eth()
    data = load_csv(klines_dir() / DATA_2025 / "ETHUSDT_5m.csv")[:300]
    with BackgroundSim(lambda: MarketSim(market, 60.0)) as sim:
        feed = MarketFeed.start(feed_config(sim, ("BTCUSDT",), ("5m",), update_period_s=2.0))
        ready = answer_of(feed, GetCandles("BTCUSDT", "5m", 10))
        assert isinstance(ready, Candles) and len(ready) == 10 and ready.tick_size == 0.01
        assert not ready.close.flags.writeable  # an immutable snapshot

        refused = feed.ask(GetCandles("ETHUSDT", "5m", 10))
        assert isinstance(refused, FeedError) and refused.kind == "not_ready"
        unknown = feed.ask(EnsureStream("DOGEUSDT", "5m"))
        assert isinstance(unknown, FeedError) and unknown.kind == "unknown_symbol" and "DOGEUSDT" in unknown.reason
        bad_interval = feed.ask(EnsureStream("ETHUSDT", "7m"))
        assert isinstance(bad_interval, FeedError) and "7m" in bad_interval.reason

        reply: Future = Future()
        feed.tell(EnsureStream("ethusdt", "5m", reply_to=reply))  # asyncio callers use reply_to futures
        streamed = reply.result(20)
        assert isinstance(streamed, StreamReady) and streamed.candles >= 150
        eth = feed.ask(GetCandles("ETHUSDT", "5m", 1000))
        n = len(eth)
        assert np.array_equal(eth.open_time, data.open_time[:n]) and np.array_equal(eth.close, data.close[:n])
        live = answer_of(feed, GetLivePrice("ETHUSDT", "5m"))
        assert isinstance(live, Kline) and live.open_time > eth.open_time[-1]
        stats = feed.ask(FeedStats())
        assert stats.streams == 2 and stats.connections == 1 and stats.used_weight > 0


@pytest.mark.timeout(60)
def test_watchlist_only_subscribers_skip_symbols_streamed_on_demand():
    with BackgroundSim(lambda: MarketSim(btc_eth(), 600.0)) as sim:
        feed = MarketFeed.start(feed_config(sim, ("BTCUSDT",), ("5m",), update_period_s=2.0))
        watch, everything = Sink.start(), Sink.start()
        feed.tell(SubscribeCandles(watch, watchlist_only=True))
        feed.tell(SubscribeCandles(everything))
        assert isinstance(feed.ask(EnsureStream("ETHUSDT", "5m")), StreamReady)

        def both_streams_seen() -> bool:
            return {m.symbol for m in everything.ask("received")} == {"BTCUSDT", "ETHUSDT"}

        wait_for(both_streams_seen)
        assert {m.symbol for m in watch.ask("received")} == {"BTCUSDT"}


@pytest.mark.timeout(60)
def test_top_symbols_exclude_stablecoins_and_leveraged_tokens():
    symbols = ["BTCUSDT", "ETHUSDT", "USDCUSDT", "BTCUPUSDT", "SOLUSDT", "JUPUSDT", "XRPUSDT", "FDUSDUSDT"]
    market = synthetic_market(symbols, "1m", seed=5, count=3000)
    with BackgroundSim(lambda: MarketSim(market, 60.0)) as sim:
        feed = MarketFeed.start(feed_config(sim, (), ("1m",), top_n=3, update_period_s=2.0))
        top = feed.ask(TopSymbols(10))
        assert set(top) == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "JUPUSDT", "XRPUSDT"}
        volumes = {}
        for s in top:
            series = market.series(s, "1m")
            closed = series.closed_count(sim.clock.now_ms())
            lo = max(0, closed - 1440)
            volumes[s] = float((series.volume[lo:closed] * series.close[lo:closed]).sum())
        assert list(top) == sorted(top, key=lambda s: -volumes[s])
        # an empty watchlist streams the top N
        wait_for(lambda: feed.ask(FeedStats()).streams == 3)
        assert len(answer_of(feed, GetCandles(top[0], "1m", 5))) == 5


@pytest.mark.timeout(60)
def test_http_451_stops_the_feed_for_good():
    with BackgroundSim(lambda: MarketSim(btc_eth(), 600.0)) as sim:
        feed = MarketFeed.start(feed_config(sim, ("BTCUSDT",), ("5m",)))
        wait_for(lambda: feed.ask(FeedStats()).connections == 1)
        sim.restrict_location()
        sim.drop_connections()  # the reconnect's backfill meets the 451
        wait_for(lambda: feed.ask(FeedStats()).fatal)
        stats = feed.ask(FeedStats())
        assert "451" in stats.fatal and "BINANCE_REST_URL" in stats.fatal
        error = feed.ask(GetCandles("BTCUSDT", "5m", 10))
        assert isinstance(error, FeedError) and error.kind == "fatal"
        requests = sim.stats.rest_requests
        connections = sim.stats.connections
        time.sleep(1.0)
        assert sim.stats.rest_requests == requests and sim.stats.connections == connections  # no retrying
        assert sim.open_connections() == 0


@pytest.mark.timeout(60)
def test_usdm_futures_paths_and_several_connections():
    market = btc_eth(rows=120)
    with BackgroundSim(lambda: MarketSim(market, 9000.0)) as sim:
        sink = Sink.start()
        config = feed_config(sim, ("BTCUSDT", "ETHUSDT"), ("5m", "15m", "1h"), market="usdm",
                             max_streams_per_connection=2)
        feed = MarketFeed.start(config)
        feed.tell(SubscribeCandles(sink, intervals=("15m",)))
        want = len(market.series("BTCUSDT", "15m").open_time) + len(market.series("ETHUSDT", "15m").open_time)
        wait_for(lambda: len(sink.ask("received")) >= want, timeout=20)
        got = sink.ask("received")
        assert {m.interval for m in got} == {"15m"}
        stats = feed.ask(FeedStats())
        assert stats.streams == 6 and stats.connections == 3
        assert sim.stats.futures_connections == sim.stats.connections
        assert sim.stats.futures_rest_requests == sim.stats.rest_requests > 0


@pytest.mark.timeout(60)
def test_stale_event_time_against_the_server_clock_forces_a_reconnect():
    """The feed measures E against the server's clock (offset from /time), not its own wall clock."""
    clock = ManualClock(start_ms=1_000)  # decades away from the replayed history: offsets absorb that
    with BackgroundSim(lambda: MarketSim(btc_eth(), 600.0)) as sim:
        feed = MarketFeed.start(feed_config(sim, ("BTCUSDT",), ("5m",), update_period_s=2.0), clock)
        answer_of(feed, GetCandles("BTCUSDT", "5m", 10))
        time.sleep(1.0)
        assert feed.ask(FeedStats()).watchdog_trips == 0  # history replay is not "stale"
        clock.advance(3_600_000)  # the server clock now reads an hour past the last event time
        wait_for(lambda: feed.ask(FeedStats()).reconnects >= 1)
        trips = feed.ask(FeedStats()).watchdog_trips
        assert trips >= 1
        time.sleep(1.5)  # the reconnect re-measured the offset: no more trips
        assert feed.ask(FeedStats()).watchdog_trips == trips


@pytest.mark.timeout(60)
def test_history_beyond_one_request_is_paged():
    d = klines_dir() / DATA_2025
    market = market_from_files([d / "BTCUSDT_5m.csv"], ["BTCUSDT"], limit=1400, history=1300)
    data = load_csv(d / "BTCUSDT_5m.csv")
    with BackgroundSim(lambda: MarketSim(market, 10.0)) as sim:  # no candle closes during the load
        feed = MarketFeed.start(feed_config(sim, ("BTCUSDT",), ("5m",), buffer_size=1200, update_period_s=2.0))
        candles = answer_of(feed, GetCandles("BTCUSDT", "5m", 5000))
        assert len(candles) == 1200  # 1000 per spot request: two pages
        assert np.array_equal(candles.open_time, data.open_time[100:1300])
        assert np.array_equal(candles.volume, data.volume[100:1300])


def _ensure_many(feed, symbols):
    replies = [Future() for _ in symbols]
    for symbol, reply in zip(symbols, replies, strict=True):
        feed.tell(EnsureStream(symbol, "1m", reply_to=reply))
    return [reply.result(30) for reply in replies]


@pytest.mark.timeout(60)
def test_subscribe_messages_are_paced_under_the_connection_limit():
    symbols = [f"C{i:02d}USDT" for i in range(9)]
    market = synthetic_market(symbols, "1m", seed=2, count=2000, history=100)
    with BackgroundSim(lambda: MarketSim(market, 60.0)) as sim:
        feed = MarketFeed.start(feed_config(sim, (symbols[0],), ("1m",), update_period_s=2.0))
        answer_of(feed, GetCandles(symbols[0], "1m", 5))
        answers = _ensure_many(feed, symbols[1:])  # eight SUBSCRIBEs on one spot connection
        assert all(isinstance(a, StreamReady) for a in answers)
        assert sim.stats.control_messages == 8 and sim.stats.rate_limit_kicks == 0
        assert feed.ask(FeedStats()).connections == 1


@pytest.mark.timeout(60)
def test_unpaced_subscribes_would_be_kicked():
    """The simulator enforces Binance's 5 messages/s: without pacing the feed gets disconnected."""
    symbols = [f"C{i:02d}USDT" for i in range(9)]
    market = synthetic_market(symbols, "1m", seed=2, count=2000, history=100)
    with BackgroundSim(lambda: MarketSim(market, 60.0)) as sim:
        feed = MarketFeed.start(feed_config(sim, (symbols[0],), ("1m",), update_period_s=2.0, control_rate=100.0))
        answer_of(feed, GetCandles(symbols[0], "1m", 5))
        answers = _ensure_many(feed, symbols[1:])
        assert sim.stats.rate_limit_kicks >= 1
        assert all(isinstance(a, StreamReady) for a in answers)  # the reconnect's URL carries them all


@pytest.mark.timeout(60)
def test_streams_beyond_the_url_go_by_subscribe():
    symbols = [f"U{i:03d}USDT" for i in range(120)]  # ~2,400 characters of stream names
    market = synthetic_market(symbols, "1m", seed=4, count=400, history=100)
    with BackgroundSim(lambda: MarketSim(market, 120.0)) as sim:
        sink = Sink.start()
        feed = MarketFeed.start(feed_config(sim, tuple(symbols), ("1m",), update_period_s=2.0, buffer_size=100))
        feed.tell(SubscribeCandles(sink))
        wait_for(lambda: {m.symbol for m in sink.ask("received") if m.fresh} == set(symbols), timeout=30)
        assert sim.stats.control_messages >= 1 and sim.stats.connections == 1


def test_backoff_is_full_jitter_and_capped():
    draws = [full_jitter(attempt, 0.5, 60.0) for attempt in range(12) for _ in range(50)]
    assert all(0.0 <= d <= 60.0 for d in draws)
    assert max(full_jitter(1, 0.5, 60.0) for _ in range(200)) <= 1.0
    assert max(full_jitter(20, 0.5, 60.0) for _ in range(200)) > 30.0  # reaches toward the cap


def test_feed_config_refuses_nonsense():
    with pytest.raises(ValueError):
        FeedConfig(market="margin")
    with pytest.raises(ValueError):
        FeedConfig(intervals=("7m",))
    with pytest.raises(ValueError):
        FeedConfig(max_streams_per_connection=2000)
    assert FeedConfig(watchlist=("btcusdt",)).watchlist == ("BTCUSDT",)


def test_candle_buffer_keeps_the_last_n_in_order():
    buffer = CandleBuffer("BTCUSDT", "1m", capacity=3, tick_size=0.01)
    for i in range(10):
        buffer.append(Kline(i * 60_000, i * 60_000 + 59_999, i, i + 2, i - 1, i + 1, 10.0 * i))
    snap = buffer.snapshot()
    assert list(snap.open_time) == [420_000, 480_000, 540_000] and list(snap.close) == [8.0, 9.0, 10.0]
    assert list(buffer.snapshot(2).open_time) == [480_000, 540_000]
    buffer.append(Kline(600_000, 659_999, 1, 1, 1, 1, 1))
    assert list(snap.open_time) == [420_000, 480_000, 540_000]  # earlier snapshots never change
    with pytest.raises(ValueError):
        buffer.append(Kline(600_000, 659_999, 1, 1, 1, 1, 1))


def test_top_usdt_pairs_ranking_rules():
    info = parse_exchange_info({"symbols": [
        {"symbol": s, "baseAsset": s[:-4], "quoteAsset": "USDT", "status": "TRADING",
         "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01000000"}]}
        for s in ("BTCUSDT", "BTCUPUSDT", "JUPUSDT", "USDCUSDT", "ETHUSDT")
    ] + [{"symbol": "ETHBTC", "baseAsset": "ETH", "quoteAsset": "BTC", "status": "TRADING", "filters": []},
         {"symbol": "LUNAUSDT", "baseAsset": "LUNA", "quoteAsset": "USDT", "status": "BREAK", "filters": []}]})
    assert info["BTCUSDT"] == SymbolInfo("BTC", "USDT", "TRADING", 0.01)
    tickers = [{"symbol": s, "quoteVolume": str(v)} for s, v in
               (("USDCUSDT", 9e9), ("BTCUPUSDT", 8e9), ("ETHBTC", 7e9), ("LUNAUSDT", 6e9), ("ETHUSDT", 5e9),
                ("BTCUSDT", 4e9), ("JUPUSDT", 1e6), ("NEWUSDT", 1e12))]
    assert top_usdt_pairs(tickers, info, 5) == ("ETHUSDT", "BTCUSDT", "JUPUSDT")
    assert top_usdt_pairs(tickers, info, 1) == ("ETHUSDT",)


@pytest.mark.timeout(60)
def test_on_demand_streams_are_capped_held_and_dropped_when_idle():
    market = synthetic_market(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"], "1m", seed=3, count=3000)
    with BackgroundSim(lambda: MarketSim(market, 600.0)) as sim:
        config = feed_config(sim, ("BTCUSDT",), ("1m",), update_period_s=2.0, idle_stream_s=0.4,
                             max_on_demand_streams=2)
        feed = MarketFeed.start(config)
        sink = Sink.start()
        feed.tell(SubscribeCandles(sink))
        assert isinstance(feed.ask(EnsureStream("ETHUSDT", "1m")), StreamReady)
        assert isinstance(feed.ask(EnsureStream("SOLUSDT", "1m", hold=True)), StreamReady)  # an open signal's
        full = feed.ask(EnsureStream("XRPUSDT", "1m"))
        assert isinstance(full, FeedError) and full.kind == "capacity" and "2" in full.reason
        assert isinstance(feed.ask(EnsureStream("ETHUSDT", "1m")), StreamReady)  # a stream it has: served

        wait_for(lambda: feed.ask(FeedStats()).streams_dropped == 1)  # ETH: idle, not held
        assert feed.ask(GetCandles("ETHUSDT", "1m", 5)).kind == "not_ready"  # its book is gone
        assert isinstance(feed.ask(GetCandles("SOLUSDT", "1m", 5)), Candles)  # held: kept although idle
        eth_seen = sum(m.symbol == "ETHUSDT" for m in sink.ask("received"))
        btc_seen = sum(m.symbol == "BTCUSDT" for m in sink.ask("received"))
        wait_for(lambda: sum(m.symbol == "BTCUSDT" for m in sink.ask("received")) >= btc_seen + 5)
        assert sum(m.symbol == "ETHUSDT" for m in sink.ask("received")) == eth_seen  # unsubscribed

        assert isinstance(feed.ask(EnsureStream("XRPUSDT", "1m")), StreamReady)  # room again
        feed.tell(ReleaseStream("SOLUSDT", "1m"))
        wait_for(lambda: feed.ask(FeedStats()).streams_dropped == 3)  # SOL released, XRP idle
        assert feed.ask(FeedStats()).streams == 1  # the watchlist stays
