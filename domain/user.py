"""The user's ledger and tier as a pure decider: credits, charges, top-ups, premium, bans.

No clock, no I/O: the session passes `now` (ms UTC) and persists what `decide` returns.
`evolve(state, event, key)` folds one event; `key` is the Telegram update_id stored in the
event's meta, so replaying the stream restores the idempotency mark too.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from domain.events import (
    AutoSignalGranted,
    AutoSignalMuted,
    AutoSignalUnmuted,
    BotBlocked,
    BotUnblocked,
    ChartRequested,
    ChartsToggled,
    CreditsGranted,
    CreditsRevoked,
    Event,
    FollowupsToggled,
    LanguageChanged,
    ManualSignalIssued,
    NoSetupServed,
    PremiumGranted,
    PremiumRevoked,
    PremiumShortened,
    RefundFailed,
    RefundRequested,
    StarsPaymentReceived,
    StarsRefunded,
    UserBanned,
    UserRegistered,
    UserUnbanned,
)
from domain.language import LANGUAGES, from_telegram
from domain.payments import Pack, pack_of
from domain.rejection import Rejection

DAY_MS = 86_400_000
WELCOME_CREDITS = 100
TOPUP_LEVEL = 100
TOPUP_EVERY_MS = 7 * DAY_MS
COSTS: dict[str, int] = {"analyze": 20, "futures": 20, "signals": 60}
MAX_ADMIN_GRANT = 1_000_000
MAX_GRANT_DAYS = 3650
PREMIUM_PERIODS: dict[str, int | None] = {"30d": 30 * DAY_MS, "90d": 90 * DAY_MS, "lifetime": None}
FUTURES_INTERVALS = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")  # Binance spelling, case-sensitive
RATE_LIMIT = 5  # served signal requests (charged or no-setup) per window
RATE_WINDOW_MS = 60_000
SNAPSHOT_SCHEMA = 3  # 3: language is the bot's language, never None

_SYMBOL = re.compile(r"[A-Za-z0-9]{2,20}")
_DAYS = re.compile(r"([1-9][0-9]{0,3})d")


@dataclass(frozen=True)
class Purchase:
    """One Stars payment as the user's state needs it for a refund."""

    stars: int
    pack: str | None = None
    credits: int = 0  # credits it granted
    premium_ms: int = 0  # premium time it added


@dataclass(frozen=True)
class UserState:
    """Everything the rules need about one user; rebuilt by folding the user's stream."""

    user_id: int
    registered: bool = False
    chat_id: int | None = None
    username: str | None = None
    language: str = "en"
    credits: int = 0
    last_topup_ms: int | None = None  # when the last welcome or weekly grant was made
    premium_until: int | None = None
    lifetime: bool = False
    autosignal_until: int | None = None
    muted: bool = False
    banned: bool = False
    blocked: bool = False
    followups: bool = True
    charts: bool = True
    last_update_id: int = 0
    signals: int = 0
    served_at: tuple[int, ...] = ()  # ms UTC of the last RATE_LIMIT served signal requests
    refunded: tuple[str, ...] = ()  # signal_ids already refunded (failed deliveries only)
    purchases: dict[str, Purchase] = field(default_factory=dict)  # charge_id -> what it paid and granted
    star_refunds: dict[str, str] = field(default_factory=dict)  # charge_id -> pending | refunded | failed

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SNAPSHOT_SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState | None:
        """The state in a snapshot, or None when the snapshot is of another schema."""
        if data.get("schema") != SNAPSHOT_SCHEMA:
            return None
        names = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        try:
            values["purchases"] = {k: Purchase(**v) for k, v in values.get("purchases", {}).items()}
            return cls(**values)
        except (TypeError, AttributeError):  # a damaged snapshot: replay the stream instead
            return None

    def is_premium(self, now: int) -> bool:
        return self.lifetime or (self.premium_until is not None and self.premium_until > now)

    def tier(self, now: int) -> str:
        if self.lifetime:
            return "lifetime"
        return "premium" if self.is_premium(now) else "free"

    def autosignals_included(self, now: int, admin: bool = False) -> bool:
        """Whether autosignals are part of this user's deal, muted or not: as `domain.recipients` chooses, an
        admin receives them whatever the plan."""
        return admin or self.lifetime or (self.autosignal_until is not None and self.autosignal_until > now)

    def receives_autosignals(self, now: int, admin: bool = False) -> bool:
        return self.autosignals_included(now, admin) and not self.muted


