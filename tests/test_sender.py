"""The Sender on its own: priorities, per-chat spacing, refusals, driven through real aiogram."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from actors.clock import ManualClock
from domain.events import upcast
from eventstore import EventStore
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
