"""The market feed's asyncio side: start and stop, the watchlist, and the answers to the actor's requests.

Everything here runs on the feed's own event loop thread; the `MarketFeed` actor only hands requests
in. The work is done by three parts sharing one `FeedRuntime`: `Connections` (the WebSocket sessions),
`BookKeeper` (candle books, backfill, delivery to subscribers) and `SymbolCatalog` (what Binance lists).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from actors.clock import Clock
from actors.messages import FeedCounters, FeedError, Kline, StreamReady
from analysis.candles import INTERVAL_MS, Candles
from marketdata.binance_client import BinanceError, BinanceRest, LocationRestricted, Unavailable, endpoints
from marketdata.bookkeeper import BookKeeper
from marketdata.connections import Connections
from marketdata.feed_config import FeedConfig
from marketdata.feed_state import FeedBook, FeedRuntime
from marketdata.symbol_catalog import SymbolCatalog

log = logging.getLogger(__name__)


class FeedEngine:
    """Owns the feed state; every method runs on the feed's event loop."""

    def __init__(self, config: FeedConfig, clock: Clock) -> None:
        self.cfg = config
        self.runtime = FeedRuntime(config, clock)
        ep = endpoints(config.market, config.ws_url, config.rest_url)
        self.rest = BinanceRest(
            ep,
            timeout_s=config.request_timeout_s,
            backoff_base_s=config.backoff_base_s,
            backoff_cap_s=config.backoff_cap_s,
        )
        self.symbols = SymbolCatalog(self.rest, config.market)
        self.bookkeeper = BookKeeper(self.runtime, ep, self.rest, self._go_fatal)
        self.books = self.bookkeeper.books
        self.connections = Connections(self.runtime, ep, self.books, self.bookkeeper.on_kline,
                                       self.bookkeeper.request_backfill)
        self.started = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.runtime.spawn(self._boot())
        self.runtime.spawn(self._drop_idle_streams())

    async def stop(self) -> None:
        self.connections.retire_all()
        for task in list(self.runtime.tasks):
            task.cancel()
        await asyncio.gather(*self.runtime.tasks, return_exceptions=True)
        await self.connections.close_all()
        await self.rest.close()

    async def _boot(self) -> None:
        attempt = 0
        while not self.started.is_set():
            try:
                await self.symbols.load()
                symbols = self.cfg.watchlist or await self.top_symbols(self.cfg.top_n)
                self._watch(symbols)
                self.started.set()
            except LocationRestricted as exc:
                self._go_fatal(str(exc))
                return
            except (Unavailable, BinanceError, ValueError) as exc:
                log.warning("market feed cannot start yet: %s", exc)
                await asyncio.sleep(self.runtime.backoff_s(attempt))
                attempt += 1
        if not self.cfg.watchlist:
            self.runtime.spawn(self._refresh_watchlist())

    def _watch(self, symbols: tuple[str, ...] | list[str]) -> None:
        books = []
        for symbol in symbols:
            reason = self.symbols.error(symbol)
            if reason:
                log.warning("watchlist: %s", reason)
                continue
            books += [self._book(symbol, interval) for interval in self.cfg.intervals]
        for book in books:
            book.watched = True
        self.connections.place(books)

    async def _refresh_watchlist(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.watchlist_refresh_s)
            try:
                self._watch(await self.symbols.top(self.cfg.top_n, fresh=True))
            except LocationRestricted as exc:
                self._go_fatal(str(exc))
                return
            except Exception as exc:  # keep the current watchlist; try again next period
                log.warning("watchlist refresh failed: %r", exc)

    def _go_fatal(self, reason: str) -> None:
        if self.runtime.fatal:
            return
        self.runtime.fatal = reason
        log.error("market feed stopped: %s", reason)
        self.connections.retire_all(abort=True)
        current = asyncio.current_task()
        for task in list(self.runtime.tasks):
            if task is not current:
                task.cancel()
        for book in self.books.values():
            book.ready.set()

    # --- requests from the actor ---------------------------------------------------------

    def subscribe(self, ref: Any, intervals: tuple[str, ...] | None, watchlist_only: bool = False) -> None:
        self.bookkeeper.subscribe(ref, intervals, watchlist_only)

    def stats(self) -> FeedCounters:
        c = self.runtime.counts
        return FeedCounters(
            frames=c["frames"],
            reconnects=c["reconnects"],
            backfilled=c["backfilled"],
            duplicates_dropped=c["duplicates"],
            malformed=c["malformed"],
            gaps=c["gaps"],
            closed_emitted=c["emitted"],
            rotations=c["rotations"],
            watchdog_trips=c["watchdog"],
            rate_limited=self.rest.rate_limited,
            used_weight=self.rest.used_weight,
            connections=sum(conn.alive for conn in self.connections.all),
            streams=len(self.books),
            streams_dropped=c["streams_dropped"],
            fatal=self.runtime.fatal,
        )

    def get_candles(self, symbol: str, interval: str, n: int) -> Candles | FeedError:
        symbol = symbol.upper()
        if self.runtime.fatal:
            return FeedError(self.runtime.fatal, "fatal")
        book = self.books.get((symbol, interval))
        if book is None:
            if not self.started.is_set():
                return FeedError("the market feed is still starting", "not_ready")
            reason = self.symbols.error(symbol) or _interval_error(interval)
            if reason:
                return FeedError(reason, "unknown_symbol")
            return FeedError(f"{symbol} {interval} is not streamed yet; send EnsureStream first", "not_ready")
        book.used_at = time.monotonic()
        if not book.ready.is_set():
            return FeedError(f"history of {symbol} {interval} is still loading", "not_ready")
        if self.bookkeeper.in_outage(book):
            return FeedError(
                f"feed outage: no closed {interval} candle of {symbol} since the one opened at "
                f"{book.last_open} and the connection is down; reconnecting",
                "unavailable",
            )
        return book.buffer.snapshot(n)

    def live_price(self, symbol: str, interval: str) -> Kline | FeedError:
        book = self.books.get((symbol.upper(), interval))
        if book is None or book.live is None:
            return FeedError(f"no live candle for {symbol} {interval}", "not_ready")
        return book.live

    async def ensure_stream(self, symbol: str, interval: str, hold: bool = False) -> StreamReady | FeedError:
        """Stream (symbol, interval) with its history; `hold` keeps it until `release_stream`.

        A new on-demand stream beyond `max_on_demand_streams` is refused (kind `capacity`), unless held.
        """
        symbol = symbol.upper()
        if self.runtime.fatal:
            return FeedError(self.runtime.fatal, "fatal")
        reason = _interval_error(interval)
        if reason:
            return FeedError(reason, "unknown_symbol")
        try:
            await asyncio.wait_for(self.started.wait(), self.cfg.ensure_timeout_s)
            if symbol not in self.symbols.known:
                await self.symbols.load(symbol)
        except TimeoutError:
            return FeedError("the market feed is still starting", "not_ready")
        except LocationRestricted as exc:
            self._go_fatal(str(exc))
            return FeedError(self.runtime.fatal, "fatal")
        except BinanceError as exc:
            if exc.code == -1121:
                return FeedError(f"{symbol} is not a symbol on Binance {self.cfg.market}", "unknown_symbol")
            return FeedError(f"Binance refused the symbol check: {exc.msg}", "unavailable")
        except Unavailable as exc:
            return FeedError(str(exc), "unavailable")
        reason = self.symbols.error(symbol)
        if reason:
            return FeedError(reason, "unknown_symbol")
        if (symbol, interval) not in self.books and not hold and self._on_demand() >= self.cfg.max_on_demand_streams:
            return FeedError(f"the bot already follows its maximum of {self.cfg.max_on_demand_streams} "
                             "markets on demand", "capacity")
        book = self._book(symbol, interval)
        book.used_at = time.monotonic()
        self.connections.place([book])
        try:
            await asyncio.wait_for(book.ready.wait(), self.cfg.ensure_timeout_s)
        except TimeoutError:
            return FeedError(f"history of {symbol} {interval} did not arrive in time", "unavailable")
        if self.runtime.fatal:
            return FeedError(self.runtime.fatal, "fatal")
        if self.books.get((symbol, interval)) is not book:  # dropped while loading: ask again
            return await self.ensure_stream(symbol, interval, hold)
        book.holds += hold
        return StreamReady(symbol, interval, len(book.buffer))

    def release_stream(self, symbol: str, interval: str) -> None:
        """One holder less; the book may be dropped once idle (see `_drop_idle_streams`)."""
        book = self.books.get((symbol.upper(), interval))
        if book is not None and book.holds > 0:
            book.holds -= 1
            book.used_at = time.monotonic()

    async def top_symbols(self, n: int) -> tuple[str, ...]:
        """The n USDT pairs by 24 h quote volume, without stablecoin pairs and leveraged tokens."""
        return await self.symbols.top(n)

    # --- streams -------------------------------------------------------------------------

    def _book(self, symbol: str, interval: str) -> FeedBook:
        return self.bookkeeper.book(symbol, interval, self.symbols.tick(symbol))

    def _on_demand(self) -> int:
        return sum(not book.watched for book in self.books.values())

    async def _drop_idle_streams(self) -> None:
        """Unsubscribe and forget on-demand books no one holds or asked about for `idle_stream_s`."""
        idle_s = self.cfg.idle_stream_s
        while True:
            await asyncio.sleep(min(60.0, idle_s / 2))
            cutoff = time.monotonic() - idle_s
            for book in [b for b in self.books.values() if not b.watched and not b.holds and b.used_at < cutoff
                         and b.backfill is None and b.ready.is_set()]:
                self._drop(book)

    def _drop(self, book: FeedBook) -> None:
        del self.books[(book.symbol, book.interval)]
        self.runtime.counts["streams_dropped"] += 1
        self.connections.unsubscribe(book.name)
        log.info("market feed dropped idle stream %s %s", book.symbol, book.interval)


def _interval_error(interval: str) -> str:
    if interval in INTERVAL_MS:
        return ""
    return f"{interval!r} is not a Binance interval; use one of {', '.join(INTERVAL_MS)}"
