"""The simulated market: candle series per symbol and interval, and a clock that walks through them.

The data interval is served as recorded; every larger Binance interval is aggregated from it
(weeks start on Monday, as on Binance). Missing rows stay missing: a real outage in the file
is an outage in the simulation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from analysis.candles import INTERVAL_MS, Candles, interval_ms

_WEEK_OFFSET_MS = 4 * 86_400_000  # the epoch is a Thursday; Binance weeks open on Monday 00:00 UTC


@dataclass(frozen=True, eq=False)
class Series:
    """Candles of one symbol and interval, oldest first, as parallel numpy arrays."""

    interval: str
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @property
    def step_ms(self) -> int:
        return interval_ms(self.interval)

    def closed_count(self, now_ms: int) -> int:
        """How many candles have closed by `now_ms` (their close time `t + step - 1` is behind it)."""
        return int(np.searchsorted(self.open_time, now_ms - self.step_ms, side="right"))

    def index_at(self, now_ms: int) -> int | None:
        """The index of the candle in progress at `now_ms`, if the data has one."""
        i = int(np.searchsorted(self.open_time, now_ms, side="right")) - 1
        if i >= 0 and self.open_time[i] <= now_ms < self.open_time[i] + self.step_ms:
            return i
        return None

    def row(self, i: int) -> tuple[int, float, float, float, float, float]:
        return (
            int(self.open_time[i]),
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )


def series_from_candles(candles: Candles) -> Series:
    return Series(
        candles.interval,
        np.asarray(candles.open_time, dtype=np.int64),
        np.asarray(candles.open, dtype=np.float64),
        np.asarray(candles.high, dtype=np.float64),
        np.asarray(candles.low, dtype=np.float64),
        np.asarray(candles.close, dtype=np.float64),
        np.asarray(candles.volume, dtype=np.float64),
    )


def bucket_open(open_time: np.ndarray | int, step_ms: int, interval: str) -> np.ndarray | int:
    """The open time of the `interval` candle containing each open time."""
    offset = _WEEK_OFFSET_MS if interval == "1w" else 0
    return (open_time - offset) // step_ms * step_ms + offset


def aggregate(base: Series, interval: str) -> Series:
    """Aggregate a series into a larger interval (first open, max high, min low, last close, sum volume)."""
    step = interval_ms(interval)
    if step % base.step_ms:
        raise ValueError(f"{interval} is not a multiple of {base.interval}")
    buckets = bucket_open(base.open_time, step, interval)
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]]) if len(buckets) else np.array([], int)
    ends = np.r_[starts[1:], len(buckets)].astype(np.int64)
    volume = np.array([float(sum(base.volume[s:e].tolist())) for s, e in zip(starts, ends, strict=True)])
    return Series(
        interval,
        buckets[starts].astype(np.int64),
        base.open[starts],
        np.maximum.reduceat(base.high, starts) if len(starts) else base.high[:0],
        np.minimum.reduceat(base.low, starts) if len(starts) else base.low[:0],
        base.close[ends - 1],
        volume,
    )


def partial_candle(series: Series, i: int, now_ms: int) -> tuple[float, float, float, float, float]:
    """The candle `i` as it looked at `now_ms`: a path open -> extreme -> other extreme -> close.

    Up candles visit the low first, down candles the high first, so the running high/low grow
    monotonically into the final values and the closed candle is exactly the recorded row.
    """
    t, o, h, lo, c, v = series.row(i)
    f = min(max((now_ms - t) / series.step_ms, 0.0), 1.0)
    first, second = (lo, h) if c >= o else (h, lo)
    points = ((0.0, o), (1 / 3, first), (2 / 3, second), (1.0, c))
    price = high = low = o
    for (f0, p0), (f1, p1) in pairwise(points):
        price = p1 if f >= f1 else p0 + (p1 - p0) * (f - f0) / (f1 - f0)
        high, low = max(high, price), min(low, price)
        if f < f1:
            break
    return o, high, low, price, v * f


class SimClock:
    """Simulated time: starts at `start_ms` and advances `speed` simulated seconds per real second.

    A paused clock stands at `start_ms` until `resume()` (tests let a client load history first).
    """

    def __init__(self, start_ms: int, speed: float, *, paused: bool = False) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start_ms = start_ms
        self.speed = speed
        self._t0 = time.monotonic()
        self._paused = paused

    def resume(self) -> None:
        if self._paused:
            self._t0 = time.monotonic()
            self._paused = False

    def now_ms(self) -> int:
        if self._paused:
            return self.start_ms
        return self.start_ms + int((time.monotonic() - self._t0) * self.speed * 1000)

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed


class Market:
    """All symbols' series at the data interval and every larger Binance interval (built on demand)."""

    def __init__(self, candles: dict[str, Candles], history: int | None = None) -> None:
        if not candles:
            raise ValueError("the market needs at least one symbol")
        intervals = {c.interval for c in candles.values()}
        if len(intervals) != 1:
            raise ValueError(f"all data must share one interval, got {sorted(intervals)}")
        self.base_interval = intervals.pop()
        self.symbols = tuple(candles)
        self.tick_sizes = {s: c.tick_size or infer_tick_size(c) for s, c in candles.items()}
        self._series: dict[tuple[str, str], Series] = {
            (s, self.base_interval): series_from_candles(c) for s, c in candles.items()
        }
        first = self._series[(self.symbols[0], self.base_interval)]
        if len(first.open_time) < 2:
            raise ValueError("the data needs at least two candles")
        keep = min(1000, len(first.open_time) // 2) if history is None else history
        self.start_ms = int(first.open_time[keep]) if keep < len(first.open_time) else int(
            first.open_time[-1] + first.step_ms
        )
        self.end_ms = int(first.open_time[-1]) + first.step_ms

    def intervals(self) -> tuple[str, ...]:
        """The data interval and every larger Binance interval that is a whole multiple of it."""
        base = interval_ms(self.base_interval)
        return tuple(i for i, ms in INTERVAL_MS.items() if ms >= base and ms % base == 0)

    def has(self, symbol: str) -> bool:
        return symbol in self.symbols

    def series(self, symbol: str, interval: str) -> Series:
        """KeyError for an unknown symbol, ValueError for an interval this market cannot serve."""
        key = (symbol, interval)
        if key not in self._series:
            if symbol not in self.symbols:
                raise KeyError(symbol)
            if interval not in self.intervals():
                raise ValueError(f"invalid interval {interval!r}")
            self._series[key] = aggregate(self._series[(symbol, self.base_interval)], interval)
        return self._series[key]


def infer_tick_size(candles: Candles) -> float:
    """The coarsest power-of-ten grid that every recorded price sits on (Binance's PRICE_FILTER)."""
    prices = np.concatenate([candles.open, candles.high, candles.low, candles.close])
    for decimals in range(9):
        scaled = prices * 10**decimals
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6):
            return float(f"1e-{decimals}")
    return 1e-8


def format_decimal(value: float) -> str:
    """Binance-style fixed 8 decimals, unless that would not read back as the very same float."""
    text = f"{value:.8f}"
    return text if float(text) == value else repr(value)
