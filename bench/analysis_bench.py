"""Analysis speed on real candles, side by side with the reference library, in one run.

1. The five SMC functions (swing_highs_lows, fvg, ob, bos_choch, liquidity) of analysis.smc.compat
   vs smartmoneyconcepts 0.0.27 on 1,000 and 10,000 candles, outputs checked equal first.
   Goals: >= 50x at 1,000 candles, >= 100x at 10,000.
2. analyze() latency p50/p99 over 25 symbol files at 1,000 candles. Goal: p99 <= 5 ms.
3. AnalyzerPool throughput with 1 and 2 worker threads (does the GIL allow a speed-up?), next to
   the same pool with processes=True (what `main.py run` starts with more than one worker). Rounds
   are interleaved and the best of each is kept, so a busy shared machine skews them less.

Run: .venv/bin/python bench/analysis_bench.py [--quick] [--pool-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.analyzer import AnalyzerPool
from actors.messages import Analyze
from analysis.candles import Candles, load_csv
from analysis.smc import compat
from analysis.strategy import analyze
from tests.conftest import SHARED_KLINES as KLINES

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


def side_by_side(reference_run, our_run, rounds: int, ours_per_round: int) -> tuple[float, float, float]:
    """Interleaved rounds (one reference call, then our calls) so load on a shared machine hits both.

    Returns the median reference seconds, the median of our seconds and the median per-round ratio.
    """
    reference_run()
    our_run()
    reference_times, our_times, ratios = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        reference_run()
        reference_times.append(time.perf_counter() - start)
        samples = []
        for _ in range(ours_per_round):
            start = time.perf_counter()
            our_run()
            samples.append(time.perf_counter() - start)
        our_times.append(statistics.median(samples))
        ratios.append(reference_times[-1] / our_times[-1])
    return statistics.median(reference_times), statistics.median(our_times), statistics.median(ratios)


def bench_compat(quick: bool) -> None:
    import pandas as pd
    from smartmoneyconcepts import smc

    candles = load_csv(KLINES / LONG_FILE)
    print("\n== SMC compat vs smartmoneyconcepts 0.0.27 (BTCUSDT 1h, the five functions per run; medians of\n"
          "   interleaved rounds: one reference run, then 20 of ours)")
    print(f"{'candles':>8} {'swing':>6} {'reference ms':>13} {'ours ms':>9} {'speed-up':>9}  goal")
    for n, goal in ((1000, 50), (10_000, 100)):
        part = candles[-n:]
        frame = pd.DataFrame({k: getattr(part, k) for k in ("open", "high", "low", "close", "volume")})
        for swing_length in (5, 10, 50):
            check_equal(ours(part, swing_length), reference(smc, frame, swing_length))
            rounds = 3 if quick else (15 if n == 1000 else 5)
            ref, mine, ratio = side_by_side(lambda f=frame, s=swing_length: reference(smc, f, s),
                                            lambda p=part, s=swing_length: ours(p, s), rounds, 20)
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


def pool_throughput(windows: list[Candles], workers: int, processes: bool = False) -> float:
    pool = AnalyzerPool.start(workers=workers, processes=processes)
    try:
        for window in windows[-workers:]:  # warm every worker (and its child process) up first
            pool.ask(Analyze(window.symbol, window.interval, window), timeout=60)
        timed_windows = windows[:-workers]
        futures = []
        start = time.perf_counter()
        for window in timed_windows:
            future: Future = Future()
            pool.tell(Analyze(window.symbol, window.interval, window, reply_to=future))
            futures.append(future)
        for future in futures:
            future.result(timeout=120)
        return len(timed_windows) / (time.perf_counter() - start)
    finally:
        pool.stop()


def bench_pool(windows: list[Candles], rounds: int) -> None:
    cpus = os.cpu_count() or 1
    print(f"\n== AnalyzerPool throughput, {len(windows)} distinct analyses (no cache hits), {cpus} CPUs, "
          f"best of {rounds} interleaved rounds")
    configs = {"1 worker thread": (1, False), "2 worker threads": (2, False), "1 worker process": (1, True),
               "2 worker processes": (2, True)}
    best = dict.fromkeys(configs, 0.0)
    for _ in range(rounds):
        for name, (workers, processes) in configs.items():
            best[name] = max(best[name], pool_throughput(windows, workers, processes))
    one = best["1 worker thread"]
    for name, rate in best.items():
        print(f"{name:<19}: {rate:7.0f} analyses/s  ({rate / one:.2f}x of one thread)")
    default = f"{cpus} worker processes" if cpus > 1 else "1 worker thread"
    print(f"main.py run's default here (ANALYZER_WORKERS={cpus}, app.system.analyzer_pool): {default}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and windows")
    parser.add_argument("--pool-only", action="store_true", help="only the AnalyzerPool throughput")
    args = parser.parse_args()
    if not KLINES.is_dir():
        sys.exit(f"real klines not found at {KLINES}")
    if not args.pool_only:
        bench_compat(args.quick)
    windows = windows_per_symbol(8 if args.quick else 40)
    if not args.pool_only:
        bench_analyze(windows)
    bench_pool(windows, 1 if args.quick else 3)


if __name__ == "__main__":
    main()
