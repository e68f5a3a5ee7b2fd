"""The market feed's asyncio side: connections, watchdogs, REST backfill, and who gets told.

Everything here runs on the feed's own event loop thread; the `MarketFeed` actor only hands
requests in. Which closed candle may be emitted when is `CandleBook`'s rule (in order, once);
this module keeps the books supplied: streams over WebSocket (reconnected with jittered backoff,
rotated make-before-break), and REST backfills after every (re)connect and every gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from typing import Any

import orjson
import pykka
import websockets

from actors.clock import Clock
from actors.messages import CandleClosed, FeedCounters, FeedError, Kline, StreamReady
from analysis.candles import INTERVAL_MS, Candles
from marketdata.binance_client import (
    BinanceError,
    BinanceRest,
    LocationRestricted,
    Pacer,
    Unavailable,
    endpoints,
    full_jitter,
)
from marketdata.binance_symbols import SymbolInfo, parse_exchange_info, top_usdt_pairs
from marketdata.candle_book import CandleBook, Offer
from marketdata.kline_payloads import (
    ControlReply,
    KlineUpdate,
    MalformedPayload,
    ServerShutdown,
    parse_frame,
    stream_name,
)

log = logging.getLogger("actors.market_feed")

_MAX_URL_CHARS = 2000
_SUBSCRIBE_BATCH = 100
_MAX_PAGES = 100


class _Book(CandleBook):
    """A candle book plus the feed's bookkeeping for it: its connection and its REST backfill."""

    def __init__(self, symbol: str, interval: str, capacity: int, tick: float | None) -> None:
        super().__init__(symbol, interval, capacity, tick)
        self.name = stream_name(symbol, interval)
        self.backfill: asyncio.Task | None = None
        self.again = False
        self.ready = asyncio.Event()
        self.conn: _Conn | None = None
        self.watched = False  # on the watchlist (not only streamed on demand)
        self.holds = 0  # EnsureStream(hold=True) not yet released: an open signal needs this stream
        self.used_at = time.monotonic()  # last request for it; an unheld on-demand book idle too long is dropped


class _Conn:
    """One WebSocket session (reconnected in place) carrying up to 1024 streams."""

    def __init__(self, cid: int, streams: list[str], rate: float, predecessor: _Conn | None = None) -> None:
        self.id = cid
        self.streams = streams
        self.pacer = Pacer(rate)
        self.predecessor = predecessor
        self.successor: _Conn | None = None
        self.handed_over = predecessor is None
        self.ws: Any = None
        self.alive = False
        self.retired = False
        self.ever_connected = False
        self.opened_at = 0.0
        self.last_frame = 0.0
        self.last_event = 0
        self.replies: dict[int, asyncio.Future] = {}


