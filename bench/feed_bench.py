"""Market feed benchmark: close-to-subscriber latency and frame parsing throughput.

Latency: the simulator (its own process, as the exchange would be) records when it writes each
closed kline to the socket; a subscriber actor records when `CandleClosed` arrives (both on
CLOCK_MONOTONIC via perf_counter_ns). All symbols close
at the same instant, as on Binance, so the figure includes the burst at every candle boundary.
Throughput: Binance-shaped combined-stream frames through `parse_frame` and through the feed's
whole frame path (parse, dedupe, buffer, emit), next to a naive stdlib-json parse for scale.

Run: .venv/bin/python bench/feed_bench.py [--seconds 10]
Goals: p99 <= 5 ms at 25 symbols; >= 50,000 frames/s parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pykka

from actors.clock import SystemClock
from actors.market_feed import MarketFeed
from actors.messages import CandleClosed, FeedStats, SubscribeCandles
from marketdata.feed_config import FeedConfig
from marketdata.feed_engine import FeedEngine
from marketdata.feed_state import Connection
from marketdata.kline_payloads import parse_frame, stream_name
from marketsim import MarketSim, synthetic_market
from marketsim.protocol import combined, kline_event


class Stopwatch(pykka.ThreadingActor):
    """Records when each fresh CandleClosed arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[tuple[str, int], int] = {}

    def on_receive(self, message: object) -> object:
        if isinstance(message, CandleClosed):
            if message.fresh:
                self.arrivals[(stream_name(message.symbol, message.interval), message.candle.open_time)] = (
                    time.perf_counter_ns()
                )
            return None
        return dict(self.arrivals)


def symbols(n: int) -> list[str]:
    return [f"S{i:03d}USDT" for i in range(n)]


def _serve_sim(pipe, n_symbols: int) -> None:
    """Child process: serve the synthetic market, report the URLs, then the closed-kline write log."""

    async def serve() -> None:
        market = synthetic_market(symbols(n_symbols), "1m", seed=1, count=3000, history=200)
        sim = MarketSim(market, speed=300.0, record_writes=True)
        pipe.send(await sim.start())
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # wait for "stop"
        pipe.send(sim.write_log)
        await sim.stop()

    asyncio.run(serve())


def latency(n_symbols: int, seconds: float) -> tuple[np.ndarray, int]:
    """The simulator runs in its own process, as Binance would; perf_counter is CLOCK_MONOTONIC."""
    parent, child = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_serve_sim, args=(child, n_symbols))
    proc.start()
    urls = parent.recv()
    watch = Stopwatch.start()
    config = FeedConfig(ws_url=urls["ws"], rest_url=urls["rest"], watchlist=tuple(symbols(n_symbols)),
                        intervals=("1m",), buffer_size=200, update_period_s=2.0)
    feed = MarketFeed.start(config)
    feed.tell(SubscribeCandles(watch))
    deadline = time.monotonic() + 30
    while feed.ask(FeedStats()).closed_emitted < n_symbols * 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    watch.ask("arrivals")  # the history backlog is through the subscriber's mailbox
    time.sleep(0.5)
    start = time.perf_counter_ns()
    time.sleep(seconds)
    end = time.perf_counter_ns()
    time.sleep(0.5)
    arrivals = watch.ask("arrivals")
    stats = feed.ask(FeedStats())
    feed.stop()
    watch.stop()
    parent.send("stop")
    writes = [w for w in parent.recv() if start <= w[2] <= end]
    proc.join(10)
    lat = [arrivals[(s, t)] - w for s, t, w in writes if (s, t) in arrivals]
    if stats.reconnects or stats.backfilled:
        print(f"  note: {stats.reconnects} reconnects, {stats.backfilled} backfilled during the run")
    return np.array(lat, dtype=np.float64) / 1e6, len(writes)


def frames(n_symbols: int, count: int) -> list[bytes]:
    """Per minute and symbol: three in-progress updates, then the closed candle."""
    out: list[bytes] = []
    names = symbols(n_symbols)
    minute = 0
    while len(out) < count:
        t = 1_700_000_000_000 + minute * 60_000
        for s in names:
            for update in range(4):
                closed = update == 3
                ohlcv = (100.0, 101.5, 99.25, 100.75 + update, 12.345 * (update + 1))
                out.append(combined(stream_name(s, "1m"), kline_event(s, "1m", 60_000, t + 15_000 * (update + 1),
                                                                      t, ohlcv, closed)))
        minute += 1
    return out[:count]


def naive_parse(raw: bytes) -> tuple:
    """What a typical client does: stdlib json and float() on the fields it needs."""
    k = json.loads(raw)["data"]["k"]
    return k["s"], k["i"], k["t"], float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"]), float(k["v"]), k["x"]


def rate(fn, items: list[bytes], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for raw in items:
            fn(raw)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def engine_rate(items: list[bytes], n_symbols: int) -> float:
    """The feed's whole per-frame path on its loop: parse, dedupe, in-order check, buffer, emit."""
    engine = FeedEngine(FeedConfig(watchlist=("X",), intervals=("1m",)), SystemClock())
    conn = Connection(1, [], 1.0)
    for s in symbols(n_symbols):
        book = engine.bookkeeper.book(s, "1m")
        book.last_open = 1_700_000_000_000 - 60_000
        book.checked_until = book.last_open
    t0 = time.perf_counter()
    for raw in items:
        engine.connections.on_frame(conn, raw)
    elapsed = time.perf_counter() - t0
    counts = engine.runtime.counts
    assert counts["emitted"] == len(items) // 4 and counts["gaps"] == 0
    return len(items) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per symbol count")
    args = parser.parse_args()
    print("feed_bench: simulator write -> subscriber CandleClosed (simulator in its own process, loopback)")
    results = {}
    for n in (25, 200):
        lat, writes = latency(n, args.seconds)
        results[n] = lat
        print(f"  {n:3d} symbols: {len(lat)}/{writes} closes matched  p50 {np.percentile(lat, 50):6.2f} ms  "
              f"p99 {np.percentile(lat, 99):6.2f} ms  max {lat.max():6.2f} ms  "
              f"over 5 ms: {np.mean(lat > 5) * 100:.1f}%")
    items = frames(200, 100_000)  # 500 minutes of 200 symbols
    ours = rate(parse_frame, items)
    naive = rate(naive_parse, items)
    whole = engine_rate(items, 200)
    print(f"  parse_frame:            {ours:10,.0f} frames/s  ({ours / naive:.2f}x stdlib-json naive parse "
          f"at {naive:,.0f}/s)")
    print(f"  feed frame path:        {whole:10,.0f} frames/s  (parse + dedupe + buffer + emit)")
    p99 = np.percentile(results[25], 99)
    print(f"goal p99 <= 5 ms at 25 symbols: {'met' if p99 <= 5 else 'MISSED'} ({p99:.2f} ms)")
    print(f"goal >= 50,000 frames/s parsed: {'met' if ours >= 50_000 else 'MISSED'} ({ours:,.0f}/s)")
    pykka.ActorRegistry.stop_all()


if __name__ == "__main__":
    main()
