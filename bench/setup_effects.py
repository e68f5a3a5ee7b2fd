"""What each kind of evidence is worth: autosignals of a backtest log grouped by what their reasons say.

Run a backtest with no gate (`main.py backtest --data ... --min-confidence 0 --cooldown-min 0 --db LOG`),
so that every new setup is an autosignal in the log, then `python bench/setup_effects.py LOG`. For each
feature it prints the signals with and without it: n, % TP1 before the stop, average R after fees, and
the difference of the means with a 95% interval by block bootstrap over calendar weeks (the backtest's
resampling: app.backtest_stats.RESAMPLES draws, seeded). This is how the in-sample effects quoted in the
commits were measured; run it on 2021-2023 files only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.resample import bucket_start
from app.backtest_stats import BOOTSTRAP_SEED, RESAMPLES
from domain.events import upcast
from domain.track_record import TrackRecord
from eventstore import EventStore


def said(signal: dict[str, Any], code: str, **params: Any) -> bool:
    """Whether one of the signal's reasons (analysis.strategy's `{"code": ..., **params}`) is `code` with `params`."""
    return any(isinstance(r, dict) and r.get("code") == code and all(r.get(k) == v for k, v in params.items())
               for r in signal["reasons"])


FEATURES: dict[str, Callable[[dict[str, Any]], bool]] = {
    # logs of the version that traded against evidence, whose reasons were English sentences
    "evidence against (Against:)": lambda s: any(isinstance(r, str) and r.startswith("Against: ")
                                                 for r in s["reasons"]),
    "order block trigger": lambda s: said(s, "order_block"),
    "fair value gap trigger": lambda s: said(s, "fvg"),
    "structure break trigger": lambda s: said(s, "break"),
    "with the EMA50/200 trend": lambda s: ((s["smc"].get("ema50") or 0) >= (s["smc"].get("ema200") or 0))
                                          == (s["side"] == "LONG"),
    "EMAs stacked": lambda s: said(s, "ema_stack"),
    "RSI stretched": lambda s: said(s, "rsi", stretched=True),
    "volume above 1.1x": lambda s: said(s, "volume"),
    "one target (tp2 null)": lambda s: s.get("tp2") is None,
}


def rows(path: str) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, np.ndarray]:
    """(signals, result R, TP1-first flags, open times) of the closed autosignals in the log."""
    record, signals = TrackRecord(), {}
    with EventStore.open(path, upcast=upcast) as store:
        for logged in store.read_all():
            if logged.type == "AutoSignalIssued":
                signals[logged.data["signal_id"]] = logged.data["signal"]
            record.apply(logged)
    closed = record.closed
    return ([signals[r.signal_id] for r in closed], np.array([r.result_r for r in closed]),
            np.array([r.tp1_first for r in closed]), np.array([signals[r.signal_id]["open_time"] for r in closed]))


def gap_interval(result: np.ndarray, mask: np.ndarray, times: np.ndarray) -> tuple[float, float]:
    """95% interval of mean(result[mask]) - mean(result[~mask]), resampling calendar weeks."""
    _, week = np.unique(bucket_start(times, "1w"), return_inverse=True)
    sums = [np.bincount(week, weights=result * m) for m in (mask, ~mask)]
    counts = [np.bincount(week, weights=m.astype(np.float64)) for m in (mask, ~mask)]
    draw = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(sums[0]), (RESAMPLES, len(sums[0])))
    with np.errstate(invalid="ignore", divide="ignore"):
        gaps = (sums[0][draw].sum(1) / counts[0][draw].sum(1)) - (sums[1][draw].sum(1) / counts[1][draw].sum(1))
    low, high = np.nanpercentile(gaps, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="a backtest log (--db) written with --min-confidence 0 --cooldown-min 0")
    args = parser.parse_args()
    signals, result, tp1, times = rows(args.log)
    print(f"{len(signals):,} closed autosignals; avg R {result.mean():+.3f}, TP1 first {tp1.mean() * 100:.1f}%")
    print(f"{'feature':<30}{'n with':>8}{'TP1':>7}{'avg R':>8}{'n w/o':>8}{'TP1':>7}{'avg R':>8}"
          f"{'diff':>8}  95% CI (weeks)")
    for name, has in FEATURES.items():
        mask = np.array([has(s) for s in signals], dtype=bool)
        if not mask.any() or mask.all():
            continue
        gap = result[mask].mean() - result[~mask].mean()
        low, high = gap_interval(result, mask, times)
        shown = f"[{low:+.3f}, {high:+.3f}]"
        print(f"{name:<30}{mask.sum():>8,}{tp1[mask].mean() * 100:>6.1f}%{result[mask].mean():>+8.3f}"
              f"{(~mask).sum():>8,}{tp1[~mask].mean() * 100:>6.1f}%{result[~mask].mean():>+8.3f}{gap:>+8.3f}  {shown}")


if __name__ == "__main__":
    main()
