"""The Stars payment flow worded in the payer's language: pack labels, invoices, receipts."""

from __future__ import annotations

from actors.messages import Receipt
from domain.payments import Pack
from telegram_adapter.catalogue import Raw, date, text


def pack_label(pack: Pack, lang: str) -> str:
    """A pack as one short line (button label and invoice title, at most 32 characters)."""
    if pack.credits:
        return text(lang, "pack-credits", credits=pack.credits, stars=pack.stars)
    return text(lang, "pack-premium", days=pack.days, stars=pack.stars)


def invoice_title(pack: Pack, lang: str) -> str:
    if pack.credits:
        return text(lang, "invoice-credits", credits=pack.credits)
    return text(lang, "invoice-premium", days=pack.days)


def invoice_description(pack: Pack, lang: str) -> str:
    if pack.credits:
        return text(lang, "invoice-credits-about", credits=pack.credits)
    return text(lang, "invoice-premium-about", days=pack.days)


def paysupport_text(contact: str, lang: str) -> str:
    return text(lang, "paysupport", contact=contact or Raw(text(lang, "paysupport-admin")))


def receipt_text(receipt: Receipt) -> str:
    """The answer to a successful payment: what was granted and the balance now, or that it is refunded."""
    lang = receipt.language
    if not receipt.granted:
        return text(lang, "receipt-refunded")
    if receipt.lifetime:
        tier = text(lang, "tier-lifetime")
    elif receipt.premium_until:
        tier = text(lang, "tier-premium", until=date(receipt.premium_until, lang))
    else:
        tier = text(lang, "tier-free")
    return text(lang, "receipt", pack=str(receipt.pack), credits=receipt.credits, tier=Raw(tier))
