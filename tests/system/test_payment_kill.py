"""kill -9 the real bot right after a payment is granted and between a RefundRequested and its call.

`main.py run` with PAYMENT_SECRET against the market simulator and the fake Bot API: the payment
Telegram delivers again after the restart is not granted twice, the refund requested before the kill
is called after the restart and settled once, and the log verifies after each kill.
"""

from __future__ import annotations

import os

import pytest

from app import ops
from domain.payments import Order, PaymentSecret
from tests.fakes.bot_api import FakeBotAPI
from tests.system.test_crash_recovery import ADMIN, SYMBOLS, TOKEN, bots, simulator, wait_until  # noqa: F401

SECRET = "kill-test-secret-0123456789"
USER = 201

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def types(db, user: int) -> list[str]:
    with ops.open_log(db) as store:
        return [r.type for r in store.read_stream(f"user-{user}")]


def verified(db) -> None:
    with ops.open_log(db) as store:
        ok, lines = ops.verify(store)
    assert ok, "; ".join(lines)


def test_kill9_after_a_grant_and_before_a_refund_call(tmp_path, simulator, bots):  # noqa: F811
    db = tmp_path / "events.db"
    payload = PaymentSecret(SECRET).sign(Order(USER, "500cr", 200, "0a1"))
    with FakeBotAPI(token=TOKEN) as telegram:
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": telegram.base_url,
               "ADMIN_IDS": str(ADMIN), "DB_PATH": str(db), "BINANCE_WS_URL": simulator["ws"],
               "BINANCE_REST_URL": simulator["rest"], "WATCHLIST": ",".join(SYMBOLS), "ANALYZER_WORKERS": "1",
               "AUTOSIGNAL_INTERVAL": "1h", "AUTOSIGNAL_ENABLED": "false", "LOG_LEVEL": "WARNING",
               "PAYMENT_SECRET": SECRET}
        bot = bots(env, tmp_path / "bot.log")
        bot.start(telegram)
        for user in (USER, ADMIN):
            telegram.push_text(user, "/start")
        telegram.push_payment(USER, payload, 200, "ch-k1")
        wait_until(lambda: "CreditsGranted" in types(db, USER)[2:], 60, "the grant")
        bot.kill()  # right after the append: the receipt may not have gone out
        verified(db)
        bot.start(telegram)
        telegram.push_payment(USER, payload, 200, "ch-k1")  # Telegram delivers it again
        wait_until(lambda: any("Balance: 600" in m for m in telegram.messages_to(USER)), 60, "the receipt")
        assert types(db, USER).count("StarsPaymentReceived") == 1
        telegram.refund_faults.extend(["500"] * 4)  # the call is retried with backoff: the kill lands first
        telegram.push_text(ADMIN, f"/refund {USER} ch-k1")
        wait_until(lambda: "RefundRequested" in types(db, USER), 60, "the RefundRequested")
        bot.kill()
        verified(db)
        assert not telegram.refunded
        telegram.refund_faults.clear()
        bot.start(telegram)
        wait_until(lambda: "StarsRefunded" in types(db, USER), 60, "the resumed refund")
        assert telegram.refunded == ["ch-k1"] and types(db, USER).count("StarsRefunded") == 1
        assert bot.terminate() == 0
    verified(db)
    with ops.open_log(db) as store:
        revoked = [r.data for r in store.read_stream(f"user-{USER}") if r.type == "CreditsRevoked"]
    assert revoked == [{"amount": 500, "reason": "stars_refund", "charge_id": "ch-k1", "unrecovered": 0}]
    assert SECRET not in (tmp_path / "bot.log").read_text() and TOKEN not in (tmp_path / "bot.log").read_text()
