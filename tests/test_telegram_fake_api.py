"""The fake Bot API server behaves like Telegram where the bot depends on it (driven by real aiogram)."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import BotCommand, BufferedInputFile

from tests.fakes.bot_api import FakeBotAPI, html_error

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def fake():
    server = FakeBotAPI().start()
    yield server
    server.stop()


def run(fake: FakeBotAPI, scenario, token: str | None = None):
    async def main():
        bot = Bot(token or fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
        try:
            return await scenario(bot)
        finally:
            await bot.session.close()

    return asyncio.run(main())


def test_31st_message_within_a_second_gets_429(fake):
    async def scenario(bot):
        return await asyncio.gather(*(bot.send_message(chat, "hi") for chat in range(1, 32)),
                                    return_exceptions=True)

    results = run(fake, scenario)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], TelegramRetryAfter) and refused[0].retry_after == 1
    assert len(fake.sent) == 30


def test_one_chat_gets_a_small_burst_then_429(fake):
    async def scenario(bot):
        outcomes = []
        for _ in range(4):
            try:
                outcomes.append((await bot.send_message(7, "x")).message_id)
            except TelegramRetryAfter as exc:
                outcomes.append(exc)
        return outcomes

    outcomes = run(fake, scenario)
    assert all(isinstance(o, int) for o in outcomes[:3]) and isinstance(outcomes[3], TelegramRetryAfter)


def test_blocked_bad_html_long_and_empty_texts_are_refused(fake):
    fake.blocked.add(9)

    async def scenario(bot):
        errors = []
        for chat, text, mode in [(9, "hi", None), (1, "<b>open", "HTML"), (1, "a & b", "HTML"),
                                 (1, "<script>x</script>", "HTML"), (1, "x" * 4097, None), (1, " ", None)]:
            try:
                await bot.send_message(chat, text, parse_mode=mode)
            except Exception as exc:
                errors.append(type(exc))
        await bot.send_message(1, "<b>ok</b> &amp; <i>fine</i> &#128640;", parse_mode="HTML")
        return errors

    assert run(fake, scenario) == [TelegramForbiddenError] + [TelegramBadRequest] * 5
    assert fake.messages_to(1) == ["<b>ok</b> &amp; <i>fine</i> &#128640;"]
    assert [c.status for c in fake.calls_of("sendMessage")] == [403, 400, 400, 400, 400, 400, 200]


def test_send_photo_multipart_and_caption_limit(fake):
    async def scenario(bot):
        photo = BufferedInputFile(b"\x89PNG fake bytes", filename="chart.png")
        sent = await bot.send_photo(5, photo, caption="<b>chart</b>", parse_mode="HTML")
        try:
            await bot.send_photo(5, BufferedInputFile(b"png", filename="c.png"), caption="x" * 1025)
        except TelegramBadRequest as exc:
            return sent, exc
        return sent, None

    sent, too_long = run(fake, scenario)
    assert sent.photo and sent.caption == "<b>chart</b>" and too_long is not None
    assert fake.calls_of("sendPhoto")[0].params["photo"] == b"\x89PNG fake bytes"


def test_photo_file_ids_are_reused_and_captions_counted_after_entity_parsing(fake):
    fits = "<b>" + "&amp;" * 1000 + "</b>" + "🟢" * 12  # 1,000 characters shown, 24 UTF-16 units
    async def scenario(bot):
        first = await bot.send_photo(5, BufferedInputFile(b"\x89PNG chart", filename="c.png"), caption=fits,
                                     parse_mode="HTML")
        again = await bot.send_photo(6, first.photo[-1].file_id, caption=fits, parse_mode="HTML")
        refused = []
        for photo, caption in ((first.photo[-1].file_id, fits + "x"), ("never-uploaded", "")):
            try:
                await bot.send_photo(7, photo, caption=caption, parse_mode="HTML")
            except TelegramBadRequest as exc:
                refused.append(exc.message)
        return first, again, refused

    first, again, refused = run(fake, scenario)
    assert again.photo[-1].file_id == first.photo[-1].file_id and list(fake.uploads) == [first.photo[-1].file_id]
    assert refused == ["Bad Request: message caption is too long",
                       "Bad Request: wrong file identifier/HTTP URL specified"]


def test_get_updates_honours_offset_and_timeout(fake):
    first = fake.push_text(1, "/start")
    fake.push_text(1, "/help")
    fake.push_text(2, "hello")

    async def scenario(bot):
        everything = await bot.get_updates(offset=0, timeout=0)
        rest = await bot.get_updates(offset=first + 1, timeout=0)
        nothing = await bot.get_updates(offset=first + 3, timeout=1)
        waiting = asyncio.create_task(bot.get_updates(offset=first + 3, timeout=10))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(fake.push_text, 3, "/credits")
        return everything, rest, nothing, await waiting

    everything, rest, nothing, woke = run(fake, scenario)
    assert [u.update_id for u in everything] == [first, first + 1, first + 2]
    assert everything[0].message.text == "/start" and everything[0].message.from_user.id == 1
    assert [u.update_id for u in rest] == [first + 1, first + 2]
    assert nothing == []
    assert [u.message.text for u in woke] == ["/credits"]


def test_other_methods_answer_and_every_call_is_recorded(fake):
    async def scenario(bot):
        me = await bot.get_me()
        await bot.delete_webhook()
        await bot.set_my_commands([BotCommand(command="help", description="help")])
        await bot.send_chat_action(4, "typing")
        await bot.answer_callback_query("q1")
        edited = await bot.edit_message_text("new", chat_id=4, message_id=1)
        return me, edited

    me, edited = run(fake, scenario)
    assert me.username == "fake_signal_bot" and edited.text == "new"
    assert [c.method for c in fake.calls] == ["getMe", "deleteWebhook", "setMyCommands", "sendChatAction",
                                              "answerCallbackQuery", "editMessageText"]
    assert fake.calls_of("setMyCommands")[0].params["commands"] == [{"command": "help", "description": "help"}]
    with pytest.raises(TelegramUnauthorizedError):
        run(fake, lambda bot: bot.get_me(), token="999:WRONG")


def test_html_checker():
    assert html_error('<a href="https://x.y/?a=1&amp;b=2">link</a> <pre><code>x</code></pre>') is None
    for bad in ["<b>x</i>", "</b>", "1 < 2", "&nbsp;", "<div>x</div>", "<b>unclosed"]:
        assert html_error(bad) is not None, bad
