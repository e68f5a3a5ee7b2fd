"""The Sender on its own: priorities, per-chat spacing, refusals, driven through real aiogram."""

from __future__ import annotations

import asyncio

import aiogram.exceptions
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from actors.clock import ManualClock
from domain import invariants
from domain.events import upcast
from domain.outbox import fold
from eventstore import EventStore, NewEvent
from telegram_adapter import send_errors
from telegram_adapter.sender import BotTransport, Sender
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.session_stack import T0, Stack
from tests.fakes.telegram_stack import SIGNAL, broadcast, outcomes

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def fake():
    server = FakeBotAPI(per_chat_burst=1.0).start()
    yield server
    server.stop()


@pytest.fixture
def stack(tmp_path):
    clock = ManualClock(T0)
    store = EventStore.open(tmp_path / "events.db", upcast=upcast, clock=clock.now_ms)
    yield Stack(store, clock, sessions=None)
    store.close()


def drive(fake: FakeBotAPI, stack: Stack, before, after, done, **options) -> None:
    """Run a Sender until `done()`: `before` runs before it starts, `after(sender)` right after."""

    async def main():
        bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
        sender = Sender(BotTransport(bot), stack.store, stack.clock, **options)
        before()
        await sender.start()
        after(sender)
        try:
            async with asyncio.timeout(20):
                while not (done() and sender.idle() and not sender.pending_count()):
                    await asyncio.sleep(0.02)
        finally:
            await sender.stop()
            await bot.session.close()

    asyncio.run(main())


def test_replies_go_before_broadcasts(fake, stack):
    chats = list(range(10, 18))

    def replies(sender):
        for chat in (101, 102, 103):
            sender.reply(chat, f"reply to {chat}")

    drive(fake, stack, lambda: broadcast(stack, SIGNAL, chats), replies, lambda: len(fake.sent) == 11,
          rate=5.0, concurrency=1)
    assert [m["chat_id"] for m in fake.sent[:3]] == [101, 102, 103]
    assert [m["chat_id"] for m in fake.sent[3:]] == chats


def test_one_chat_gets_at_most_one_message_a_second(fake, stack):
    drive(fake, stack, lambda: None, lambda sender: [sender.reply(7, f"m{i}") for i in range(4)],
          lambda: len(fake.sent) == 4)
    assert fake.messages_to(7) == ["m0", "m1", "m2", "m3"]
    assert [c.status for c in fake.calls_of("sendMessage")] == [200] * 4  # the fake allows no burst here


def test_a_group_gets_its_own_slower_pace(stack):
    with FakeBotAPI(per_group_rate=4.0, per_group_burst=1.0) as strict:
        drive(strict, stack, lambda: None, lambda sender: [sender.reply(-7, f"g{i}") for i in range(4)],
              lambda: len(strict.sent) == 4, per_group_interval=0.25)
        assert strict.messages_to(-7) == ["g0", "g1", "g2", "g3"]
        assert [c.status for c in strict.calls_of("sendMessage")] == [200] * 4
    assert Sender(None, stack.store, stack.clock).per_group_interval >= 60 / 20  # Telegram: ~20 a minute a group


def test_refusals_are_recorded_once_and_long_signals_are_split(fake, stack):
    fake.missing_chats.add(21)
    long_signal = {**SIGNAL, "reasons": [f"reason {i} " + "z" * 90 for i in range(60)]}
    ids = {}

    def log_signals():
        ids["bad"] = broadcast(stack, SIGNAL, [21, 22])
        ids["long"] = broadcast(stack, {**long_signal, "side": "SHORT"}, [23])

    drive(fake, stack, log_signals, lambda sender: None, lambda: len(fake.sent) >= 3)
    seen = outcomes(stack)
    assert seen[(ids["bad"], 21)] == ["DeliveryAttempted", "DeliveryFailed:bad_request"]
    failed = next(r for r in stack.store.read_stream("outbox") if r.type == "DeliveryFailed")
    assert failed.data["detail"] == "Bad Request: chat not found"
    assert seen[(ids["bad"], 22)] == ["DeliveryAttempted", "SignalDelivered"]
    assert seen[(ids["long"], 23)] == ["DeliveryAttempted", "SignalDelivered"]
    pieces = fake.messages_to(23)
    assert len(pieces) == 2 and all(len(p) <= 4096 for p in pieces) and pieces[1].endswith("own risk.</i>")


def test_a_group_upgraded_to_a_supergroup_is_re_addressed_once_then_settled(fake, stack):
    fake.migrated.update({-100: -1001, -200: -300, -300: -400})  # -200 moves twice: followed only once
    ids = {}
    drive(fake, stack, lambda: ids.setdefault("sig", broadcast(stack, SIGNAL, [-100, -200])), lambda sender: None,
          lambda: len(outcomes(stack)) == 4 and all(len(v) == 2 for v in outcomes(stack).values()))
    seen = outcomes(stack)
    assert seen[(ids["sig"], -100)] == ["DeliveryAttempted", "DeliveryRedirected"]
    assert seen[(ids["sig"], -1001)] == ["DeliveryAttempted", "SignalDelivered"]
    assert seen[(ids["sig"], -200)] == ["DeliveryAttempted", "DeliveryRedirected"]
    assert seen[(ids["sig"], -300)] == ["DeliveryAttempted", "DeliveryFailed:migrated"]
    assert fake.messages_to(-1001) and not fake.messages_to(-400)
    assert not fold(stack.store.read_all()).pending and invariants.check(stack.store.read_all()).ok


