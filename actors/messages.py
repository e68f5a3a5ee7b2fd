"""Every message actors exchange: frozen dataclasses, nothing else crosses an actor boundary.

A request that expects an answer carries `reply_to`: a `concurrent.futures.Future` the
receiver completes (asyncio callers `await asyncio.wrap_future(reply_to)`; actor callers
may instead use pykka's `ask`, which returns the same value). Use `answer()` to do both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pykka

from analysis.candles import Candles, interval_ms
from domain.track_record import Summary


def answer(message: Any, value: Any) -> Any:
    """Complete the message's reply_to future (if any) and return the value for pykka's ask."""
    reply_to = getattr(message, "reply_to", None)
    if reply_to is not None and not reply_to.done():
        reply_to.set_result(value)
    return value


def outcome_of(reply: Future) -> Any:
    """A completed reply future's value, or the exception it failed with."""
    exc = reply.exception()
    return exc if exc is not None else reply.result()


@dataclass(frozen=True)
class Logged:
    """Committed events for the actor that subscribed to the log (from `relay_log`)."""

    records: tuple[Any, ...]  # eventstore.Recorded


def relay_log(actor_ref: Any) -> Callable[[list[Any]], None]:
    """A log subscription callback: on the journal thread, hand the events on as `Logged` and return."""

    def relay(records: list[Any]) -> None:
        try:
            actor_ref.tell(Logged(tuple(records)))
        except pykka.ActorDeadError:
            pass

    return relay


# --- market feed -------------------------------------------------------------------------


@dataclass(frozen=True)
class Kline:
    """One closed candle as the exchange reported it (times in ms UTC)."""

    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @classmethod
    def of(cls, candles: Candles, i: int) -> Kline:
        """The i-th candle of a series (negative counts from the end)."""
        open_time = int(candles.open_time[i])
        return cls(open_time, open_time + interval_ms(candles.interval) - 1, float(candles.open[i]),
                   float(candles.high[i]), float(candles.low[i]), float(candles.close[i]), float(candles.volume[i]))


@dataclass(frozen=True)
class CandleClosed:
    """A closed candle; `fresh` is False for history (initial load, backfill)."""

    symbol: str
    interval: str
    candle: Kline
    fresh: bool


@dataclass(frozen=True)
class GetCandles:
    """Ask the feed for the last `n` closed candles -> `Candles` or `FeedError`."""

    symbol: str
    interval: str
    n: int = 1000
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EnsureStream:
    """Subscribe on demand (with REST history) -> `StreamReady` or `FeedError`.

    `hold` keeps the stream until a matching `ReleaseStream` (an open signal needs its candles);
    a held request is never refused by the cap on on-demand streams.
    """

    symbol: str
    interval: str
    hold: bool = False
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ReleaseStream:
    """The holder of an `EnsureStream(hold=True)` no longer needs the stream (no answer)."""

    symbol: str
    interval: str


@dataclass(frozen=True)
class StreamReady:
    symbol: str
    interval: str
    candles: int


@dataclass(frozen=True)
class FeedError:
    """Why the feed cannot serve a request (unknown symbol, not ready, outage, banned)."""

    reason: str
    kind: str = "unavailable"  # unknown_symbol | not_ready | unavailable | fatal | capacity


@dataclass(frozen=True)
class FeedStats:
    """Ask the feed for its counters -> `FeedCounters`."""

    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FeedCounters:
    frames: int = 0
    reconnects: int = 0
    backfilled: int = 0
    duplicates_dropped: int = 0
    malformed: int = 0
    gaps: int = 0
    closed_emitted: int = 0
    rotations: int = 0  # make-before-break replacements (23 h age, serverShutdown)
    watchdog_trips: int = 0  # silent connection or stale event time forced a reconnect
    rate_limited: int = 0  # HTTP 429/418 answers waited out
    used_weight: int = 0  # last X-MBX-USED-WEIGHT-1M seen
    connections: int = 0  # WebSocket connections currently open
    streams: int = 0  # kline streams subscribed
    streams_dropped: int = 0  # on-demand streams unsubscribed after no one needed them
    fatal: str = ""  # why the feed stopped for good (HTTP 451), else empty


