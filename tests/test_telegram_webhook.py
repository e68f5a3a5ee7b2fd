"""Webhook mode end to end: the fake Bot API POSTs updates to the real aiogram bot as Telegram does.

setWebhook is registered with the secret and the handled update types; a POST is answered only after
the update's events are committed; a wrong secret is refused (401) and nothing is processed; an
update that does not parse is answered 200 and counted; a redelivery changes nothing twice; a
burst of 200 updates ends exactly as it does through polling; a pre-checkout is answered while another
update is still in flight, and a successful_payment's POST only once the payment is in the log.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import urllib.request
from dataclasses import replace

import pytest

from actors.messages import Command, Reply
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.session_stack import start_stack, stop_stack
from tests.fakes.telegram_stack import start_bot, wait_until
from tests.test_payments import PAYMENTS, payload

pytestmark = pytest.mark.timeout(90)

SECRET = "webhook-Secret_123"
BURST = range(1000, 1200)  # 200 users, one /start each
LIMITS = {"global_per_s": 5000, "per_chat_rate": 50.0, "per_chat_burst": 50.0}


def webhook_config(port: int = 0, delete: bool = False, **more) -> dict:
    return {"mode": "webhook", "webhook_url": "http://127.0.0.1/telegram/hook", "webhook_listen": ("127.0.0.1", port),
            "webhook_secret": SECRET, "delete_webhook": delete, "rate": 5000.0, **more}


@pytest.fixture
def world(tmp_path):
    fake = FakeBotAPI(**LIMITS).start()
    stack = start_stack(tmp_path, {})
    yield fake, stack
    stop_stack(stack)
    fake.stop()


def start_webhook_bot(fake: FakeBotAPI, stack, delete: bool = False, per_chat_interval: float = 0.0, **more):
    """The bot in webhook mode on a free port (WEBHOOK_URL is the proxy's address, which here is the port
    the bot got, so the fake is pointed at it once the bot listens); `more`: other TelegramConfig fields."""
    bot = start_bot(stack, fake, webhook_config(delete=delete, **more), per_chat_interval=per_chat_interval)
    fake.webhook["url"] = f"http://127.0.0.1:{bot.webhook.port}/telegram/hook"
    return bot


def update(update_id: int, user: int, text: str) -> dict:
    """A private message as Telegram POSTs it."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1, "text": text, "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "Bo"},
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


def outcome(fake: FakeBotAPI, stack, users) -> dict[int, tuple]:
    """Per user: the event types in the log and the texts sent."""
    return {u: (tuple(stack.types(u)), tuple(fake.messages_to(u))) for u in users}


def run_script(fake: FakeBotAPI, stack) -> dict[int, tuple]:
    for user in BURST:
        fake.push_text(user, "/start")
    fake.push_text(7, "/start", copies=2)  # delivered twice, as Telegram may
    fake.push_update({"message": {"message_id": 5, "chat": {"id": 8}}})  # no date, no type: does not parse
    users = [*BURST, 7]
    wait_until(lambda: all(fake.messages_to(u) for u in users), 30, "every /start answered")
    fake.push_text(7, "/credits")
    wait_until(lambda: len(fake.messages_to(7)) == 2, 15, "/credits answered")
    return outcome(fake, stack, users)


def test_a_burst_through_the_webhook_ends_as_through_polling(tmp_path, world):
    fake, stack = world
    bot = start_webhook_bot(fake, stack)
    try:
        assert fake.webhook["secret_token"] == SECRET and fake.webhook["allowed_updates"] == [
            "callback_query", "message", "pre_checkout_query"]  # the /buy buttons, messages (and payments)
        through_webhook = run_script(fake, stack)
        posts = [status for _, status in fake.webhook_posts]
        assert posts.count(200) == len(BURST) + 2 + 1 + 1 and set(posts) == {200}  # unparsable: 200 too
        assert (bot.updates.received, bot.updates.unparsable, bot.updates.failed) == (len(BURST) + 4, 1, 0)
        assert not fake.calls_of("getUpdates")
        answered = len(fake.webhook_answers)  # replies in the POST's answer; the others through the Sender
        assert 0 < answered <= len(fake.calls_of("sendMessage")) == len(BURST) + 2
    finally:
        bot.stop()
    assert fake.webhook is not None  # not deleted at shutdown unless asked

    polled_fake = FakeBotAPI(**LIMITS).start()
    (tmp_path / "polled").mkdir()
    polled_stack = start_stack(tmp_path / "polled", {})
    polled_bot = start_bot(polled_stack, polled_fake, {"rate": 5000.0}, per_chat_interval=0.0)
    try:
        through_polling = run_script(polled_fake, polled_stack)
    finally:
        polled_bot.stop()
        stop_stack(polled_stack)
        polled_fake.stop()
    assert through_webhook == through_polling
    assert through_webhook[7] == (("UserRegistered", "CreditsGranted"), through_webhook[7][1])
    assert len(through_webhook[7][1]) == 2  # the redelivered /start was answered once


