"""Chart rendering speed on real candles and real signals.

1. render_png() in this process, warmed up like a worker: time per chart p50/p99 and PNG size.
   Goal: p99 <= 300 ms per chart. The CPU time per chart is printed beside it: on a machine shared with
   other jobs it shows what waiting added.
2. ChartRenderer (the spawn process pool): the first render of a cold pool next to one after start();
   one render at a time (p50/p99, pickling and the round trip included); a burst of every chart at
   once with 1 and 2 workers, in charts per second.
3. An autosignal broadcast to 1,000 recipients through the real Sender (aiogram) and the fake Bot API,
   with charts (rendered when issued, uploaded once, then sent by file_id) and as text only: seconds
   from the issue to the last recipient settled, and their ratio. Goal: charts within 10% of text.
   Telegram's limits (25 messages/s from the Sender, 30/s at the server) are scaled by --scale, so the
   run is short; the chart's one render and upload weigh more at a higher scale, not less.

Run: nice -n 10 .venv/bin/python bench/chart_bench.py [--quick] [--recipients N] [--scale K]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.candles import Candles, load_csv
from analysis.strategy import Signal, analyze
from domain.events import upcast
from eventstore import EventStore, NewEvent
from telegram_adapter.charts.cache import ChartCache
from telegram_adapter.charts.draw import render_png, warm_up
from telegram_adapter.charts.pool import ChartRenderer
from telegram_adapter.charts.service import ChartService
from telegram_adapter.charts.spec import chart_spec
from telegram_adapter.signal_charts import SignalCharts
from tests.autosignal_support import SenderLoop
from tests.conftest import SHARED_KLINES as KLINES
from tests.fakes.bot_api import FakeBotAPI

FILES = (
    "azmath606961__hawk-crypto-bot/data/BTCUSDT_1h.csv",
    "azmath606961__hawk-crypto-bot/data/ETHUSDT_1h.csv",
    "azmath606961__hawk-crypto-bot/data/SOLUSDT_1h.csv",
    "privet1x__crypto-trading-bot/data/BTCUSDT_15m.csv",
    "Benicio1007__Bot_trading/data/dataset/2025/ETHUSDT_5m.csv",
)
Chart = tuple[dict, Candles]
TELEGRAM_RATE, TELEGRAM_GLOBAL = 25.0, 30  # the Sender's default messages/s; Telegram's overall limit


def real_charts(per_file: int) -> list[Chart]:
    """(payload, candles up to it): the first `per_file` signals of each file, analysed on 1,000 candles."""
    charts: list[Chart] = []
    for name in FILES:
        candles = load_csv(KLINES / name)
        found = 0
        for end in range(1000, len(candles), 7):
            result = analyze(candles[end - 1000:end])
            if isinstance(result, Signal):
                charts.append((result.to_dict(), candles[end - 1000:end]))
                found += 1
                if found == per_file:
                    break
    return charts


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1e3
    return f"p50 {np.percentile(ms, 50):6.1f} ms   p99 {np.percentile(ms, 99):6.1f} ms   max {ms.max():6.1f} ms"


def bench_render(charts: list[Chart]) -> None:
    warm_up()
    for theme in ("dark", "light"):
        times, cpu, sizes = [], [], []
        for signal, candles in charts:
            start, start_cpu = time.perf_counter(), time.process_time()
            png = render_png(chart_spec(signal, candles, theme))
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            sizes.append(len(png))
        p99 = np.percentile(times, 99) * 1e3
        print(f"{theme:>5}: {percentiles(times)}   goal p99 <= 300 ms: {'met' if p99 <= 300 else 'MISSED'}")
        print(f"  CPU  {percentiles(cpu)}   PNG p50 {np.median(sizes) / 1024:.0f} KB, "
              f"max {max(sizes) / 1024:.0f} KB")


async def cold_and_warm(chart: Chart) -> tuple[float, float, float]:
    """Seconds: first render of a cold pool; start() of another; its first render after warming."""
    cold = ChartRenderer(workers=1)
    try:
        start = time.perf_counter()
        await cold.render(*chart)
        cold_first = time.perf_counter() - start
    finally:
        cold.close()
    warm = ChartRenderer(workers=1)
    try:
        start = time.perf_counter()
        await warm.start()
        warming = time.perf_counter() - start
        start = time.perf_counter()
        await warm.render(*chart)
        return cold_first, warming, time.perf_counter() - start
    finally:
        warm.close()


async def one_at_a_time(charts: list[Chart]) -> list[float]:
    renderer = ChartRenderer(workers=1)
    try:
        await renderer.start()
        times = []
        for chart in charts:
            start = time.perf_counter()
            assert await renderer.render(*chart) is not None, renderer.counts
            times.append(time.perf_counter() - start)
        return times
    finally:
        renderer.close()


async def burst(charts: list[Chart], workers: int) -> float:
    """Charts per second when every chart is asked for at once."""
    renderer = ChartRenderer(workers=workers)
    try:
        await renderer.start()
        start = time.perf_counter()
        pngs = await asyncio.gather(*(renderer.render(*chart) for chart in charts))
        elapsed = time.perf_counter() - start
        assert all(pngs), renderer.counts
        return len(charts) / elapsed
    finally:
        renderer.close()


def broadcast(chart: Chart, recipients: int, scale: int, charts: bool) -> tuple[float, int, int]:
    """Seconds from an AutoSignalIssued to every recipient settled; photos sent; uploads the server took."""
    signal, candles = chart

    async def feed(symbol: str, interval: str) -> Candles:
        return candles

    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(
            global_per_s=TELEGRAM_GLOBAL * scale, per_chat_rate=float(scale), per_chat_burst=3.0 * scale) as fake:
        store = EventStore.open(Path(tmp) / "events.db", upcast=upcast)
        make = (lambda: SignalCharts(ChartService(ChartRenderer(workers=1), ChartCache(Path(tmp) / "charts")),
                                     feed)) if charts else None
        with SenderLoop(store, fake.base_url, charts=make, rate=TELEGRAM_RATE * scale, concurrency=8):
            start = time.perf_counter()
            store.append("autosignal", 0, [NewEvent("AutoSignalIssued", {
                "signal_id": "a:bench", "signal": signal, "recipients": list(range(1, recipients + 1))},
                {"schema": 1})])
            while store.stream_version("outbox") < 2 * recipients:  # an attempt and an outcome each
                time.sleep(0.02)
            elapsed = time.perf_counter() - start
        store.close()
        photos = sum(1 for m in fake.sent if m["method"] == "sendPhoto")
        return elapsed, photos, len(fake.uploads)


def bench_broadcast(chart: Chart, recipients: int, scale: int) -> None:
    text, _, _ = broadcast(chart, recipients, scale, charts=False)
    charted, photos, uploads = broadcast(chart, recipients, scale, charts=True)
    ratio = charted / text
    print(f"text only   : {text:6.2f} s  ({recipients / text:6.1f} messages/s)")
    print(f"with charts : {charted:6.2f} s  ({photos} photos, {uploads} upload, the rest by file_id)")
    print(f"ratio       : {ratio:.3f}   goal <= 1.10: {'met' if ratio <= 1.10 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer charts")
    parser.add_argument("--recipients", type=int, default=1000, help="of the broadcast")
    parser.add_argument("--scale", type=int, default=10, help="Telegram's rate limits multiplied by this")
    args = parser.parse_args()
    if not KLINES.is_dir():
        sys.exit(f"real klines not found at {KLINES}")
    charts = real_charts(4 if args.quick else 16)
    print(f"\n== render_png() in this process: {len(charts)} real signals (BTC ETH SOL 1h, BTC 15m, ETH 5m), "
          "120 candles each")
    bench_render(charts)
    print(f"\n== ChartRenderer (spawn process pool), {os.cpu_count()} CPUs")
    cold_first, warming, warm_first = asyncio.run(cold_and_warm(charts[0]))
    print(f"first render, cold pool     : {cold_first * 1e3:6.0f} ms")
    print(f"start() (spawn + warm-up)   : {warming * 1e3:6.0f} ms, then first render {warm_first * 1e3:.0f} ms "
          f"({cold_first / warm_first:.0f}x faster than cold)")
    print(f"one at a time, 1 worker     : {percentiles(asyncio.run(one_at_a_time(charts)))}")
    one = asyncio.run(burst(charts, 1))
    two = asyncio.run(burst(charts, 2))
    print(f"burst of {len(charts)}, 1 worker       : {one:6.1f} charts/s")
    print(f"burst of {len(charts)}, 2 workers      : {two:6.1f} charts/s  ({two / one:.2f}x of one worker)")
    rate = TELEGRAM_RATE * args.scale
    print(f"\n== broadcast of one autosignal to {args.recipients:,} recipients, real Sender and fake Bot API "
          f"(Sender {rate:g} messages/s, Telegram's limits x{args.scale})")
    bench_broadcast(charts[0], args.recipients, args.scale)


if __name__ == "__main__":
    main()
