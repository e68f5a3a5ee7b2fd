"""The commands end to end: real aiogram polling the fake Bot API, Sessions, the Sender, SQLite."""

from __future__ import annotations

import os
import signal as signals
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import NewEvent
from telegram_adapter.bot import TelegramBot, TelegramConfig, TelegramStartError
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI, html_error
from tests.fakes.market import load_market
from tests.fakes.session_stack import ADMIN, start_stack, stop_stack
from tests.fakes.telegram_stack import SIGNAL, broadcast, outcomes, start_bot, telegram_world, wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def market():
    return load_market(klines_dir())


@pytest.fixture
def world(tmp_path, market):
    with telegram_world(tmp_path, market, {"per_group_rate": 5.0}, {"per_group_interval": 0.25},
                        quiet=frozenset({"XRPUSDT"})) as world:
        yield world


def said(fake: FakeBotAPI, chat: int, count: int) -> list[str]:
    return wait_until(lambda: len(fake.messages_to(chat)) >= count and fake.messages_to(chat),
                      what=f"{count} messages to {chat}")


def test_commands_get_exactly_one_reply_and_signals_are_formatted(world):
    fake, stack, bot = world
    fake.push_text(42, "/start", username="ann<script>")
    assert "Welcome, ann&lt;script&gt;!" in said(fake, 42, 1)[0]
    fake.push_text(42, "/analyze btc")
    signal = said(fake, 42, 2)[1]
    assert "<b>BTCUSDT</b> 1h" in signal and "Entry (market): <code>" in signal and "Not financial advice" in signal
    assert "&lt;b&gt;tags&lt;/b&gt; &amp; symbols" in signal and "R)" in signal
    fake.push_text(42, "/analyze XRP")
    assert "no setup" in said(fake, 42, 3)[2]
    fake.push_text(42, "/credits")
    assert said(fake, 42, 4)[3].startswith("Balance: 80 credits")
    fake.push_text(42, "hello there")
    assert "/help" in said(fake, 42, 5)[4]
    fake.push_text(42, "/signal_on")
    assert said(fake, 42, 6)[5] == "Not allowed."
    fake.push_text(ADMIN, "/signal_status")
    assert said(fake, ADMIN, 1)[0] == "Autosignals are not running."
    assert [c.status for c in fake.calls_of("sendMessage")].count(400) == 0
    assert len(fake.messages_to(42)) == 6
    settled(bot)
    [(_key, events)] = [(k, v) for k, v in outcomes(stack).items() if k[0].startswith("m:42:")]
    assert events == ["DeliveryAttempted", "SignalDelivered"]


def test_an_update_delivered_twice_is_answered_once_whatever_the_command(world):
    fake, stack, bot = world
    texts = ["/start", "/help", "/analyze XRP", "/futures btc 1M", "hello", "/ban 44", "/signal_on", "/analyze btc"]
    for text in texts:
        fake.push_text(44, text, copies=2)
    fake.push_text(44, "/credits")
    replies = wait_until(lambda: any(m.startswith("Balance") for m in fake.messages_to(44)) and
                         len(fake.messages_to(44)) >= len(texts) + 1 and fake.messages_to(44), what="the replies")
    settled(bot)
    assert len(replies) == len(texts) + 1 and len(fake.messages_to(44)) == len(texts) + 1
    assert sum("no setup" in r for r in replies) == 1 and sum(r == "Not allowed." for r in replies) == 2
    assert [r.data["cost"] for r in stack.store.read_stream("user-44") if r.type == "ManualSignalIssued"] == [20]
    assert any(r.startswith("Balance: 80 credits") for r in replies)


def test_broadcast_to_50_while_20_users_analyze(world):
    fake, stack, bot = world
    analysts = list(range(1000, 1020))
    for user in analysts:
        fake.push_text(user, "/start")
    for user in analysts:
        said(fake, user, 1)
    premium = list(range(2000, 2050))
    signal_id = broadcast(stack, SIGNAL, premium)
    for user in analysts:
        fake.push_text(user, "/analyze ETH")
    for user in analysts:
        assert "<b>ETHUSDT</b> 1h" in said(fake, user, 2)[1]
    for user in premium:
        assert len(said(fake, user, 1)) == 1
    settled(bot)
    seen = outcomes(stack)
    assert all(seen[(signal_id, user)] == ["DeliveryAttempted", "SignalDelivered"] for user in premium)
    for user in analysts:
        charges = [r.data["cost"] for r in stack.store.read_stream(f"user-{user}") if r.type == "ManualSignalIssued"]
        assert charges == [20]
        assert len(fake.messages_to(user)) == 2
    assert sum(len(v) for v in seen.values()) == 2 * (50 + 20)


