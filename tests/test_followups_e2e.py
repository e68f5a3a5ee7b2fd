"""Outcomes as people see them, end to end: real aiogram polling the fake Bot API, Sessions, the
OutcomeTracker, the Sender and SQLite. Follow-ups reach each recipient once (not those with
/followups off); /history shows each signal's outcome; /winrate shows the figures.
"""

from __future__ import annotations

from collections import Counter

import pytest

from actors.messages import Kline
from domain import invariants
from domain.outcomes import Rules
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.market import CloseCandle, load_market
from tests.fakes.session_stack import ADMIN
from tests.fakes.telegram_stack import SIGNAL, broadcast, telegram_world, wait_until

pytestmark = pytest.mark.timeout(90)

HOUR = 3_600_000
ON, OFF = 101, 102
GROUP = -700


@pytest.fixture(scope="module")
def market():
    return load_market(klines_dir())


@pytest.fixture
def world(tmp_path, market):
    with telegram_world(tmp_path, market, outcomes=Rules(horizon_bars=24)) as (fake, stack, _):
        yield fake, stack


def reply(fake: FakeBotAPI, chat: int, text: str) -> str:
    before = len(fake.messages_to(chat))
    fake.push_text(chat, text)
    return wait_until(lambda: fake.messages_to(chat)[before:] and fake.messages_to(chat)[before], what=text)


def candles_to_tp2(signal: dict) -> list[Kline]:
    """Bar 1 fills at the entry and touches nothing; bar 2 reaches TP1; bar 3 reaches TP2 (never the stop)."""
    entry, risk = signal["entry"], abs(signal["entry"] - signal["stop"])
    sign = 1 if signal["side"] == "LONG" else -1

    def bar(n: int, start: float, reach: float, back: float) -> Kline:
        a, b = entry + sign * reach * risk, entry + sign * back * risk
        t = signal["open_time"] + n * HOUR
        return Kline(t, t + HOUR - 1, entry + sign * start * risk, max(a, b), min(a, b), a, 1.0)

    return [bar(1, 0, 0.2, -0.2), bar(2, 0, 1.1, -0.2), bar(3, 1.0, 2.1, 0.9)]


def test_followups_history_and_winrate(world):
    fake, stack = world
    for user in (ON, OFF):
        assert "Welcome" in reply(fake, user, "/start")
    assert reply(fake, OFF, "/followups maybe") == "Usage: /followups on|off"
    assert "off" in reply(fake, OFF, "/followups off")
    for user in (ON, OFF):
        assert "Entry (market)" in reply(fake, user, "/analyze BTC")
    delivered = {r.data["signal_id"]: r.data for r in stack.store.read_all() if r.type == "ManualSignalIssued"}
    assert len(delivered) == 2
    signal = next(iter(delivered.values()))["signal"]
    assert "open" in reply(fake, ON, "/history")

    before = len(fake.messages_to(ON))
    for candle in candles_to_tp2(signal):
        stack.feed.tell(CloseCandle("BTCUSDT", candle))
    lines = wait_until(lambda: len(fake.messages_to(ON)) >= before + 2 and fake.messages_to(ON)[before:],
                       what="two follow-ups")
    assert "TP1 hit, +" in lines[0] and "R so far" in lines[0] and "<b>BTCUSDT 1h" in lines[0]
    assert "TP2 hit, closed at +" in lines[1]

    history = reply(fake, ON, "/history")
    assert "TP2 +" in history and "-20 credits" in history
    mine = reply(fake, ON, "/winrate 30d")
    assert "<b>Manual signals</b>: 2 closed, 0 open" in mine and "TP1 before stop 100.0%" in mine
    assert "profit factor - (no loss)" in mine and "By symbol" not in mine
    assert reply(fake, ON, "/winrate BTC").startswith("Usage: /winrate [7d|30d|90d|all]")
    admin = reply(fake, ADMIN, "/winrate")
    assert "<b>By symbol</b>" in admin and "BTCUSDT: 2 ·" in admin
    assert "· BTCUSDT" in reply(fake, ADMIN, "/winrate btc 7d")
    assert reply(fake, ADMIN, "/winrate foo").startswith("No signals for FOOUSDT in the track record")
    in_group = {"chat_id": GROUP, "chat_type": "group"}
    fake.push_text(OFF, "/winrate", **in_group)  # the figures are public: answered in the group
    wait_until(lambda: any("Track record" in m for m in fake.messages_to(GROUP)), what="/winrate in a group")
    fake.push_text(OFF, "/followups on", **in_group)  # a personal setting: answered privately
    wait_until(lambda: "Follow-ups are on" in fake.messages_to(OFF)[-1], what="/followups from a group")

    sent = Counter((r.data["signal_id"], r.data["chat_id"]) for r in stack.store.read_stream("outbox")
                   if r.type == "SignalDelivered" and r.data["signal_id"].startswith("f:"))
    ids = {sid for sid in delivered if sid.startswith(f"m:{ON}:")}
    assert sent == Counter({(f"f:{sid}:{status}", ON): 1 for sid in ids for status in ("tp1", "tp2")})
    assert not any(" hit, " in m for m in fake.messages_to(OFF))  # /followups off: no follow-up
    report = invariants.check(stack.store.read_all())
    assert report.ok and report.followups == 2 and report.closed_signals == 2


def test_history_lists_the_autosignals_delivered_to_the_user(world):
    """The user's stream records only paid signals: the adapter's Outbox adds the delivered autosignals."""
    fake, stack = world
    assert "Welcome" in reply(fake, ON, "/start")
    assert reply(fake, ON, "/history") == "No signals yet. Try /analyze BTC."
    before = len(fake.messages_to(ON))
    broadcast(stack, {**SIGNAL, "tp2": None}, [ON])
    wait_until(lambda: len(fake.messages_to(ON)) > before, what="the autosignal")
    wait_until(lambda: any(r.type == "SignalDelivered" for r in stack.store.read_stream("outbox")), what="logged")
    history = wait_until(lambda: "autosignal" in (h := reply(fake, ON, "/history")) and h, what="/history")
    assert history.startswith("<b>Your last signals</b>\n") and history.endswith("ETHUSDT 15m LONG · autosignal · open")