# --- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """/start; `language` is Telegram's language_code for the user (the bot speaks Indonesian for `id`)."""

    update_id: int
    chat_id: int
    username: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class SetLanguage:
    """/language CODE: the code as typed."""

    update_id: int
    language: str


@dataclass(frozen=True)
class Touch:
    """Any served command: applies a due weekly top-up."""

    update_id: int


@dataclass(frozen=True)
class IssueSignal:
    """Charge for a delivered signal and record it, atomically."""

    update_id: int
    kind: str  # analyze | futures | signals
    signal: dict[str, Any]
    chat_id: int | None = None
    reply_to: int | None = None  # the command's message when asked in a group


@dataclass(frozen=True)
class ServeNoSetup:
    """A signal request answered with a market read and no setup: free, but it counts toward the rate limit."""

    update_id: int
    kind: str  # analyze | futures | signals


@dataclass(frozen=True)
class Refund:
    """Give back what a manual signal cost when its delivery failed; once per signal."""

    signal_id: str
    amount: int


@dataclass(frozen=True)
class SetMute:
    update_id: int
    muted: bool


@dataclass(frozen=True)
class SetFollowups:
    update_id: int
    enabled: bool


@dataclass(frozen=True)
class SetCharts:
    update_id: int
    enabled: bool


@dataclass(frozen=True)
class ServeChart:
    """A /chart answered with the current analysis: free, but it counts toward the rate limit."""

    update_id: int
    symbol: str
    interval: str


@dataclass(frozen=True)
class Contact:
    """The user wrote to the bot: if they had blocked it, they have unblocked it."""


@dataclass(frozen=True)
class MarkBlocked:
    """The Sender found that the user blocked the bot."""


@dataclass(frozen=True)
class GrantCredits:
    update_id: int
    by: int
    amount: int


@dataclass(frozen=True)
class SetPremium:
    update_id: int
    by: int
    period: str  # 30d | 90d | lifetime


@dataclass(frozen=True)
class RevokePremium:
    update_id: int
    by: int


@dataclass(frozen=True)
class GrantAutoSignal:
    update_id: int
    by: int
    days: int


@dataclass(frozen=True)
class Ban:
    update_id: int
    by: int


@dataclass(frozen=True)
class Unban:
    update_id: int
    by: int


@dataclass(frozen=True)
class ReceivePayment:
    """Telegram's successful_payment: grant the pack once per charge (a payment that cannot be honoured
    is refunded instead). `pack` is None when the invoice payload did not verify."""

    charge_id: str
    stars: int
    currency: str
    pack: Pack | None
    order_id: str | None


@dataclass(frozen=True)
class RequestRefund:
    """An admin asks to refund a Stars payment."""

    update_id: int
    by: int
    charge_id: str


@dataclass(frozen=True)
class SettleRefund:
    """The refund worker's outcome for `charge_id`: refunded (ok) or failed with `reason`."""

    charge_id: str
    ok: bool
    reason: str = ""


Command = (
    Register | SetLanguage | Touch | IssueSignal | ServeNoSetup | Refund | SetMute | SetFollowups | Contact
    | MarkBlocked | GrantCredits | SetPremium | RevokePremium | GrantAutoSignal | Ban | Unban | ReceivePayment
    | RequestRefund | SettleRefund | SetCharts | ServeChart
)


# --- pure helpers the shell and the adapter share -----------------------------------------


def normalize_symbol(text: str) -> str | Rejection:
    """`btc`, `BTC` and `BTCUSDT` all mean BTCUSDT; anything else gets a clear reason."""
    if not _SYMBOL.fullmatch(text or ""):
        return Rejection("bad_symbol")
    symbol = text.upper()
    return symbol if symbol.endswith("USDT") else symbol + "USDT"