def test_429_storm_5xx_and_slow_server_lose_and_duplicate_nothing(world):
    fake, stack, bot = world
    fake.storm = 4
    first = broadcast(stack, SIGNAL, [3001, 3002, 3003])
    for user in (3001, 3002, 3003):
        said(fake, user, 1)
    assert [c.status for c in fake.calls_of("sendMessage")].count(429) == 4
    fake.server_errors = 2
    fake.delay = 0.3
    second = broadcast(stack, {**SIGNAL, "side": "SHORT"}, [3001, 3004])
    said(fake, 3004, 1)
    said(fake, 3001, 2)
    assert [c.status for c in fake.calls_of("sendMessage")].count(502) == 2
    settled(bot)
    seen = outcomes(stack)
    for key in [(first, 3001), (first, 3002), (first, 3003), (second, 3001), (second, 3004)]:
        assert seen[key][-1] == "SignalDelivered" and seen[key].count("SignalDelivered") == 1
    assert all(len(fake.messages_to(u)) == 1 for u in (3002, 3003, 3004))


def test_one_malformed_update_is_skipped_and_counted_and_the_good_ones_are_answered(world):
    fake, _stack, bot = world
    fake.push_text(51, "/start")
    said(fake, 51, 1)
    nameless = {"message_id": 9001, "date": 1, "chat": {"id": 52, "type": "private"}, "text": "/start",
                "from": {"id": 52, "is_bot": False}}  # no first_name: aiogram refuses the whole batch
    fake.push_update({"message": nameless})
    fake.push_update({"message": "not even an object"})
    fake.push_text(51, "/credits")
    fake.push_text(53, "/start")
    assert said(fake, 51, 2)[1].startswith("Balance: 100")
    assert "Welcome" in said(fake, 53, 1)[0]
    assert not fake.messages_to(52) and bot.updates.unparsable == 2 and bot.updates.failed == 0


GROUP = -500


def test_in_a_group_the_bot_answers_only_its_own_commands_and_never_shows_a_balance(world):
    fake, stack, _bot = world
    fake.push_text(61, "/start")
    said(fake, 61, 1)
    in_group = {"chat_id": GROUP, "chat_type": "group"}
    fake.push_text(61, "hello everyone, what do you think of btc?", **in_group)
    fake.push_text(61, "/analyze@some_other_bot btc", **in_group)
    member = {"id": 99, "is_bot": False, "first_name": "New"}
    for service in ({"new_chat_members": [member]}, {"new_chat_title": "Pro traders"},
                    {"pinned_message": {"message_id": 1, "date": 1, "chat": {"id": GROUP, "type": "group"}}},
                    {"migrate_to_chat_id": -1000500}):
        fake.push_message(61, service, **in_group)
    fake.push_message(61, {"migrate_from_chat_id": GROUP}, chat_id=-1000500, chat_type="supergroup")
    analyze = fake.push_text(61, "/analyze@Fake_Signal_Bot btc", **in_group)
    fake.push_text(61, "/credits", **in_group)
    stranger_credits = fake.push_text(62, "/credits", **in_group)
    stranger_analyze = fake.push_text(62, "/analyze btc", **in_group)
    assert said(fake, 61, 2)[1].startswith("Balance: 80")  # privately, after the group's signal was charged
    wait_until(lambda: len(fake.messages_to(GROUP)) >= 3, what="three answers in the group")
    answers = {m["reply_to"]: m["text"] for m in fake.sent if m["chat_id"] == GROUP}
    message_id = {u: fake.pushed[u]["message_id"] for u in (analyze, stranger_credits, stranger_analyze)}
    assert set(answers) == set(message_id.values()), "every group answer replies to its command"
    assert "<b>BTCUSDT</b> 1h" in answers[message_id[analyze]]
    for update in (stranger_credits, stranger_analyze):
        assert "open a private chat with me and send /start" in answers[message_id[update]]
    assert not any("Balance" in m["text"] for m in fake.sent if m["chat_id"] < 0)
    assert len(fake.messages_to(61)) == 2 and not fake.messages_to(62) and not fake.messages_to(-1000500)
    issued = [r.data for r in stack.store.read_stream("user-61") if r.type == "ManualSignalIssued"]
    assert [(d["chat_id"], d["cost"], d["reply_to"]) for d in issued] == [(GROUP, 20, message_id[analyze])]
    assert not stack.store.read_stream("user-62")


def test_blocked_user_stops_receiving_until_they_write_again(world):
    fake, stack, bot = world
    fake.push_text(77, "/start")
    said(fake, 77, 1)
    fake.blocked.add(77)
    first = broadcast(stack, SIGNAL, [77, 78])
    said(fake, 78, 1)
    wait_until(lambda: "BotBlocked" in [r.type for r in stack.store.read_stream("user-77")], what="BotBlocked")
    calls_to_77 = len([c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == "77"])
    second = broadcast(stack, {**SIGNAL, "side": "SHORT"}, [77])
    wait_until(lambda: outcomes(stack).get((second, 77)), what="second outcome")
    assert outcomes(stack)[(first, 77)] == ["DeliveryAttempted", "DeliveryFailed:blocked"]
    assert outcomes(stack)[(second, 77)] == ["DeliveryFailed:blocked"]
    assert len([c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == "77"]) == calls_to_77
    fake.blocked.discard(77)
    fake.push_text(77, "/credits")
    assert said(fake, 77, 2)[1].startswith("Balance: 100")
    assert [r.type for r in stack.store.read_stream("user-77")][-1] == "BotUnblocked"
    third = broadcast(stack, {**SIGNAL, "open_time": SIGNAL["open_time"] + 900_000}, [77])
    said(fake, 77, 3)
    settled(bot)
    assert outcomes(stack)[(third, 77)][-1] == "SignalDelivered"
    assert bot.pending_deliveries() == 0


