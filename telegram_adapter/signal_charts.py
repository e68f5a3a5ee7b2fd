"""Charts of issued signals for the Sender: rendered as soon as the Sender learns of a signal from the log,
not when a delivery is sent, and uploaded to Telegram once per signal.

A chart is optional. When the candles cannot be had, the render fails, or the chart is not ready within
WAIT_S of the signal reaching the Sender, its deliveries go out as text; each such signal is logged and
counted once (`on_failure(reason)`, reasons `no_candles`, `render`, `late`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from actors.messages import ChartData, GetCandles
from analysis.candles import Candles
from telegram_adapter.charts.pool import TIMEOUT_S
from telegram_adapter.charts.service import ChartService

log = logging.getLogger(__name__)

WAIT_S = TIMEOUT_S  # the longest a delivery waits for its chart, from when the Sender learnt of the signal
CANDLES = 300  # asked of the feed; the chart shows the last 120 up to the signal's candle
REMEMBERED = 256  # signals whose chart and file_id are kept (an hour of autosignals is a handful)

CandleSource = Callable[[str, str], Awaitable[Candles | None]]


class PhotoTransport(Protocol):
    async def send_photo(self, chat_id: int, photo: bytes | str, caption: str | None, reply_to: int | None,
                         name: str) -> tuple[int, str | None]:
        """Send a photo (PNG bytes to upload, or a file_id already on Telegram) with an optional HTML caption;
        returns (message_id, the photo's file_id if the transport has one). Raises aiogram's Telegram errors."""
        ...


def feed_candles(feed: Any, timeout: float = WAIT_S) -> CandleSource:
    """Candles from the MarketFeed actor (GetCandles), or None when it has none or does not answer in time."""

    async def fetch(symbol: str, interval: str) -> Candles | None:
        message = GetCandles(symbol, interval, CANDLES, reply_to=Future())
        feed.tell(message)
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(message.reply_to), timeout)
        except Exception as exc:
            log.warning("no candles of %s %s for a chart: %r", symbol, interval, exc)
            return None
        return answer if isinstance(answer, Candles) else None

    return fetch


def charted(signal: dict[str, Any]) -> bool:
    """A single setup (manual or auto) has a chart; a /signals scan and a follow-up line do not."""
    return "side" in signal and "kind" not in signal


@dataclass
class _Chart:
    task: asyncio.Task
    started: float
    file_id: str | None = None
    upload: asyncio.Lock = field(default_factory=asyncio.Lock)
    late: bool = False


class SignalCharts:
    """`issued()` starts a signal's chart; `png()` waits (bounded) for it; `send()` uploads it once."""

    def __init__(self, service: ChartService, candles: CandleSource,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self.service, self.candles = service, candles
        self.on_failure = on_failure or (lambda reason: None)
        self._charts: OrderedDict[str, _Chart] = OrderedDict()
        self._warming: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        """Warm the render workers up in the background (on the running loop): the adapter answers meanwhile,
        and a chart asked for before they are ready waits for them within its WAIT_S. Await the task to wait."""
        self._warming = asyncio.get_running_loop().create_task(self.service.start())
        return self._warming

    def issued(self, signal_id: str, signal: dict[str, Any]) -> None:
        """Start rendering (on the running loop) unless already started; the oldest charts are forgotten."""
        if signal_id in self._charts or not charted(signal):
            return
        loop = asyncio.get_running_loop()
        self._charts[signal_id] = _Chart(loop.create_task(self._make(signal_id, signal)), loop.time())
        while len(self._charts) > REMEMBERED:
            _, old = self._charts.popitem(last=False)
            old.task.cancel()

    async def png(self, signal_id: str) -> bytes | None:
        """The chart, or None when it failed or is not ready WAIT_S after issue (the signal goes as text)."""
        chart = self._charts.get(signal_id)
        if chart is None:
            return None
        left = chart.started + WAIT_S - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(chart.task), max(0.0, left))
        except TimeoutError:
            if not chart.late:
                chart.late = True
                log.warning("chart of %s not ready within %g s; it goes out as text", signal_id, WAIT_S)
                self.on_failure("late")
            return None

    async def send(self, transport: PhotoTransport, signal_id: str, png: bytes, chat_id: int,
                   caption: str | None, reply_to: int | None) -> int:
        """Send the chart: uploaded by the first delivery, by file_id after that first upload succeeded
        (deliveries of the same signal wait for it); returns the message_id."""
        chart = self._charts.get(signal_id)
        name = f"{quote(signal_id, safe='')}.png"
        if chart is None:
            return (await transport.send_photo(chat_id, png, caption, reply_to, name))[0]
        if chart.file_id is None:
            async with chart.upload:
                if chart.file_id is None:
                    message_id, chart.file_id = await transport.send_photo(chat_id, png, caption, reply_to, name)
                    return message_id
        return (await transport.send_photo(chat_id, chart.file_id, caption, reply_to, name))[0]

    async def draw(self, chart: ChartData) -> bytes | None:
        """A /chart answer's picture, not cached (it is of the current candle); None when the render fails."""
        png = await self.service.renderer.render(chart.analysis, chart.candles)
        if png is None:  # the renderer logged why
            self.on_failure("render")
        return png

    async def _make(self, signal_id: str, signal: dict[str, Any]) -> bytes | None:
        """From the disk cache (a restart), else drawn from the feed's candles up to the signal's candle."""
        if (png := await self.service.cached(signal_id, signal)) is not None:
            return png
        candles = await self.candles(str(signal.get("symbol")), str(signal.get("interval")))
        if candles is None:
            log.warning("chart of %s: no candles; it goes out as text", signal_id)
            self.on_failure("no_candles")
            return None
        png = await self.service.chart(signal_id, signal, candles)
        if png is None:  # the renderer logged why
            self.on_failure("render")
        return png

    async def close(self) -> None:
        for task in [self._warming, *(chart.task for chart in self._charts.values())]:
            if task is not None:
                task.cancel()
        await self.service.close()
