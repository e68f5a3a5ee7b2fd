"""OnLoop: a magic filter's verdict, checked by aiogram on the loop rather than in a thread."""

from __future__ import annotations

import asyncio
import datetime
import threading

from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.types import Chat, Message, Update, User

from telegram_adapter.loop_filter import OnLoop


def _message(text: str) -> Message:
    return Message(message_id=1, date=datetime.datetime.now(datetime.UTC), text=text,
                   chat=Chat(id=7, type="private"), from_user=User(id=7, is_bot=False, first_name="U"))


def test_same_verdict_as_the_magic_filter_and_aiogram_awaits_it():
    only_hi = OnLoop(F.text == "hi")
    assert asyncio.run(only_hi(_message("hi"))) is True
    assert asyncio.run(only_hi(_message("bye"))) is False
    assert FilterObject(only_hi).awaitable


def test_the_dispatcher_checks_it_on_the_loop_thread():
    seen: list[int] = []
    router = Router()

    class Probe(OnLoop):
        async def __call__(self, event: object) -> bool:
            seen.append(threading.get_ident())
            return await super().__call__(event)

    @router.message(Probe(F.text == "hi"))
    async def handle(message: Message) -> str:
        return "handled"

    dispatcher = Dispatcher(disable_fsm=True)
    dispatcher.include_router(router)

    async def feed() -> object:
        bot = Bot("123456:TEST")  # never calls out: the handler only returns
        try:
            return await dispatcher.feed_update(bot, Update(update_id=1, message=_message("hi")))
        finally:
            await bot.session.close()

    assert asyncio.run(feed()) == "handled"
    assert seen == [threading.get_ident()]