def test_the_post_is_answered_after_the_commit_and_a_wrong_secret_processes_nothing(world):
    fake, stack = world
    bot = start_webhook_bot(fake, stack, delete=True)
    try:
        start = update(500, 51, "/start")
        assert fake.post_webhook(start, "wrong") == 401
        assert fake.post_webhook(start, None) == 401
        assert stack.types(51) == [] and bot.updates.refused == 2 and bot.updates.received == 0
        assert fake.post_webhook(start, SECRET) == 200
        assert stack.types(51) == ["UserRegistered", "CreditsGranted"]  # committed before the answer
        assert fake.post_webhook(start, SECRET) == 200  # redelivered: nothing changes
        assert fake.post_webhook(b"{not json", SECRET) == 200
        assert stack.types(51) == ["UserRegistered", "CreditsGranted"] and bot.updates.unparsable == 1
        wait_until(lambda: fake.messages_to(51), 15, "the welcome")
    finally:
        bot.stop()
    assert fake.webhook is None and fake.calls_of("deleteWebhook")  # asked to delete it at shutdown
    assert len(fake.messages_to(51)) == 1


def test_a_reply_goes_in_the_posts_answer_only_when_its_chat_may_get_a_message_now(world):
    fake, stack = world
    bot = start_webhook_bot(fake, stack, per_chat_interval=2.0)
    try:
        assert fake.post_webhook(update(600, 61, "/start"), SECRET) == 200
        assert fake.webhook_answers == ["sendMessage"] and len(fake.messages_to(61)) == 1  # run with the answer
        assert fake.post_webhook(update(601, 61, "/credits"), SECRET) == 200  # within the chat's 2 s
        assert fake.webhook_answers == ["sendMessage"]  # so the Sender sends it, after the interval
        wait_until(lambda: len(fake.messages_to(61)) == 2, 15, "the balance, after the welcome")
        welcome, balance = fake.messages_to(61)
        assert "Welcome" in welcome and balance.startswith("Balance: 100 credits")
        assert [c.method for c in fake.calls if c.method == "sendMessage"] == ["sendMessage"] * 2
    finally:
        bot.stop()


def test_a_personal_answer_to_a_group_command_goes_through_the_sender_not_the_answer(world):
    fake, stack = world
    bot = start_webhook_bot(fake, stack)
    try:
        assert fake.post_webhook(update(700, 62, "/start"), SECRET) == 200
        in_group = update(701, 62, "/credits")
        in_group["message"]["chat"] = {"id": -1001, "type": "supergroup", "title": "Traders"}
        assert fake.post_webhook(in_group, SECRET) == 200
        wait_until(lambda: len(fake.messages_to(62)) == 2, 15, "the balance, in the private chat")
        assert fake.webhook_answers == ["sendMessage"]  # only the welcome rode in an answer
        assert fake.messages_to(62)[1].startswith("Balance: 100 credits") and not fake.messages_to(-1001)
    finally:
        bot.stop()


class HeldSessions:
    """Sessions that hold every command until the test answers it."""

    def __init__(self) -> None:
        self.commands: queue.Queue[Command] = queue.Queue()

    def tell(self, message: Command) -> None:
        self.commands.put(message)


