"""aiogram's answer models stay built across garbage collections once the bot has used them."""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response
from aiogram.types import Message, User

from telegram_adapter.response_types import PinResponseTypes
from tests.fakes.bot_api import FakeBotAPI

pytestmark = pytest.mark.timeout(30)


def test_the_answer_models_used_survive_a_full_collection():
    pin = PinResponseTypes()

    async def main() -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
        session.middleware(pin)
        bot = Bot(fake.token, session=session)
        try:
            await bot.get_me()
            await bot.send_message(42, "hi")
            await bot.send_message(42, "again")
        finally:
            await bot.session.close()

    with FakeBotAPI() as fake:
        asyncio.run(main())
    assert set(pin.pinned) == {User, Message}
    gc.collect()
    assert Response[Message] is pin.pinned[Message]  # the cached model, not one rebuilt after the collection
