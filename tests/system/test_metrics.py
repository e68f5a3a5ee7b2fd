"""/metrics after an end-to-end run agrees with the log; /readyz follows the feed through a stall."""

from __future__ import annotations

import socket
from collections import Counter

import pykka
import pytest

from actors.clock import ManualClock
from actors.messages import BeginShutdown
from app.log_file import StartError
from app.ops_server import OpsServer
from marketsim.background import BackgroundSim
from marketsim.server import MarketSim
from marketsim.sources import synthetic_market
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.live_system import SYMBOLS, get, readiness, scrape, start_system
from tests.fakes.telegram_stack import wait_until

pytestmark = pytest.mark.timeout(120)

USER = 4242
TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcd"
SPEED = 300.0  # a one-minute candle every 0.2 s


@pytest.fixture
def sim():
    market = synthetic_market(list(SYMBOLS), "1m", seed=5, history=400)
    with BackgroundSim(lambda: MarketSim(market, SPEED)) as running:
        yield running
    pykka.ActorRegistry.stop_all()


def settled(system) -> tuple[dict, Counter]:
    """Stop issuing autosignals, let every delivery settle, then (/metrics, event types in the log)."""
    system.autosignal.ask(BeginShutdown(), timeout=5)  # no more signals: the log stops growing
    wait_until(lambda: system.bot.pending_deliveries() == 0, 60, "every delivery settled")
    return scrape(system), Counter(r.type for r in system.store.read_all())


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def assert_agree(metrics: dict, log: Counter) -> None:
    """The counters of what the log holds equal the log."""
    assert value(metrics, "signalbot_signals_issued_total", kind="auto") == log["AutoSignalIssued"] >= 1
    assert value(metrics, "signalbot_signals_issued_total", kind="manual") == log["ManualSignalIssued"]
    assert value(metrics, "signalbot_deliveries_total", result="delivered") == log["SignalDelivered"] >= 1
    assert value(metrics, "signalbot_deliveries_total", result="failed") == log["DeliveryFailed"]
    assert value(metrics, "signalbot_events_appended_total") == sum(log.values())
    assert value(metrics, "signalbot_credits_granted_total", reason="welcome") == 100
    assert value(metrics, "signalbot_outbox_pending") == 0


def test_metrics_agree_with_the_log_after_an_end_to_end_run_and_a_restart(tmp_path, sim):
    with FakeBotAPI(token=TOKEN) as fake:
        system = start_system(tmp_path, sim, fake, AUTOSIGNAL_COOLDOWN_MIN="5")
        try:
            fake.push_text(USER, "/start")
            fake.push_text(USER, "/futures BTC 1m")
            fake.push_text(USER, "/credits")
            fake.push_text(USER, "/futures BTC 2h")  # refused: the metric names the reason
            wait_until(lambda: len(fake.messages_to(USER)) >= 4, 30, "the user's answers")
            wait_until(lambda: any(r.type == "AutoSignalIssued" for r in system.store.read_stream("autosignal")),
                       30, "an autosignal")
            metrics, log = settled(system)
            appends = system.store.stats().appends
        finally:
            system.stop()
        again = start_system(tmp_path, sim, fake)  # a restart counts what the log already holds
        try:
            restarted, log_again = settled(again)
        finally:
            again.stop()

    assert_agree(metrics, log)
    assert_agree(restarted, log_again)
    assert value(metrics, "signalbot_autosignal_decisions_total", outcome="issued") == log["AutoSignalIssued"]
    assert value(metrics, "signalbot_append_seconds_count") == appends
    assert value(metrics, "signalbot_commands_total", command="start", result="served") == 1
    assert value(metrics, "signalbot_commands_total", command="credits", result="served") == 1
    assert value(metrics, "signalbot_commands_total", command="futures", result="bad_timeframe") == 1
    assert value(metrics, "signalbot_telegram_requests_total", method="getMe", result="ok") == 1
    assert sum(value(metrics, "signalbot_telegram_requests_total", method=m, result="ok")
               for m in ("sendMessage", "sendPhoto")) >= 3  # a signal is a photo when its chart is ready
    assert value(metrics, "signalbot_analysis_seconds_count") >= 1
    assert all(value(metrics, "signalbot_candles_closed_total", symbol=s, interval="1m") > 0 for s in SYMBOLS)
    assert not any(str(USER) in v for _, labels in metrics for _, v in labels)  # no user id as a label
    assert value(metrics, "signalbot_sessions_live") >= 1 and value(metrics, "signalbot_log_size_bytes") > 0


def test_readyz_names_a_stalled_feed_and_recovers_in_webhook_mode(tmp_path, sim):
    clock = ManualClock(1_000_000)  # the wall clock /readyz measures freshness on, moved by hand
    with FakeBotAPI(token=TOKEN) as fake:
        system = start_system(tmp_path, sim, fake, health_clock=clock, TELEGRAM_MODE="webhook",
                              WEBHOOK_URL="http://127.0.0.1/hook", WEBHOOK_LISTEN="127.0.0.1:0", WEBHOOK_SECRET="s")
        try:
            fake.webhook["url"] = f"http://127.0.0.1:{system.bot.webhook.port}/hook"  # the port it got
            fake.push_text(USER, "/start")
            wait_until(lambda: fake.messages_to(USER), 15, "the welcome, through the webhook")
            assert not fake.calls_of("getUpdates") and get(system, "/healthz")[0] == 200
            wait_until(lambda: readiness(system)[0] == 200, 30, "ready once candles flow")
            sim.outage(2.0)  # the simulator drops and refuses everything for a while

            def stale() -> bool:
                clock.advance(2 * 60_000 + 1_000)  # past two 1m intervals since the last candle
                return readiness(system)[0] == 503

            wait_until(stale, 10, "503 while no candle arrives")
            assert readiness(system)[1] == {"ready": False, "failing": ["feed"]}
            ready = {labels: v for (name, labels), v in scrape(system).items() if name == "signalbot_ready"}
            assert ready == {(("check", "feed"),): 0, (("check", "log"),): 1, (("check", "telegram"),): 1}
            wait_until(lambda: readiness(system)[0] == 200, 60, "ready again once candles resume")
            assert readiness(system)[1] == {"ready": True}
        finally:
            system.stop()


def test_a_metrics_address_in_use_is_one_line_naming_the_setting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match=f"^METRICS_ADDR 127.0.0.1:{port} cannot be listened on"):
            OpsServer("127.0.0.1", port, system=None).start()
