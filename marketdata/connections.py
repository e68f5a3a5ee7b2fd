"""The feed's WebSocket sessions: connect, subscribe, reconnect with jittered backoff, rotate make-before-break.

A connection carries as many streams in its URL as fit and subscribes the rest; a watchdog reconnects it
after silence or when its event times fall behind the server clock. Frames are parsed here: kline updates
go to `on_kline`, and every (re)connect asks for a backfill of the books it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import websockets

from marketdata.binance_client import Endpoints
from marketdata.feed_state import Connection, FeedBook, FeedRuntime
from marketdata.kline_payloads import ControlReply, KlineUpdate, MalformedPayload, ServerShutdown, parse_frame

log = logging.getLogger(__name__)

_MAX_URL_CHARS = 2000
_SUBSCRIBE_BATCH = 100


class Connections:
    """Every connection of one engine; all methods run on its event loop."""

    def __init__(self, runtime: FeedRuntime, ep: Endpoints, books: Mapping[tuple[str, str], FeedBook],
                 on_kline: Callable[[KlineUpdate], None], request_backfill: Callable[[FeedBook], None]) -> None:
        self.rt = runtime
        self.ep = ep
        self.all: list[Connection] = []
        self._books = books
        self._on_kline = on_kline
        self._request_backfill = request_backfill
        self._ids = itertools.count(1)
        self._malformed_logged = (0.0, 0)
        self._rate = runtime.cfg.control_rate or max(1.0, ep.message_limit - 3.0)
        self._silence_s = 2 * runtime.cfg.update_period_s

    def place(self, books: list[FeedBook]) -> None:
        """Give each unplaced book a connection with room; open new connections as needed."""
        limit = self.rt.cfg.max_streams_per_connection
        for book in books:
            if book.conn is not None:
                continue
            conn = next(
                (c for c in self.all if not c.retired and c.successor is None and len(c.streams) < limit),
                None,
            )
            if conn is None:
                conn = Connection(next(self._ids), [], self._rate)
                self.all.append(conn)
                self.rt.spawn(self._supervise(conn))
            conn.streams.append(book.name)
            book.conn = conn
            if conn.alive:
                self.rt.spawn(self._subscribe_live(conn, [book]))

    def unsubscribe(self, name: str) -> None:
        """Stop carrying a stream: on its connection, and on a successor taking over from it."""
        for conn in self.all:
            if name in conn.streams:
                conn.streams.remove(name)
                if conn.alive and conn.ws is not None:
                    self.rt.spawn(self._send_control(conn, conn.ws, [name], "UNSUBSCRIBE"))

    def retire_all(self, abort: bool = False) -> None:
        """No connection reconnects any more; `abort` also cuts the open ones at once."""
        for conn in self.all:
            conn.retired = True
            if abort and conn.ws is not None:
                _abort(conn.ws)

    async def close_all(self) -> None:
        for conn in self.all:
            if conn.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(), 1.0)

    def _url(self, conn: Connection) -> tuple[str, list[str]]:
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

    async def _supervise(self, conn: Connection) -> None:
        cfg = self.rt.cfg
        attempt = 0
        while not conn.retired and not self.rt.fatal:
            url, extra = self._url(conn)
            try:
                ws = await websockets.connect(
                    url, proxy=None, ping_interval=None, compression=None, close_timeout=1,
                    open_timeout=cfg.request_timeout_s, max_size=1 << 22,
                )
            except Exception as exc:  # refused, reset, timed out, bad handshake: all mean "try again"
                log.warning("market feed connection %d failed: %r", conn.id, exc)
                await asyncio.sleep(self.rt.backoff_s(attempt))
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
                _abort(ws)
            lived = time.monotonic() - conn.opened_at
            if conn.successor is not None:
                conn.retired = True  # the successor takes over (and backfills if we died first)
            elif not conn.retired:
                attempt = 0 if lived >= cfg.healthy_after_s else attempt + 1
                await asyncio.sleep(self.rt.backoff_s(attempt))
        if conn in self.all and conn.retired:
            self.all.remove(conn)

    def _opened(self, conn: Connection, ws: Any) -> None:
        conn.ws = ws
        conn.alive = True
        conn.opened_at = conn.last_frame = time.monotonic()
        conn.last_event = 0
        if conn.ever_connected:
            self.rt.counts["reconnects"] += 1
        conn.ever_connected = True

    async def _after_connect(self, conn: Connection, ws: Any, extra: list[str]) -> bool:
        """Subscribe what the URL could not carry, then backfill (or take over from a predecessor)."""
        for i in range(0, len(extra), _SUBSCRIBE_BATCH):
            if not await self._send_control(conn, ws, extra[i : i + _SUBSCRIBE_BATCH]):
                return False
        names = set(conn.streams)
        books = [b for b in self._books.values() if b.name in names]
        pred = conn.predecessor
        if not conn.handed_over and pred is not None:
            conn.handed_over = True
            self.rt.counts["rotations"] += 1
            for book in books:
                book.conn = conn
            # Both deliver for a while (repeats are dropped), so whatever the old connection
            # still carries from before we subscribed arrives before it is closed.
            await asyncio.sleep(self.rt.cfg.rotation_overlap_s)
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

    async def _send_control(self, conn: Connection, ws: Any, names: list[str], method: str = "SUBSCRIBE") -> bool:
        rid = next(self._ids)
        reply = asyncio.get_running_loop().create_future()
        conn.replies[rid] = reply
        await conn.pacer.wait()
        try:
            await ws.send(orjson.dumps({"method": method, "params": names, "id": rid}).decode())
            answer: ControlReply = await asyncio.wait_for(reply, self.rt.cfg.request_timeout_s)
        except (TimeoutError, websockets.ConnectionClosed):
            conn.replies.pop(rid, None)
            return False
        if answer.error_code is not None:
            log.error("Binance refused %s %s: %s %s", method, names[:3], answer.error_code, answer.error_msg)
        return True

    async def _subscribe_live(self, conn: Connection, books: list[FeedBook]) -> None:
        """Add streams to an open connection; if that fails, reconnect (the URL then carries them)."""
        ws = conn.ws
        if ws is None:
            return
        if await self._send_control(conn, ws, [b.name for b in books]):
            for book in books:
                self._request_backfill(book)
        else:
            _abort(ws)

    async def _pump(self, conn: Connection, ws: Any) -> None:
        watchdog = asyncio.create_task(self._watchdog(conn, ws))
        try:
            while True:
                raw = await ws.recv(decode=False)
                conn.last_frame = time.monotonic()
                try:
                    self.on_frame(conn, raw)
                except Exception:  # a bug must not take the connection down with it
                    log.exception("market feed failed to handle a frame: %.120r", raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            watchdog.cancel()

    async def _watchdog(self, conn: Connection, ws: Any) -> None:
        period = min(self._silence_s / 2, 1.0)
        stale_ms = self.rt.cfg.stale_after_s * 1000
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            if now - conn.opened_at >= self.rt.cfg.rotate_after_s:
                self._rotate(conn, "connection age")
            if now - conn.last_frame > self._silence_s:
                why = f"no frame for {now - conn.last_frame:.1f}s"
            elif conn.last_event and self.rt.server_now() - conn.last_event > stale_ms:
                why = f"event time {self.rt.server_now() - conn.last_event} ms behind the server clock"
            else:
                continue
            self.rt.counts["watchdog"] += 1
            log.warning("market feed connection %d: %s; reconnecting", conn.id, why)
            _abort(ws)
            return

    def _rotate(self, conn: Connection, why: str) -> None:
        """Make-before-break: open a successor with the same streams; it closes us when ready."""
        if conn.successor is not None or conn.retired or not conn.handed_over or self.rt.fatal:
            return
        log.info("market feed connection %d rotating (%s)", conn.id, why)
        successor = Connection(next(self._ids), list(conn.streams), self._rate, predecessor=conn)
        conn.successor = successor
        self.all.append(successor)
        self.rt.spawn(self._supervise(successor))

    def on_frame(self, conn: Connection, raw: bytes) -> None:
        """One frame as received: kline updates go on to `on_kline`, control replies to their request."""
        self.rt.counts["frames"] += 1
        try:
            frame = parse_frame(raw)
        except MalformedPayload as exc:
            self.rt.counts["malformed"] += 1
            self._log_malformed(exc, raw)
            return
        if type(frame) is KlineUpdate:
            if frame.event_time > conn.last_event:
                conn.last_event = frame.event_time
            self._on_kline(frame)
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


def _abort(ws: Any) -> None:
    transport = getattr(ws, "transport", None)
    if transport is not None:
        transport.abort()
