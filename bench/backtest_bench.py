"""Backtest speed on real 1h candles: bars per second in one process, and two series on two processes.

    .venv/bin/python bench/backtest_bench.py [--bars 6000]

Each run replays the last `--bars` bars (plus the 500-candle window behind the first) of the hawk
2024-2026 1h files through `app.backtest.run_backtest` with the product's default policy, into a
fresh log. "replay" is the bar loop (analysis, autosignal and outcome deciders, every setup and its
mirror tracked); "total" adds loading the files, writing the log and folding it back. Bars per
CPU-second of a replaying process is printed too: on a shared machine the wall clock measures the neighbours.
Goal: >= 1,000 bars/s in one process; two processes close to twice that on two cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.candles import format_time, load_csv
from app.backtest import default_setup, run_backtest
from tests.conftest import SHARED_KLINES

HAWK = SHARED_KLINES / "azmath606961__hawk-crypto-bot" / "data"


def measure(files: list[Path], workers: int, bars: int) -> tuple[float, float, float]:
    """(replay bars/s, total bars/s, bars per CPU-second of one replaying process) of one backtest."""
    candles = load_csv(files[0])
    start = int(candles.open_time[-bars - 1])  # the file's last row is dropped, so end at the one before it
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = run_backtest([str(f) for f in files], setup=default_setup(start=start), db=Path(folder) / "b.db",
                              workers=workers)
    total = time.perf_counter() - began
    doc = result.document
    print(f"  from {format_time(start)}: {doc['bars']:,} bars, {len(result.autosignals):,} autosignals closed, "
          f"{len(result.setups):,} setups closed")
    per_cpu = doc["bars"] / sum(run.cpu_seconds for run in result.runs)
    return doc["bars"] / doc["seconds"], doc["bars"] / total, per_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=6000, help="bars per series (default 6000)")
    args = parser.parse_args()
    runs = (("1 process, 1 series", [HAWK / "BTCUSDT_1h.csv"], 1),
            ("2 processes, 2 series", [HAWK / "BTCUSDT_1h.csv", HAWK / "ETHUSDT_1h.csv"], 2))
    for name, files, workers in runs:
        print(name)
        replay, total, per_cpu = measure(files, workers, args.bars)
        print(f"  replay {replay:,.0f} bars/s (goal: >= {1000 * workers:,}), total {total:,.0f} bars/s; "
              f"{per_cpu:,.0f} bars per CPU-second in a replaying process (wall figures share the cores)")


if __name__ == "__main__":
    main()
