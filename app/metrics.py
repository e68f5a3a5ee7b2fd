"""The process's Prometheus metrics, in one CollectorRegistry per System (tests run several in one process).

What the log holds is counted from the log (read from its first event at start, then followed), so
`/metrics` and the log agree, across restarts too; latencies are observed where they happen (appends,
analyses, Telegram calls, commands); the feed, analyzer, sessions and Sender keep their own counters,
which `Snapshot` exposes as read at scrape time. No label carries a user id: labels are event kinds,
reasons, command names, Telegram methods and watched streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.clock import Clock
from actors.messages import CandleClosed, Decision, FeedCounters, SessionCounters
from eventstore import Recorded
from telegram_adapter.polling import PollCounters

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
RETRY_AFTER_BUCKETS = (1, 2, 5, 10, 30, 60, 300, 3600)
DELIVERY = {"SignalDelivered": "delivered", "DeliveryFailed": "failed"}
ISSUED = {"AutoSignalIssued": "auto", "ManualSignalIssued": "manual"}
READINESS_CHECKS = ("log", "feed", "telegram")
DECISIONS = {"issued": "issued", "no_setup": "no_setup", "low_confidence": "low_confidence",
             "uncalibrated": "low_confidence", "cooldown": "cooldown", "disabled": "disabled", "policy_off": "disabled",
             "already_decided": "repeat", "repeated_setup": "repeat", "previous_bar": "repeat"}  # else failed


class Metrics:
    """Every metric object of one bot process, registered in its own `registry`."""

    def __init__(self, clock: Clock) -> None:
        """`clock`: the wall clock the feed's freshness is measured on."""
        r = self.registry = CollectorRegistry()
        # from the log
        self.events_appended = Counter("signalbot_events_appended",
                                       "Events in the log (counted at start, then as committed)", registry=r)
        self.signals_issued = Counter("signalbot_signals_issued", "Signals issued", ["kind"], registry=r)
        self.deliveries = Counter("signalbot_deliveries", "Deliveries settled", ["result"], registry=r)
        self.delivery_failures = Counter("signalbot_delivery_failures", "Failed deliveries by reason", ["reason"],
                                         registry=r)
        self.delivery_attempts = Counter("signalbot_delivery_attempts", "Delivery attempts recorded", registry=r)
        self.credits_granted = Counter("signalbot_credits_granted", "Credits granted", ["reason"], registry=r)
        self.credits_spent = Counter("signalbot_credits_spent", "Credits charged", ["reason"], registry=r)
        self.signals_closed = Counter("signalbot_signals_closed", "Signal outcomes closed", ["reason"], registry=r)
        self.result_r = Gauge("signalbot_outcome_average_r", "Running average result of closed signals, in R",
                              registry=r)
        self.stars_received = Counter("signalbot_stars_received", "Telegram Stars received", registry=r)
        self.refunds_pending = Gauge("signalbot_refunds_pending", "Stars refunds requested and not settled",
                                     registry=r)
        self.refunds_failed = Counter("signalbot_refunds_failed", "Stars refunds that failed", registry=r)
        # observed where they happen
        self.append_seconds = Histogram("signalbot_append_seconds", "Time for an append to commit, seconds",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.append_batch = Histogram("signalbot_append_batch_size", "Appends committed per transaction",
                                      buckets=BATCH_BUCKETS, registry=r)
        self.analysis_seconds = Histogram("signalbot_analysis_seconds", "Time to compute one analysis, seconds",
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.telegram_requests = Counter("signalbot_telegram_requests", "Bot API calls", ["method", "result"],
                                         registry=r)
        self.telegram_retry_after = Histogram("signalbot_telegram_retry_after_seconds",
                                              "retry_after of Telegram's 429 answers, seconds",
                                              buckets=RETRY_AFTER_BUCKETS, registry=r)
        self.autosignal_decisions = Counter("signalbot_autosignal_decisions", "Autosignal decisions per closed candle",
                                            ["outcome"], registry=r)
        self.commands = Counter("signalbot_commands", "Chat commands handled", ["command", "result"], registry=r)
        self.chart_failures = Counter("signalbot_chart_failures", "Signals and /chart answers sent without their "
                                      "chart, by reason (no_candles, render, late)", ["reason"], registry=r)
        self.candles = CandleMeter(self.registry, clock)
        self.snapshot = Snapshot()
        r.register(self.snapshot)
        self._r_sum, self._r_count = 0.0, 0  # closed signals' R, for the running average

    def command(self, name: str, result: str) -> None:
        """One chat command handled (an adapter's `on_command`, Telegram's or the console's)."""
        self.commands.labels(name, result).inc()

    def on_events(self, records: list[Recorded]) -> None:
        """A log subscription's callback (the journal's thread): count and return at once."""
        for record in records:
            self.events_appended.inc()
            self._count(record.type, record.data)

    def _count(self, kind: str, data: dict[str, Any]) -> None:
        if kind in ISSUED:
            self.signals_issued.labels(ISSUED[kind]).inc()
        if kind in DELIVERY:
            self.deliveries.labels(DELIVERY[kind]).inc()
        match kind:
            case "ManualSignalIssued" if data.get("cost"):
                self.credits_spent.labels("signal").inc(data["cost"])
            case "DeliveryFailed":
                self.delivery_failures.labels(str(data.get("reason"))).inc()
            case "DeliveryAttempted":
                self.delivery_attempts.inc()
            case "CreditsGranted":
                self.credits_granted.labels(str(data.get("reason"))).inc(data.get("amount", 0))
            case "CreditsRevoked":
                self.credits_spent.labels(str(data.get("reason"))).inc(data.get("amount", 0))
            case "SignalClosed":
                self._closed(str(data.get("reason")), float(data.get("result_r", 0.0)))
            case "StarsPaymentReceived":
                self.stars_received.inc(data.get("amount", 0))
            case "RefundRequested":
                self.refunds_pending.inc()
            case "StarsRefunded":
                self.refunds_pending.dec()
            case "RefundFailed":
                self.refunds_pending.dec()
                self.refunds_failed.inc()

    def _closed(self, reason: str, result_r: float) -> None:
        self.signals_closed.labels(reason).inc()
        self._r_sum += result_r
        self._r_count += 1
        self.result_r.set(self._r_sum / self._r_count)

    def autosignal_decided(self, symbol: str, open_time: int | None, outcome: Decision) -> None:
        """AutoSignal's `on_decided` hook (its thread): the decision's code reduced to a bounded label."""
        self.autosignal_decisions.labels(decision_label(outcome)).inc()

    def telegram_call(self, method: str, result: str, retry_after: float | None = None) -> None:
        """One Bot API call: `result` is ok, rate_limited or an error class (bounded)."""
        self.telegram_requests.labels(method, result).inc()
        if retry_after is not None:
            self.telegram_retry_after.observe(retry_after)


def decision_label(outcome: Decision) -> str:
    """issued, no_setup, low_confidence, cooldown, disabled, repeat or failed."""
    return DECISIONS.get(outcome.code, "failed")


class CandleMeter:
    """Receives the feed's `CandleClosed` for the watched streams (a `tell`, on the feed's loop): counts them
    per stream and remembers when (wall clock) each stream last delivered one."""

    def __init__(self, registry: CollectorRegistry, clock: Clock) -> None:
        self.closed = Counter("signalbot_candles_closed", "Closed candles received", ["symbol", "interval"],
                              registry=registry)
        self.last_ms: dict[tuple[str, str], int] = {}
        self.now_ms = clock.now_ms

    def tell(self, message: Any) -> None:
        if isinstance(message, CandleClosed):
            self.closed.labels(message.symbol, message.interval).inc()
            self.last_ms[(message.symbol, message.interval)] = self.now_ms()


@dataclass(eq=False)  # hashable by identity: the registry keys collectors
class Snapshot(Collector):
    """Counters the parts keep themselves, as last read (by `app.ops_server`) just before a scrape."""

    feed: FeedCounters | None = None
    analyzer: dict[str, int] | None = None
    sessions: SessionCounters | None = None
    outbox_pending: int | None = None
    oldest_pending_s: float | None = None
    log_bytes: int | None = None
    updates: PollCounters | None = None
    failing: list[str] | None = None  # the readiness checks failing (app.ops_server)
    stream_ages: dict[tuple[str, str], float] = field(default_factory=dict)

    def collect(self) -> Iterable[Metric]:
        if self.failing is not None:
            ready = GaugeMetricFamily("signalbot_ready", "1 while a readiness check passes (as /readyz)",
                                      labels=["check"])
            for check in READINESS_CHECKS:
                ready.add_metric([check], 0 if check in self.failing else 1)
            yield ready
        yield from self._feed()
        if self.analyzer is not None:
            yield _counter("signalbot_analysis_cache_hits", "Analyses served from the cache", self.analyzer["cached"])
            yield _counter("signalbot_analyses_computed", "Analyses computed", self.analyzer["computed"])
        if self.sessions is not None:
            yield _gauge("signalbot_sessions_live", "User sessions live", self.sessions.live)
        if self.outbox_pending is not None:
            yield _gauge("signalbot_outbox_pending", "Deliveries owed and not settled", self.outbox_pending)
            yield _gauge("signalbot_outbox_oldest_pending_seconds", "Age of the oldest owed delivery, seconds",
                         self.oldest_pending_s or 0.0)
        if self.updates is not None:
            yield _counter("signalbot_updates_received", "Telegram updates received", self.updates.received)
            skipped = CounterMetricFamily("signalbot_updates_skipped", "Updates skipped", labels=["why"])
            skipped.add_metric(["unparsable"], self.updates.unparsable)
            skipped.add_metric(["failed"], self.updates.failed)
            yield skipped
            yield _counter("signalbot_webhook_refused", "Webhook requests without the secret token",
                           self.updates.refused)
        if self.log_bytes is not None:
            yield _gauge("signalbot_log_size_bytes", "Event log size on disk (with its WAL), bytes", self.log_bytes)

    def _feed(self) -> Iterator[Metric]:
        ages = GaugeMetricFamily("signalbot_feed_seconds_since_closed_candle",
                                 "Seconds since each watched stream delivered a closed candle", labels=["symbol",
                                                                                                         "interval"])
        for (symbol, interval), age in sorted(self.stream_ages.items()):
            ages.add_metric([symbol, interval], age)
        yield ages
        c = self.feed
        if c is None:
            return
        yield _counter("signalbot_feed_reconnects", "WebSocket reconnects", c.reconnects)
        yield _counter("signalbot_feed_backfilled_candles", "Candles backfilled over REST", c.backfilled)
        yield _counter("signalbot_feed_rest_rate_limited", "REST answers 429 or 418 waited out", c.rate_limited)
        yield _counter("signalbot_feed_watchdog_trips", "Silent or stale connections replaced", c.watchdog_trips)
        yield _gauge("signalbot_feed_location_restricted", "1 once Binance answered HTTP 451", 1 if c.fatal else 0)
        yield _gauge("signalbot_feed_connections", "WebSocket connections open", c.connections)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
