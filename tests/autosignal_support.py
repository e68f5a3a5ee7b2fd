"""Stand-ins for the AutoSignal actor's neighbours in its own tests, and helpers to drive it.

`RecordedFeed` plays the MarketFeed's part (subscribers, `GetCandles` from a buffer of real
recorded candles, released one close at a time, so the market moves only when the test says;
`EnsureStream`/`ReleaseStream` counted as holds per stream).
`ScriptedAnalyzer` answers `Analyze` with what a test chooses, so rules such as cooldowns can
be aimed at precisely; the replay and end-to-end tests use the real analysis instead.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from actors.messages import (
    AnalysisFailed,
    AnalysisResult,
    Analyze,
    CandleClosed,
    Decision,
    EnsureStream,
    FeedError,
    GetCandles,
    Kline,
    ReleaseStream,
    StreamReady,
    SubscribeCandles,
    answer,
)
from analysis.candles import Candles, interval_ms


@dataclass(frozen=True)
class Close:
    """Test -> RecordedFeed: candle `index` of `symbol` has closed (fresh or history)."""

    symbol: str
    index: int
    fresh: bool = True


class RecordedFeed(pykka.ThreadingActor):
    def __init__(self, series: dict[str, Candles], history: int = 0) -> None:
        super().__init__()
        self.series = series
        self.upto = {symbol: history for symbol in series}
        self.subscribers: list[Any] = []
        self.holds: dict[tuple[str, str], int] = {}

    def on_receive(self, message: Any) -> Any:
        match message:
            case SubscribeCandles(subscriber):
                self.subscribers.append(subscriber)
            case EnsureStream(symbol, interval, hold):
                if symbol not in self.series:
                    return answer(message, FeedError(f"unknown symbol {symbol}", "unknown_symbol"))
                self.holds[(symbol, interval)] = self.holds.get((symbol, interval), 0) + hold
                return answer(message, StreamReady(symbol, interval, self.upto[symbol]))
            case ReleaseStream(symbol, interval):
                self.holds[(symbol, interval)] -= 1
            case "holds":
                return {key: n for key, n in self.holds.items() if n}
            case GetCandles(symbol, _interval, n):
                candles = self.series.get(symbol)
                if candles is None:
                    return answer(message, FeedError(f"unknown symbol {symbol}", "unknown_symbol"))
                end = self.upto[symbol]
                return answer(message, candles[max(0, end - n) : end])
            case Close(symbol, index, fresh):
                candles = self.series[symbol]
                self.upto[symbol] = max(self.upto[symbol], index + 1)
                event = CandleClosed(symbol, candles.interval, Kline.of(candles, index), fresh)
                for subscriber in list(self.subscribers):
                    try:
                        subscriber.tell(event)
                    except pykka.ActorDeadError:  # stopped (a restart test): it catches up when back
                        self.subscribers.remove(subscriber)
        return None


@dataclass(frozen=True)
class FakeSignal:
    """Shaped like analysis.strategy.Signal as far as AutoSignal reads it (side, to_dict)."""

    symbol: str
    interval: str
    open_time: int
    side: str
    confidence: float
    trigger: str | None = None  # the setup identity's one trigger (None: a setup without identity)

    def to_dict(self) -> dict[str, Any]:
        setup = {} if self.trigger is None else {"setup": {"id": self.trigger, "triggers": [self.trigger]}}
        return setup | {
            "symbol": self.symbol,
            "interval": self.interval,
            "open_time": self.open_time,
            "close_time": self.open_time + interval_ms(self.interval) - 1,
            "side": self.side,
            "entry": 1.0,
            "stop": 0.9,
            "tp1": 1.15,
            "tp2": 1.3,
            "confidence": self.confidence,
            "reasons": ["scripted"],
        }


@dataclass(frozen=True)
class FakeNoSetup:
    reason: str = "scripted: nothing"


class ScriptedAnalyzer(pykka.ThreadingActor):
    """Answers `Analyze` with `script(candles)`; `gate`, when given, holds every answer until set."""

    def __init__(self, script: Callable[[Candles], Any], gate: threading.Event | None = None) -> None:
        super().__init__()
        self.script = script
        self.gate = gate
        self.seen: list[tuple[str, int, int]] = []  # (symbol, last open time, candles)
        self.entered = threading.Event()  # set once a request is being answered (held by `gate`)

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Analyze):
            return None
        self.seen.append((message.symbol, int(message.candles.open_time[-1]), len(message.candles)))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        result = self.script(message.candles)
        if isinstance(result, AnalysisFailed):
            return answer(message, result)
        return answer(message, AnalysisResult(result))


def signal_at(side: str, confidence: float = 80, trigger: str | None = None) -> Callable[[Candles], FakeSignal]:
    def script(candles: Candles) -> FakeSignal:
        return FakeSignal(candles.symbol, candles.interval, int(candles.open_time[-1]), side, confidence, trigger)

    return script


@dataclass
class Decisions:
    """Collects AutoSignal's `on_decided` hook calls so a test can wait for them."""

    items: queue.Queue = field(default_factory=queue.Queue)

    def __call__(self, symbol: str, open_time: int | None, outcome: Decision) -> None:
        self.items.put((symbol, open_time, outcome))

    def take(self, n: int = 1, timeout: float = 10) -> list[tuple[str, int | None, Decision]]:
        return [self.items.get(timeout=timeout) for _ in range(n)]


class SenderLoop:
    """The real aiogram Sender on its own loop thread, pointed at a (fake) Bot API server.

    `wrap` may wrap the transport (benchmarks count sends in flight with it); `charts` builds the Sender's
    SignalCharts on the loop (started with it, closed after it).
    """

    def __init__(self, store: Any, api_url: str, wrap: Callable[[Any], Any] | None = None,
                 charts: Callable[[], Any] | None = None, **options: Any) -> None:
        self.store, self.api_url, self.wrap, self.options = store, api_url, wrap, options
        self.make_charts, self.charts = charts, None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sender-loop", daemon=True)
        self.transport: Any = None

    def __enter__(self) -> SenderLoop:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _start(self) -> None:
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        from actors.clock import SystemClock
        from telegram_adapter.sender import BotTransport, Sender

        self.bot = Bot("123456:TEST", session=AiohttpSession(api=TelegramAPIServer.from_base(self.api_url)))
        self.transport = BotTransport(self.bot)
        if self.wrap is not None:
            self.transport = self.wrap(self.transport)
        if self.make_charts is not None:
            self.charts = self.make_charts()
            await self.charts.start()  # measured runs start with the workers warm
        self.sender = Sender(self.transport, self.store, SystemClock(), charts=self.charts, **self.options)
        await self.sender.start()

    async def _stop(self) -> None:
        await self.sender.stop()
        if self.charts is not None:
            await self.charts.close()
        await self.bot.session.close()
