"""The bot's language end to end: real aiogram polling the fake Bot API, Sessions, the Sender, SQLite.

Indonesian from Telegram's language_code at /start, /language to change it (kept across a restart, since it
is an event in the user's stream), an unknown code refused, broadcasts worded per recipient (once per language),
and the command menu set for both languages.
"""

from __future__ import annotations

import pytest

from telegram_adapter.catalogue import text
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.market import load_market
from tests.fakes.session_stack import ADMIN, start_stack, stop_stack
from tests.fakes.telegram_stack import SIGNAL, broadcast, start_bot, wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def market():
    return load_market(klines_dir())


def said(fake: FakeBotAPI, chat: int, count: int) -> list[str]:
    return wait_until(lambda: len(fake.messages_to(chat)) >= count and fake.messages_to(chat),
                      what=f"{count} messages to {chat}")


def test_language_from_telegram_then_by_command_kept_across_a_restart(tmp_path, market):
    with FakeBotAPI(per_chat_rate=5.0) as fake:
        stack = start_stack(tmp_path, market, quiet=frozenset({"XRPUSDT"}))
        bot = start_bot(stack, fake)
        try:
            fake.push_text(42, "/start", username="budi", language="id-ID")
            assert said(fake, 42, 1)[0].startswith("Selamat datang, budi! Kamu punya 100 kredit gratis.")
            fake.push_text(42, "/credits", language="id-ID")
            assert said(fake, 42, 2)[1].startswith("Saldo: 100 kredit\nPaket: gratis")
            before = stack.store.stream_version("user-42")
            fake.push_text(42, "/language fr", language="id-ID")
            assert said(fake, 42, 3)[2] == 'Bahasa "fr" tidak tersedia. Pilihan: en | id (mis. /language en).'
            assert stack.store.stream_version("user-42") == before  # an unknown code changes nothing
            fake.push_text(42, "/language en", language="id-ID")  # the app stays Indonesian; the user chose
            assert said(fake, 42, 4)[3] == text("en", "language-changed")
            fake.push_text(42, "/analyze XRP", language="id-ID")
            assert "no setup" in said(fake, 42, 5)[4]
            assert [r.data for r in stack.store.read_stream("user-42") if r.type == "LanguageChanged"] == \
                [{"language": "en"}]
        finally:
            bot.stop()
            stop_stack(stack)

        stack = start_stack(tmp_path, market, quiet=frozenset({"XRPUSDT"}))  # a new process replays the log
        bot = start_bot(stack, fake)
        try:
            fake.push_text(42, "/credits", language="id-ID")
            assert said(fake, 42, 6)[5].startswith("Balance: 100 credits\nTier: free")
            fake.push_text(42, "/language", language="id-ID")
            assert said(fake, 42, 7)[6] == "The bot speaks English to you. Change it with /language en|id."
            fake.push_text(42, "/grant_credits 42 50", language="id-ID")  # refused by Sessions, in the stored one
            assert said(fake, 42, 8)[7] == text("en", "not-allowed")
            fake.push_text(ADMIN, "/start", language="en")
            fake.push_text(ADMIN, "/language id", language="en")
            fake.push_text(ADMIN, "/ban someone", language="en")
            fake.push_text(ADMIN, f"/ban {ADMIN}", language="en")
            assert said(fake, ADMIN, 4)[2:] == [text("id", "admin-usage", usage="/ban ID"),
                                                text("id", "cannot-ban-admin")]
        finally:
            bot.stop()
            stop_stack(stack)
        menus = {c.params.get("language_code"): c.params["commands"] for c in fake.calls_of("setMyCommands")}
        assert set(menus) == {None, "id"}
        english, indonesian = ({c["command"]: c["description"] for c in menus[k]} for k in (None, "id"))
        assert english.keys() == indonesian.keys() and "language" in english
        assert indonesian["analyze"] == text("id", "menu-analyze") != english["analyze"]


def test_a_broadcast_is_worded_in_each_recipients_language_once_per_language(tmp_path, market):
    with FakeBotAPI(per_chat_rate=5.0) as fake:
        stack = start_stack(tmp_path, market, quiet=frozenset({"XRPUSDT"}))
        bot = start_bot(stack, fake, per_chat_interval=0.0)
        try:
            users = {71: "en", 72: "id", 73: "en-GB", 74: "id", 75: "pt-BR"}
            for user, code in users.items():
                fake.push_text(user, "/start", language=code)
            for user in users:
                said(fake, user, 1)
            broadcast(stack, SIGNAL, list(users))
            got = {user: said(fake, user, 2)[1] for user in users}
        finally:
            bot.stop()
            stop_stack(stack)
    for user, code in users.items():
        indonesian = code == "id"
        assert ("Entry (market): <code>3.567,12</code>" in got[user]) == indonesian, got[user]
        assert ("Entry (market): <code>3,567.12</code>" in got[user]) == (not indonesian), got[user]
    assert bot.sender.wordings == 2