class FeedEngine:
    """Owns the feed state; every method runs on the feed's event loop."""

    def __init__(self, config: Any, clock: Clock) -> None:
        self.cfg = config
        self.clock = clock
        self.ep = endpoints(config.market, config.ws_url, config.rest_url)
        self.rest = BinanceRest(
            self.ep,
            timeout_s=config.request_timeout_s,
            backoff_base_s=config.backoff_base_s,
            backoff_cap_s=config.backoff_cap_s,
        )
        self.books: dict[tuple[str, str], _Book] = {}
        self.conns: list[_Conn] = []
        self.subscribers: list[tuple[Any, tuple[str, ...] | None, bool]] = []  # (ref, intervals, watchlist_only)
        self.symbols: dict[str, SymbolInfo] = {}
        self.counts: Counter[str] = Counter()
        self.fatal = ""
        self.started = asyncio.Event()
        self.offset_ms = 0
        self._time_sync: asyncio.Task | None = None
        self._top_cache: tuple[float, list[dict]] | None = None
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._malformed_logged = (0.0, 0)
        self._rate = config.control_rate or max(1.0, self.ep.message_limit - 3.0)
        self._silence_s = 2 * config.update_period_s

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._spawn(self._boot())
        self._spawn(self._drop_idle_streams())

    async def stop(self) -> None:
        for conn in self.conns:
            conn.retired = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in self.conns:
            if conn.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(), 1.0)
        await self.rest.close()

    async def _boot(self) -> None:
        attempt = 0
        while not self.started.is_set():
            try:
                await self._load_exchange_info()
                symbols = self.cfg.watchlist or await self.top_symbols(self.cfg.top_n)
                self._watch(symbols)
                self.started.set()
            except LocationRestricted as exc:
                self._go_fatal(str(exc))
                return
            except (Unavailable, BinanceError, ValueError) as exc:
                log.warning("market feed cannot start yet: %s", exc)
                await asyncio.sleep(full_jitter(attempt, self.cfg.backoff_base_s, self.cfg.backoff_cap_s))
                attempt += 1
        if not self.cfg.watchlist:
            self._spawn(self._refresh_watchlist())

    def _watch(self, symbols: tuple[str, ...] | list[str]) -> None:
        books = []
        for symbol in symbols:
            reason = self._symbol_error(symbol)
            if reason:
                log.warning("watchlist: %s", reason)
                continue
            books += [self._book(symbol, interval) for interval in self.cfg.intervals]
        for book in books:
            book.watched = True
        self._place(books)

    async def _refresh_watchlist(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.watchlist_refresh_s)
            try:
                self._top_cache = None
                self._watch(await self.top_symbols(self.cfg.top_n))
            except LocationRestricted as exc:
                self._go_fatal(str(exc))
                return
            except Exception as exc:  # keep the current watchlist; try again next period
                log.warning("watchlist refresh failed: %r", exc)

    def _go_fatal(self, reason: str) -> None:
        if self.fatal:
            return
        self.fatal = reason
        log.error("market feed stopped: %s", reason)
        for conn in self.conns:
            conn.retired = True
            if conn.ws is not None:
                self._abort(conn.ws)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for book in self.books.values():
            book.ready.set()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- requests from the actor ---------------------------------------------------------

    def subscribe(self, ref: Any, intervals: tuple[str, ...] | None, watchlist_only: bool = False) -> None:
        self.subscribers.append((ref, intervals, watchlist_only))

    def stats(self) -> FeedCounters:
        c = self.counts
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
            connections=sum(conn.alive for conn in self.conns),
            streams=len(self.books),
            streams_dropped=c["streams_dropped"],
            fatal=self.fatal,
        )

    def get_candles(self, symbol: str, interval: str, n: int) -> Candles | FeedError:
        symbol = symbol.upper()
        if self.fatal:
            return FeedError(self.fatal, "fatal")
        book = self.books.get((symbol, interval))
        if book is None:
            if not self.started.is_set():
                return FeedError("the market feed is still starting", "not_ready")
            reason = self._symbol_error(symbol) or self._interval_error(interval)
            if reason:
                return FeedError(reason, "unknown_symbol")
            return FeedError(f"{symbol} {interval} is not streamed yet; send EnsureStream first", "not_ready")
        book.used_at = time.monotonic()
        if not book.ready.is_set():
            return FeedError(f"history of {symbol} {interval} is still loading", "not_ready")
        if self._in_outage(book):
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
        if self.fatal:
            return FeedError(self.fatal, "fatal")
        reason = self._interval_error(interval)
        if reason:
            return FeedError(reason, "unknown_symbol")
        try:
            await asyncio.wait_for(self.started.wait(), self.cfg.ensure_timeout_s)
            if symbol not in self.symbols:
                await self._load_exchange_info(symbol)
        except TimeoutError:
            return FeedError("the market feed is still starting", "not_ready")
        except LocationRestricted as exc:
            self._go_fatal(str(exc))
            return FeedError(self.fatal, "fatal")
        except BinanceError as exc:
            if exc.code == -1121:
                return FeedError(f"{symbol} is not a symbol on Binance {self.cfg.market}", "unknown_symbol")
            return FeedError(f"Binance refused the symbol check: {exc.msg}", "unavailable")
        except Unavailable as exc:
            return FeedError(str(exc), "unavailable")
        reason = self._symbol_error(symbol)
        if reason:
            return FeedError(reason, "unknown_symbol")
        if (symbol, interval) not in self.books and not hold and self._on_demand() >= self.cfg.max_on_demand_streams:
            return FeedError(f"the bot already follows its maximum of {self.cfg.max_on_demand_streams} "
                             "markets on demand", "capacity")
        book = self._book(symbol, interval)
        book.used_at = time.monotonic()
        self._place([book])
        try:
            await asyncio.wait_for(book.ready.wait(), self.cfg.ensure_timeout_s)
        except TimeoutError:
            return FeedError(f"history of {symbol} {interval} did not arrive in time", "unavailable")
        if self.fatal:
            return FeedError(self.fatal, "fatal")
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

    def _drop(self, book: _Book) -> None:
        del self.books[(book.symbol, book.interval)]
        self.counts["streams_dropped"] += 1
        for conn in self.conns:  # its connection, and a successor taking over from it
            if book.name in conn.streams:
                conn.streams.remove(book.name)
                if conn.alive and conn.ws is not None:
                    self._spawn(self._send_control(conn, conn.ws, [book.name], "UNSUBSCRIBE"))
        log.info("market feed dropped idle stream %s %s", book.symbol, book.interval)

    async def top_symbols(self, n: int) -> tuple[str, ...]:
        """The n USDT pairs by 24 h quote volume, without stablecoin pairs and leveraged tokens."""
        now = time.monotonic()
        if self._top_cache is None or now - self._top_cache[0] > 60:
            self._top_cache = (now, await self.rest.get("ticker/24hr"))
        if not self.symbols:
            await self._load_exchange_info()
        try:
            return top_usdt_pairs(self._top_cache[1], self.symbols, n)
        except ValueError as exc:
            raise Unavailable(str(exc)) from None

    # --- symbols -------------------------------------------------------------------------

    async def _load_exchange_info(self, symbol: str | None = None) -> None:
        body = await self.rest.get("exchangeInfo", {"symbol": symbol} if symbol else None)
        try:
            self.symbols.update(parse_exchange_info(body))
        except ValueError as exc:
            raise Unavailable(str(exc)) from None

    def _symbol_error(self, symbol: str) -> str:
        info = self.symbols.get(symbol)
        if info is None:
            return f"{symbol} is not a symbol on Binance {self.cfg.market}"
        if info.status != "TRADING":
            return f"{symbol} is not trading on Binance {self.cfg.market} (status {info.status})"
        return ""

    @staticmethod
    def _interval_error(interval: str) -> str:
        if interval in INTERVAL_MS:
            return ""
        return f"{interval!r} is not a Binance interval; use one of {', '.join(INTERVAL_MS)}"

    def _book(self, symbol: str, interval: str) -> _Book:
        key = (symbol, interval)
        if key not in self.books:
            tick = self.symbols[symbol].tick_size if symbol in self.symbols else None
            self.books[key] = _Book(symbol, interval, self.cfg.buffer_size, tick)
        return self.books[key]

    # --- connections ---------------------------------------------------------------------

    def _place(self, books: list[_Book]) -> None:
        """Give each unplaced book a connection with room; open new connections as needed."""
        limit = self.cfg.max_streams_per_connection
        for book in books:
            if book.conn is not None:
                continue
            conn = next(
                (c for c in self.conns if not c.retired and c.successor is None and len(c.streams) < limit),
                None,
            )
            if conn is None:
                conn = _Conn(next(self._ids), [], self._rate)
                self.conns.append(conn)
                self._spawn(self._supervise(conn))
            conn.streams.append(book.name)
            book.conn = conn
            if conn.alive:
                self._spawn(self._subscribe_live(conn, [book]))

    def _url(self, conn: _Conn) -> tuple[str, list[str]]:
        """The combined-stream URL with as many streams as fit; the rest go by SUBSCRIBE."""
        base = f"{self.ep.ws_base}{self.ep.stream_path}?streams="
        names: list[str] = []
        length = len(base)
        for name in conn.streams:
            if names and length + len(name) + 1 > _MAX_URL_CHARS:
                break
            names.append(name)
            length += len(name) + 1
        return base + "/".join(names), conn.streams[len(names) :]

    async def _supervise(self, conn: _Conn) -> None:
        attempt = 0
        while not conn.retired and not self.fatal:
            url, extra = self._url(conn)
            try:
                ws = await websockets.connect(
                    url, proxy=None, ping_interval=None, compression=None, close_timeout=1,
                    open_timeout=self.cfg.request_timeout_s, max_size=1 << 22,
                )
            except Exception as exc:  # refused, reset, timed out, bad handshake: all mean "try again"
                log.warning("market feed connection %d failed: %r", conn.id, exc)
                await asyncio.sleep(full_jitter(attempt, self.cfg.backoff_base_s, self.cfg.backoff_cap_s))
                attempt += 1
                continue
            if conn.retired:
                await ws.close()
                break
            self._opened(conn, ws)
            pump = asyncio.create_task(self._pump(conn, ws))
            try:
                if await self._after_connect(conn, ws, extra):
                    await pump
            except Exception:  # whatever broke this session, the next one starts clean
                log.exception("market feed connection %d failed", conn.id)
            finally:
                pump.cancel()
                conn.alive = False
                self._abort(ws)
            lived = time.monotonic() - conn.opened_at
            if conn.successor is not None:
                conn.retired = True  # the successor takes over (and backfills if we died first)
            elif not conn.retired:
                attempt = 0 if lived >= self.cfg.healthy_after_s else attempt + 1
                await asyncio.sleep(full_jitter(attempt, self.cfg.backoff_base_s, self.cfg.backoff_cap_s))
        if conn in self.conns and conn.retired:
            self.conns.remove(conn)

    def _opened(self, conn: _Conn, ws: Any) -> None:
        conn.ws = ws
        conn.alive = True
        conn.opened_at = conn.last_frame = time.monotonic()
        conn.last_event = 0
        if conn.ever_connected:
            self.counts["reconnects"] += 1
        conn.ever_connected = True

    async def _after_connect(self, conn: _Conn, ws: Any, extra: list[str]) -> bool:
        """Subscribe what the URL could not carry, then backfill (or take over from a predecessor)."""
        for i in range(0, len(extra), _SUBSCRIBE_BATCH):
            if not await self._send_control(conn, ws, extra[i : i + _SUBSCRIBE_BATCH]):
                return False
        names = set(conn.streams)
        books = [b for b in self.books.values() if b.name in names]
        pred = conn.predecessor
        if not conn.handed_over and pred is not None:
            conn.handed_over = True
            self.counts["rotations"] += 1
            for book in books:
                book.conn = conn
            # Both deliver for a while (repeats are dropped), so whatever the old connection
            # still carries from before we subscribed arrives before it is closed.
            await asyncio.sleep(self.cfg.rotation_overlap_s)
            gap = not pred.alive  # it died first: what it carried may be lost, so backfill
            pred.retired = True
            if pred.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pred.ws.close(), 1.0)
            if not gap:
                return True
        for book in books:
            self._request_backfill(book)
        return True

    async def _send_control(self, conn: _Conn, ws: Any, names: list[str], method: str = "SUBSCRIBE") -> bool:
        rid = next(self._ids)
        reply = asyncio.get_running_loop().create_future()
        conn.replies[rid] = reply
        await conn.pacer.wait()
        try:
            await ws.send(orjson.dumps({"method": method, "params": names, "id": rid}).decode())
            answer: ControlReply = await asyncio.wait_for(reply, self.cfg.request_timeout_s)
        except (TimeoutError, websockets.ConnectionClosed):
            conn.replies.pop(rid, None)
            return False
        if answer.error_code is not None:
            log.error("Binance refused %s %s: %s %s", method, names[:3], answer.error_code, answer.error_msg)
        return True

    async def _subscribe_live(self, conn: _Conn, books: list[_Book]) -> None:
        """Add streams to an open connection; if that fails, reconnect (the URL then carries them)."""
        ws = conn.ws
        if ws is None:
            return
        if await self._send_control(conn, ws, [b.name for b in books]):
            for book in books:
                self._request_backfill(book)
        else:
            self._abort(ws)

    async def _pump(self, conn: _Conn, ws: Any) -> None:
        watchdog = asyncio.create_task(self._watchdog(conn, ws))
        try:
            while True:
                raw = await ws.recv(decode=False)
                conn.last_frame = time.monotonic()
                try:
                    self._on_frame(conn, raw)
                except Exception:  # a bug must not take the connection down with it
                    log.exception("market feed failed to handle a frame: %.120r", raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            watchdog.cancel()

    async def _watchdog(self, conn: _Conn, ws: Any) -> None:
        period = min(self._silence_s / 2, 1.0)
        stale_ms = self.cfg.stale_after_s * 1000
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            if now - conn.opened_at >= self.cfg.rotate_after_s:
                self._rotate(conn, "connection age")
            if now - conn.last_frame > self._silence_s:
                why = f"no frame for {now - conn.last_frame:.1f}s"
            elif conn.last_event and self._server_now() - conn.last_event > stale_ms:
                why = f"event time {self._server_now() - conn.last_event} ms behind the server clock"
            else:
                continue
            self.counts["watchdog"] += 1
            log.warning("market feed connection %d: %s; reconnecting", conn.id, why)
            self._abort(ws)
            return

    def _rotate(self, conn: _Conn, why: str) -> None:
        """Make-before-break: open a successor with the same streams; it closes us when ready."""
        if conn.successor is not None or conn.retired or not conn.handed_over or self.fatal:
            return
        log.info("market feed connection %d rotating (%s)", conn.id, why)
        successor = _Conn(next(self._ids), list(conn.streams), self._rate, predecessor=conn)
        conn.successor = successor
        self.conns.append(successor)
        self._spawn(self._supervise(successor))

    @staticmethod
    def _abort(ws: Any) -> None:
        transport = getattr(ws, "transport", None)
        if transport is not None:
            transport.abort()

    # --- frames --------------------------------------------------------------------------

    def _on_frame(self, conn: _Conn, raw: bytes) -> None:
        self.counts["frames"] += 1
        try:
            frame = parse_frame(raw)
        except MalformedPayload as exc:
            self.counts["malformed"] += 1
            self._log_malformed(exc, raw)
            return
        if type(frame) is KlineUpdate:
            if frame.event_time > conn.last_event:
                conn.last_event = frame.event_time
            book = self.books.get((frame.symbol, frame.interval))
            if book is None:
                return
            if frame.closed:
                self._on_closed(book, frame.kline)
            else:
                self._on_live(book, frame.kline)
        elif type(frame) is ControlReply:
            reply = conn.replies.pop(frame.id, None) if frame.id is not None else None
            if reply is not None and not reply.done():
                reply.set_result(frame)
            elif frame.error_code is not None:
                log.warning("Binance control error %s: %s", frame.error_code, frame.error_msg)
        elif type(frame) is ServerShutdown:
            self._rotate(conn, "serverShutdown")

    def _log_malformed(self, exc: Exception, raw: bytes) -> None:
        last, quiet = self._malformed_logged
        now = time.monotonic()
        if now - last >= 10.0:
            log.warning("malformed frame (%d more since last report): %s: %.80r", quiet, exc, raw)
            self._malformed_logged = (now, 0)
        else:
            self._malformed_logged = (last, quiet + 1)

    def _on_closed(self, book: _Book, k: Kline) -> None:
        verdict = book.offer(k, hold=book.backfill is not None)
        if verdict is Offer.ACCEPTED:
            self._emit(book, k, self._fresh(book, k))
        elif verdict is Offer.DUPLICATE:
            self.counts["duplicates"] += 1
        elif verdict is Offer.GAP:
            self.counts["gaps"] += 1
            self._request_backfill(book)

    def _on_live(self, book: _Book, k: Kline) -> None:
        if book.offer_live(k) and book.backfill is None:
            self.counts["gaps"] += 1
            self._request_backfill(book)

    def _emit(self, book: _Book, k: Kline, fresh: bool) -> None:
        """Tell subscribers about a candle the book has just accepted."""
        self.counts["emitted"] += 1
        message = CandleClosed(book.symbol, book.interval, k, fresh)
        for entry in list(self.subscribers):
            ref, intervals, watchlist_only = entry
            if (intervals is not None and book.interval not in intervals) or (watchlist_only and not book.watched):
                continue
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                self.subscribers.remove(entry)

    def _fresh(self, book: _Book, k: Kline) -> bool:
        return self._server_now() - (k.open_time + book.step) <= book.step

    def _server_now(self) -> int:
        return self.clock.now_ms() + self.offset_ms

    def _in_outage(self, book: _Book) -> bool:
        connected = book.conn is not None and book.conn.alive
        return book.overdue(self._server_now()) and not connected

    # --- backfill ------------------------------------------------------------------------

    def _request_backfill(self, book: _Book) -> None:
        if book.backfill is not None:
            book.again = True
            return
        book.backfill = self._spawn(self._backfill(book))

    async def _backfill(self, book: _Book) -> None:
        attempt = 0
        try:
            while True:
                book.again = False
                try:
                    await self._backfill_once(book)
                except LocationRestricted as exc:
                    self._go_fatal(str(exc))
                    return
                except Exception as exc:  # Binance unreachable or refusing, or a bug: retry later
                    log.warning("backfill of %s %s failed: %r", book.symbol, book.interval, exc)
                    await asyncio.sleep(full_jitter(attempt, self.cfg.backoff_base_s, self.cfg.backoff_cap_s))
                    attempt += 1
                    book.again = True
                if not book.again and not book.pending:
                    return
        finally:
            book.backfill = None

    async def _backfill_once(self, book: _Book) -> None:
        server_now = await self._sync_time()
        initial = book.last_open is None
        if initial:
            rows = await self._latest(book)
        else:
            rows = await self._since(book, book.last_open + book.step, server_now)
        for k, from_rest in book.merge(rows, server_now):
            if from_rest and not initial:
                self.counts["backfilled"] += 1
            self._emit(book, k, not initial and self._fresh(book, k))
        if initial:
            book.ready.set()

    async def _latest(self, book: _Book) -> list[Kline]:
        """The most recent `buffer_size` closed candles (plus the one in progress), paging back."""
        need = self.cfg.buffer_size + 1
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

    async def _since(self, book: _Book, start: int, server_now: int) -> list[Kline]:
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
            self._time_sync = self._spawn(self._fetch_time())
        return await asyncio.shield(self._time_sync)

    async def _fetch_time(self) -> int:
        before = self.clock.now_ms()
        server = await self.rest.server_time()
        self.offset_ms = server - (before + self.clock.now_ms()) // 2
        return server