class Exploding:
    """A transport whose every send raises something no one anticipated."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        self.calls += 1
        raise ValueError("something unforeseen")


def test_an_unknown_error_is_retried_a_bounded_number_of_times_then_failed_with_a_reason(stack):
    transport = Exploding()
    signal_id = broadcast(stack, SIGNAL, [31])

    async def main():
        sender = Sender(transport, stack.store, stack.clock, max_attempts=3, max_backoff=0.01, per_chat_interval=0)
        await sender.start()
        sender.reply(32, "a reply that cannot be sent")
        try:
            async with asyncio.timeout(10):
                while not (sender.idle() and not sender.pending_count()):
                    await asyncio.sleep(0.02)
        finally:
            await sender.stop()

    asyncio.run(main())
    assert transport.calls == 6  # 3 tries for the signal, 3 for the reply, then nothing more
    assert outcomes(stack)[(signal_id, 31)] == ["DeliveryAttempted"] * 3 + ["DeliveryFailed:error"]
    failed = next(r for r in stack.store.read_stream("outbox") if r.type == "DeliveryFailed")
    assert failed.data["detail"] == "ValueError: something unforeseen"


def _instance(cls: type) -> BaseException:
    exc = cls.__new__(cls)
    exc.message, exc.retry_after, exc.migrate_to_chat_id = "Bad Request: m", 1, -1009
    return exc


DECIDED = {
    "TelegramRetryAfter": send_errors.Retry(1.0, "rate_limited"),
    "TelegramMigrateToChat": send_errors.Readdress(-1009),
    "TelegramForbiddenError": send_errors.Blocked(),
    **dict.fromkeys(["TelegramBadRequest", "TelegramNotFound", "TelegramConflictError", "TelegramEntityTooLarge"],
                    send_errors.Fail("bad_request", "Bad Request: m")),
    **dict.fromkeys(["TelegramUnauthorizedError", "TelegramServerError", "RestartingTelegram",
                     "TelegramNetworkError", "ClientDecodeError"], send_errors.Retry(None, "unreachable")),
    **dict.fromkeys(["AiogramError", "DetailedAiogramError", "TelegramAPIError", "CallbackAnswerException",
                     "SceneException", "UnsupportedKeywordArgument", "DataNotDictLikeError"],
                    send_errors.Retry(None, "error")),
}


def test_every_error_class_aiogram_can_raise_has_a_decided_outcome():
    classes = {name: cls for name, cls in vars(aiogram.exceptions).items()
               if isinstance(cls, type) and issubclass(cls, Exception)}
    assert set(classes) == set(DECIDED), "a new aiogram error class needs a decided outcome in send_errors"
    for name, cls in classes.items():
        assert send_errors.outcome(_instance(cls)) == DECIDED[name], name
    assert send_errors.outcome(ConnectionResetError()) == send_errors.Retry(None, "unreachable")


def test_an_error_quoting_the_request_url_is_described_without_the_token():
    exc = OSError("500, url='http://127.0.0.1:81/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage'")
    assert "AAHdq" not in send_errors.describe(exc) and "bot***/sendMessage" in send_errors.describe(exc)


def test_a_followup_is_sent_once_and_a_stale_one_expires(fake, stack):
    """Follow-ups f:<trade>:<status> are owed from the log like signals, and fail as expired when older
    than the signal's interval (15m here) by the time the Sender gets to them."""
    def log_outcomes():
        sid = broadcast(stack, SIGNAL, [31])
        append = stack.store.append
        append("outbox", 0, [NewEvent("DeliveryAttempted", {"signal_id": sid, "chat_id": 31}),
                             NewEvent("SignalDelivered", {"signal_id": sid, "chat_id": 31, "message_id": 1})])
        ids["signal"] = sid
        stack.clock.advance(60_000)
        append("outcomes", 0, [NewEvent("SignalEntered", {"signal_id": sid, "price": 3567.0, "open_time": 1}),
                               NewEvent("TargetHit", {"signal_id": sid, "target": "tp1", "price": 3600.0,
                                                      "open_time": 1})])
        stack.clock.advance(20 * 60_000)  # the TP1 line is stale now
        append("outcomes", 2, [NewEvent("TargetHit", {"signal_id": sid, "target": "tp2", "price": 3650.0,
                                                      "open_time": 2}),
                               NewEvent("SignalClosed", {"signal_id": sid, "result_r": 2.3, "result_pct": 1.6,
                                                         "reason": "tp2", "bars": 2})])

    ids: dict[str, str] = {}
    drive(fake, stack, log_outcomes, lambda sender: None,
          lambda: sum(r.type in ("SignalDelivered", "DeliveryFailed") for r in stack.store.read_stream("outbox")) == 3)
    seen = outcomes(stack)
    assert seen[(f"f:{ids['signal']}:tp1", 31)] == ["DeliveryFailed:expired"]
    assert seen[(f"f:{ids['signal']}:tp2", 31)] == ["DeliveryAttempted", "SignalDelivered"]
    assert fake.messages_to(31) == ["<b>ETHUSDT 15m LONG</b> (candle Nov 27, 2024 13:00 UTC): "
                                    "TP2 hit, closed at +2.30R"]