def refused(port: int) -> bool:
    """Whether 127.0.0.1:`port` refuses a TCP connection."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_shutdown_stops_accepting_and_finishes_the_update_in_flight(world):
    fake, stack = world
    held = HeldSessions()
    bot = start_webhook_bot(fake, replace(stack, sessions=held))
    answered: list[int] = []
    in_flight = threading.Thread(target=lambda: answered.append(fake.post_webhook(update(600, 61, "/credits"), SECRET)))
    in_flight.start()
    command = held.commands.get(timeout=15)  # the POST waits for its session's answer
    stopping = threading.Thread(target=bot.stop)
    stopping.start()
    wait_until(lambda: refused(bot.webhook.port), 15, "the listener closed")
    assert fake.post_webhook(update(601, 62, "/credits"), SECRET) == 0  # not accepted any more
    assert answered == [] and held.commands.empty()  # the first still waits; the later one was never taken
    command.reply_to.set_result(Reply("autosignal_on"))
    in_flight.join(15)
    stopping.join(30)
    assert answered == [200] and not stopping.is_alive()
    assert fake.messages_to(61) == ["Autosignals are on."]  # its answer was sent before the Sender stopped


class HoldingOne:
    """Sessions that hold the commands of one user until the test answers them, and pass the rest on."""

    def __init__(self, sessions, user: int) -> None:
        self.sessions, self.user = sessions, user
        self.commands: queue.Queue[Command] = queue.Queue()

    def tell(self, message) -> None:
        if isinstance(message, Command) and message.user_id == self.user:
            self.commands.put(message)
        else:
            self.sessions.tell(message)


def abandoned_post(url: str, body: dict, wait_s: float) -> None:
    """POST as Telegram does, then give up after `wait_s` (Telegram's or a proxy's timeout): the answer is unread."""
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
    with pytest.raises(OSError):  # the socket's timeout
        urllib.request.urlopen(request, timeout=wait_s).read()


def test_a_reply_whose_post_telegram_gave_up_on_reaches_the_user_through_the_sender(world):
    fake, stack = world
    held = HoldingOne(stack.sessions, 63)
    bot = start_webhook_bot(fake, replace(stack, sessions=held))
    try:
        first = threading.Thread(target=abandoned_post, args=(fake.webhook["url"], update(800, 63, "/start"), 1.0))
        first.start()
        command = held.commands.get(timeout=15)  # the session is slow (a busy log, say)
        first.join(10)  # Telegram gave up on the POST, and sends the update again
        resent = threading.Thread(target=fake.post_webhook, args=(update(800, 63, "/start"), SECRET))
        resent.start()
        wait_until(lambda: bot.updates.received == 2, 10, "the update sent again")
        stack.sessions.tell(command)  # the session answers at last
        resent.join(15)
        wait_until(lambda: fake.messages_to(63), 10, "the welcome, sent by the Sender")
        assert not fake.webhook_answers and len(fake.messages_to(63)) == 1
    finally:
        bot.stop()


def test_a_pre_checkout_is_answered_at_once_and_a_payment_post_only_after_its_append(world):
    fake, stack = world
    held = HoldingOne(stack.sessions, 62)
    bot = start_webhook_bot(fake, replace(stack, sessions=held), payments=PAYMENTS)
    try:
        assert fake.post_webhook(update(700, 71, "/start"), SECRET) == 200
        slow = threading.Thread(target=lambda: fake.post_webhook(update(701, 62, "/credits"), SECRET))
        slow.start()
        command = held.commands.get(timeout=15)  # an update in flight, its POST unanswered
        query = fake.push_pre_checkout(71, payload(71), 50)
        answer = wait_until(lambda: fake.checkouts.get(query), what="the pre-checkout answer")
        assert answer["ok"] and answer["delay"] < 5 and slow.is_alive()
        fake.charges["ch-w"] = 71
        paid = update(702, 71, "paid")
        del paid["message"]["text"], paid["message"]["entities"]
        paid["message"]["successful_payment"] = {"currency": "XTR", "total_amount": 50, "invoice_payload": payload(71),
                                                 "telegram_payment_charge_id": "ch-w", "provider_payment_charge_id": ""}
        assert fake.post_webhook(paid, SECRET) == 200
        assert stack.types(71)[2:] == ["StarsPaymentReceived", "CreditsGranted"]  # in the log before the answer
        assert fake.post_webhook(paid, SECRET) == 200  # redelivered: granted once
        assert stack.types(71)[2:] == ["StarsPaymentReceived", "CreditsGranted"]
        wait_until(lambda: [t for t in fake.messages_to(71) if "Payment received" in t], what="the receipt")
        command.reply_to.set_result(Reply("autosignal_on"))
        slow.join(15)
    finally:
        bot.stop()
    assert stack.info(71).state["credits"] == 200
