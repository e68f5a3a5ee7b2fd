"""The operator's HTTP endpoints, on their own loop thread: `/metrics`, `/healthz` and `/readyz`.

A scrape first reads the parts' own counters (the feed, analyzer and sessions are told a stats request
with a future and awaited, never asked, so this loop never blocks on an actor), then renders the
System's registry with prometheus-client. `/readyz` is 200 only while the log is writable, every watched
stream delivered a closed candle within two of its intervals (wall clock), and the last Telegram call
succeeded or was rate-limited; else 503 with `{"ready": false, "failing": [...]}`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actors.messages import AnalyzerStats, FeedCounters, FeedStats, SessionCounters, SessionStats
from analysis.candles import interval_ms
from app.log_file import StartError

log = logging.getLogger("ops")

STATS_TIMEOUT_S = 2.0


class OpsServer:
    """`OpsServer(host, port, system).start()` serves until `stop()`; `address` is where it listens."""

    def __init__(self, host: str, port: int, system: Any) -> None:
        self.host, self.port, self.system = host, port, system
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ops-http", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> OpsServer:
        """Raises StartError naming METRICS_ADDR when the address cannot be listened on."""
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)
        except OSError as exc:
            self.stop()
            raise StartError(f"METRICS_ADDR {self.address} cannot be listened on ({exc.strerror or exc})") from None
        log.info("metrics and health checks on http://%s/metrics", self.address)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the port chosen when 0 was asked for

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._refresh()
        body = generate_latest(self.system.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def _readyz(self, request: web.Request) -> web.Response:
        await self._refresh()
        failing = self.system.metrics.snapshot.failing
        if failing:
            return web.json_response({"ready": False, "failing": failing}, status=503)
        return web.json_response({"ready": True})

    def failing(self) -> list[str]:
        """The readiness checks that fail now, among log, feed and telegram (on counters just refreshed)."""
        system = self.system
        failing = []
        if not system.store.writable():
            failing.append("log")
        if not self._feed_fresh():
            failing.append("feed")
        if system.bot is not None and not system.bot.calls.healthy:
            failing.append("telegram")
        return failing

    def _feed_fresh(self) -> bool:
        system = self.system
        snapshot = system.metrics.snapshot
        if isinstance(snapshot.feed, FeedCounters) and snapshot.feed.fatal:
            return False
        if not snapshot.stream_ages:  # nothing yet: fine for the first two intervals after start
            age = (system.metrics.candles.now_ms() - system.started_ms) / 1000
            return age <= 2 * interval_ms(system.settings.autosignal_interval) / 1000
        return all(age <= 2 * interval_ms(interval) / 1000 for (_, interval), age in snapshot.stream_ages.items())

    async def _refresh(self) -> None:
        system = self.system
        snapshot = system.metrics.snapshot
        feed = await _stats(system.feed, FeedStats(reply_to=Future()))
        snapshot.feed = feed if isinstance(feed, FeedCounters) else None
        analyzer = await _stats(system.analyzer, AnalyzerStats(reply_to=Future()))
        snapshot.analyzer = analyzer if isinstance(analyzer, dict) else None
        sessions = await _stats(system.sessions, SessionStats(reply_to=Future()))
        snapshot.sessions = sessions if isinstance(sessions, SessionCounters) else None
        candles = system.metrics.candles
        now = candles.now_ms()
        snapshot.stream_ages = {stream: (now - at) / 1000 for stream, at in dict(candles.last_ms).items()}
        sender = system.sender()
        if sender is not None:
            oldest = sender.oldest_pending_ms()
            snapshot.outbox_pending = sender.pending_count()
            snapshot.oldest_pending_s = 0.0 if oldest is None else max(0.0, (system.clock.now_ms() - oldest) / 1000)
        snapshot.updates = system.bot.updates if system.bot is not None else None
        snapshot.log_bytes = sum(os.path.getsize(p) for p in (system.store.path, f"{system.store.path}-wal")
                                 if os.path.exists(p))
        snapshot.failing = self.failing()


async def _stats(target: Any, request: Any) -> Any:
    """Tell `target` a stats request and await its reply future (None when absent, dead or slow)."""
    if target is None:
        return None
    try:
        target.tell(request)
        return await asyncio.wait_for(asyncio.wrap_future(request.reply_to), STATS_TIMEOUT_S)
    except Exception as exc:
        log.debug("stats from %s unavailable: %r", type(target).__name__, exc)
        return None
