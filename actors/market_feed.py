"""MarketFeed: the pykka actor that serves live Binance candles to the rest of the system.

The actor owns an asyncio loop thread on which `FeedEngine` (package `marketdata`) keeps the
WebSocket connections, REST backfills and candle buffers. Closed candles go straight from that loop to subscribers as
`CandleClosed`; requests (`GetCandles`, `EnsureStream`, `FeedStats`, `TopSymbols`,
`GetLivePrice`) are handed to the loop. With a `reply_to` future the actor answers from the
loop without blocking; with pykka's `ask` it waits for the answer (bounded by a timeout).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
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
from marketdata.feed_config import FeedConfig
from marketdata.feed_engine import FeedEngine


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