@dataclass(frozen=True)
class GetLivePrice:
    """Ask the feed for the latest in-progress candle -> `Kline` or `FeedError`."""

    symbol: str
    interval: str
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TopSymbols:
    """Ask the feed for the n USDT pairs with the largest 24 h quote volume -> tuple[str, ...]."""

    n: int = 10
    reply_to: Future | None = field(default=None, compare=False)


# --- analysis ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Analyze:
    """Analyze the last closed candle -> `AnalysisResult` or `AnalysisFailed`."""

    symbol: str
    interval: str
    candles: Candles
    mode: str = "causal"
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AnalysisResult:
    result: Any  # analysis.strategy.Signal | analysis.strategy.NoSetup


@dataclass(frozen=True)
class AnalysisFailed:
    reason: str


@dataclass(frozen=True)
class AnalyzeJob:
    """Inside the analyzer pool: the router hands one computation to a worker."""

    key: tuple  # (symbol, interval, last open time, mode)
    candles: Candles
    mode: str
    router: Any  # pykka.ActorRef that receives the `AnalyzeDone`


@dataclass(frozen=True)
class AnalyzeDone:
    """Inside the analyzer pool: a worker's outcome (`AnalysisResult` or `AnalysisFailed`) for a key."""

    key: tuple
    outcome: Any


@dataclass(frozen=True)
class AnalyzerStats:
    """Ask the analyzer pool for its counters -> dict (computed, cached, entries, in_flight)."""

    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SubscribeCandles:
    """Register an actor to receive `CandleClosed` (optionally only for some intervals).

    `watchlist_only` leaves out symbols streamed on demand for a user's request, so a user
    asking about a coin does not add it to what triggers autosignals.
    """

    subscriber: Any  # pykka.ActorRef
    intervals: tuple[str, ...] | None = None
    watchlist_only: bool = False


# --- autosignal admin ------------------------------------------------------------------


@dataclass(frozen=True)
class AutoSignalCommand:
    """An admin's /signal_on, /signal_off, /signal_status, /signal_tick or /cooldown_clear.

    The Telegram adapter routes these to the AutoSignal actor, which answers with a `Reply`.
    """

    update_id: int
    user_id: int
    name: str
    args: tuple[str, ...] = ()
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decision:
    """What became of one candle in AutoSignal: a code and its parameters, `issued`, a refusal of the autosignal
    decider (no_setup, low_confidence, cooldown, disabled, ...), or a failure (timeout, feed_error,
    analysis_failed, not_persisted, ...). The `on_decided` hook and /signal_tick get these; the adapter words
    them (`decision-<code>` in the catalogues)."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BeginShutdown:
    """The process is stopping: issue no more autosignals (their delivery could not follow) -> True."""

    reply_to: Future | None = field(default=None, compare=False)


# --- outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WinrateQuery:
    """Ask the OutcomeTracker for the track record -> `Winrate`.

    `period_ms` counts back from market time (None: all); `symbol` narrows to one pair;
    `per_symbol` adds a row per symbol (admins).
    """

    period_ms: int | None = None
    symbol: str | None = None
    per_symbol: bool = False
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Winrate:
    """Figures over the closed signals and how many are still open."""

    auto: Summary
    manual: Summary
    open_auto: int
    open_manual: int
    by_symbol: tuple[tuple[str, Summary], ...] = ()


@dataclass(frozen=True)
class OutcomesQuery:
    """Ask the OutcomeTracker where trades stand -> dict[trade_id, TradeStatus] (unknown ids left out)."""

    trade_ids: tuple[str, ...]
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TradeStatus:
    """open | tp1 (open, TP1 taken) | tp2 | stop | tp1_then_stop | expired; `result_r` once closed."""

    status: str
    result_r: float | None = None


# --- user sessions and the Telegram adapter ------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One user's command (from Telegram or the console) for `Sessions` -> `Reply`.

    `name` is the command without the slash ("" for plain text); `update_id` is the
    idempotency key (Telegram's update_id, increasing per bot). `group` marks a command sent in
    a group chat `chat_id` (message `message_id` there): it charges the sender, and personal
    answers go to the sender's private chat. `autosignals`, on a /history, are the last autosignals
    the adapter's Outbox delivered to the user (`domain.outbox.AutoDelivered`): the user's stream
    records only the signals they paid for.
    """

    update_id: int
    user_id: int
    chat_id: int
    name: str
    args: tuple[str, ...] = ()
    username: str | None = None
    language: str | None = None
    reply_to: Future | None = field(default=None, compare=False)
    group: bool = False
    message_id: int | None = None
    autosignals: tuple[Any, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Reply:
    """The answer to a `Command`, as data: what to say (`kind`, a catalogue key in snake_case such as
    `insufficient_credits`, or a composite such as `balance` or `history`) and its `payload`, in the user's
    `language`; the adapter words it. `kind` is None when the Outbox delivers a signal (`signal_id`) or the
    update was a repeat. `refused`: `kind` is a rejection code (the command changed nothing). `private`: send
    it to the user's private chat even when the command came from a group (a balance is never shown to a group).
    """

    kind: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)
    language: str = "en"
    signal_id: str | None = None
    private: bool = False
    offer: bool = False  # /buy: the adapter shows the packs on sale (kind is None then)
    refused: bool = False
    chart: ChartData | None = None  # /chart: what to draw; the worded reply is then the photo's caption

    @classmethod
    def refusal(cls, rejection: Any, language: str = "en") -> Reply:
        """A `domain.rejection.Rejection` as the answer."""
        return cls(rejection.code, rejection.params, language, refused=True)


