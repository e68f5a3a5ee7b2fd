"""The rules that make the feed exact: per (symbol, interval), closed candles in order, once.

Pure (no I/O, no clock). A closed candle is accepted when it directly follows the last one, or
when REST has confirmed that nothing is missing before it (`checked_until`: every candle that
closed before that server time was in a REST answer). Anything else waits in `pending` until a
REST answer is merged. A candle at or before the last accepted one is a duplicate.
"""

from __future__ import annotations

from enum import Enum

from actors.messages import Kline
from analysis.candles import interval_ms
from marketdata.candle_buffer import CandleBuffer


class Offer(Enum):
    ACCEPTED = "accepted"  # appended: emit it
    DUPLICATE = "duplicate"  # already have it: drop it
    HELD = "held"  # waits for the REST answer already on its way
    GAP = "gap"  # waits, and something before it is missing: ask REST


class CandleBook:
    def __init__(self, symbol: str, interval: str, capacity: int, tick_size: float | None = None) -> None:
        self.symbol, self.interval = symbol, interval
        self.step = interval_ms(interval)
        self.buffer = CandleBuffer(symbol, interval, capacity, tick_size)
        self.last_open: int | None = None
        self.checked_until = 0
        self.pending: dict[int, Kline] = {}
        self.live: Kline | None = None

    def offer(self, k: Kline, *, hold: bool) -> Offer:
        """A closed candle from the stream; `hold` while a REST answer is being fetched."""
        t = k.open_time
        if (self.last_open is not None and t <= self.last_open) or t in self.pending:
            return Offer.DUPLICATE
        if hold or self.last_open is None:
            self.pending[t] = k
            return Offer.HELD
        if self._follows(t):
            self._accept(k)
            return Offer.ACCEPTED
        self.pending[t] = k
        return Offer.GAP

    def offer_live(self, k: Kline) -> bool:
        """An in-progress candle: keep it as the live price; True if a closed one before it is missing."""
        if self.live is None or k.open_time >= self.live.open_time:
            self.live = k
        return self.last_open is not None and k.open_time - self.step > self.last_open and k.open_time > (
            self.checked_until
        )

    def merge(self, rows: list[Kline], server_now: int) -> list[tuple[Kline, bool]]:
        """Merge a REST answer fetched at `server_now` with the held candles.

        Rows still open at `server_now` only update the live candle. Returns the accepted
        candles in order, each with whether it came from REST (True) or was held (False).
        """
        held = self.pending
        self.pending = {}
        candidates: dict[int, tuple[Kline, bool]] = {}
        for k in rows:
            if k.open_time + self.step <= server_now:
                candidates[k.open_time] = (k, True)
            elif self.live is None or k.open_time >= self.live.open_time:
                self.live = k
        for t, k in held.items():
            candidates[t] = (k, False)  # the stream delivered it: REST only confirmed nothing is missing
        self.checked_until = max(self.checked_until, server_now)
        accepted = []
        for t in sorted(candidates):
            k, from_rest = candidates[t]
            if self.last_open is not None and t <= self.last_open:
                continue
            if self.last_open is None or self._follows(t):
                self._accept(k)
                accepted.append((k, from_rest))
            else:
                self.pending[t] = k
        return accepted

    def overdue(self, server_now: int) -> bool:
        """The candle after the last accepted one should have closed more than an interval ago."""
        return self.last_open is not None and server_now - (self.last_open + 2 * self.step) > 0

    def _follows(self, t: int) -> bool:
        return t == self.last_open + self.step or t <= self.checked_until

    def _accept(self, k: Kline) -> None:
        self.buffer.append(k)
        self.last_open = k.open_time
