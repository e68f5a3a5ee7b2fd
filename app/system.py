"""Wiring: start every part in order, stop them in reverse, and the `run` command's life cycle.

Start: lock the log, open it and check its chain, then the feed, the analyzer pool, the
OutcomeTracker, the sessions, AutoSignal, and last the Telegram (or console) adapter. Stop, in
order: issue no more autosignals, take no more updates, stop the feed, let the Sender finish
what is in flight, stop every actor, close the log, release the lock.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pykka

from actors.analyzer import AnalyzerPool
from actors.autosignal import AutoSignal
from actors.clock import Clock, SystemClock
from actors.market_feed import MarketFeed
from actors.messages import BeginShutdown, SubscribeCandles
from actors.outcomes import OutcomeTracker
from actors.supervisor import Supervisor
from actors.user_session import Services, Sessions
from analysis.calibration import Calibration
from analysis.strategy import DEFAULT_COSTS, Costs
from app import strategy_file
from app.alerts import Alerts
from app.config import Settings
from app.lock import AlreadyRunning, InstanceLock
from app.log_file import StartError, open_for_run
from app.metrics import Metrics
from app.ops_server import OpsServer
from domain.outcomes import Rules
from domain.payments import PaymentSecret
from eventstore import EventStore
from marketdata.feed_config import FeedConfig
from telegram_adapter.bot import TelegramBot, TelegramConfig, TelegramStartError
from telegram_adapter.charts.service import ChartService
from telegram_adapter.follow import CATCH_UP_BATCH
from telegram_adapter.payments import PaymentsConfig
from telegram_adapter.signal_charts import SignalCharts, feed_candles

log = logging.getLogger("system")


def analyzer_pool(workers: int, costs: Costs = DEFAULT_COSTS, calibration: Calibration | None = None,
                  observe: Callable[[float], None] | None = None) -> AnalyzerPool:
    """The fastest measured configuration (bench/analysis_bench.py --pool-only): analyze() holds the GIL,
    so more workers only pay as processes (2 processes 1.24x of one thread, 2 threads 0.55x); a single
    worker is a thread (one process is slower than one thread: the candles are pickled both ways)."""
    return AnalyzerPool.start(workers, processes=workers > 1, costs=costs, calibration=calibration, observe=observe)


def feed_config(settings: Settings) -> FeedConfig:
    explicit = settings.watchlist if isinstance(settings.watchlist, tuple) else ()
    top_n = settings.watchlist if isinstance(settings.watchlist, int) else 25
    return FeedConfig(
        market=settings.market,
        ws_url=settings.ws_url,
        rest_url=settings.rest_url,
        watchlist=explicit,
        top_n=top_n,
        intervals=(settings.autosignal_interval,),
        buffer_size=settings.candle_buffer,
    )


@dataclass
class System:
    """Every running part of one bot process."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    lock: InstanceLock | None = None
    store: EventStore | None = None
    feed: Any = None
    analyzer: AnalyzerPool | None = None
    outcomes: Any = None
    sessions: Any = None
    autosignal: Any = None
    bot: TelegramBot | None = None
    alerts: Alerts | None = None
    health_clock: Clock | None = None  # the feed's freshness in /readyz (default: `clock`)
    metrics: Metrics | None = None
    ops: OpsServer | None = None
    console_sender: Any = None  # the console adapter's Sender, when one runs (for signalbot_outbox_pending)
    started_ms: int = 0
    _stopped: bool = False

    def start(self, telegram: bool = True, new_log: bool = False, delete_webhook: bool = False) -> System:
        """Start every part; `new_log` allows a new log in an empty or schema-less file at DB_PATH;
        `delete_webhook`: in webhook mode, delete it at shutdown."""
        s = self.settings
        self.lock, self.store = open_for_run(s.db_path, s.synchronous, new_log)
        report = self.store.verify()
        if not report.ok:
            raise StartError(
                f"the event log {s.db_path} failed verification at position {report.first_bad_position}: "
                f"{report.reason}; restore a backup before running"
            )
        log.info("event log %s: %d events verified", s.db_path, report.events_checked)
        self._instrument()
        try:
            strategy = strategy_file.load(s.strategy_path)
        except ValueError as exc:
            raise StartError(f"STRATEGY_PATH: {exc}") from None
        if strategy_file.record(self.store, strategy):
            log.info("strategy %s (%s) recorded", strategy.version, strategy.path)
        self.feed = MarketFeed.start(feed_config(s), self.clock)
        self.feed.tell(SubscribeCandles(self.metrics.candles, intervals=(s.autosignal_interval,), watchlist_only=True))
        self.analyzer = analyzer_pool(s.analyzer_workers, Costs(s.fee_rate, s.max_fee_share), strategy.calibration,
                                      self.metrics.analysis_seconds.observe)
        rules = Rules(s.outcome_horizon_bars, s.fee_rate)
        self.outcomes = Supervisor("outcomes", lambda: OutcomeTracker.start(
            self.store, self.feed, rules=rules, clock=self.clock))
        services = Services(self.store, self.clock, self.feed, self.analyzer, outcomes=self.outcomes)
        self.sessions = Supervisor("sessions", lambda: Sessions.start(
            services, frozenset(s.admin_ids), idle_ms=s.session_idle_min * 60_000, max_live=s.session_cap
        ))
        self.autosignal = Supervisor("autosignal", lambda: AutoSignal.start(
            self.store,
            self.feed,
            self.analyzer,
            clock=self.clock,
            admin_ids=s.admin_ids,
            watchlist=s.watchlist if isinstance(s.watchlist, tuple) else (),
            enabled=s.autosignal_enabled,
            interval=s.autosignal_interval,
            policy=strategy.policy(s.autosignal_interval, s.autosignal_min_confidence, s.autosignal_cooldown_min),
            on_decided=self.metrics.autosignal_decided,
        ))
        if telegram and s.token:
            payments = PaymentsConfig(PaymentSecret(s.payment_secret) if s.payment_secret else None, s.packs,
                                      s.paysupport_contact)
            config = TelegramConfig(s.token, s.telegram_api_url or None, frozenset(s.admin_ids), s.telegram_rate,
                                    mode=s.telegram_mode, webhook_url=s.webhook_url,
                                    webhook_listen=s.webhook_listen or ("127.0.0.1", 8443),
                                    webhook_secret=s.webhook_secret, delete_webhook=delete_webhook,
                                    payments=payments)
            self.bot = TelegramBot(config, self.sessions, self.store, self.clock, self.autosignal,
                                   self.metrics, chart_settings=s, feed=self.feed).start()
            self.alerts = Alerts(self.feed, self.bot, s.admin_ids, s.autosignal_interval, self.clock).start()
        if s.metrics_addr is not None:
            self.ops = OpsServer(*s.metrics_addr, self).start()
        log.info("started: market %s, autosignal interval %s", s.market, s.autosignal_interval)
        # What start-up built (aiogram's and pydantic's models, a few hundred thousand objects) lives as long as
        # the process: out of the collector's reach, a full collection stops pausing every thread for 100s of ms.
        gc.freeze()
        return self

    def _instrument(self) -> None:
        """Metrics in this System's own registry; what the log holds is counted from its first event (read
        here, before any actor writes), then followed, so the counters equal the log's after a restart too."""
        self.health_clock = self.health_clock or self.clock
        self.started_ms = self.health_clock.now_ms()
        self.metrics = Metrics(self.health_clock)
        self.store.on_append = self.metrics.append_seconds.observe
        self.store.on_commit(self.metrics.append_batch.observe)
        position = 0
        while batch := list(self.store.read_all(position, CATCH_UP_BATCH)):
            self.metrics.on_events(batch)
            position = batch[-1].position
        self.store.subscribe(self.metrics.on_events, position)

    def signal_charts(self) -> SignalCharts:
        """Charts for a console adapter (the Telegram adapter makes its own on its loop): CHART_* settings,
        the feed's candles, failures counted in signalbot_chart_failures_total."""
        return SignalCharts(ChartService.from_settings(self.settings), feed_candles(self.feed),
                            lambda reason: self.metrics.chart_failures.labels(reason).inc())

    def sender(self) -> Any:
        """The Sender delivering the outbox (Telegram's, or the console's), if one runs."""
        return self.bot.sender if self.bot is not None else self.console_sender

    def stop(self) -> None:
        """Ordered, idempotent shutdown."""
        if self._stopped:
            return
        self._stopped = True
        if self.autosignal is not None:  # first: a signal issued now could not be delivered before the exit
            try:
                self.autosignal.ask(BeginShutdown(), timeout=5)
            except Exception as exc:
                log.warning("autosignal did not confirm the shutdown: %r", exc)
        if self.ops is not None:
            self.ops.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self.bot is not None:
            self.bot.stop()  # stops polling first, then gives the Sender its grace for in-flight sends
        if self.feed is not None:
            self.feed.stop(timeout=15)
        if self.analyzer is not None:
            self.analyzer.stop()
        for supervised in (self.autosignal, self.sessions, self.outcomes):  # before stop_all: no restarts
            if supervised is not None:
                supervised.stop(timeout=15)
        pykka.ActorRegistry.stop_all(timeout=15)
        if self.store is not None:
            self.store.close()
        if self.lock is not None:
            self.lock.release()
        log.info("stopped")


