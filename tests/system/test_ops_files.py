"""The Prometheus alert rules and the Grafana dashboard in ops/ use only metrics the bot exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from actors.clock import ManualClock
from actors.messages import FeedCounters, SessionCounters
from app.metrics import Metrics
from domain import events as ev
from telegram_adapter.polling import PollCounters
from tests.fakes.records import Rec

OPS = Path(__file__).resolve().parents[2] / "ops"
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def exported() -> set[str]:
    """Every metric name one System exports once each part has reported."""
    metrics = Metrics(ManualClock(0))
    snapshot = metrics.snapshot
    snapshot.feed, snapshot.analyzer, snapshot.sessions = FeedCounters(), {"cached": 0, "computed": 0}, \
        SessionCounters(0, 0, 0)
    snapshot.outbox_pending, snapshot.log_bytes, snapshot.updates, snapshot.failing = 0, 0, PollCounters(), []
    snapshot.stream_ages = {("BTCUSDT", "15m"): 1.0}
    families = text_string_to_metric_families(generate_latest(metrics.registry).decode())
    return {f"{family.name}{suffix}" for family in families for suffix in SUFFIXES}


def test_alert_rules_and_dashboard_name_only_exported_metrics():
    names = exported()
    assert {"signalbot_signals_issued_total", "signalbot_deliveries_total", "signalbot_events_appended_total",
            "signalbot_append_seconds_bucket", "signalbot_candles_closed_total", "signalbot_telegram_requests_total",
            "signalbot_commands_total", "signalbot_outbox_pending", "signalbot_analysis_seconds_bucket"} <= names
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    queries = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    rules = (OPS / "alerts.yml").read_text()
    assert "rule_files:\n  - alerts.yml" in (OPS / "prometheus.yml").read_text()
    for text in (queries, rules):
        used = set(re.findall(r"signalbot_[a-z0-9_]+", text))
        assert used and used <= names, used - names


def test_the_payment_metrics_and_the_refund_stuck_alert_follow_the_payment_events():
    metrics = Metrics(ManualClock(0))
    flow = [ev.StarsPaymentReceived("ch-1", 50, "XTR", "100cr", "o1"), ev.CreditsGranted(100, "purchase"),
            ev.StarsPaymentReceived("ch-2", 200, "XTR", None, None), ev.RefundRequested("ch-2", 200, "unverified"),
            ev.RefundRequested("ch-1", 50, "admin", 1)]
    settled = [ev.StarsRefunded("ch-1", 50), ev.CreditsRevoked(100, "stars_refund", "ch-1"),
               ev.RefundFailed("ch-2", "CHARGE_NOT_FOUND")]
    value = metrics.registry.get_sample_value

    def log(events: list) -> None:
        metrics.on_events([Rec(n, "user-42", e.type, e.payload()) for n, e in enumerate(events, 1)])

    log(flow)
    assert (value("signalbot_stars_received_total"), value("signalbot_refunds_pending")) == (250, 2)
    log(settled)
    assert (value("signalbot_refunds_pending"), value("signalbot_refunds_failed_total")) == (0, 1)
    assert value("signalbot_credits_granted_total", {"reason": "purchase"}) == 100
    log([ev.RefundRequested("ch-2", 200, "admin", 1)])  # asked again after the failure
    assert value("signalbot_refunds_pending") == 1
    assert "expr: signalbot_refunds_pending > 0" in (OPS / "alerts.yml").read_text()
