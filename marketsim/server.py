"""`MarketSim`: a Binance-compatible WebSocket + REST server on loopback (spot and USD-M paths).

One aiohttp app serves `/ws/<stream>`, `/stream?streams=...`, the `/api/v3/...` REST endpoints
and their futures twins (`/market/stream`, `/fapi/v1/...`). A single ticker walks the simulated
clock: each candle's closed event is written exactly once, to every connection subscribed at
that moment, after in-progress updates. Faults come from `self.faults` (see `marketsim.faults`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field

import orjson
from aiohttp import WSMsgType, web

from analysis.candles import interval_ms
from marketsim import protocol
from marketsim.faults import Faults, FaultSchedule, FaultSpec, RestError
from marketsim.market import Market, SimClock, partial_candle
from marketsim.rest import RestApi

log = logging.getLogger("marketsim")

MAX_STREAMS_PER_CONNECTION = 1024
_FUTURES_PREFIX = "/market"


@dataclass
class SimStats:
    """What the simulator did: tests assert faults really happened through these counts."""

    connections: int = 0
    futures_connections: int = 0
    refused: int = 0
    dropped: int = 0
    cuts: int = 0
    shutdowns: int = 0
    stalls: int = 0
    pings: int = 0
    pongs: int = 0
    pong_timeouts: int = 0
    rate_limit_kicks: int = 0
    kline_frames: int = 0
    closed_frames: int = 0
    duplicated: int = 0
    reordered: int = 0
    malformed_sent: int = 0
    control_messages: int = 0
    rest_requests: int = 0
    futures_rest_requests: int = 0
    rest_errors: int = 0


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    combined: bool
    message_limit: int
    streams: set[str] = field(default_factory=set)
    opened: float = field(default_factory=time.monotonic)
    stalled_until: float = 0.0
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    incoming: deque[float] = field(default_factory=deque)
    pings: dict[bytes, float] = field(default_factory=dict)

    def stalled(self) -> bool:
        return time.monotonic() < self.stalled_until


@dataclass(eq=False)
class _Stream:
    symbol: str
    interval: str
    step: int
    emitted: int
    subscribers: set[_Connection] = field(default_factory=set)
    last_update: float = 0.0


class MarketSim:
    """The simulator. `await start()` binds 127.0.0.1:`port` (0 = any free port); `urls` says where."""

    def __init__(
        self,
        market: Market,
        speed: float = 60.0,
        *,
        port: int = 0,
        ping_period_s: float = 20.0,
        ping_floor_s: float = 1.0,
        update_period_s: float = 2.0,
        update_floor_s: float = 0.25,
        tick_s: float = 0.005,
        fault_specs: tuple[FaultSpec, ...] = (),
        seed: int = 0,
        record_writes: bool = False,
        paused: bool = False,
    ) -> None:
        self.market = market
        self.clock = SimClock(market.start_ms, speed, paused=paused)
        self.faults = Faults()
        self.faults.rng.seed(seed)
        self.stats = SimStats()
        self.write_log: list[tuple[str, int, int]] = []  # (stream, open time, perf_counter_ns) of closed klines
        self._record_writes = record_writes
        self._port = port
        self._ping_s = max(ping_period_s / speed, ping_floor_s)
        self._update_s = max(update_period_s / speed, update_floor_s)
        self._tick_s = tick_s
        self._schedule = FaultSchedule(list(fault_specs), self.faults)
        self._conns: set[_Connection] = set()
        self._streams: dict[str, _Stream] = {}
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task | None = None
        self._seen_drops = 0
        self._seen_shutdowns = 0
        self.urls: dict[str, str] = {}

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> dict[str, str]:
        rest = RestApi(self.market, self.clock, self.stats)
        app = web.Application(middlewares=[self._fault_middleware, rest.weight_middleware])
        for prefix in ("", _FUTURES_PREFIX):
            app.router.add_get(prefix + "/stream", self._ws_handler)
            app.router.add_get(prefix + "/ws", self._ws_handler)
            app.router.add_get(prefix + "/ws/{streams:.*}", self._ws_handler)
        rest.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.urls = {"ws": f"ws://127.0.0.1:{port}", "rest": f"http://127.0.0.1:{port}"}
        self._ticker = asyncio.create_task(self._tick_loop())
        return self.urls

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for conn in list(self._conns):
            self._abort(conn)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def resume(self) -> None:
        """Start the clock of a simulator made with `paused=True` (safe from any thread)."""
        self.clock.resume()

    # --- fault switches (plain writes: safe from any thread) -----------------------------

    def drop_connections(self) -> None:
        """Abort every open WebSocket without a close frame."""
        self.faults.drop_requested += 1

    def stall(self, seconds: float) -> None:
        """Open connections go silent (no frames, no pings) for `seconds` without closing."""
        self.faults.stall_requests.append(seconds)

    def outage(self, seconds: float) -> None:
        """Drop everything and refuse WebSocket and REST (HTTP 503) for `seconds`."""
        self.faults.outage_until = time.monotonic() + seconds
        self.faults.drop_requested += 1

    def server_shutdown(self) -> None:
        """Send `serverShutdown` on every connection, then close them shortly after."""
        self.faults.shutdown_requested += 1

    def rest_error(self, status: int, count: int = 1, retry_after: int | None = 1) -> None:
        """The next `count` REST requests fail with `status` (429/418 carry Retry-After)."""
        for _ in range(count):
            self.faults.rest_errors.append(RestError(status, retry_after))

    def restrict_location(self) -> None:
        """Every REST request from now on gets HTTP 451 (restricted location)."""
        self.faults.fatal_status = 451

    def set_frame_faults(self, duplicate: float = 0.0, reorder: float = 0.0, malformed: float = 0.0) -> None:
        self.faults.duplicate, self.faults.reorder, self.faults.malformed = duplicate, reorder, malformed

    def set_connection_lifetime(self, sim_seconds: float) -> None:
        """Binance cuts every connection after 24 h; shorten it (in simulated seconds)."""
        self.faults.conn_lifetime_s = sim_seconds

    def open_connections(self) -> int:
        return len(self._conns)

    # --- WebSocket -----------------------------------------------------------------------

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        if self.faults.in_outage():
            self.stats.refused += 1
            return web.json_response(protocol.ERR_UNAVAILABLE, status=503)
        combined = request.path.endswith("/stream")
        names = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        streams = [s for s in names.split("/") if s]
        bad = [s for s in streams if self._stream_error(s)]
        if bad or len(streams) > MAX_STREAMS_PER_CONNECTION:
            reason = self._stream_error(bad[0]) if bad else "too many streams"
            return web.json_response({"code": 2, "msg": f"Invalid request: {reason}"}, status=400)
        transport = request.transport
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        limit = 10 if request.path.startswith(_FUTURES_PREFIX) else 5
        conn = _Connection(ws, transport, combined, limit)
        self._conns.add(conn)
        self.stats.connections += 1
        if limit == 10:
            self.stats.futures_connections += 1
        for name in streams:
            self._subscribe(conn, name)
        writer = self._spawn(self._writer(conn))
        pinger = self._spawn(self._pinger(conn))
        try:
            await self._reader(conn)
        finally:
            self._forget(conn)
            writer.cancel()
            pinger.cancel()
        return ws

    def _stream_error(self, name: str) -> str | None:
        match = protocol.STREAM_RE.match(name)
        if match is None:
            return f"invalid stream name {name!r} (the simulator serves <symbol>@kline_<interval>)"
        if match.group(2) not in self.market.intervals():
            return f"invalid interval in stream {name!r}"
        return None

    def _subscribe(self, conn: _Connection, name: str) -> None:
        if name in conn.streams:
            return
        conn.streams.add(name)
        stream = self._streams.get(name)
        if stream is None:
            match = protocol.STREAM_RE.match(name)
            symbol, interval = match.group(1).upper(), match.group(2)
            emitted = 0
            if self.market.has(symbol):
                emitted = self.market.series(symbol, interval).closed_count(self.clock.now_ms())
            stream = _Stream(symbol, interval, interval_ms(interval), emitted)
            self._streams[name] = stream
        stream.subscribers.add(conn)

    def _unsubscribe(self, conn: _Connection, name: str) -> None:
        conn.streams.discard(name)
        stream = self._streams.get(name)
        if stream is not None:
            stream.subscribers.discard(conn)
            if not stream.subscribers:
                del self._streams[name]

    def _forget(self, conn: _Connection) -> None:
        for name in list(conn.streams):
            self._unsubscribe(conn, name)
        self._conns.discard(conn)

    async def _reader(self, conn: _Connection) -> None:
        async for msg in conn.ws:
            if conn.stalled():
                continue
            if msg.type in (WSMsgType.TEXT, WSMsgType.PING, WSMsgType.PONG) and self._over_limit(conn):
                self.stats.rate_limit_kicks += 1
                await conn.ws.close(code=1008, message=b"Too many requests")
                return
            if msg.type == WSMsgType.TEXT:
                self.stats.control_messages += 1
                reply = self._control(conn, msg.data)
                conn.queue.put_nowait((orjson.dumps(reply), None))
            elif msg.type == WSMsgType.PING:
                await conn.ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG and conn.pings.pop(bytes(msg.data), None) is not None:
                self.stats.pongs += 1

    def _over_limit(self, conn: _Connection) -> bool:
        now = time.monotonic()
        conn.incoming.append(now)
        while conn.incoming and conn.incoming[0] <= now - 1.0:
            conn.incoming.popleft()
        return len(conn.incoming) > conn.message_limit

    def _control(self, conn: _Connection, text: str) -> dict:
        """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS with Binance's replies and error codes."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return {"code": 3, "msg": f"Invalid JSON: {exc}"}
        if not isinstance(request, dict):
            return {"code": 3, "msg": "Invalid JSON: expected an object"}
        rid = request.get("id")
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int | str)):
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer", "id": None}
        method = request.get("method")
        params = request.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": rid}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return {
                "code": 2,
                "msg": f"Invalid request: unknown variant {method!r}, expected one of SUBSCRIBE, "
                "UNSUBSCRIBE, LIST_SUBSCRIPTIONS",
                "id": rid,
            }
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return {"code": 1, "msg": "Invalid value type: expected an array of stream names", "id": rid}
        if method == "UNSUBSCRIBE":
            for name in params:
                self._unsubscribe(conn, name)
            return {"result": None, "id": rid}
        errors = [e for e in map(self._stream_error, params) if e]
        if errors:
            return {"code": 2, "msg": f"Invalid request: {errors[0]}", "id": rid}
        if len(conn.streams | set(params)) > MAX_STREAMS_PER_CONNECTION:
            return {"code": 2, "msg": "Invalid request: too many streams on one connection", "id": rid}
        for name in params:
            self._subscribe(conn, name)
        return {"result": None, "id": rid}

    async def _writer(self, conn: _Connection) -> None:
        """Send queued frames, applying duplicate / reorder / malformed faults to kline frames."""
        faults = self.faults
        held = None
        while not conn.ws.closed:
            try:
                item = await asyncio.wait_for(conn.queue.get(), 0.05) if held else await conn.queue.get()
                fresh = True
            except TimeoutError:
                item, held, fresh = held, None, False
            if conn.stalled():
                held = None
                continue
            data, key = item
            if fresh and key is not None:
                if faults.chance(faults.malformed):
                    self.stats.malformed_sent += 1
                    await self._send(conn, protocol.GARBAGE[self.stats.malformed_sent % len(protocol.GARBAGE)])
                if held is None and faults.chance(faults.reorder):
                    self.stats.reordered += 1
                    held = item
                    continue
            await self._send(conn, data, key)
            if fresh and key is not None and faults.chance(faults.duplicate):
                self.stats.duplicated += 1
                await self._send(conn, data, key)
            if held is not None:
                await self._send(conn, *held)
                held = None

    async def _send(self, conn: _Connection, data: bytes, key: tuple[str, int, bool] | None = None) -> None:
        if conn.ws.closed:
            return
        if key is not None and key[2] and self._record_writes:
            self.write_log.append((key[0], key[1], time.perf_counter_ns()))
        try:
            await conn.ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            self._abort(conn)

    async def _pinger(self, conn: _Connection) -> None:
        """Ping every 20 simulated seconds (floored in real time); no pong within a minute: close."""
        timeout = max(self.clock.real_seconds(60.0), 3 * self._ping_s)
        while not conn.ws.closed:
            await asyncio.sleep(self._ping_s)
            if conn.stalled():
                continue
            now = time.monotonic()
            if conn.pings and now - min(conn.pings.values()) > timeout:
                self.stats.pong_timeouts += 1
                await conn.ws.close(code=1008, message=b"Pong timeout")
                return
            payload = str(self.clock.now_ms()).encode()
            conn.pings[payload] = now
            self.stats.pings += 1
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.ping(payload)

    # --- the clock -----------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:  # a bug in one tick must not freeze the market
                log.exception("marketsim tick failed")
            await asyncio.sleep(self._tick_s)

    def _tick(self) -> None:
        self._schedule.tick()
        self._apply_connection_faults()
        now = self.clock.now_ms()
        real = time.monotonic()
        for name, stream in list(self._streams.items()):
            if not self.market.has(stream.symbol):
                continue
            series = self.market.series(stream.symbol, stream.interval)
            closed = series.closed_count(now)
            while stream.emitted < closed:
                i = stream.emitted
                stream.emitted += 1
                t = int(series.open_time[i])
                data = protocol.kline_event(
                    stream.symbol, stream.interval, stream.step, now, t, series.row(i)[1:], True
                )
                self.stats.closed_frames += 1
                self._publish(name, stream, data, t, closed=True)
            if real - stream.last_update >= self._update_s:
                stream.last_update = real
                i = series.index_at(now)
                if i is not None:
                    t = int(series.open_time[i])
                    ohlcv = partial_candle(series, i, now)
                    self._publish(name, stream, protocol.kline_event(
                        stream.symbol, stream.interval, stream.step, now, t, ohlcv, False
                    ), t, closed=False)

    def _publish(self, name: str, stream: _Stream, data: bytes, open_time: int, *, closed: bool) -> None:
        wrapped = None
        for conn in stream.subscribers:
            if conn.combined:
                wrapped = wrapped or protocol.combined(name, data)
            self.stats.kline_frames += 1
            conn.queue.put_nowait((wrapped if conn.combined else data, (name, open_time, closed)))

    def _apply_connection_faults(self) -> None:
        f = self.faults
        if f.drop_requested != self._seen_drops:
            self._seen_drops = f.drop_requested
            for conn in list(self._conns):
                self.stats.dropped += 1
                self._abort(conn)
        while f.stall_requests:
            until = time.monotonic() + f.stall_requests.popleft()
            self.stats.stalls += 1
            for conn in self._conns:
                conn.stalled_until = until
        if f.shutdown_requested != self._seen_shutdowns:
            self._seen_shutdowns = f.shutdown_requested
            frame = protocol.server_shutdown(self.clock.now_ms())
            for conn in list(self._conns):
                self.stats.shutdowns += 1
                conn.queue.put_nowait((frame, None))
                asyncio.get_running_loop().call_later(0.3, self._abort, conn)
        lifetime = self.clock.real_seconds(f.conn_lifetime_s)
        now = time.monotonic()
        for conn in list(self._conns):
            if now - conn.opened >= lifetime:
                self.stats.cuts += 1
                self._spawn(conn.ws.close(code=1000, message=b"24h connection limit"))
                self._forget(conn)

    def _abort(self, conn: _Connection) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        self._forget(conn)
        if conn.transport is not None:
            conn.transport.abort()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        """Outages and injected REST errors (429/418 with Retry-After, 451) before any handler runs."""
        is_ws = request.path.endswith(("/stream", "/ws")) or "/ws/" in request.path
        if is_ws:
            return await handler(request)
        self.stats.rest_requests += 1
        if request.path.startswith("/fapi/"):
            self.stats.futures_rest_requests += 1
        if self.faults.in_outage():
            self.stats.rest_errors += 1
            return web.json_response(protocol.ERR_UNAVAILABLE, status=503)
        error = self.faults.next_rest_error()
        if error is not None:
            self.stats.rest_errors += 1
            body = {429: protocol.ERR_TOO_MANY, 418: protocol.ERR_BANNED, 451: protocol.ERR_RESTRICTED}.get(
                error.status, protocol.ERR_UNAVAILABLE
            )
            headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
            return web.json_response(body, status=error.status, headers=headers)
        return await handler(request)