@dataclass(frozen=True, eq=False)
class ChartData:
    """What a /chart answer draws: the analysis without trade levels and the candles up to its candle."""

    analysis: dict[str, Any]
    candles: Candles


@dataclass(frozen=True)
class Refused:
    """A refusal Sessions decided for a user's admin command (not allowed, its usage, banning an admin): told
    to the user's own session, which answers it in the user's stored language (Telegram's before /start)."""

    reply: Reply
    language: str | None = None  # Telegram's language_code, as in the Command
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AdminAction:
    """An admin's change (`name` as typed) to the target user. Sessions sends it first to the admin's own
    UserSession, which refuses a banned admin or tells it back `checked`; then to the target's session."""

    update_id: int
    by: int
    target: int
    name: str
    args: tuple[str, ...] = ()
    reply_to: Future | None = field(default=None, compare=False)
    checked: bool = False
    language: str = "en"  # the admin's, stamped by their session: the answer is in it


@dataclass(frozen=True)
class UserBlocked:
    """Sender -> Sessions: Telegram says this chat blocked the bot."""

    chat_id: int


@dataclass(frozen=True)
class RefundOwed:
    """Sender -> Sessions -> UserSession: a paid manual signal's delivery failed; give back `amount` credits."""

    user_id: int
    signal_id: str
    amount: int


@dataclass(frozen=True)
class PaymentReceived:
    """Telegram adapter -> Sessions -> UserSession: a successful_payment -> `Receipt`.
    `pack` is the pack the verified payload names (None when the payload did not verify)."""

    user_id: int
    charge_id: str
    stars: int
    currency: str
    pack: Any  # domain.payments.Pack | None
    order_id: str | None
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Receipt:
    """What a payment did: granted the pack (with the balance and premium end after it), or is refunded;
    `language` is the payer's."""

    pack: str | None
    granted: bool
    credits: int
    premium_until: int | None
    lifetime: bool
    language: str = "en"


@dataclass(frozen=True)
class RefundSettled:
    """Refund worker -> Sessions -> UserSession: Telegram refunded `charge_id` (ok), or refused for `reason`."""

    user_id: int
    charge_id: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Passivate:
    """Sessions -> UserSession: stop after what is already queued (snapshot first)."""


@dataclass(frozen=True)
class SessionBroken:
    """UserSession -> Sessions: this session (`ref`) could not read its stream; passivate it, so that the
    next message starts a fresh one."""

    user_id: int
    ref: Any


@dataclass(frozen=True)
class Passivated:
    """UserSession -> Sessions: stopped and snapshotted; messages held for this user can go on."""

    user_id: int


@dataclass(frozen=True)
class PassivateIdle:
    """Ask Sessions to stop sessions idle longer than its limit (sent by a timer or a test)."""


@dataclass(frozen=True)
class SessionStats:
    """Ask Sessions for its counters -> `SessionCounters`."""

    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SessionCounters:
    live: int
    started: int
    passivated: int


@dataclass(frozen=True)
class InspectSession:
    """Ask Sessions about one user's session (starting it if needed) -> `SessionInfo`."""

    user_id: int
    reply_to: Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SessionInfo:
    user_id: int
    version: int
    snapshot_version: int
    replayed: int  # events read from the stream when the session started
    state: dict[str, Any]
