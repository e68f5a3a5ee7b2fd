"""Telegram Stars end to end: real aiogram against the fake Bot API, real sessions on a SQLite log.

/buy, the invoice, pre-checkout (forged, repriced, foreign, banned), successful_payment granted once
(twice delivered, and after a crash), refunds (admin, automatic, retried, already refunded, failed,
resumed after a crash) and a refund of spent credits. After each: verify ok and balances equal the log.
"""

from __future__ import annotations

import asyncio

import pytest

from app import ops
from domain import ledger
from domain.payments import Order, PaymentSecret, parse_packs
from telegram_adapter.payments import PaymentsConfig
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.market import load_market
from tests.fakes.session_stack import ADMIN, Stack, start_stack, stop_stack
from tests.fakes.telegram_stack import start_bot, wait_until

pytestmark = pytest.mark.timeout(90)

SECRET = PaymentSecret("test-secret-0123456789")
PAYMENTS = PaymentsConfig(SECRET, parse_packs("100cr:50,500cr:200,premium30d:500"), "@payhelp")


@pytest.fixture
def fake():
    api = FakeBotAPI(per_chat_rate=5.0, per_chat_burst=10.0).start()
    yield api
    api.stop()


@pytest.fixture
def stack(tmp_path, fake):
    """Sessions on a fresh log with the bot (payments on) polling the fake Bot API."""
    stack = start_stack(tmp_path, {})
    bot = start_bot(stack, fake, {"payments": PAYMENTS})
    yield stack
    bot.stop()
    stop_stack(stack)


def payload(user: int, pack: str = "100cr", stars: int = 50, order: str = "abc123") -> str:
    return SECRET.sign(Order(user, pack, stars, order))


def types(stack: Stack, user: int) -> list[str]:
    return [r.type for r in stack.store.read_stream(f"user-{user}")]


def checked(stack: Stack, user: int) -> int:
    """verify is ok and the session's balance equals the ledger folded from the log; returns the balance."""
    ok, lines = ops.verify(stack.store)
    assert ok, lines
    balance = [e.balance for e in ledger.entries(stack.store.read_stream(f"user-{user}"))][-1]
    assert stack.info(user).state["credits"] == balance
    return balance


def start(fake: FakeBotAPI, stack: Stack, user: int) -> None:
    fake.push_text(user, "/start")
    wait_until(lambda: fake.messages_to(user), what="the welcome")


def test_buy_invoice_pre_checkout_and_payment_grant_once(stack, fake):
    start(fake, stack, 42)
    fake.push_text(42, "/credits")
    assert wait_until(lambda: fake.messages_to(42)[1:], what="/credits")[0].endswith("More credits or premium: /buy")
    fake.push_text(42, "/buy")
    offer = wait_until(lambda: [m for m in fake.sent if m["reply_markup"]], what="the packs")[0]
    buttons = [row[0] for row in offer["reply_markup"]["inline_keyboard"]]
    assert [b["callback_data"] for b in buttons] == ["buy:100cr", "buy:500cr", "buy:premium30d"]
    assert "50" in buttons[0]["text"] and "500" in buttons[2]["text"]
    fake.push_callback(42, "buy:premium30d")
    [invoice] = wait_until(lambda: fake.invoices, what="the invoice")
    assert (invoice["chat_id"], invoice["currency"], invoice["amount"]) == (42, "XTR", 500)
    order = SECRET.verify(invoice["payload"])
    assert order is not None and (order.user_id, order.pack, order.stars) == (42, "premium30d", 500)
    before = types(stack, 42)
    query = fake.push_pre_checkout(42, invoice["payload"], 500)
    answer = wait_until(lambda: fake.checkouts.get(query), what="the pre-checkout answer")
    assert answer["ok"] and answer["delay"] < 10
    assert types(stack, 42) == before  # nothing granted at pre-checkout
    fake.push_payment(42, invoice["payload"], 500, "ch-1", copies=2)  # delivered twice
    receipt = wait_until(lambda: [t for t in fake.messages_to(42) if "Payment received" in t], what="receipt")
    assert "premium until" in receipt[0] and "Balance: 100 credits" in receipt[0]
    fake.push_payment(42, invoice["payload"], 500, "ch-1")  # a third delivery, new update
    wait_until(lambda: len([t for t in fake.messages_to(42) if "Payment received" in t]) == 2, what="again")
    assert types(stack, 42).count("StarsPaymentReceived") == 1 and types(stack, 42).count("PremiumGranted") == 1
    assert stack.info(42).state["premium_until"] == stack.clock.now_ms() + 30 * 86_400_000
    document = ops.audit_payments(stack.store)
    assert [(p["user_id"], p["charge_id"], p["stars"], p["pack"], p["granted"], p["refunded"])
            for p in document["payments"]] == [(42, "ch-1", 500, "premium30d", {"premium_days": 30}, None)]
    assert document["totals"]["stars_received"] == 500 and document["totals"]["premium_days_sold"] == 30
    checked(stack, 42)


