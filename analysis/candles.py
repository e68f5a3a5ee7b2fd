"""Candles: an immutable OHLCV series as numpy arrays (the loader lands with the analysis issue)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


def interval_ms(interval: str) -> int:
    """Milliseconds in a Binance interval such as '15m'; ValueError for an unknown one."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVAL_MS)}") from None


@dataclass(frozen=True, eq=False)
class Candles:
    """Closed candles of one symbol and interval, oldest first; times are open times in ms UTC."""

    symbol: str
    interval: str
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    tick_size: float | None = None

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def close_time(self) -> np.ndarray:
        return self.open_time + (interval_ms(self.interval) - 1)

    def __getitem__(self, index: slice) -> Candles:
        if not isinstance(index, slice):
            raise TypeError("Candles can only be sliced; index the arrays for single values")
        return Candles(
            self.symbol,
            self.interval,
            self.open_time[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.tick_size,
        )