def _install_signal_handlers(stop: threading.Event) -> None:
    """First SIGINT/SIGTERM: shut down in order. A second one: exit at once."""

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            os._exit(128 + signum)
        log.info("signal %s: shutting down (send it again to exit at once)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run(settings: Settings, new_log: bool = False, delete_webhook: bool = False) -> int:
    """The live bot: Telegram with a token, the console without one; until a signal (or console EOF)."""
    stop = threading.Event()
    _install_signal_handlers(stop)
    system = System(settings)
    try:
        system.start(telegram=bool(settings.token), new_log=new_log, delete_webhook=delete_webhook)
    except (AlreadyRunning, StartError, TelegramStartError) as exc:
        log.error("%s", exc)
        system.stop()
        return 1
    except Exception:
        log.exception("start-up failed; stopping what had started")
        system.stop()  # pykka threads are not daemons: without this the process would hang
        return 1
    try:
        if settings.token:
            while not stop.wait(0.5):
                pass
        else:
            _run_console(system, stop)
    finally:
        system.stop()
    return 0


def _run_console(system: System, stop: threading.Event) -> None:
    from telegram_adapter.console import run_console

    operator = system.settings.admin_ids[0] if system.settings.admin_ids else 1
    admins = frozenset(system.settings.admin_ids or (operator,))
    print(f"console: you are user {operator} (admin). Type /help; Ctrl-D or Ctrl-C to quit.", file=sys.stderr)

    async def console() -> None:
        task = asyncio.ensure_future(
            run_console(system.sessions, system.store, system.clock, sys.stdin, sys.stdout, operator, admins,
                        system.autosignal, system.signal_charts(), Path(system.settings.db_path).parent)
        )
        while not task.done() and not stop.is_set():
            await asyncio.sleep(0.2)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # Not asyncio.run: its executor shutdown would wait for the thread blocked on stdin.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(console())
    finally:
        loop.close()