def parse_days(text: str) -> int | Rejection:
    """`30d` -> 30 (1..3650)."""
    match = _DAYS.fullmatch(text or "")
    if not match or int(match.group(1)) > MAX_GRANT_DAYS:
        return Rejection("bad_days", max=MAX_GRANT_DAYS)
    return int(match.group(1))


def topup_due(state: UserState, now: int) -> int:
    """Credits the weekly top-up would add now (0 when not due)."""
    if not state.registered or state.is_premium(now) or state.credits >= TOPUP_LEVEL:
        return 0
    if state.last_topup_ms is not None and now - state.last_topup_ms <= TOPUP_EVERY_MS:
        return 0
    return TOPUP_LEVEL - state.credits


def cost_of(state: UserState, kind: str, now: int) -> int:
    return 0 if state.is_premium(now) else COSTS[kind]


def affordable(state: UserState, kind: str, now: int) -> Rejection | None:
    """None when the user may buy `kind` now (counting a due top-up), else why not."""
    cost = cost_of(state, kind, now)
    balance = state.credits + topup_due(state, now)
    if balance >= cost:
        return None
    return Rejection("insufficient_credits", command=kind, cost=cost, balance=balance)


def account(state: UserState, now: int, admin: bool = False) -> dict[str, Any]:
    """What /credits shows, as data: balance, tier (free | premium | lifetime) and the autosignal status
    (on | until | muted | not_included), for an admin too (who receives autosignals on any plan)."""
    if state.receives_autosignals(now, admin):
        autosignals = "until" if state.autosignal_until and not (state.lifetime or admin) else "on"
    elif state.muted and state.autosignals_included(now, admin):
        autosignals = "muted"
    else:
        autosignals = "not_included"
    return {"credits": state.credits, "tier": state.tier(now), "premium_until": state.premium_until,
            "autosignals": autosignals, "autosignal_until": state.autosignal_until}


def rate_wait_ms(state: UserState, now: int) -> int:
    """ms until one more signal request may be served (0: now): at most RATE_LIMIT per RATE_WINDOW_MS."""
    recent = [at for at in state.served_at if now - at < RATE_WINDOW_MS]
    if len(recent) < RATE_LIMIT:
        return 0
    return recent[-RATE_LIMIT] + RATE_WINDOW_MS - now


def signal_id(user_id: int, update_id: int) -> str:
    return f"m:{user_id}:{update_id}"


# --- decide / evolve ---------------------------------------------------------------------


def decide(state: UserState, command: Command, now: int) -> list[Event] | Rejection:
    """The events a command causes, or why it is refused. A repeat of an applied update is []."""
    update_id = getattr(command, "update_id", None)
    if update_id is not None and update_id <= state.last_update_id:
        return []
    match command:
        case Register(_, chat_id, username, language):
            if state.registered:
                return []
            return [
                UserRegistered(chat_id, username, from_telegram(language)),
                CreditsGranted(WELCOME_CREDITS, "welcome", at=now),
            ]
        case Contact():
            return [BotUnblocked()] if state.blocked else []
        case MarkBlocked():
            return [BotBlocked()] if state.registered and not state.blocked else []
        case ReceivePayment() | SettleRefund():
            return _decide_payment(state, command, now)
    if not state.registered:
        return Rejection("not_registered_user", user=state.user_id)
    match command:
        case Touch():
            return _topup(state, now)
        case IssueSignal(update_id, kind, signal, chat_id, reply_to):
            refused = affordable(state, kind, now)
            if refused:
                return refused
            issued = ManualSignalIssued(
                signal_id(state.user_id, update_id), update_id, cost_of(state, kind, now), signal,
                chat_id if chat_id is not None else state.chat_id, at=now, reply_to=reply_to,
            )
            return [*_topup(state, now), issued]
        case ServeNoSetup(update_id, kind):
            return [*_topup(state, now), NoSetupServed(update_id, kind, now)]
        case Refund(refunded_id, amount):
            if refunded_id in state.refunded:
                return []
            if amount <= 0 or not refunded_id.startswith(f"m:{state.user_id}:"):
                return Rejection("not_a_paid_signal", signal=refunded_id, user=state.user_id)
            return [CreditsGranted(amount, "refund", signal_id=refunded_id)]
        case SetMute(_, muted):
            if muted == state.muted:
                return []
            return [AutoSignalMuted() if muted else AutoSignalUnmuted()]
        case SetFollowups(_, enabled):
            return [] if enabled == state.followups else [FollowupsToggled(enabled)]
        case SetCharts(_, enabled):
            return [] if enabled == state.charts else [ChartsToggled(enabled)]
        case ServeChart(update_id, symbol, interval):
            return [*_topup(state, now), ChartRequested(update_id, symbol, interval, now)]
        case SetLanguage(_, language):
            if language not in LANGUAGES:
                return Rejection("language_unknown", given=language, available=" | ".join(LANGUAGES))
            return [] if language == state.language else [LanguageChanged(language)]
    return _decide_admin(state, command, now)


