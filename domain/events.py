"""The event catalogue: every event type as a frozen dataclass with a schema version.

Payload field names follow DESIGN.md ("extend, never rename"). The schema version is
stored in an event's `meta["schema"]`; `upcast` (handed to `EventStore.open`) turns an old
payload into the current one at read time, so old logs stay readable forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol

Payload = dict[str, Any]
USER_STREAM_PREFIX = "user-"


class LoggedEvent(Protocol):
    """What projections need of a committed event (eventstore.Recorded has it)."""

    position: int
    stream: str
    type: str
    data: dict[str, Any]
    recorded_at: int


def user_stream(user_id: int) -> str:
    """The stream a user's session writes: `user-<id>`."""
    return f"{USER_STREAM_PREFIX}{user_id}"


def user_of(stream: str) -> int | None:
    """The Telegram id of a `user-<id>` stream; None for any other stream."""
    if not stream.startswith(USER_STREAM_PREFIX):
        return None
    try:
        return int(stream[len(USER_STREAM_PREFIX) :])
    except ValueError:
        return None

REGISTRY: dict[str, type[Event]] = {}
# (type, from_version) -> function turning a payload of from_version into from_version + 1
UPCASTERS: dict[tuple[str, int], Callable[[Payload], Payload]] = {}


@dataclass(frozen=True)
class Event:
    """Base of every domain event; subclasses register themselves by class name."""

    schema: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        REGISTRY[cls.__name__] = cls

    @property
    def type(self) -> str:
        return type(self).__name__

    def payload(self) -> Payload:
        return asdict(self)


def upcaster(type_name: str, from_version: int) -> Callable[[Callable[[Payload], Payload]], Callable]:
    """Register a function that lifts `type_name` payloads from `from_version` by one."""

    def register(fn: Callable[[Payload], Payload]) -> Callable[[Payload], Payload]:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


def upcast(type_name: str, schema_version: int | None, data: Payload) -> Payload:
    """Bring a stored payload up to the current schema of its type (unknown types pass through)."""
    cls = REGISTRY.get(type_name)
    if cls is None:
        return data
    version = schema_version or 1
    while version < cls.schema:
        data = UPCASTERS[(type_name, version)](data)
        version += 1
    return data


def decode(type_name: str, data: Payload) -> Event:
    """Turn a (current-schema) payload into its event; unknown keys are ignored, so adding fields is safe."""
    cls = REGISTRY[type_name]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


# --- user-<telegram id> (writer: UserSession) ---------------------------------------------


@dataclass(frozen=True)
class UserRegistered(Event):
    """`language` is the bot's language for this user (`domain.language.LANGUAGES`), from Telegram's at /start."""

    schema: ClassVar[int] = 2
    chat_id: int
    username: str | None = None
    language: str = "en"


@upcaster("UserRegistered", 1)
def _language_chosen(data: Payload) -> Payload:
    """Schema 1 stored Telegram's language_code as given (or none): now the language the bot speaks."""
    from domain.language import from_telegram  # domain.language folds these events: imported late

    return {**data, "language": from_telegram(data.get("language"))}


@dataclass(frozen=True)
class LanguageChanged(Event):
    """/language: the language the bot speaks to this user from now on."""

    language: str


@dataclass(frozen=True)
class CreditsGranted(Event):
    amount: int
    reason: str  # welcome | admin | weekly | refund | purchase
    by: int | None = None
    at: int | None = None  # ms UTC of a welcome/weekly grant: starts the 7-day top-up clock
    signal_id: str | None = None  # a refund's failed manual signal: one refund per signal
    charge_id: str | None = None  # a purchase's telegram_payment_charge_id


@dataclass(frozen=True)
class ManualSignalIssued(Event):
    signal_id: str
    update_id: int
    cost: int
    signal: Payload
    chat_id: int | None = None  # where to deliver; the user's id (private chat) when absent
    at: int | None = None  # ms UTC the request was served: counts toward the rate limit
    reply_to: int | None = None  # in a group: the command's message, which the signal answers


@dataclass(frozen=True)
class NoSetupServed(Event):
    """A signal request answered with a market read and no setup: nothing charged, but it was served."""

    update_id: int
    kind: str  # analyze | futures | signals
    at: int  # ms UTC


@dataclass(frozen=True)
class PremiumGranted(Event):
    until: int | None  # ms UTC; None with lifetime=True
    lifetime: bool = False
    by: int | None = None
    charge_id: str | None = None  # a purchase's telegram_payment_charge_id


@dataclass(frozen=True)
class PremiumRevoked(Event):
    by: int | None = None


@dataclass(frozen=True)
class AutoSignalGranted(Event):
    until: int  # ms UTC
    by: int | None = None


@dataclass(frozen=True)
class AutoSignalMuted(Event):
    pass


@dataclass(frozen=True)
class AutoSignalUnmuted(Event):
    pass


@dataclass(frozen=True)
class UserBanned(Event):
    by: int | None = None


