"""OHLCV resampling to a coarser Binance interval, and joining one symbol's files into one series.

Buckets are aligned to UTC the way Binance aligns its klines (epoch multiples; weeks start on
Monday). Only complete buckets are kept: a bucket missing any finer candle (the series' edges, or
an exchange outage inside it) is dropped, never invented.
"""

from __future__ import annotations

import numpy as np

from analysis.candles import Candles, format_time, interval_ms, validate

FIELDS = ("open", "high", "low", "close", "volume")
WEEK_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday; Binance weeks open on Monday 00:00 UTC


def bucket_start(open_time: np.ndarray, interval: str) -> np.ndarray:
    """The open time (ms) of the `interval` bucket holding each open time."""
    step = interval_ms(interval)
    offset = WEEK_OFFSET_MS if interval == "1w" else 0
    return (open_time - offset) // step * step + offset


def resample(candles: Candles, interval: str) -> Candles:
    """The candles aggregated to `interval` (open first, high max, low min, close last, volume sum).

    Equal interval: the candles as they are. ValueError when `interval` is finer than the candles'
    or not a whole multiple of it.
    """
    source, target = interval_ms(candles.interval), interval_ms(interval)
    if target == source:
        return candles
    if target < source or target % source:
        raise ValueError(f"{candles.symbol}: cannot make {interval} candles from {candles.interval} ones "
                         f"(--interval must be the file's interval or a whole multiple of it)")
    starts = bucket_start(candles.open_time, interval)
    first = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])
    counts = np.diff(np.r_[first, len(starts)])
    keep = counts == target // source
    if not keep.any():
        raise ValueError(f"{candles.symbol}: no complete {interval} bucket in its {candles.interval} candles")
    return validate(Candles(
        candles.symbol, interval, starts[first][keep], candles.open[first][keep],
        np.maximum.reduceat(candles.high, first)[keep], np.minimum.reduceat(candles.low, first)[keep],
        candles.close[first + counts - 1][keep], np.add.reduceat(candles.volume, first)[keep], candles.tick_size,
    ))


def join(parts: list[Candles]) -> Candles:
    """One series from several of one symbol and interval (e.g. monthly archives), in time order.

    A bar present in two parts must be the same bar (OHLCV equal to float rounding), else ValueError
    naming it: two sources that disagree are ambiguous, and neither is silently preferred.
    """
    first = parts[0]
    if len(parts) == 1:
        return first
    times = np.concatenate([p.open_time for p in parts])
    values = {name: np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS}
    order = np.argsort(times, kind="stable")
    times = times[order]
    values = {name: v[order] for name, v in values.items()}
    same = np.flatnonzero(times[1:] == times[:-1])
    for name, v in values.items():
        bad = same[~np.isclose(v[same], v[same + 1], rtol=1e-9, atol=0)]
        if bad.size:
            raise ValueError(f"{first.symbol} {first.interval}: two files disagree on the bar at "
                             f"{format_time(times[bad[0]])} ({name} {v[bad[0]]} vs {v[bad[0] + 1]})")
    unique = np.r_[True, times[1:] != times[:-1]]
    return validate(Candles(first.symbol, first.interval, times[unique],
                            *(values[name][unique] for name in FIELDS),
                            first.tick_size))
