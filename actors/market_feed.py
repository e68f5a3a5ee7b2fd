"""MarketFeed: the pykka actor that serves live Binance candles to the rest of the system.

The actor owns an asyncio loop thread on which `FeedEngine` keeps the WebSocket connections,
REST backfills and candle buffers. Closed candles go straight from that loop to subscribers as
`CandleClosed`; requests (`GetCandles`, `EnsureStream`, `FeedStats`, `TopSymbols`,
`GetLivePrice`) are handed to the loop. With a `reply_to` future the actor answers from the
loop without blocking; with pykka's `ask` it waits for the answer (bounded by a timeout).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import pykka

from actors.clock import Clock, SystemClock
from actors.messages import (
    EnsureStream,
    FeedError,
    FeedStats,
    GetCandles,
    GetLivePrice,
    ReleaseStream,
    SubscribeCandles,
    TopSymbols,
    answer,
)
from analysis.candles import INTERVAL_MS
from marketdata.feed_engine import FeedEngine


@dataclass(frozen=True)
class FeedConfig:
    """How the feed connects. URLs default to Binance's public market-data endpoints of `market`.

    `ws_url` / `rest_url` are bases (scheme, host, port): the feed appends `/stream?streams=...`
    (spot) or `/market/stream?streams=...` (usdm), and `/api/v3/...` or `/fapi/v1/...`.
    An empty `watchlist` means the top `top_n` USDT pairs by 24 h quote volume, refreshed.
    """

    market: str = "spot"  # "spot" | "usdm"
    ws_url: str | None = None
    rest_url: str | None = None
    watchlist: tuple[str, ...] = ()
    top_n: int = 25
    intervals: tuple[str, ...] = ("15m",)
    buffer_size: int = 1000
    update_period_s: float = 2.0  # Binance pushes kline updates every 2 s (spot); silence = 2x this
    stale_after_s: float = 10.0  # event time this far behind the server clock forces a reconnect
    rotate_after_s: float = 23 * 3600.0  # make-before-break before Binance's 24 h cut
    rotation_overlap_s: float = 1.0  # old and new connection both deliver this long before the old closes
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    healthy_after_s: float = 60.0  # a connection that lived this long resets the backoff
    request_timeout_s: float = 10.0
    ensure_timeout_s: float = 30.0
    watchlist_refresh_s: float = 3600.0
    max_streams_per_connection: int = 1024
    max_on_demand_streams: int = 200  # streams beyond the watchlist (users' pairs, open signals' pairs)
    idle_stream_s: float = 600.0  # an on-demand stream no one holds or asked about this long is dropped
    control_rate: float | None = None  # SUBSCRIBE messages per second; default: Binance limit - 3

    def __post_init__(self) -> None:
        if self.market not in ("spot", "usdm"):
            raise ValueError(f"market must be 'spot' or 'usdm', got {self.market!r}")
        bad = [i for i in self.intervals if i not in INTERVAL_MS]
        if bad or not self.intervals:
            raise ValueError(f"intervals must be Binance intervals ({', '.join(INTERVAL_MS)}), got {bad}")
        if not 1 <= self.max_streams_per_connection <= 1024:
            raise ValueError("max_streams_per_connection must be within 1..1024")
        if self.buffer_size < 1 or self.top_n < 1 or self.max_on_demand_streams < 0 or self.idle_stream_s <= 0:
            raise ValueError("buffer_size, top_n and idle_stream_s must be positive, max_on_demand_streams >= 0")
        object.__setattr__(self, "watchlist", tuple(s.upper() for s in self.watchlist))


class MarketFeed(pykka.ThreadingActor):
    """`MarketFeed.start(config, clock=SystemClock())` -> ActorRef."""

    ask_timeout_s = 60.0

    def __init__(self, config: FeedConfig, clock: Clock | None = None) -> None:
        super().__init__()
        self._config = config
        self._clock = clock or SystemClock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="market-feed-loop", daemon=True)
        self._engine: FeedEngine | None = None

    def on_start(self) -> None:
        self._thread.start()
        self._engine = self._run(self._create_engine()).result(10)

    async def _create_engine(self) -> FeedEngine:
        engine = FeedEngine(self._config, self._clock)
        engine.start()
        return engine

    def on_stop(self) -> None:
        if self._engine is not None:
            try:
                self._run(self._engine.stop()).result(10)
            except (FutureTimeout, RuntimeError):
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def on_receive(self, message: Any) -> Any:
        engine = self._engine
        match message:
            case SubscribeCandles(subscriber=ref, intervals=intervals, watchlist_only=watchlist_only):
                self._loop.call_soon_threadsafe(engine.subscribe, ref, intervals, watchlist_only)
                return None
            case GetCandles(symbol=symbol, interval=interval, n=n):
                return self._reply(message, self._call(engine.get_candles, symbol, interval, n))
            case GetLivePrice(symbol=symbol, interval=interval):
                return self._reply(message, self._call(engine.live_price, symbol, interval))
            case FeedStats():
                return self._reply(message, self._call(engine.stats))
            case EnsureStream(symbol=symbol, interval=interval, hold=hold):
                return self._reply(message, self._run(engine.ensure_stream(symbol, interval, hold)))
            case ReleaseStream(symbol=symbol, interval=interval):
                self._loop.call_soon_threadsafe(engine.release_stream, symbol, interval)
                return None
            case TopSymbols(n=n):
                return self._reply(message, self._run(self._top(n)))
        return None

    async def _top(self, n: int) -> tuple[str, ...] | FeedError:
        try:
            return await self._engine.top_symbols(n)
        except Exception as exc:  # Binance unreachable or refusing: the asker gets a reason
            return FeedError(f"cannot rank symbols: {exc}", "unavailable")

    def _run(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, fn, *args: Any) -> Future:
        async def call():
            return fn(*args)

        return self._run(call())

    def _reply(self, message: Any, future: Future) -> Any:
        """Answer through reply_to when the loop is done (non-blocking), or wait for pykka's ask."""
        if message.reply_to is not None:
            future.add_done_callback(lambda f: answer(message, _result(f)))
            return None
        try:
            value = future.result(self.ask_timeout_s)
        except FutureTimeout:
            value = FeedError("the market feed did not answer in time", "unavailable")
        except Exception as exc:  # the engine failed on this request; the actor stays up
            value = FeedError(f"market feed failed: {exc!r}", "unavailable")
        return answer(message, value)


def _result(future: Future) -> Any:
    exc = future.exception()
    if exc is not None:
        return FeedError(f"market feed failed: {exc!r}", "unavailable")
    return future.result()
