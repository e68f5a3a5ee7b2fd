"""Analysis speed on real candles, side by side with the reference library, in one run.

1. The five SMC functions (swing_highs_lows, fvg, ob, bos_choch, liquidity) of analysis.smc.compat
   vs smartmoneyconcepts 0.0.27 on 1,000 and 10,000 candles, outputs checked equal first.
   Goals: >= 50x at 1,000 candles, >= 100x at 10,000.
2. analyze() latency p50/p99 over 25 symbol files at 1,000 candles. Goal: p99 <= 5 ms.
3. AnalyzerPool throughput with 1 and 2 worker threads (does the GIL allow a speed-up?), next to a
   2-process pool running the same analyses.

Run: .venv/bin/python bench/analysis_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.analyzer import AnalyzerPool
from actors.messages import Analyze
from analysis.candles import Candles, load_csv
from analysis.smc import compat
from analysis.strategy import analyze

KLINES = Path(__file__).resolve().parents[2] / "shared" / "data" / "klines"
LONG_FILE = "azmath606961__hawk-crypto-bot/data/BTCUSDT_1h.csv"


def ours(candles: Candles, swing_length: int) -> dict[str, dict[str, np.ndarray]]:
    swings = compat.swing_highs_lows(candles, swing_length)
    return {
        "swing_highs_lows": swings,
        "fvg": compat.fvg(candles),
        "ob": compat.ob(candles, swings),
        "bos_choch": compat.bos_choch(candles, swings),
        "liquidity": compat.liquidity(candles, swings),
    }


def reference(smc, frame, swing_length: int) -> dict:
    swings = smc.swing_highs_lows(frame, swing_length)
    return {
        "swing_highs_lows": swings,
        "fvg": smc.fvg(frame),
        "ob": smc.ob(frame, swings),
        "bos_choch": smc.bos_choch(frame, swings),
        "liquidity": smc.liquidity(frame, swings),
    }


def check_equal(mine: dict, theirs: dict) -> None:
    for name, table in theirs.items():
        assert list(mine[name]) == list(table.columns), name
        for column in table.columns:
            expected = table[column].to_numpy()
            got = mine[name][column]
            assert got.dtype == expected.dtype, (name, column)
            assert np.array_equal(got, expected, equal_nan=True), (name, column)


def timed(function, repeats: int) -> float:
    """Median seconds of `repeats` calls (after one warm-up)."""
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_compat(quick: bool) -> None:
    import pandas as pd
    from smartmoneyconcepts import smc

    candles = load_csv(KLINES / LONG_FILE)
    print("\n== SMC compat vs smartmoneyconcepts 0.0.27 (BTCUSDT 1h, five functions per run, median)")
    print(f"{'candles':>8} {'swing':>6} {'reference ms':>13} {'ours ms':>9} {'speed-up':>9}  goal")
    for n, goal in ((1000, 50), (10_000, 100)):
        part = candles[-n:]
        frame = pd.DataFrame({k: getattr(part, k) for k in ("open", "high", "low", "close", "volume")})
        for swing_length in (5, 10, 50):
            check_equal(ours(part, swing_length), reference(smc, frame, swing_length))
            ref = timed(lambda f=frame, s=swing_length: reference(smc, f, s), 3 if quick or n > 1000 else 10)
            mine = timed(lambda p=part, s=swing_length: ours(p, s), 30 if quick else 200)
            ratio = ref / mine
            verdict = "met" if ratio >= goal else "MISSED"
            print(f"{n:>8} {swing_length:>6} {ref * 1e3:>13.2f} {mine * 1e3:>9.3f} {ratio:>8.0f}x  "
                  f">= {goal}x {verdict}")


def windows_per_symbol(count: int) -> list[Candles]:
    files = sorted(KLINES.rglob("*.csv"))[:25]
    out = []
    for path in files:
        candles = load_csv(path)
        step = max(1, (len(candles) - 1000) // count)
        out += [candles[end - 1000 : end] for end in range(1000, len(candles) + 1, step)][:count]
    return out


def bench_analyze(windows: list[Candles]) -> None:
    latencies = []
    for window in windows:
        start = time.perf_counter()
        analyze(window)
        latencies.append(time.perf_counter() - start)
    ms = np.array(latencies) * 1e3
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    print(f"\n== analyze() at 1,000 candles: {len(windows)} windows from 25 files (BTC ETH BNB SOL XRP; "
          "1m 5m 15m 1h)")
    print(f"p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {ms.max():.2f} ms   goal p99 <= 5 ms: "
          f"{'met' if p99 <= 5 else 'MISSED'}")


def pool_throughput(windows: list[Candles], workers: int) -> float:
    pool = AnalyzerPool.start(workers=workers)
    try:
        pool.ask(Analyze(windows[0].symbol, windows[0].interval, windows[0]), timeout=30)  # warm-up
        futures = []
        start = time.perf_counter()
        for window in windows[1:]:
            future: Future = Future()
            pool.tell(Analyze(window.symbol, window.interval, window, reply_to=future))
            futures.append(future)
        for future in futures:
            future.result(timeout=120)
        return (len(windows) - 1) / (time.perf_counter() - start)
    finally:
        pool.stop()


def process_throughput(windows: list[Candles], processes: int) -> float:
    with ProcessPoolExecutor(processes) as executor:
        list(executor.map(analyze, windows[:processes]))  # warm-up: imports in each process
        start = time.perf_counter()
        list(executor.map(analyze, windows, chunksize=8))
        return len(windows) / (time.perf_counter() - start)


def bench_pool(windows: list[Candles]) -> None:
    print(f"\n== AnalyzerPool throughput, {len(windows)} distinct analyses (no cache hits), "
          f"{os.cpu_count()} CPUs")
    one = pool_throughput(windows, 1)
    two = pool_throughput(windows, 2)
    procs = process_throughput(windows, 2)
    print(f"1 worker thread : {one:7.0f} analyses/s")
    print(f"2 worker threads: {two:7.0f} analyses/s  ({two / one:.2f}x of one thread: the GIL)")
    print(f"2 processes     : {procs:7.0f} analyses/s  ({procs / one:.2f}x of one thread; pickling included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and windows")
    args = parser.parse_args()
    if not KLINES.is_dir():
        sys.exit(f"real klines not found at {KLINES}")
    bench_compat(args.quick)
    windows = windows_per_symbol(8 if args.quick else 40)
    bench_analyze(windows)
    bench_pool(windows)


if __name__ == "__main__":
    main()
