"""The last N closed candles of one symbol and interval as numpy columns, append-only.

Appending is amortised O(1): columns have room for 2N rows and slide the newest N back to the
front when full. Snapshots are copies marked read-only, so a reader never sees a later write.
"""

from __future__ import annotations

import numpy as np

from actors.messages import Kline
from analysis.candles import Candles


class CandleBuffer:
    def __init__(self, symbol: str, interval: str, capacity: int, tick_size: float | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.symbol = symbol
        self.interval = interval
        self.capacity = capacity
        self.tick_size = tick_size
        self._time = np.empty(2 * capacity, dtype=np.int64)
        self._ohlcv = np.empty((5, 2 * capacity), dtype=np.float64)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def last_open_time(self) -> int | None:
        return int(self._time[self._end - 1]) if self._end > self._start else None

    def append(self, k: Kline) -> None:
        """Add a candle newer than every held one (the feed guarantees the order)."""
        last = self.last_open_time()
        if last is not None and k.open_time <= last:
            raise ValueError(f"candle {k.open_time} is not newer than {last}")
        if self._end == len(self._time):
            keep = self.capacity - 1
            self._time[:keep] = self._time[self._end - keep : self._end]
            self._ohlcv[:, :keep] = self._ohlcv[:, self._end - keep : self._end]
            self._start, self._end = 0, keep
        self._time[self._end] = k.open_time
        self._ohlcv[:, self._end] = (k.open, k.high, k.low, k.close, k.volume)
        self._end += 1
        if self._end - self._start > self.capacity:
            self._start += 1

    def snapshot(self, n: int | None = None) -> Candles:
        """The last `n` (default all) candles, oldest first, as an immutable `Candles`."""
        count = len(self) if n is None else max(0, min(n, len(self)))
        lo = self._end - count
        columns = [self._time[lo : self._end].copy(), *(row.copy() for row in self._ohlcv[:, lo : self._end])]
        for column in columns:
            column.flags.writeable = False
        return Candles(self.symbol, self.interval, *columns, tick_size=self.tick_size)
