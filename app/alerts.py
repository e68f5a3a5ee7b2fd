"""Operator alerts: a stale feed, a fatal HTTP 451, and a delivery backlog older than one interval.

A small thread polls the feed's counters and the Sender's outbox, logs each problem, and
tells the admins in Telegram, at most once per kind every `quiet_s` seconds.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from actors.clock import Clock
from actors.messages import FeedCounters, FeedStats
from analysis.candles import interval_ms

log = logging.getLogger("alerts")


class Alerts:
    def __init__(self, feed: Any, bot: Any, admin_ids: tuple[int, ...], interval: str, clock: Clock,
                 every_s: float = 30.0, quiet_s: float = 900.0) -> None:
        self.feed, self.bot, self.admin_ids, self.clock = feed, bot, admin_ids, clock
        self.interval_ms = interval_ms(interval)
        self.every_s, self.quiet_s = every_s, quiet_s
        self._stop = threading.Event()
        self._last_sent: dict[str, float] = {}
        self._emitted = -1
        self._emitted_since = clock.now_ms()
        self._trips = 0
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> Alerts:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.check()
            except Exception:
                log.exception("alert check failed")

    def check(self) -> None:
        now = self.clock.now_ms()
        counters = self.feed.ask(FeedStats(), timeout=10)
        if isinstance(counters, FeedCounters):
            self._check_feed(counters, now)
        oldest = self._oldest_pending()
        if oldest is not None and now - oldest > self.interval_ms:
            self.alert("backlog", f"deliveries are waiting for over {(now - oldest) // 60_000} min "
                                  "(Telegram rate limits or an outage?)")

    def _check_feed(self, c: FeedCounters, now: int) -> None:
        if c.fatal:
            self.alert("fatal", f"the market feed stopped: {c.fatal}")
            return
        if c.watchdog_trips > self._trips:
            self.alert("stale", f"the market feed went silent or stale {c.watchdog_trips - self._trips} time(s); "
                                "it reconnected and backfilled")
        self._trips = c.watchdog_trips
        if c.closed_emitted != self._emitted:
            self._emitted, self._emitted_since = c.closed_emitted, now
        elif now - self._emitted_since > 2 * self.interval_ms:
            self.alert("stale", "no closed candle for over two intervals: the market feed is stale")

    def _oldest_pending(self) -> int | None:
        sender = getattr(self.bot, "sender", None)
        return sender.oldest_pending_ms() if sender is not None else None

    def alert(self, kind: str, text: str) -> None:
        log.warning("operator alert (%s): %s", kind, text)
        now = self.clock.now_ms() / 1000
        if now - self._last_sent.get(kind, -1e18) < self.quiet_s:
            return
        self._last_sent[kind] = now
        sender = getattr(self.bot, "sender", None)
        if sender is None:
            return
        for admin in self.admin_ids:
            self.bot.loop.call_soon_threadsafe(sender.reply, admin, f"⚠️ {text}")