def test_in_a_group_buy_sends_the_packs_privately_and_terms_are_answered_there(stack, fake):
    start(fake, stack, 42)
    fake.push_text(42, "/buy", chat_id=-100, chat_type="group")
    offer = wait_until(lambda: [m for m in fake.sent if m["reply_markup"]], what="the packs")
    assert [m["chat_id"] for m in offer] == [42]  # invoices go to the user, so the packs do too
    fake.push_text(42, "/terms", chat_id=-100, chat_type="group")
    fake.push_text(7, "/paysupport", chat_id=-100, chat_type="group")  # not even registered: public answers
    wait_until(lambda: len(fake.messages_to(-100)) == 2, what="the answers in the group")
    assert "<b>Terms</b>" in fake.messages_to(-100)[0] and "@payhelp" in fake.messages_to(-100)[1]


def test_pre_checkout_refuses_forged_repriced_foreign_and_banned(stack, fake):
    for user in (42, 43):
        start(fake, stack, user)
    fake.push_text(ADMIN, "/start")
    fake.push_text(ADMIN, "/ban 43")
    wait_until(lambda: "UserBanned" in types(stack, 43), what="the ban")
    forged = payload(42)[:-4] + "AAAA"
    cases = {
        "forged": (42, forged, 50, "not valid"),
        "altered price": (42, payload(42).replace(":50:", ":5:"), 5, "not valid"),
        "paid less": (42, payload(42), 40, "price of this pack has changed"),
        "repriced pack": (42, payload(42, stars=40), 40, "price of this pack has changed"),
        "another user": (44, payload(42), 50, "another user"),
        "banned": (43, payload(43), 50, "suspended"),
    }
    queries = {name: fake.push_pre_checkout(user, body, total) for name, (user, body, total, _) in cases.items()}
    for name, (_, _, _, why) in cases.items():
        answer = wait_until(lambda q=queries[name]: fake.checkouts.get(q), what=f"the answer to {name}")
        assert not answer["ok"] and why in answer["error_message"], name
    assert not any("Stars" in t for t in types(stack, 42) + types(stack, 43))
    checked(stack, 42)


def test_payments_off_buy_says_so_and_changes_nothing(tmp_path, fake):
    stack = start_stack(tmp_path, {})
    bot = start_bot(stack, fake)  # no PAYMENT_SECRET
    try:
        start(fake, stack, 42)
        before = stack.store.last_position()
        for text in ("/buy", "/paysupport", "/terms", "/help", "/credits"):
            fake.push_text(42, text)
        wait_until(lambda: len(fake.messages_to(42)) == 6, what="five answers")
        replies = "\n---\n".join(fake.messages_to(42)[1:])
        assert fake.messages_to(42)[-1].endswith("Autosignals: not included")  # no /buy to point to
        assert "Payments are not available" in replies and "@" not in replies  # no contact set: an admin
        assert "Payment support" in replies and "<b>Terms</b>" in replies
        assert "/buy – credits or premium" in replies
        assert stack.store.last_position() == before and not fake.invoices
        commands = next(c.params["commands"] for c in fake.calls_of("setMyCommands"))
        assert {"buy", "paysupport", "terms"} <= {c["command"] for c in commands}
    finally:
        bot.stop()
        stop_stack(stack)


def test_a_payment_seen_again_after_a_crash_is_not_granted_twice(tmp_path, fake):
    stack = start_stack(tmp_path, {})
    bot = start_bot(stack, fake, {"payments": PAYMENTS})
    start(fake, stack, 42)
    fake.push_payment(42, payload(42, "500cr", 200), 200, "ch-9")
    wait_until(lambda: "CreditsGranted" in types(stack, 42)[2:], what="the grant")
    stop_stack(stack)  # the crash: no clean shutdown of the bot; the receipt may never have gone out
    bot.stop()
    stack = start_stack(tmp_path, {})
    bot = start_bot(stack, fake, {"payments": PAYMENTS})
    try:
        fake.push_payment(42, payload(42, "500cr", 200), 200, "ch-9")  # Telegram delivers it again
        wait_until(lambda: len([t for t in fake.messages_to(42) if "Balance: 600" in t]) >= 1, what="receipt")
        assert types(stack, 42).count("StarsPaymentReceived") == 1
        assert checked(stack, 42) == 600
    finally:
        bot.stop()
        stop_stack(stack)