@dataclass(frozen=True)
class UserUnbanned(Event):
    by: int | None = None


@dataclass(frozen=True)
class BotBlocked(Event):
    pass


@dataclass(frozen=True)
class BotUnblocked(Event):
    pass


@dataclass(frozen=True)
class FollowupsToggled(Event):
    enabled: bool  # follow-ups (TP1, TP2, stop, expiry) of delivered signals; on by default


@dataclass(frozen=True)
class StarsPaymentReceived(Event):
    """Telegram confirmed a payment (successful_payment); appended with its grant or its RefundRequested."""

    charge_id: str  # telegram_payment_charge_id: one payment per charge
    amount: int  # Stars
    currency: str
    pack: str | None  # None when the payload could not be verified (it is refunded)
    order_id: str | None
    at: int | None = None  # ms UTC


@dataclass(frozen=True)
class RefundRequested(Event):
    """A refund of `charge_id` is owed; the refund worker calls refundStarPayment."""

    charge_id: str
    amount: int  # Stars
    reason: str  # admin | banned | unverified
    by: int | None = None


@dataclass(frozen=True)
class StarsRefunded(Event):
    """Telegram refunded `charge_id`; appended with what the purchase granted taken back."""

    charge_id: str
    amount: int  # Stars


@dataclass(frozen=True)
class RefundFailed(Event):
    charge_id: str
    reason: str  # Telegram's refusal, or unreachable after bounded retries


@dataclass(frozen=True)
class CreditsRevoked(Event):
    """Credits taken back (a refunded purchase); never more than the balance."""

    amount: int
    reason: str  # stars_refund
    charge_id: str | None = None
    unrecovered: int = 0  # credits the purchase granted that were already spent


@dataclass(frozen=True)
class PremiumShortened(Event):
    """A refunded premium pack: the premium end moves back by the time that charge added."""

    ms: int
    charge_id: str


@dataclass(frozen=True)
class ChartsToggled(Event):
    enabled: bool  # signals as a chart with the text as caption; on by default (off: text only)


@dataclass(frozen=True)
class ChartRequested(Event):
    """A /chart served: free, but it counts toward the signal-request rate limit."""

    update_id: int
    symbol: str
    interval: str
    at: int  # ms UTC


# --- autosignal (writer: AutoSignal) -----------------------------------------------------


@dataclass(frozen=True)
class AutoSignalIssued(Event):
    signal_id: str
    signal: Payload
    recipients: list[int]


@dataclass(frozen=True)
class CooldownStarted(Event):
    symbol: str
    side: str
    until: int  # market time, ms


@dataclass(frozen=True)
class CooldownCleared(Event):
    symbol: str
    side: str
    by: int | None = None


@dataclass(frozen=True)
class AutoSignalEnabled(Event):
    by: int | None = None


@dataclass(frozen=True)
class AutoSignalDisabled(Event):
    by: int | None = None


# --- outbox (writer: Sender) -------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryAttempted(Event):
    signal_id: str
    chat_id: int


@dataclass(frozen=True)
class SignalDelivered(Event):
    signal_id: str
    chat_id: int
    message_id: int


@dataclass(frozen=True)
class DeliveryFailed(Event):
    signal_id: str
    chat_id: int
    reason: str  # blocked | bad_request | expired | migrated | unreachable | error
    detail: str | None = None  # Telegram's description, or the last error after bounded retries


@dataclass(frozen=True)
class DeliveryRedirected(Event):
    """The chat became another (a group upgraded to a supergroup): the delivery is owed to `to_chat_id` now."""

    signal_id: str
    chat_id: int
    to_chat_id: int


# --- outcomes (writer: OutcomeTracker; the backtest writes the same) ------------------------


@dataclass(frozen=True)
class SignalEntered(Event):
    signal_id: str
    price: float  # the fill: the open of the candle after the signal's (a market entry)
    open_time: int


@dataclass(frozen=True)
class TargetHit(Event):
    signal_id: str
    target: str  # tp1 | tp2
    price: float
    open_time: int


@dataclass(frozen=True)
class StopHit(Event):
    signal_id: str
    price: float
    open_time: int


@dataclass(frozen=True)
class SignalExpired(Event):
    signal_id: str
    price: float | None  # None: no candle after the signal ever arrived (never filled)
    open_time: int | None


@dataclass(frozen=True)
class SignalClosed(Event):
    signal_id: str
    result_r: float  # after fees, in units of |stated entry - stop|
    result_pct: float  # raw price move of the position, % of the fill, before fees
    reason: str  # tp2 | stop | tp1_then_stop | expired
    bars: int  # candles from the signal's to the closing one (the next candle is bar 1)


# --- strategy (writer: the process at start) ------------------------------------------------


@dataclass(frozen=True)
class StrategyLoaded(Event):
    """The strategy parameters every later signal carries (`strategy_version`), and their file's sha256."""

    version: str
    sha256: str
