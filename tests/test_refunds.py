"""A paid manual signal that is not delivered is refunded once: through real aiogram and the fake
Bot API (403, 400, expiry), across a crash between the failure and the refund, and in `verify`."""

from __future__ import annotations

from typing import Any

import pytest

from app import ops
from domain import invariants, ledger
from domain import user as rules
from domain.events import CreditsGranted
from eventstore import NewEvent
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.market import load_market
from tests.fakes.records import Rec
from tests.fakes.session_stack import Stack, start_stack, stop_stack
from tests.fakes.telegram_stack import outcomes, start_bot, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def market():
    return load_market(klines_dir())


def amounts(stack: Stack, user: int) -> list[int]:
    return [e.amount for e in ledger.entries(stack.store.read_stream(f"user-{user}"))]


def refunds(stack: Stack, user: int) -> list[dict[str, Any]]:
    return [r.data for r in stack.store.read_stream(f"user-{user}")
            if r.type == "CreditsGranted" and r.data["reason"] == "refund"]


def refunded(stack: Stack, user: int) -> list[dict[str, Any]]:
    return wait_until(lambda: refunds(stack, user), what=f"the refund of user {user}")


def test_blocked_and_refused_deliveries_are_refunded(tmp_path, market):
    fake = FakeBotAPI(per_chat_rate=5.0).start()
    stack = start_stack(tmp_path, market)
    bot = start_bot(stack, fake)
    try:
        for user in (42, 43):
            fake.push_text(user, "/start")
        wait_until(lambda: fake.messages_to(42) and fake.messages_to(43), what="two welcomes")
        fake.blocked.add(42)  # 403: the user blocked the bot
        fake.missing_chats.add(43)  # 400: chat not found
        for user in (42, 43):
            fake.push_text(user, "/futures btc 1h")
        for user, reason in ((42, "blocked"), (43, "bad_request")):
            [refund] = refunded(stack, user)
            assert refund == {"amount": 20, "reason": "refund", "by": None, "at": None,
                              "signal_id": refund["signal_id"], "charge_id": None}
            assert outcomes(stack)[(refund["signal_id"], user)] == ["DeliveryAttempted", f"DeliveryFailed:{reason}"]
            assert amounts(stack, user) == [100, -20, 20]
            assert stack.info(user).state["credits"] == 100
        fake.missing_chats.discard(43)
        fake.push_text(43, "/history")
        history = wait_until(lambda: fake.messages_to(43)[1:], what="the history")[0]
        assert "BTCUSDT 1h" in history and "-20 credits" in history and "refunded · +20 credits" in history
        book = ops.audit(stack.store, 42)["users"][0]
        assert [(e["amount"], e["reason"]) for e in book["entries"]][1:] == [(-20, "BTCUSDT 1h LONG"), (20, "refund")]
        assert book["balance"] == 100 and book["entries"][2]["signal_id"] == book["entries"][1]["signal_id"]
        ok, lines = ops.verify(stack.store)
        assert ok and "refunds of failed paid signals: 2, owed: 0" in lines
    finally:
        bot.stop()
        stop_stack(stack)
        fake.stop()


def test_expired_and_crash_owed_refunds_are_written_once_at_start(tmp_path, market):
    fake = FakeBotAPI(per_chat_rate=5.0).start()
    stack = start_stack(tmp_path, market)
    try:
        for user in (50, 51):
            stack.send(user, "/start")
        expired = stack.send(50, "/analyze BTC").signal_id  # no Sender runs: it waits past its 1h interval
        stack.clock.advance(2 * 3_600_000)
        crashed = stack.send(51, "/analyze ETH").signal_id
        failed = {"signal_id": crashed, "chat_id": 51, "reason": "blocked", "detail": None}
        stack.store.append("outbox", 0, [NewEvent("DeliveryFailed", failed, {"schema": 1})])  # then the crash
        assert ops.verify(stack.store)[0]  # a refund owed is not a violation: the next start writes it
        assert invariants.check(stack.store.read_all()).refunds_owed == 1
        for _ in range(2):  # starting twice writes each refund once
            bot = start_bot(stack, fake)
            assert [r["signal_id"] for r in refunded(stack, 50)] == [expired]
            assert [r["signal_id"] for r in refunded(stack, 51)] == [crashed]
            bot.stop()
        assert outcomes(stack)[(expired, 50)] == ["DeliveryFailed:expired"] and not fake.messages_to(50)
        assert amounts(stack, 50) == amounts(stack, 51) == [100, -20, 20]
        report = invariants.check(stack.store.read_all())
        assert report.ok and (report.refunded, report.refunds_owed) == (2, 0)
    finally:
        stop_stack(stack)
        fake.stop()


def test_the_decider_refunds_a_signal_once_and_only_the_users_own():
    state = rules.UserState(42, registered=True, credits=80)
    out = rules.decide(state, rules.Refund("m:42:7", 20), 0)
    assert out == [CreditsGranted(20, "refund", signal_id="m:42:7")]
    state = rules.evolve(state, out[0])
    assert state.credits == 100 and rules.decide(state, rules.Refund("m:42:7", 20), 0) == []
    assert isinstance(rules.decide(state, rules.Refund("m:43:7", 20), 0), rules.Rejection)
    assert rules.UserState.from_dict(state.to_dict()) == state


def _log(*tail: tuple[str, str, dict[str, Any]]) -> list[Rec]:
    head = [("user-7", "CreditsGranted", {"amount": 100, "reason": "welcome"}),
            ("user-7", "ManualSignalIssued", {"signal_id": "m:7:1", "update_id": 1, "cost": 20, "signal": {}}),
            ("user-7", "ManualSignalIssued", {"signal_id": "m:7:2", "update_id": 2, "cost": 20, "signal": {}}),
            ("outbox", "DeliveryFailed", {"signal_id": "m:7:1", "chat_id": 7, "reason": "blocked"}),
            ("outbox", "SignalDelivered", {"signal_id": "m:7:2", "chat_id": 7, "message_id": 1})]
    return [Rec(i, stream, kind, data) for i, (stream, kind, data) in enumerate([*head, *tail], start=1)]


def _refund(signal_id: str, amount: int = 20) -> tuple[str, str, dict[str, Any]]:
    return ("user-7", "CreditsGranted", {"amount": amount, "reason": "refund", "signal_id": signal_id})


@pytest.mark.parametrize("tail, violation, owed", [
    ([], None, 1),
    ([_refund("m:7:1")], None, 0),
    ([_refund("m:7:1"), _refund("m:7:1")], "m:7:1 refunded a second time", 0),
    ([_refund("m:7:2")], "refund of m:7:2 for user 7 without a failed paid delivery", 1),
    ([_refund("m:7:1", 60)], "refund of m:7:1 is 60 to user 7, the charge was 20 to user 7", 1),
])
def test_verify_wants_one_refund_per_failed_paid_signal_and_no_other(tail, violation, owed):
    report = invariants.check(_log(*tail))
    assert report.violation == violation and report.ok is (violation is None)
    assert report.refunds_owed == owed
