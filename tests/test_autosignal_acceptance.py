"""The old bot's acceptance scenario, for real: an autosignal broadcast and manual /analyze at once.

Real aiogram against the fake Bot API, Sessions, the Sender, SQLite and the AutoSignal actor;
the admin grants lifetime premium and runs /signal_tick over Telegram while users analyze.
"""

from __future__ import annotations

import pytest

from actors.autosignal import AutoSignal
from domain.autosignal import Policy
from telegram_adapter.bot import TelegramConfig, build_bot
from tests.autosignal_support import RecordedFeed, ScriptedAnalyzer, signal_at
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.market import load_market
from tests.fakes.session_stack import ADMIN, start_stack, stop_stack
from tests.fakes.telegram_stack import outcomes, wait_until

pytestmark = pytest.mark.timeout(90)

WATCHLIST = ("BTCUSDT", "ETHUSDT")
PREMIUM = list(range(3000, 3006))
FREE = list(range(4000, 4008))


@pytest.fixture
def world(tmp_path):
    market = load_market(klines_dir())
    fake = FakeBotAPI(per_chat_rate=10.0, per_chat_burst=10.0).start()
    stack = start_stack(tmp_path, market)
    feed = RecordedFeed.start({s: market[s] for s in WATCHLIST}, history=len(market["BTCUSDT"]))
    autosignal = AutoSignal.start(
        stack.store,
        feed,
        ScriptedAnalyzer.start(signal_at("LONG", confidence=90)),
        admin_ids=(ADMIN,),
        watchlist=WATCHLIST,
        interval="1h",
        policy=Policy(75, 60 * 60_000),
    )
    config = TelegramConfig(fake.token, fake.base_url, frozenset({ADMIN}), rate=25.0, polling_timeout=1)
    bot = build_bot(stack.sessions, stack.store, stack.clock, autosignal, config=config, per_chat_interval=0.1)
    bot.start()
    yield fake, stack, bot
    bot.stop()
    stop_stack(stack)
    fake.stop()


def said(fake: FakeBotAPI, chat: int, count: int) -> list[str]:
    return wait_until(
        lambda: len(fake.messages_to(chat)) >= count and fake.messages_to(chat), what=f"{count} messages to {chat}"
    )


def ticks(fake: FakeBotAPI, count: int) -> list[str]:
    """The admin's /signal_tick replies (the admin also receives the autosignals themselves)."""

    def replies() -> list[str]:
        return [t for t in fake.messages_to(ADMIN) if t.startswith("Tick on the last closed candles")]

    return wait_until(lambda: len(replies()) >= count and replies(), what=f"{count} tick replies")


def test_broadcast_and_manual_requests_at_once_stay_independent(world):
    fake, stack, bot = world
    for user in PREMIUM + FREE:
        fake.push_text(user, "/start")
    for user in PREMIUM:
        fake.push_text(ADMIN, f"/set_premium {user} lifetime")
    for user in PREMIUM + FREE:
        said(fake, user, 1)
    said(fake, ADMIN, len(PREMIUM))
    # the admin's reply may precede the grant in the user's own stream (Sessions tells that session)
    wait_until(lambda: all("PremiumGranted" in stack.types(u) for u in PREMIUM), what="the grants")

    fake.push_text(ADMIN, "/signal_tick")  # the broadcast and the requests race each other
    for user in PREMIUM + FREE:
        fake.push_text(user, "/analyze ETH")

    tick = ticks(fake, 1)[0]
    assert "BTCUSDT: issued" in tick and "ETHUSDT: issued" in tick
    recipients = sorted([ADMIN, *PREMIUM])
    for user in PREMIUM:  # welcome, the /analyze reply and one message per autosignal
        said(fake, user, 4)
    for user in FREE:
        said(fake, user, 2)
    wait_until(lambda: bot.pending_deliveries() == 0, what="the outbox to drain")

    issued = [r.data for r in stack.store.read_stream("autosignal") if r.type == "AutoSignalIssued"]
    assert {d["signal"]["symbol"] for d in issued} == set(WATCHLIST)
    assert all(d["recipients"] == recipients for d in issued)
    seen = outcomes(stack)
    for d in issued:
        for chat in recipients:
            assert seen[(d["signal_id"], chat)] == ["DeliveryAttempted", "SignalDelivered"]
    for user in PREMIUM + FREE:
        analyses = [r.data for r in stack.store.read_stream(f"user-{user}") if r.type == "ManualSignalIssued"]
        assert [a["cost"] for a in analyses] == ([0] if user in PREMIUM else [20])  # lifetime pays nothing
        assert seen[(analyses[0]["signal_id"], user)] == ["DeliveryAttempted", "SignalDelivered"]
        texts = fake.messages_to(user)
        assert len(texts) == (4 if user in PREMIUM else 2)  # free users get no autosignal
        assert sum("<b>ETHUSDT</b> 1h" in t for t in texts) == (2 if user in PREMIUM else 1)

    # no cooldown crosses: the manual analyses left the autosignal stream alone, and the cooldown
    # set by the broadcast does not stop a later manual request (but does stop a second tick)
    types = [r.type for r in stack.store.read_stream("autosignal")]
    assert types == ["AutoSignalEnabled", *["AutoSignalIssued", "CooldownStarted"] * 2]
    fake.push_text(FREE[0], "/analyze ETH")
    assert "<b>ETHUSDT</b> 1h" in said(fake, FREE[0], 3)[2]
    fake.push_text(ADMIN, "/signal_tick")
    second = ticks(fake, 2)[1]
    assert second.count("already decided") == 2
    assert [r.type for r in stack.store.read_stream("autosignal")] == types
