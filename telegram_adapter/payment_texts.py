"""Every text of the Stars payment flow: the pack list, invoices, pre-checkout refusals, receipts, refunds."""

from __future__ import annotations

from actors.messages import Receipt
from domain.payments import Pack
from telegram_adapter.formatting import day, esc

NOT_AVAILABLE = "Payments are not available right now. Nothing was charged."
LIFETIME_BUYS_NOTHING = "You have lifetime premium: every analysis is free and autosignals are included. " \
                        "There is nothing you need to buy."
CHOOSE = "<b>Buy with Telegram Stars</b>\nChoose a pack; Telegram asks you to confirm the payment.\n" \
         "/terms · /paysupport"
NOT_RECORDED = "Your payment reached us but could not be recorded yet. Please contact /paysupport with the " \
               "date: nothing is lost."
UNKNOWN_PACK = "That pack is no longer on sale. Send /buy to see the current packs."
DEFAULT_TERMS = (
    "<b>Terms</b>\n"
    "Credits and premium are digital goods for this bot, paid in Telegram Stars. Credits pay for analyses; "
    "premium makes every analysis free until it ends. Signals are information, not financial advice. "
    "A purchase that cannot be delivered is refunded in Stars; for any other question about a payment "
    "use /paysupport."
)
REFUSALS = {
    "bad_payload": "This invoice is not valid. Please send /buy and choose a pack again.",
    "no_pack": "This pack is no longer on sale. Please send /buy to see the current packs.",
    "price_changed": "The price of this pack has changed. Please send /buy to get a new invoice.",
    "other_user": "This invoice was issued to another user. Please send /buy yourself.",
    "banned": "Your account is suspended, so it cannot buy anything. Contact /paysupport.",
}


def pack_label(pack: Pack) -> str:
    """A pack as one short line (button label and invoice title, at most 32 characters)."""
    what = f"{pack.credits} credits" if pack.credits else f"{pack.days} days premium"
    return f"{what} · {pack.stars} ⭐"


def invoice_title(pack: Pack) -> str:
    return f"{pack.credits} credits" if pack.credits else f"{pack.days} days of premium"


def invoice_description(pack: Pack) -> str:
    if pack.credits:
        return f"{pack.credits} credits for signalbot analyses (an /analyze costs 20). They never expire."
    return f"{pack.days} days of premium: every analysis free. Extends any premium you already have."


def paysupport_text(contact: str) -> str:
    where = esc(contact) if contact else "an admin of this bot"
    return f"<b>Payment support</b>\nFor a question about a payment or a refund, write to {where}. " \
           "Please include the date and the pack."


def receipt_text(receipt: Receipt) -> str:
    """The answer to a successful payment: what was granted and the balance now, or that it is refunded."""
    if not receipt.granted:
        return "Thank you. This payment cannot be honoured, so your Stars are being refunded. /paysupport"
    if receipt.lifetime:
        tier = "lifetime premium"
    elif receipt.premium_until:
        tier = f"premium until {day(receipt.premium_until)}"
    else:
        tier = "free"
    return f"✅ Payment received: {esc(receipt.pack)}.\nBalance: {receipt.credits} credits\nTier: {tier}"


def refund_requested_text(user_id: int, charge_id: str, new: bool, unrecoverable: int) -> str:
    """An admin's /refund reply: requested (or already), and how many credits cannot be taken back."""
    head = f"Refund of {esc(charge_id)} to user {user_id} " + ("requested." if new else "was already requested.")
    if unrecoverable:
        return head + f" {unrecoverable} credits of it were already spent and cannot be taken back."
    return head
