"""The feed's candle books: kline updates in, closed candles out to subscribers, REST backfill for every gap.

Which closed candle may be delivered when is `CandleBook`'s rule (in order, once); this module keeps
each book supplied: a first REST load of its history, and a backfill after every (re)connect and gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pykka

from actors.messages import CandleClosed, Kline
from marketdata.binance_client import BinanceRest, Endpoints, LocationRestricted
from marketdata.candle_book import Offer
from marketdata.feed_state import FeedBook, FeedRuntime
from marketdata.kline_payloads import KlineUpdate

log = logging.getLogger(__name__)

_MAX_PAGES = 100


class BookKeeper:
    """Every streamed (symbol, interval)'s book and who is told about it; all methods run on the engine's loop."""

    def __init__(self, runtime: FeedRuntime, ep: Endpoints, rest: BinanceRest,
                 on_fatal: Callable[[str], None]) -> None:
        self.rt = runtime
        self.ep = ep
        self.rest = rest
        self.books: dict[tuple[str, str], FeedBook] = {}
        self.subscribers: list[tuple[Any, tuple[str, ...] | None, bool]] = []  # (ref, intervals, watchlist_only)
        self._on_fatal = on_fatal
        self._time_sync: asyncio.Task | None = None

    def book(self, symbol: str, interval: str, tick: float | None = None) -> FeedBook:
        """The book of (symbol, interval), new and empty if there was none."""
        key = (symbol, interval)
        if key not in self.books:
            self.books[key] = FeedBook(symbol, interval, self.rt.cfg.buffer_size, tick)
        return self.books[key]

    def subscribe(self, ref: Any, intervals: tuple[str, ...] | None, watchlist_only: bool = False) -> None:
        self.subscribers.append((ref, intervals, watchlist_only))

    def in_outage(self, book: FeedBook) -> bool:
        """A closed candle is overdue and no connection is delivering: its history cannot be trusted now."""
        connected = book.conn is not None and book.conn.alive
        return book.overdue(self.rt.server_now()) and not connected

    # --- updates from the connections ----------------------------------------------------

    def on_kline(self, update: KlineUpdate) -> None:
        book = self.books.get((update.symbol, update.interval))
        if book is None:
            return
        if update.closed:
            self._on_closed(book, update.kline)
        else:
            self._on_live(book, update.kline)

    def _on_closed(self, book: FeedBook, k: Kline) -> None:
        verdict = book.offer(k, hold=book.backfill is not None)
        if verdict is Offer.ACCEPTED:
            self._emit(book, k, self._fresh(book, k))
        elif verdict is Offer.DUPLICATE:
            self.rt.counts["duplicates"] += 1
        elif verdict is Offer.GAP:
            self.rt.counts["gaps"] += 1
            self.request_backfill(book)

    def _on_live(self, book: FeedBook, k: Kline) -> None:
        if book.offer_live(k) and book.backfill is None:
            self.rt.counts["gaps"] += 1
            self.request_backfill(book)

    def _emit(self, book: FeedBook, k: Kline, fresh: bool) -> None:
        """Tell subscribers about a candle the book has just accepted."""
        self.rt.counts["emitted"] += 1
        message = CandleClosed(book.symbol, book.interval, k, fresh)
        for entry in list(self.subscribers):
            ref, intervals, watchlist_only = entry
            if (intervals is not None and book.interval not in intervals) or (watchlist_only and not book.watched):
                continue
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                self.subscribers.remove(entry)

    def _fresh(self, book: FeedBook, k: Kline) -> bool:
        return self.rt.server_now() - (k.open_time + book.step) <= book.step

    # --- backfill ------------------------------------------------------------------------

    def request_backfill(self, book: FeedBook) -> None:
        """Fill the book from REST; one backfill per book at a time, run again if asked meanwhile."""
        if book.backfill is not None:
            book.again = True
            return
        book.backfill = self.rt.spawn(self._backfill(book))

    async def _backfill(self, book: FeedBook) -> None:
        attempt = 0
        try:
            while True:
                book.again = False
                try:
                    await self._backfill_once(book)
                except LocationRestricted as exc:
                    self._on_fatal(str(exc))
                    return
                except Exception as exc:  # Binance unreachable or refusing, or a bug: retry later
                    log.warning("backfill of %s %s failed: %r", book.symbol, book.interval, exc)
                    await asyncio.sleep(self.rt.backoff_s(attempt))
                    attempt += 1
                    book.again = True
                if not book.again and not book.pending:
                    return
        finally:
            book.backfill = None

    async def _backfill_once(self, book: FeedBook) -> None:
        server_now = await self._sync_time()
        initial = book.last_open is None
        if initial:
            rows = await self._latest(book)
        else:
            rows = await self._since(book, book.last_open + book.step, server_now)
        for k, from_rest in book.merge(rows, server_now):
            if from_rest and not initial:
                self.rt.counts["backfilled"] += 1
            self._emit(book, k, not initial and self._fresh(book, k))
        if initial:
            book.ready.set()

    async def _latest(self, book: FeedBook) -> list[Kline]:
        """The most recent `buffer_size` closed candles (plus the one in progress), paging back."""
        need = self.rt.cfg.buffer_size + 1
        rows: list[Kline] = []
        end = None
        while len(rows) < need:
            want = min(need - len(rows), self.ep.kline_limit)
            page = await self.rest.klines(book.symbol, book.interval, end=end, limit=want)
            rows = page + rows
            if len(page) < want:
                break
            end = page[0].open_time - 1
        return rows

    async def _since(self, book: FeedBook, start: int, server_now: int) -> list[Kline]:
        rows: list[Kline] = []
        for _ in range(_MAX_PAGES):
            page = await self.rest.klines(book.symbol, book.interval, start=start, limit=self.ep.kline_limit)
            rows += page
            if len(page) < self.ep.kline_limit or page[-1].open_time + book.step > server_now:
                break
            start = page[-1].open_time + book.step
        return rows

    async def _sync_time(self) -> int:
        """The server's clock (one /time request shared by concurrent callers); updates the offset."""
        if self._time_sync is None or self._time_sync.done():
            self._time_sync = self.rt.spawn(self._fetch_time())
        return await asyncio.shield(self._time_sync)

    async def _fetch_time(self) -> int:
        clock = self.rt.clock
        before = clock.now_ms()
        server = await self.rest.server_time()
        self.rt.offset_ms = server - (before + clock.now_ms()) // 2
        return server