def _decide_admin(state: UserState, command: Command, now: int) -> list[Event] | Rejection:
    match command:
        case GrantCredits(_, by, amount):
            if not 0 < amount <= MAX_ADMIN_GRANT:
                return Rejection("amount_out_of_range", max=MAX_ADMIN_GRANT)
            return [CreditsGranted(amount, "admin", by)]
        case SetPremium(_, by, period):
            if period not in PREMIUM_PERIODS:
                return Rejection("unknown_period")
            length = PREMIUM_PERIODS[period]
            if length is None:
                return [PremiumGranted(None, True, by)]
            start = max(now, state.premium_until or 0)
            return [PremiumGranted(start + length, False, by)]
        case RevokePremium(_, by):
            if not state.is_premium(now) and state.premium_until is None:
                return Rejection("no_premium", user=state.user_id)
            return [PremiumRevoked(by)]
        case GrantAutoSignal(_, by, days):
            if not 0 < days <= MAX_GRANT_DAYS:
                return Rejection("days_out_of_range", max=MAX_GRANT_DAYS)
            start = max(now, state.autosignal_until or 0)
            return [AutoSignalGranted(start + days * DAY_MS, by)]
        case Ban(_, by):
            return [] if state.banned else [UserBanned(by)]
        case Unban(_, by):
            return [UserUnbanned(by)] if state.banned else []
        case RequestRefund(_, by, charge_id):
            if charge_id not in state.purchases:
                return Rejection("no_such_payment", user=state.user_id, charge=charge_id)
            if state.star_refunds.get(charge_id) in ("pending", "refunded"):
                return []
            return [RefundRequested(charge_id, state.purchases[charge_id].stars, "admin", by)]
    raise TypeError(f"not a user command: {command!r}")


def _decide_payment(state: UserState, command: ReceivePayment | SettleRefund, now: int) -> list[Event]:
    """A payment grants its pack once per charge (or is refunded); a settled refund takes back what it granted."""
    match command:
        case ReceivePayment(charge_id, stars, currency, pack, order_id):
            if charge_id in state.purchases:
                return []
            received = StarsPaymentReceived(charge_id, stars, currency, pack and pack.name, order_id, at=now)
            if pack is None or state.banned:  # paid, but cannot be honoured: recorded and refunded
                return [received, RefundRequested(charge_id, stars, "unverified" if pack is None else "banned")]
            if pack.credits:
                return [received, CreditsGranted(pack.credits, "purchase", charge_id=charge_id)]
            start = max(now, state.premium_until or 0)
            return [received, PremiumGranted(start + pack.days * DAY_MS, charge_id=charge_id)]
        case SettleRefund(charge_id, ok, reason):
            if state.star_refunds.get(charge_id) != "pending":
                return []
            if not ok:
                return [RefundFailed(charge_id, reason)]
            bought = state.purchases[charge_id]
            refunded = StarsRefunded(charge_id, bought.stars)
            if bought.premium_ms:
                return [refunded, PremiumShortened(bought.premium_ms if state.premium_until else 0, charge_id)]
            if not bought.credits:
                return [refunded]
            taken = min(bought.credits, max(state.credits, 0))
            return [refunded, CreditsRevoked(taken, "stars_refund", charge_id, bought.credits - taken)]
    return []


