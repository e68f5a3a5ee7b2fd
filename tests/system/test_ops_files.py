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
from telegram_adapter.polling import PollCounters

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