def test_crash_after_issue_before_send_delivers_exactly_once(tmp_path, market):
    fake = FakeBotAPI(per_chat_rate=5.0).start()
    stack = start_stack(tmp_path, market)
    try:
        stack.send(50, "/start")
        issued = stack.send(50, "/analyze BTC").signal_id  # committed; no Sender is running: "the crash"
        in_flight = broadcast(stack, SIGNAL, [51])
        stack.store.append("outbox", 0, [_attempt(in_flight, 51)])  # attempted, no outcome
        stale = broadcast(stack, {**SIGNAL, "interval": "1m"}, [52])
        stack.clock.advance(61_000)
        bot = start_bot(stack, fake)
        said(fake, 50, 1)
        said(fake, 51, 1)
        settled(bot)
        bot.stop()
        assert outcomes(stack)[(stale, 52)] == ["DeliveryFailed:expired"] and not fake.messages_to(52)
        bot = start_bot(stack, fake)  # a second restart owes nothing
        assert bot.pending_deliveries() == 0
        bot.stop()
        assert len(fake.messages_to(50)) == 1 and len(fake.messages_to(51)) == 1
        assert outcomes(stack)[(issued, 50)] == ["DeliveryAttempted", "SignalDelivered"]
        assert outcomes(stack)[(in_flight, 51)] == ["DeliveryAttempted", "DeliveryAttempted", "SignalDelivered"]
    finally:
        stop_stack(stack)
        fake.stop()


def settled(bot) -> None:
    wait_until(lambda: bot.pending_deliveries() == 0, what="every delivery settled in the log")


def _attempt(signal_id: str, chat: int):
    return NewEvent("DeliveryAttempted", {"signal_id": signal_id, "chat_id": chat}, {"schema": 1})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    st.text(min_size=1, max_size=60).filter(str.strip),
    st.text(min_size=3900, max_size=4000).filter(str.strip),
    st.sampled_from(["/analyze <b>BTC", "/futures *BTC* _1h_", "/analyze &amp;", "/grant_credits 1 1",
                     "/autosignal </i>", "/history extra", "/nope", "/ban 5"]),
))
def test_hostile_input_gets_one_valid_reply_and_no_charge(world, text):
    fake, stack, _ = world
    user = 5000 + len(fake.sent)
    fake.push_text(user, "/start")
    fake.push_text(user, text)
    replies = said(fake, user, 2)
    assert html_error(replies[1]) is None
    assert not [r for r in stack.store.read_stream(f"user-{user}") if r.type == "ManualSignalIssued"]
    assert [c.status for c in fake.calls_of("sendMessage")].count(400) == 0


CHILD = """
import sys, time
from pathlib import Path
from tests.fakes.market import load_market
from tests.fakes.session_stack import start_stack
stack = start_stack(Path(sys.argv[1]), load_market(Path(sys.argv[2])))
stack.send(60, "/start")
print(stack.send(60, "/analyze BTC").signal_id, flush=True)
time.sleep(60)
"""


def test_kill_9_after_the_signal_commits_then_restart_sends_it_once(tmp_path, market):
    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(klines_dir())], cwd=root,
                             stdout=subprocess.PIPE, text=True)
    try:
        issued = child.stdout.readline().strip()
    finally:
        os.kill(child.pid, signals.SIGKILL)
        child.wait(timeout=10)
    assert issued == "m:60:2"
    fake = FakeBotAPI(per_chat_rate=5.0).start()
    stack = start_stack(tmp_path, market)
    try:
        bot = start_bot(stack, fake)
        said(fake, 60, 1)
        settled(bot)
        bot.stop()
        start_bot(stack, fake).stop()
        assert len(fake.messages_to(60)) == 1 and "<b>BTCUSDT</b>" in fake.messages_to(60)[0]
        assert outcomes(stack)[(issued, 60)] == ["DeliveryAttempted", "SignalDelivered"]
        assert stack.info(60).state["credits"] == 80
    finally:
        stop_stack(stack)
        fake.stop()


def test_an_api_url_that_does_not_answer_stops_the_adapter_with_one_line_naming_it():
    config = TelegramConfig("123456:TEST", "http://127.0.0.1:9", frozenset())
    with pytest.raises(TelegramStartError) as info:
        TelegramBot(config, None, None, None).start()
    assert "TELEGRAM_API_URL http://127.0.0.1:9 did not answer getMe" in str(info.value)
    assert "\n" not in str(info.value) and config.token not in str(info.value)
