"""Run the real MarketFeed against the real simulator and collect what a subscriber receives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pykka

from actors.market_feed import MarketFeed
from actors.messages import CandleClosed, FeedCounters, FeedStats, SubscribeCandles
from marketdata.feed_config import FeedConfig
from marketsim import BackgroundSim, Market, MarketSim, SimStats

DATA_2025 = "Benicio1007__Bot_trading/data/dataset/2025"


class Sink(pykka.ThreadingActor):
    """A subscriber actor that keeps every CandleClosed it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[CandleClosed] = []

    def on_receive(self, message: object) -> object:
        if isinstance(message, CandleClosed):
            self.received.append(message)
            return None
        if message == "received":
            return list(self.received)
        return None


@dataclass
class FeedRun:
    received: list[CandleClosed]
    counters: FeedCounters
    sim_stats: SimStats
    market: Market


def feed_config(sim: MarketSim, symbols: tuple[str, ...], intervals: tuple[str, ...], **overrides) -> FeedConfig:
    """Feed settings scaled for a fast simulator: fast backoff, a watchdog lenient enough for a busy CI."""
    base = FeedConfig(
        ws_url=sim.urls["ws"],
        rest_url=sim.urls["rest"],
        watchlist=symbols,
        intervals=intervals,
        update_period_s=1.0,
        backoff_base_s=0.05,
        backoff_cap_s=1.0,
        healthy_after_s=0.5,
        request_timeout_s=5.0,
    )
    return replace(base, **overrides)


def expected_candles(market: Market, symbol: str, interval: str) -> list[tuple]:
    series = market.series(symbol, interval)
    return [series.row(i) for i in range(len(series.open_time))]


def as_rows(messages: list[CandleClosed]) -> list[tuple]:
    return [
        (m.candle.open_time, m.candle.open, m.candle.high, m.candle.low, m.candle.close, m.candle.volume)
        for m in messages
    ]


def run_feed(
    market: Market,
    intervals: tuple[str, ...],
    *,
    speed: float,
    faults: Callable[[MarketSim, float], None] | None = None,
    before_start: Callable[[MarketSim], None] | None = None,
    timeout_s: float = 30.0,
    **config: object,
) -> FeedRun:
    """Replay the whole market; call `faults(sim, elapsed)` every 50 ms; stop when all candles arrived.

    The simulator's clock starts once the feed has loaded the history and connected, so faults
    land at the same market moment however long the start took (`before_start` runs before that).
    """
    symbols = market.symbols
    want = sum(len(market.series(s, i).open_time) for s in symbols for i in intervals)
    last_close = max(
        int(market.series(s, i).open_time[-1]) + market.series(s, i).step_ms for s in symbols for i in intervals
    )
    history = sum(market.series(s, i).closed_count(market.start_ms) for s in symbols for i in intervals)
    with BackgroundSim(lambda: MarketSim(market, speed, seed=7, paused=True)) as sim:
        if before_start:
            before_start(sim)
        sink = Sink.start()
        feed = MarketFeed.start(feed_config(sim, symbols, intervals, **config))
        try:
            feed.tell(SubscribeCandles(sink))
            _wait_until_loaded(feed, history, timeout_s)
            sim.resume()  # the market moves once the feed has its history and connection
            t0 = time.monotonic()
            while time.monotonic() - t0 < timeout_s:
                if faults:
                    faults(sim, time.monotonic() - t0)
                if sim.clock.now_ms() > last_close and len(sink.ask("received")) >= want:
                    break
                time.sleep(0.05)
            time.sleep(0.3)  # anything late (a duplicate, a stray re-emission) would land now
            counters = feed.ask(FeedStats())
            received = sink.ask("received")
        finally:
            feed.stop()
            sink.stop()
        return FeedRun(received, counters, sim.stats, market)


def _wait_until_loaded(feed, history: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = feed.ask(FeedStats())
        if stats.closed_emitted >= history and stats.connections >= 1:
            return
        time.sleep(0.02)


def assert_exact(run: FeedRun, intervals: tuple[str, ...]) -> None:
    """Every closed candle of the data exactly once, identical OHLCV, in order per stream."""
    assert run.counters.fatal == ""
    for symbol in run.market.symbols:
        for interval in intervals:
            got = [m for m in run.received if m.symbol == symbol and m.interval == interval]
            expected = expected_candles(run.market, symbol, interval)
            rows = as_rows(got)
            assert [r[0] for r in rows] == [e[0] for e in expected], f"{symbol} {interval}: open times differ"
            assert rows == expected, f"{symbol} {interval}: OHLCV differs"
    total = sum(len(expected_candles(run.market, s, i)) for s in run.market.symbols for i in intervals)
    assert len(run.received) == total
    assert run.counters.closed_emitted == total


def fire_once(schedule: dict[float, Callable[[MarketSim], None]]) -> Callable[[MarketSim, float], None]:
    """Turn {seconds: action} into a faults callback that runs each action once, when due."""
    pending = sorted(schedule.items())

    def faults(sim: MarketSim, elapsed: float) -> None:
        while pending and pending[0][0] <= elapsed:
            pending.pop(0)[1](sim)

    return faults