def test_refunds_retry_settle_once_and_take_back_only_what_is_left(tmp_path, fake):
    stack = start_stack(tmp_path, load_market(klines_dir()))
    bot = start_bot(stack, fake, {"payments": PAYMENTS})
    try:
        start(fake, stack, 42)
        fake.push_text(ADMIN, "/start")
        fake.push_payment(42, payload(42), 50, "ch-a")
        wait_until(lambda: "CreditsGranted" in types(stack, 42)[2:], what="the grant")
        for spent in range(1, 8):  # spend 140 of 200 (one a minute: the rate limit)
            stack.clock.advance(61_000)
            fake.push_text(42, "/analyze BTC")
            wait_until(lambda n=spent: types(stack, 42).count("ManualSignalIssued") == n, what="a charge")
        assert stack.info(42).state["credits"] == 60
        fake.refund_faults.extend(["500", "429"])  # retried with backoff, then refunded
        fake.push_text(ADMIN, "/refund 42 ch-a")
        reply = wait_until(lambda: [t for t in fake.messages_to(ADMIN) if "Refund of ch-a" in t], what="reply")
        assert "40 credits of it were already spent" in reply[0]
        wait_until(lambda: "StarsRefunded" in types(stack, 42), what="the refund")
        assert fake.refunded == ["ch-a"] and len(fake.calls_of("refundStarPayment")) == 3
        revoked = [r.data for r in stack.store.read_stream("user-42") if r.type == "CreditsRevoked"]
        assert revoked == [{"amount": 60, "reason": "stars_refund", "charge_id": "ch-a", "unrecovered": 40}]
        assert checked(stack, 42) == 0
        fake.push_text(ADMIN, "/refund 42 ch-a")  # again: nothing more
        wait_until(lambda: [t for t in fake.messages_to(ADMIN) if "already requested" in t], what="second reply")
        fake.push_text(ADMIN, "/refund 42 nope")
        wait_until(lambda: [t for t in fake.messages_to(ADMIN) if "made no Stars payment" in t], what="refusal")
        assert types(stack, 42).count("RefundRequested") == 1 and len(fake.refunded) == 1
        fake.push_text(42, "/history")
        history = wait_until(lambda: [t for t in fake.messages_to(42) if "Your last signals" in t], what="history")
        assert "bought with Stars · +100 credits" in history[0] and "refunded in Stars · -60" in history[0]
        document = ops.audit_payments(stack.store)
        assert document["payments"][0]["refunded"] == {"status": "refunded", "reason": "admin", "stars": 50,
                                                       "credits_revoked": 60, "unrecovered": 40}
    finally:
        bot.stop()
        stop_stack(stack)


def test_a_banned_payer_is_refunded_and_failures_are_recorded_once(stack, fake):
    start(fake, stack, 43)
    fake.push_text(ADMIN, "/start")
    fake.push_text(ADMIN, "/ban 43")
    wait_until(lambda: "UserBanned" in types(stack, 43), what="the ban")
    fake.refund_faults.append("refunded")  # Telegram says it is refunded already: success
    fake.push_payment(43, payload(43), 50, "ch-b")
    wait_until(lambda: "StarsRefunded" in types(stack, 43), what="the automatic refund")
    assert "CreditsGranted" not in types(stack, 43)[2:] and "CreditsRevoked" not in types(stack, 43)
    fake.refund_faults.append("400")  # Telegram refuses this one for good
    fake.push_payment(43, payload(43), 50, "ch-c")
    wait_until(lambda: "RefundFailed" in types(stack, 43), what="the failed refund")
    [failed] = [r.data for r in stack.store.read_stream("user-43") if r.type == "RefundFailed"]
    assert "CHARGE_NOT_FOUND" in failed["reason"]
    fake.push_text(ADMIN, "/refund 43 ch-c")  # an admin asks again after the failure: this time it goes through
    wait_until(lambda: types(stack, 43).count("StarsRefunded") == 2, what="the second attempt")
    assert fake.refunded == ["ch-c"]  # ch-b was refunded already by Telegram's account
    checked(stack, 43)


