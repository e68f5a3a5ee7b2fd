"""What can be bought with Telegram Stars, and the signed invoice payload that names a purchase.

Pure: no clock, no I/O. `PACKS` is parsed here only, so the prices shown, invoiced and checked
at pre-checkout are one table. A pack's name says what it grants (`100cr`: 100 credits,
`premium30d`: 30 days of premium). The payload is `user:pack:price:order:signature`, the signature
an HMAC-SHA256 (truncated) of the rest under `PAYMENT_SECRET`, so a forged or altered payload fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field

from domain.events import LoggedEvent, user_of
from domain.language import Languages

CURRENCY = "XTR"
DEFAULT_PACKS = "100cr:50,500cr:200,premium30d:500"
MAX_PACKS = 8
MAX_STARS = 100_000
MAX_PAYLOAD_BYTES = 128
_PACK = re.compile(r"(?:([1-9][0-9]{0,5})cr|premium([1-9][0-9]{0,2})d)")
_PAYLOAD = re.compile(r"([1-9][0-9]{0,14}):([a-z0-9]{1,16}):([1-9][0-9]{0,5}):([0-9a-f]{1,32}):([A-Za-z0-9_-]{22})")


@dataclass(frozen=True)
class Pack:
    """One thing for sale: `credits` credits or `days` days of premium, for `stars` Stars."""

    name: str
    stars: int
    credits: int = 0
    days: int = 0


class PaymentSecret:
    """PAYMENT_SECRET: signs and verifies payloads; its repr never shows it."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("PAYMENT_SECRET is empty")
        self._key = secret.encode()

    def __repr__(self) -> str:
        return "PaymentSecret(***)"

    def sign(self, order: Order) -> str:
        """The payload of `order`; ValueError for an order the payload grammar cannot carry (e.g. a non-hex id)."""
        body = f"{order.user_id}:{order.pack}:{order.stars}:{order.order_id}"
        payload = f"{body}:{self._mac(body)}"
        if self.verify(payload) != order:
            raise ValueError(f"order {order!r} cannot be carried by an invoice payload")
        return payload

    def verify(self, payload: str) -> Order | None:
        """The order a payload names, or None when it is malformed or its signature does not match."""
        match = _PAYLOAD.fullmatch(payload or "")
        if not match:
            return None
        user, pack, stars, order_id, mac = match.groups()
        if not hmac.compare_digest(mac, self._mac(f"{user}:{pack}:{stars}:{order_id}")):
            return None
        return Order(int(user), pack, int(stars), order_id)

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Order:
    """What an invoice was issued for: who, which pack, at what price, and a unique order id."""

    user_id: int
    pack: str
    stars: int
    order_id: str


@dataclass(frozen=True)
class Catalogue:
    """The packs on sale (from PACKS), by name in the order given."""

    packs: tuple[Pack, ...] = field(default_factory=tuple)

    def get(self, name: str) -> Pack | None:
        return next((p for p in self.packs if p.name == name), None)


def pack_of(name: str, stars: int) -> Pack:
    """The pack a name describes; ValueError for a name that is not `<N>cr` or `premium<N>d`."""
    match = _PACK.fullmatch(name)
    if not match:
        raise ValueError(f"{name!r} is not a pack name such as 100cr or premium30d")
    credits, days = match.groups()
    return Pack(name, stars, int(credits or 0), int(days or 0))


def parse_packs(text: str) -> Catalogue:
    """`100cr:50,premium30d:500` -> the catalogue; ValueError naming what is wrong."""
    packs: list[Pack] = []
    for item in (part.strip() for part in text.split(",")):
        name, colon, stars = item.partition(":")
        if not colon or not stars.isdigit() or not 1 <= int(stars) <= MAX_STARS:
            raise ValueError(f"{item!r} must look like NAME:STARS with 1 to {MAX_STARS} Stars, e.g. 100cr:50")
        if any(p.name == name for p in packs):
            raise ValueError(f"pack {name!r} is listed twice")
        packs.append(pack_of(name, int(stars)))
    if not 1 <= len(packs) <= MAX_PACKS:
        raise ValueError(f"between 1 and {MAX_PACKS} packs")
    return Catalogue(tuple(packs))


def checkout_refusal(order: Order | None, catalogue: Catalogue, payer: int, currency: str, total: int,
                     banned: bool) -> str | None:
    """Why a pre-checkout query must be refused (a code for the adapter to word), or None when it may go on."""
    if order is None:
        return "bad_payload"
    pack = catalogue.get(order.pack)
    if pack is None:
        return "no_pack"
    if currency != CURRENCY or total != order.stars or total != pack.stars:
        return "price_changed"
    if payer != order.user_id:
        return "other_user"
    return "banned" if banned else None


@dataclass(frozen=True)
class OwedStarRefund:
    user_id: int
    charge_id: str


class PaymentsView:
    """The adapter's projection of the log: who is banned (for pre-checkout), which language each user reads,
    and which Stars refunds are requested and not yet settled (for the refund worker, which resumes them after
    a restart)."""

    def __init__(self) -> None:
        self.banned: set[int] = set()
        self.pending: dict[str, OwedStarRefund] = {}
        self.languages = Languages()  # each payer's, for the invoice and the pre-checkout answer
        self.position = 0

    def apply(self, rec: LoggedEvent) -> list[OwedStarRefund]:
        """Fold one event; returns the refund it made owed (a RefundRequested), else []."""
        if rec.position <= self.position:
            return []
        self.position = rec.position
        self.languages.apply(rec)
        user = user_of(rec.stream)
        if user is None:
            return []
        match rec.type:
            case "UserBanned":
                self.banned.add(user)
            case "UserUnbanned":
                self.banned.discard(user)
            case "RefundRequested":
                owed = self.pending[rec.data["charge_id"]] = OwedStarRefund(user, rec.data["charge_id"])
                return [owed]
            case "StarsRefunded" | "RefundFailed":
                self.pending.pop(rec.data["charge_id"], None)
        return []
