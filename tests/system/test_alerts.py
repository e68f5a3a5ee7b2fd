"""Operator alerts reach the admins in Telegram (through the real bot and Sender), rate-limited."""

from __future__ import annotations

import logging
import time

import pykka
import pytest

from actors.clock import SystemClock
from actors.market_feed import MarketFeed
from app.alerts import Alerts
from app.logs import PlainConflict, RedactingFormatter
from eventstore import EventStore
from marketdata.feed_config import FeedConfig
from marketsim.background import BackgroundSim
from marketsim.server import MarketSim
from marketsim.sources import synthetic_market
from telegram_adapter.bot import TelegramBot, TelegramConfig
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcd"
ADMIN = 77


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(90)
def test_fatal_451_is_told_to_the_admins_once(tmp_path):
    market = synthetic_market(["BTCUSDT"], "1m", seed=3, history=300)
    clock = SystemClock()
    with BackgroundSim(lambda: MarketSim(market, 60.0)) as sim, FakeBotAPI(token=TOKEN) as telegram, \
            EventStore.open(tmp_path / "events.db") as store:
        feed = MarketFeed.start(FeedConfig(ws_url=sim.urls["ws"], rest_url=sim.urls["rest"], watchlist=("BTCUSDT",),
                                           intervals=("1m",), backoff_base_s=0.05, backoff_cap_s=0.2), clock)
        bot = TelegramBot(TelegramConfig(TOKEN, telegram.base_url, frozenset({ADMIN})), None, store, clock).start()
        alerts = Alerts(feed, bot, (ADMIN,), "1m", clock, every_s=0.1, quiet_s=600).start()
        try:
            sim.restrict_location()
            sim.drop_connections()  # the reconnect's backfill meets the 451
            assert wait_for(lambda: any("market feed stopped" in m for m in telegram.messages_to(ADMIN)))
            time.sleep(0.5)  # several more checks: still one message
            stopped = [m for m in telegram.messages_to(ADMIN) if "market feed stopped" in m]
            assert len(stopped) == 1 and "451" in stopped[0]
        finally:
            alerts.stop()
            bot.stop()
            pykka.ActorRegistry.stop_all()


def test_a_telegram_409_is_reported_plainly_and_tokens_never_logged():
    record = logging.LogRecord("aiogram.dispatcher", logging.ERROR, __file__, 1, "Failed to fetch updates - %s: %s",
                               ("TelegramConflictError", "Conflict: terminated by other getUpdates request"), None)
    assert PlainConflict().filter(record)
    text = RedactingFormatter((TOKEN,)).format(record)
    assert "another process is polling this bot" in text and "ERROR aiogram.dispatcher" in text
    leak = logging.LogRecord("x", logging.INFO, __file__, 1, "url https://api/bot%s/getMe and 987654:%s",
                             (TOKEN, "Z" * 30), None)
    formatted = RedactingFormatter((TOKEN,)).format(leak)
    assert TOKEN not in formatted and "Z" * 30 not in formatted and formatted.count("***") == 2
