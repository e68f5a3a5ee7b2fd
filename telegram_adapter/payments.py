"""Telegram Stars on the adapter's side: the pack keyboard, invoices, pre-checkout, successful payments.

Pre-checkout is answered here, at once, from the signed payload, the current packs and the
`PaymentsView` projection of the log (bans): no actor is asked, so Telegram's 10 s limit holds
(polling hands these updates off without waiting, see `polling`; the webhook handles each POST on its
own). Nothing is granted before `successful_payment`, which goes to the user's session: it appends the
payment and its grant once per charge; the update is confirmed to Telegram (the offset, or the POST's
answer) and the receipt sent only after that append.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from aiogram import Bot, F, Router
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    Update,
)

from actors.messages import PaymentReceived, Receipt
from domain.payments import (
    CURRENCY,
    DEFAULT_PACKS,
    Catalogue,
    Order,
    Pack,
    PaymentSecret,
    PaymentsView,
    checkout_refusal,
    pack_of,
    parse_packs,
)
from telegram_adapter import payment_texts as texts
from telegram_adapter.catalogue import text
from telegram_adapter.loop_filter import OnLoop
from telegram_adapter.router import SeenUpdates
from telegram_adapter.send_errors import describe

log = logging.getLogger(__name__)

BUY_PREFIX = "buy:"
REPLY_TIMEOUT_S = 30.0
RECORD_ATTEMPTS = 3


@dataclass(frozen=True)
class PaymentsConfig:
    """PAYMENT_SECRET (payments are on only with it), PACKS, PAYSUPPORT_CONTACT."""

    secret: PaymentSecret | None
    catalogue: Catalogue
    support: str = ""

    @classmethod
    def off(cls) -> PaymentsConfig:
        """Payments off (no PAYMENT_SECRET): /buy says so; a payment that still arrives is refunded."""
        return cls(None, parse_packs(DEFAULT_PACKS))

    @property
    def on(self) -> bool:
        return self.secret is not None

    def local_reply(self, name: str, lang: str) -> str | None:
        """The adapter's own answer to /paysupport, /terms, or /buy while payments are off; else None."""
        if name == "paysupport":
            return texts.paysupport_text(self.support, lang)
        if name == "terms":
            return text(lang, "terms")
        if name == "buy" and not self.on:
            return text(lang, "payments-unavailable")
        return None

    def keyboard(self, lang: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[
            [InlineKeyboardButton(text=texts.pack_label(p, lang), callback_data=BUY_PREFIX + p.name)]
            for p in self.catalogue.packs])

    def paid_pack(self, payload: str, payer: int, stars: int, currency: str) -> tuple[Pack | None, str | None]:
        """(pack, order id) of a paid invoice whose payload verifies for this payer and price, else (None, None)."""
        order = self.secret.verify(payload) if self.secret else None
        if order is None or order.user_id != payer or order.stars != stars or currency != CURRENCY:
            return None, None
        try:
            return pack_of(order.pack, order.stars), order.order_id
        except ValueError:
            return None, None


def build_payments_router(config: PaymentsConfig, view: PaymentsView, sessions: Any, sender: Any) -> Router:
    """Handlers for a pack button, pre_checkout_query and successful_payment."""
    router = Router(name="payments")
    seen = SeenUpdates()

    @router.callback_query(OnLoop(F.data.startswith(BUY_PREFIX)))
    async def on_pack(query: CallbackQuery, bot: Bot) -> None:
        pack = config.catalogue.get((query.data or "").removeprefix(BUY_PREFIX))
        lang = view.languages.get(query.from_user.id)
        if pack is None or config.secret is None:
            await query.answer(text(lang, "pack-unknown" if config.on else "payments-unavailable"), show_alert=True)
            return
        await query.answer()
        order = Order(query.from_user.id, pack.name, pack.stars, secrets.token_hex(8))
        try:
            title = texts.invoice_title(pack, lang)
            await bot.send_invoice(chat_id=query.from_user.id, title=title,
                                   description=texts.invoice_description(pack, lang), payload=config.secret.sign(order),
                                   currency=CURRENCY, prices=[LabeledPrice(label=title, amount=pack.stars)])
        except Exception as exc:
            log.warning("sendInvoice to %s failed: %s", query.from_user.id, describe(exc))

    @router.pre_checkout_query()
    async def on_pre_checkout(query: PreCheckoutQuery) -> None:
        order = config.secret.verify(query.invoice_payload) if config.secret else None
        payer = query.from_user.id
        refusal = checkout_refusal(order, config.catalogue, payer, query.currency, query.total_amount,
                                   payer in view.banned)
        if refusal:
            log.warning("pre-checkout %s of user %s refused: %s", query.id, payer, refusal)
        refused = text(view.languages.get(payer), "checkout-" + refusal.replace("_", "-")) if refusal else None
        await query.answer(ok=refusal is None, error_message=refused)

    @router.message(OnLoop(F.successful_payment))
    async def on_paid(message: Message, event_update: Update) -> None:
        """Awaited (in the polling lane, or by the webhook's POST) until the session has recorded the payment,
        so Telegram is told the update was taken only once it is in the log (a stop before then gets it
        delivered again)."""
        paid = message.successful_payment
        payer = message.from_user.id if message.from_user else message.chat.id
        if paid is None or not seen.first_time(event_update.update_id):
            return  # delivered again while this process runs: the session has it already
        pack, order_id = config.paid_pack(paid.invoice_payload, payer, paid.total_amount, paid.currency)
        receipt = await _record(sessions, PaymentReceived(payer, paid.telegram_payment_charge_id, paid.total_amount,
                                                          paid.currency, pack, order_id))
        unrecorded = text(view.languages.get(payer), "payment-not-recorded")
        sender.reply(message.chat.id, texts.receipt_text(receipt) if receipt else unrecorded)

    return router


async def _record(sessions: Any, payment: PaymentReceived) -> Receipt | None:
    """Ask the user's session to record the payment until it answers with a receipt (bounded attempts)."""
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        reply: Future = Future()
        sessions.tell(replace(payment, reply_to=reply))
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(reply), REPLY_TIMEOUT_S)
        except TimeoutError:
            answer = None
        if isinstance(answer, Receipt):
            return answer
        log.error("payment %s of user %s not recorded yet (attempt %d of %d)", payment.charge_id,
                  payment.user_id, attempt, RECORD_ATTEMPTS)
        if attempt < RECORD_ATTEMPTS:
            await asyncio.sleep(attempt)
    return None
