"""The feed engine's state on its event loop: what its parts share, each stream's book, each connection.

Plain state, no I/O: `connections.py` drives the `Connection`s, `bookkeeper.py` the `FeedBook`s, and
both count, spawn tasks and read the server clock through one `FeedRuntime`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

from actors.clock import Clock
from marketdata.binance_client import Pacer, full_jitter
from marketdata.candle_book import CandleBook
from marketdata.feed_config import FeedConfig
from marketdata.kline_payloads import stream_name


class FeedRuntime:
    """Settings, counters and tasks of one engine; `fatal` says why it stopped for good ("" while it runs)."""

    def __init__(self, config: FeedConfig, clock: Clock) -> None:
        self.cfg = config
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.fatal = ""
        self.offset_ms = 0  # Binance's clock minus ours, from the last /time answer
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """A task the engine owns: cancelled when it stops or goes fatal."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def backoff_s(self, attempt: int) -> float:
        return full_jitter(attempt, self.cfg.backoff_base_s, self.cfg.backoff_cap_s)

    def server_now(self) -> int:
        return self.clock.now_ms() + self.offset_ms


class FeedBook(CandleBook):
    """A candle book plus the feed's bookkeeping for it: its connection and its REST backfill."""

    def __init__(self, symbol: str, interval: str, capacity: int, tick: float | None) -> None:
        super().__init__(symbol, interval, capacity, tick)
        self.name = stream_name(symbol, interval)
        self.backfill: asyncio.Task | None = None
        self.again = False
        self.ready = asyncio.Event()
        self.conn: Connection | None = None
        self.watched = False  # on the watchlist (not only streamed on demand)
        self.holds = 0  # EnsureStream(hold=True) not yet released: an open signal needs this stream
        self.used_at = time.monotonic()  # last request for it; an unheld on-demand book idle too long is dropped


class Connection:
    """One WebSocket session (reconnected in place) carrying up to 1024 streams."""

    def __init__(self, cid: int, streams: list[str], rate: float, predecessor: Connection | None = None) -> None:
        self.id = cid
        self.streams = streams
        self.pacer = Pacer(rate)
        self.predecessor = predecessor
        self.successor: Connection | None = None
        self.handed_over = predecessor is None
        self.ws: Any = None
        self.alive = False
        self.retired = False
        self.ever_connected = False
        self.opened_at = 0.0
        self.last_frame = 0.0
        self.last_event = 0
        self.replies: dict[int, asyncio.Future] = {}