def test_a_refund_requested_before_a_crash_is_called_at_the_next_start_once(tmp_path, fake):
    stack = start_stack(tmp_path, {})
    bot = start_bot(stack, fake, {"payments": PAYMENTS})
    start(fake, stack, 42)
    fake.push_payment(42, payload(42), 50, "ch-r")
    wait_until(lambda: "CreditsGranted" in types(stack, 42)[2:], what="the grant")
    bot.stop()
    stack.send(ADMIN, "/start", update_id=500)
    stack.send(ADMIN, "/refund 42 ch-r", update_id=501)  # persisted; no worker runs: the crash before the call
    assert types(stack, 42)[-1] == "RefundRequested" and not fake.refunded
    stop_stack(stack)
    for _ in range(2):  # two starts: one call, one StarsRefunded
        stack = start_stack(tmp_path, {})
        bot = start_bot(stack, fake, {"payments": PAYMENTS})
        try:
            wait_until(lambda s=stack: "StarsRefunded" in types(s, 42), what="the resumed refund")
            assert fake.refunded == ["ch-r"] and types(stack, 42).count("StarsRefunded") == 1
            assert checked(stack, 42) == 100
        finally:
            bot.stop()
            stop_stack(stack)
    assert len(fake.calls_of("refundStarPayment")) == 1



def test_pre_checkout_is_answered_while_an_earlier_update_is_still_being_handled(fake):
    """polling hands a pre_checkout_query to its own task: a handler stuck on an earlier update does not delay it."""
    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message, PreCheckoutQuery

    from telegram_adapter.polling import PollCounters, poll

    async def scenario() -> bool:
        answered = asyncio.Event()
        router = Router()

        @router.message()
        async def stuck(message: Message) -> None:
            await asyncio.wait_for(answered.wait(), 10)  # released only by the later pre-checkout

        @router.pre_checkout_query()
        async def checkout(query: PreCheckoutQuery) -> None:
            await query.answer(ok=True)
            answered.set()

        dispatcher = Dispatcher()
        dispatcher.include_router(router)
        bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
        counters = PollCounters()
        polling = asyncio.create_task(poll(bot, dispatcher, 1, counters))
        fake.push_text(42, "hello")
        fake.push_pre_checkout(42, payload(42), 50)
        try:
            await asyncio.wait_for(answered.wait(), 10)
            while counters.received < 2 or counters.failed:
                await asyncio.sleep(0.01)
        finally:
            polling.cancel()
            await bot.session.close()
        return counters.failed == 0

    assert asyncio.run(scenario())
    assert [a["ok"] for a in fake.checkouts.values()] == [True]


def test_two_processes_seeing_one_payment_grant_it_once(tmp_path):
    from concurrent.futures import Future

    from actors.messages import PaymentReceived, Receipt
    from domain.payments import pack_of

    first, second = start_stack(tmp_path, {}), start_stack(tmp_path, {})
    try:
        first.send(42, "/start")
        second.info(42)  # the second process's session is live with the same stream version
        replies = []
        for stack in (first, second):
            reply: Future = Future()
            stack.sessions.tell(PaymentReceived(42, "ch-2p", 50, "XTR", pack_of("100cr", 50), "o", reply))
            replies.append(reply.result(timeout=20))
        assert all(isinstance(r, Receipt) and r.granted and r.credits == 200 for r in replies)
        assert types(first, 42).count("StarsPaymentReceived") == 1 and types(first, 42).count("CreditsGranted") == 2
        assert checked(first, 42) == 200
    finally:
        stop_stack(first)
        second.store.close()


def test_an_indonesian_buyer_gets_packs_invoice_refusal_and_receipt_in_indonesian(stack, fake):
    fake.push_text(45, "/start", language="id")
    wait_until(lambda: fake.messages_to(45), what="the welcome")
    fake.push_text(45, "/buy", language="id")
    offer = wait_until(lambda: [m for m in fake.sent if m["reply_markup"] and m["chat_id"] == 45], what="packs")[0]
    assert offer["text"].startswith("<b>Beli dengan Telegram Stars</b>")
    assert [row[0]["text"] for row in offer["reply_markup"]["inline_keyboard"]][2] == "Premium 30 hari · 500 ⭐"
    fake.push_callback(45, "buy:500cr")
    [invoice] = wait_until(lambda: fake.invoices, what="the invoice")
    assert invoice["title"] == "500 kredit"
    refused = fake.push_pre_checkout(45, invoice["payload"], 40)
    answer = wait_until(lambda: fake.checkouts.get(refused), what="the refusal")
    assert not answer["ok"] and answer["error_message"].startswith("Harga paket ini sudah berubah.")
    fake.push_payment(45, invoice["payload"], 200, "ch-id")
    receipt = wait_until(lambda: [t for t in fake.messages_to(45) if "Pembayaran diterima" in t], what="receipt")
    assert receipt[0] == "✅ Pembayaran diterima: 500cr.\nSaldo: 600 kredit\nPaket: gratis"