def unrecoverable(state: UserState, charge_id: str) -> int:
    """Credits a refund of `charge_id` could not take back now (already spent)."""
    bought = state.purchases.get(charge_id)
    return max(0, bought.credits - max(state.credits, 0)) if bought else 0


def _topup(state: UserState, now: int) -> list[Event]:
    due = topup_due(state, now)
    return [CreditsGranted(due, "weekly", at=now)] if due else []


def evolve(state: UserState, event: Event, key: int | None = None) -> UserState:
    """Fold one event into the state; `key` is the update_id from the event's meta."""
    if key is not None and key > state.last_update_id:
        state = replace(state, last_update_id=key)
    match event:
        case UserRegistered(chat_id, username, language):
            return replace(state, registered=True, chat_id=chat_id, username=username, language=language)
        case CreditsGranted(amount, reason):
            state = _bought(state, event.charge_id, credits=amount)
            state = replace(state, credits=state.credits + amount)
            if reason in ("welcome", "weekly") and event.at is not None:
                state = replace(state, last_topup_ms=event.at)
            if reason == "refund" and event.signal_id is not None:
                state = replace(state, refunded=(*state.refunded, event.signal_id))
            return state
        case ManualSignalIssued():
            state = replace(state, credits=state.credits - event.cost, signals=state.signals + 1)
            return _served(state, event.at)
        case NoSetupServed() | ChartRequested():
            return _served(state, event.at)
        case PremiumGranted(until, lifetime):
            state = _bought(state, event.charge_id, premium=True)
            return replace(state, premium_until=until, lifetime=state.lifetime or lifetime)
        case PremiumRevoked():
            return replace(state, premium_until=None, lifetime=False)
        case AutoSignalGranted(until):
            return replace(state, autosignal_until=until)
        case AutoSignalMuted():
            return replace(state, muted=True)
        case AutoSignalUnmuted():
            return replace(state, muted=False)
        case UserBanned():
            return replace(state, banned=True)
        case UserUnbanned():
            return replace(state, banned=False)
        case BotBlocked():
            return replace(state, blocked=True)
        case BotUnblocked():
            return replace(state, blocked=False)
        case FollowupsToggled(enabled):
            return replace(state, followups=enabled)
        case ChartsToggled(enabled):
            return replace(state, charts=enabled)
        case LanguageChanged(language):
            return replace(state, language=language)
    return _evolve_payment(state, event)


def _evolve_payment(state: UserState, event: Event) -> UserState:
    match event:
        case StarsPaymentReceived(charge_id, stars):
            return replace(state, purchases={**state.purchases, charge_id: Purchase(stars, event.pack)})
        case RefundRequested(charge_id):
            return replace(state, star_refunds={**state.star_refunds, charge_id: "pending"})
        case StarsRefunded(charge_id):
            return replace(state, star_refunds={**state.star_refunds, charge_id: "refunded"})
        case RefundFailed(charge_id):
            return replace(state, star_refunds={**state.star_refunds, charge_id: "failed"})
        case CreditsRevoked(amount):
            return replace(state, credits=state.credits - amount)
        case PremiumShortened(ms) if state.premium_until is not None:
            return replace(state, premium_until=state.premium_until - ms)
    return state


def _bought(state: UserState, charge_id: str | None, credits: int = 0, premium: bool = False) -> UserState:
    """Record what a purchase granted (a grant with a charge_id follows its StarsPaymentReceived)."""
    bought = state.purchases.get(charge_id) if charge_id else None
    if bought is None or charge_id is None:
        return state
    premium_ms = pack_of(bought.pack or "", 0).days * DAY_MS if premium else 0
    return replace(state, purchases={**state.purchases, charge_id: replace(bought, credits=credits,
                                                                          premium_ms=premium_ms)})


def _served(state: UserState, at: int | None) -> UserState:
    """Remember when a signal request was served (events logged before `at` existed carry none)."""
    if at is None:
        return state
    return replace(state, served_at=(*state.served_at, at)[-RATE_LIMIT:])
