"""One actor per user owning stream `user-<id>`, and the `Sessions` router that starts,
routes to and passivates them.

A session decides with `domain.user`, persists, then replies. Sessions never `ask` a
session (sessions only `tell` Sessions back), so neither can deadlock the other. Idle
sessions are stopped on the injected clock, and the least recently used ones when too
many are live; each saves a snapshot as it stops.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

import pykka

from actors.clock import Clock
from actors.messages import (
    AdminAction,
    AnalysisFailed,
    AnalysisResult,
    Analyze,
    ChartData,
    Command,
    EnsureStream,
    FeedError,
    GetCandles,
    InspectSession,
    OutcomesQuery,
    Passivate,
    Passivated,
    PassivateIdle,
    PaymentReceived,
    Receipt,
    RefundOwed,
    RefundSettled,
    Refused,
    Reply,
    SessionBroken,
    SessionCounters,
    SessionInfo,
    SessionStats,
    TopSymbols,
    UserBlocked,
    Winrate,
    WinrateQuery,
    answer,
)
from actors.pooled import PooledActor
from analysis.candles import Candles
from domain import user as rules
from domain.events import REGISTRY, Event, decode, user_stream
from domain.language import from_telegram
from domain.outcomes import setups
from domain.rejection import Rejection
from eventstore import ConcurrencyError, EventStore, NewEvent

log = logging.getLogger(__name__)

_ID = re.compile(r"[0-9]{1,15}")

CANDLES_WANTED = 500
HISTORY_TAIL = 200  # /history reads at most this many of the user's latest events
HISTORY_ROWS = 10
MIN_CANDLES = 100
TOP_PAIRS = 10
# answered privately when asked in a group
PERSONAL = frozenset({"start", "credits", "history", "buy", "followups", "charts", "language"})
PAYMENT_INFO = frozenset({"paysupport", "terms"})  # answered by the adapter (payments.local_reply), in a group too
# what a group may ask
SERVED = frozenset({*rules.COSTS, *PERSONAL, *PAYMENT_INFO, "help", "autosignal", "winrate", "chart"})
ADMIN_COMMANDS = frozenset(
    {"grant_credits", "set_premium", "revoke_premium", "grant_autosignal", "ban", "unban", "audit", "refund"}
)
ADMIN_USAGE = {
    "grant_credits": "/grant_credits ID N",
    "set_premium": "/set_premium ID 30d|90d|lifetime",
    "revoke_premium": "/revoke_premium ID",
    "grant_autosignal": "/grant_autosignal ID 30d",
    "ban": "/ban ID",
    "unban": "/unban ID",
    "audit": "/audit ID",
    "refund": "/refund USER_ID CHARGE_ID",
}
WINRATE_PERIODS = {"7d": 7, "30d": 30, "90d": 90, "all": None}  # days of market time
TRADE_LEVELS = ("side", "entry", "stop", "tp1", "tp2", "rr1", "rr2", "confidence")  # not in a free /chart
_FORWARDED = object()  # a message handed on to another actor, which answers it
UNAVAILABLE = Rejection("market_unavailable")
FEED_TROUBLE = ("unknown_symbol", "not_ready", "capacity")  # FeedError kinds told to the user with the symbol


@dataclass(frozen=True)
class Services:
    """What every session needs: the log, the clock, the market feed and the analyzer pool."""

    store: EventStore
    clock: Clock
    feed: Any = None  # ActorRef-like (ask/tell) answering GetCandles, EnsureStream, TopSymbols
    analyzer: Any = None  # ActorRef-like answering Analyze
    outcomes: Any = None  # ActorRef-like (the OutcomeTracker) answering WinrateQuery and OutcomesQuery
    ask_timeout: float = 30.0


class UserSession(PooledActor):
    """The only writer of `user-<id>`: decide, persist, evolve, then reply."""

    def __init__(self, user_id: int, services: Services, sessions: Any, admin: bool = False) -> None:
        super().__init__()
        self.user_id = user_id
        self.admin = admin
        self.stream = user_stream(user_id)
        self.services = services
        self.sessions = sessions

    def on_start(self) -> None:
        self.reported_broken = False
        self.broken: Exception | None = None
        self._reread()

    def _reread(self) -> None:
        """Rebuild the state from the stream; if it cannot be read, every later message is answered without it
        (_answer_broken) and none is left unanswered."""
        try:
            self._rehydrate()
        except Exception as exc:
            log.exception("the session of %s could not read its stream", self.user_id)
            self.broken = exc

    # --- lifecycle -------------------------------------------------------------------

    def _rehydrate(self) -> None:
        store = self.services.store
        snapshot = store.load_snapshot(self.stream)
        state = rules.UserState.from_dict(snapshot.state) if snapshot else None
        self.snapshot_version = snapshot.version if snapshot and state else 0
        self.state = state or rules.UserState(self.user_id)
        self.version = self.snapshot_version
        records = store.read_stream(self.stream, after_version=self.version)
        for rec in records:
            if rec.type in REGISTRY:
                self.state = rules.evolve(self.state, decode(rec.type, rec.data), rec.meta.get("update_id"))
            self.version = rec.version
        self.replayed = len(records)

    def on_stop(self) -> None:
        """Snapshot, then tell Sessions, which holds this user's new messages until now."""
        if self.broken is None and self.version > self.snapshot_version:
            try:
                self.services.store.save_snapshot(self.stream, self.version, self.state.to_dict())
            except Exception:  # a lost snapshot only lengthens the next start
                log.exception("snapshot of %s failed", self.stream)
        try:
            self.sessions.tell(Passivated(self.user_id))
        except pykka.ActorDeadError:
            pass  # shutting down

    def on_receive(self, message: Any) -> Any:
        if self.broken is not None:
            return self._answer_broken(message)
        try:
            result = self._handle(message)
            return None if result is _FORWARDED else answer(message, result)
        except Exception as exc:
            log.exception("session %s failed on %s", self.user_id, type(message).__name__)
            if isinstance(exc, ConcurrencyError):
                self._reread()
            reader = message.language if isinstance(message, AdminAction) and message.checked else \
                self._reader(getattr(message, "language", None))  # a checked change is answered to its admin
            return answer(message, Reply("something_wrong", language=reader, refused=True))

    def _answer_broken(self, message: Any) -> Any:
        """Answer without the stream, and once ask Sessions to passivate this session: it holds the user's
        next messages until this one stopped, then starts a fresh one (no message is left unanswered)."""
        if isinstance(message, Passivate):
            self.stop()
            return None
        if not self.reported_broken:
            self.reported_broken = True
            self.sessions.tell(SessionBroken(self.user_id, self.actor_ref))
        return answer(message, _something_wrong(message))

    def _handle(self, message: Any) -> Any:
        match message:
            case Command():
                return self._command(message)
            case Refused(reply, telegram):
                return replace(reply, language=self._reader(telegram))
            case AdminAction(checked=False):
                return self._check_admin(message)
            case AdminAction():
                return self._admin(message)
            case UserBlocked():
                self._decide(rules.MarkBlocked(), None)
                return None
            case PaymentReceived():
                return self._payment(message)
            case RefundSettled(_, charge_id, ok, reason):
                self._decide(rules.SettleRefund(charge_id, ok, reason), None)
                return None
            case RefundOwed(_, signal_id, amount):
                refused = self._decide(rules.Refund(signal_id, amount), None)
                if isinstance(refused, rules.Rejection):
                    log.error("refund of %s to %s refused: %r", signal_id, self.user_id, refused)
                return None
            case Passivate():
                self.stop()
                return None
            case InspectSession():
                return SessionInfo(self.user_id, self.version, self.snapshot_version, self.replayed,
                                   self.state.to_dict())
        raise TypeError(f"unexpected message {message!r}")

    # --- persistence -----------------------------------------------------------------

    def _decide(self, command: Any, key: int | None) -> list[Event] | rules.Rejection:
        """Decide and persist; the state changes only after the append commits."""
        out = rules.decide(self.state, command, self.services.clock.now_ms())
        if not isinstance(out, rules.Rejection):
            self._persist(out, key)
        return out

    def _persist(self, events: list[Event], key: int | None) -> None:
        if not events:
            return
        meta: dict[str, Any] = {"actor": "UserSession"}
        if key is not None:
            meta["update_id"] = key
        batch = [NewEvent(e.type, e.payload(), {**meta, "schema": e.schema}) for e in events]
        self.services.store.append(self.stream, self.version, batch)
        self.version += len(batch)
        for event in events:
            self.state = rules.evolve(self.state, event, key)

    # --- payments ----------------------------------------------------------------------

    def _payment(self, paid: PaymentReceived) -> Receipt:
        """Grant once per charge; a second process that appended first wins and this one reads its events."""
        command = rules.ReceivePayment(paid.charge_id, paid.stars, paid.currency, paid.pack, paid.order_id)
        try:
            self._decide(command, None)
        except ConcurrencyError:
            self._rehydrate()
            self._decide(command, None)
        bought = self.state.purchases[paid.charge_id]
        return Receipt(bought.pack, bool(bought.credits or bought.premium_ms), self.state.credits,
                       self.state.premium_until, self.state.lifetime, self.state.language)

    # --- user commands ---------------------------------------------------------------

    def _command(self, cmd: Command) -> Reply:
        """The reply, in the user's language (Telegram's for someone not registered yet)."""
        if cmd.update_id <= self.state.last_update_id:
            return Reply(None)  # a redelivered update: already answered, nothing changes
        if cmd.group:
            reply = self._in_group(cmd)
        else:
            self._decide(rules.Contact(), None)
            reply = self._answer(cmd)
        return replace(reply, language=self._reader(cmd.language))

    def _reader(self, telegram: str | None) -> str:
        """What this user reads: the stored language, or Telegram's language_code before they registered."""
        return self.state.language if self.state.registered else from_telegram(telegram)

    def _in_group(self, cmd: Command) -> Reply:
        """A command in a group: only a user who started the bot privately is served; personal answers go there.

        Writing in a group says nothing about the private chat, so it does not unblock the user, and
        nobody registers from a group (the bot could not answer them privately).
        """
        if cmd.name not in SERVED:
            return Reply(None)  # another bot's command, or a typo: not ours to answer in front of the group
        if cmd.name == "help":
            return Reply("help")
        if not self.state.registered:
            return Reply("start_privately", refused=True)
        if cmd.name not in PERSONAL:
            return self._answer(cmd)
        if self.state.blocked:
            return Reply("private_only", {"command": cmd.name}, refused=True)
        return replace(self._answer(cmd), private=True)

    def _answer(self, cmd: Command) -> Reply:
        if self.state.banned:
            return Reply("suspended", refused=True)
        if cmd.name == "start":
            again = self.state.registered
            self._decide(rules.Register(cmd.update_id, cmd.chat_id, cmd.username, cmd.language), cmd.update_id)
            return Reply("welcome", {"name": self.state.username, "credits": self.state.credits, "again": again,
                                     "admin": self.admin})
        if cmd.name == "help":
            return Reply("help", {"admin": self.admin})
        if cmd.name == "buy":
            if not self.state.registered:
                return Reply("not_registered", refused=True)
            return Reply("lifetime_buys_nothing") if self.state.lifetime else Reply(None, offer=True)
        if cmd.name == "winrate":
            return self._winrate(cmd)
        if cmd.name in rules.COSTS or cmd.name in ("credits", "history", "autosignal", "followups", "charts",
                                                   "chart", "language"):
            if not self.state.registered:
                return Reply("not_registered", refused=True)
            return getattr(self, f"_{cmd.name}")(cmd) if cmd.name not in rules.COSTS else self._signal(cmd)
        return Reply("unknown_command", refused=True)

    def _credits(self, cmd: Command) -> Reply:
        self._decide(rules.Touch(cmd.update_id), cmd.update_id)
        return Reply("balance", rules.account(self.state, self.services.clock.now_ms(), self.admin))

    def _language(self, cmd: Command) -> Reply:
        """/language shows the bot's language for this user; /language CODE changes it (replied in the new one)."""
        if not cmd.args:
            return Reply("language_now", {"language": self.state.language})
        if len(cmd.args) != 1:
            return Reply("language_usage", refused=True)
        out = self._decide(rules.SetLanguage(cmd.update_id, cmd.args[0].lower()), cmd.update_id)
        return Reply.refusal(out) if isinstance(out, Rejection) else Reply("language_changed")

    def _history(self, cmd: Command) -> Reply:
        """Charges and refunds from a bounded tail of the stream, the autosignals delivered to the user as the
        adapter found them (`cmd.autosignals`), and every signal's outcomes from the OutcomeTracker."""
        records = self.services.store.read_stream(self.stream, after_version=max(0, self.version - HISTORY_TAIL))
        issued = [(r.data["signal_id"], r.data["signal"]) for r in records if r.type == "ManualSignalIssued"]
        signals = issued[-HISTORY_ROWS:] + [(a.signal_id, a.signal) for a in cmd.autosignals[-HISTORY_ROWS:]]
        trade_ids = tuple(t for signal_id, signal in signals for t, _ in setups(signal_id, signal))
        statuses = self._ask_outcomes(OutcomesQuery(trade_ids, reply_to=Future())) if trade_ids else {}
        return Reply("history", {"records": tuple(records), "autosignals": cmd.autosignals, "last": HISTORY_ROWS,
                                 "outcomes": statuses if isinstance(statuses, dict) else None})

    def _winrate(self, cmd: Command) -> Reply:
        period, symbol = "all", None
        for arg in cmd.args:
            if arg.lower() in WINRATE_PERIODS:
                period = arg.lower()
            elif self.admin and symbol is None and not isinstance(rules.normalize_symbol(arg), rules.Rejection):
                symbol = rules.normalize_symbol(arg)
            else:
                return Reply("winrate_usage_admin" if self.admin else "winrate_usage", refused=True)
        days = WINRATE_PERIODS[period]
        query = WinrateQuery(None if days is None else days * rules.DAY_MS, symbol, self.admin and symbol is None,
                             reply_to=Future())
        report = self._ask_outcomes(query)
        if not isinstance(report, Winrate):
            return Reply("winrate_unavailable", refused=True)
        if symbol and not (report.auto.closed or report.manual.closed or report.open_auto or report.open_manual):
            return Reply("winrate_no_signals", {"symbol": symbol})  # never signalled, or not traded at all
        return Reply("winrate", {"report": report, "days": days, "symbol": symbol})

    def _ask_outcomes(self, query: Any) -> Any:
        """The OutcomeTracker's answer, or None when there is no tracker or it does not answer."""
        if self.services.outcomes is None:
            return None
        [found] = self._gather(self.services.outcomes, [query])
        return None if isinstance(found, Exception) else found

    def _followups(self, cmd: Command) -> Reply:
        return self._toggle(cmd, rules.SetFollowups)

    def _charts(self, cmd: Command) -> Reply:
        return self._toggle(cmd, rules.SetCharts)

    def _toggle(self, cmd: Command, setting: Any) -> Reply:
        """An on|off preference (/followups, /charts): decided, persisted, then confirmed (`followups_on`, ...)."""
        if len(cmd.args) != 1 or cmd.args[0].lower() not in ("on", "off"):
            return Reply(f"{cmd.name}_usage", refused=True)
        enabled = cmd.args[0].lower() == "on"
        self._decide(setting(cmd.update_id, enabled), cmd.update_id)
        return Reply(f"{cmd.name}_on") if enabled else Reply(f"{cmd.name}_off")

    def _chart(self, cmd: Command) -> Reply:
        """The current analysis drawn without trade levels: free, but counted in the rate limit."""
        parsed = _signal_args(cmd)
        if isinstance(parsed, Rejection):
            return Reply.refusal(parsed)
        if wait_ms := rules.rate_wait_ms(self.state, self.services.clock.now_ms()):
            return _rate_limited(wait_ms)
        symbol, interval = parsed
        candles: dict[str, Candles] = {}
        [result] = self._analyses([symbol], interval, candles)
        if isinstance(result, Rejection):
            return Reply.refusal(result)
        self._decide(rules.ServeChart(cmd.update_id, symbol, interval), cmd.update_id)
        read = {key: value for key, value in result.items() if key not in TRADE_LEVELS}
        return Reply("chart_caption", {"read": read}, chart=ChartData(read, candles[symbol]))

    def _autosignal(self, cmd: Command) -> Reply:
        if len(cmd.args) != 1 or cmd.args[0].lower() not in ("on", "off"):
            return Reply("autosignal_usage", refused=True)
        muted = cmd.args[0].lower() == "off"
        self._decide(rules.SetMute(cmd.update_id, muted), cmd.update_id)
        now = self.services.clock.now_ms()
        if muted:
            return Reply("autosignal_muted")
        if self.state.receives_autosignals(now, self.admin):
            return Reply("autosignal_on")
        return Reply("autosignal_not_included")

    def _signal(self, cmd: Command) -> Reply:
        parsed = _signal_args(cmd)
        if isinstance(parsed, Rejection):
            return Reply.refusal(parsed)
        now = self.services.clock.now_ms()
        if wait_ms := rules.rate_wait_ms(self.state, now):
            return _rate_limited(wait_ms)
        refused = rules.affordable(self.state, cmd.name, now)
        if refused:
            return Reply.refusal(refused)
        result = self._scan() if cmd.name == "signals" else self._analyses([parsed[0]], parsed[1])[0]
        if isinstance(result, Rejection):
            return Reply.refusal(result)
        scan = result.get("kind") == "scan"
        if not (result["signals"] if scan else "side" in result):
            self._decide(rules.ServeNoSetup(cmd.update_id, cmd.name), cmd.update_id)
            return Reply("scan_nothing", {"scan": result}) if scan else Reply("no_setup", {"read": result})
        issued = self._decide(rules.IssueSignal(cmd.update_id, cmd.name, result, cmd.chat_id, cmd.message_id),
                              cmd.update_id)
        if isinstance(issued, Rejection):
            return Reply.refusal(issued)
        return Reply(None, signal_id=rules.signal_id(self.user_id, cmd.update_id))

    def _analyses(self, symbol_list: list[str], interval: str,
                  candles: dict[str, Candles] | None = None) -> list[dict[str, Any] | Rejection]:
        """Per symbol: the signal or no-setup dict for the last closed candle, or why there is none.

        The symbols are fetched and analysed concurrently (a /signals scan is 10 of them); `candles`, if
        given, receives the candles each analysis read (a /chart draws them).
        """
        feed, analyzer = self.services.feed, self.services.analyzer
        if feed is None or analyzer is None:
            return [UNAVAILABLE] * len(symbol_list)
        out: dict[str, dict[str, Any] | Rejection] = {}
        ready = self._gather(feed, [EnsureStream(s, interval, reply_to=Future()) for s in symbol_list])
        symbols = [s for s, r in zip(symbol_list, ready, strict=True) if not _failed(out, s, r)]
        fetched = self._gather(feed, [GetCandles(s, interval, CANDLES_WANTED, reply_to=Future()) for s in symbols])
        pairs = [(s, c) for s, c in zip(symbols, fetched, strict=True) if not _failed(out, s, c)]
        for symbol, series in pairs:
            if not isinstance(series, Candles) or len(series) < MIN_CANDLES:
                out[symbol] = Rejection("short_history", interval=interval, symbol=symbol)
        todo = [(s, c) for s, c in pairs if s not in out]
        if candles is not None:
            candles.update(todo)
        outcomes = self._gather(analyzer, [Analyze(s, interval, c, reply_to=Future()) for s, c in todo])
        for (symbol, _), outcome in zip(todo, outcomes, strict=True):
            if isinstance(outcome, AnalysisResult):
                out[symbol] = outcome.result.to_dict()
            else:
                reason = outcome.reason if isinstance(outcome, AnalysisFailed) else "no answer"
                log.warning("analysis of %s %s for %s failed: %s", symbol, interval, self.user_id, reason)
                out[symbol] = Rejection("analysis_failed", symbol=symbol)  # the reason is for operators
        return [out[s] for s in symbol_list]

    def _gather(self, ref: Any, messages: list[Any]) -> list[Any]:
        """Tell every message, then collect the answers (an exception stands for a missing one)."""
        for message in messages:
            ref.tell(message)
        deadline = time.monotonic() + self.services.ask_timeout
        answers: list[Any] = []
        for message in messages:
            try:
                answers.append(message.reply_to.result(max(0.0, deadline - time.monotonic())))
            except Exception as exc:
                log.warning("%s got no answer: %r", type(message).__name__, exc)
                answers.append(exc)
        return answers

    def _scan(self) -> dict[str, Any] | Rejection:
        [symbols] = self._gather(self.services.feed, [TopSymbols(TOP_PAIRS, reply_to=Future())])
        if not isinstance(symbols, tuple | list) or not symbols:
            return UNAVAILABLE
        reads = [r for r in self._analyses(list(symbols), "1h") if isinstance(r, dict)]
        if not reads:
            return UNAVAILABLE
        return {
            "kind": "scan", "interval": "1h", "symbols": list(symbols),
            "open_time": max(r.get("open_time", 0) for r in reads),
            "signals": [r for r in reads if "side" in r],
            "no_setup": [r for r in reads if "side" not in r],
        }

    # --- admin changes to this user ----------------------------------------------------

    def _check_admin(self, action: AdminAction) -> Any:
        """This user is the admin: a banned account runs no admin command; else on to the target."""
        if self.state.banned:
            log.warning("banned admin %s tried /%s", self.user_id, action.name)
            return Reply("suspended", language=self.state.language, refused=True)
        self.sessions.tell(replace(action, checked=True, language=self.state.language))
        return _FORWARDED

    def _admin(self, action: AdminAction) -> Reply:
        """The admin's change, answered in the admin's language."""
        return replace(self._admin_change(action), language=action.language)

    def _admin_change(self, action: AdminAction) -> Reply:
        if action.name == "audit":
            records = self.services.store.read_stream(self.stream)
            return Reply("audit", {"user": self.user_id, "records": tuple(records)})
        command = _admin_command(action)
        if isinstance(command, Rejection):
            return Reply.refusal(command)
        out = self._decide(command, action.update_id)
        if isinstance(out, Rejection):
            return Reply.refusal(out)
        log.info("admin %s: /%s %s %s", action.by, action.name, self.user_id, " ".join(action.args))
        if isinstance(command, rules.RequestRefund):
            return Reply("refund_requested", {"charge": command.charge_id, "user": self.user_id, "new": bool(out),
                                              "unrecoverable": rules.unrecoverable(self.state, command.charge_id)})
        now = self.services.clock.now_ms()
        return Reply("admin_done", {"command": action.name, "user": self.user_id,
                                    "account": rules.account(self.state, now, self.admin)})


def _rate_limited(wait_ms: int) -> Reply:
    return Reply("rate_limited", {"limit": rules.RATE_LIMIT, "seconds": (wait_ms + 999) // 1000}, refused=True)


def _signal_args(cmd: Command) -> tuple[str, str] | Rejection:
    limits = {"analyze": (1, 1), "futures": (1, 2), "signals": (0, 0), "chart": (1, 2)}[cmd.name]
    if not limits[0] <= len(cmd.args) <= limits[1]:
        return Rejection(f"usage_{cmd.name}", intervals=" ".join(rules.FUTURES_INTERVALS))
    if cmd.name == "signals":
        return ("", "1h")
    symbol = rules.normalize_symbol(cmd.args[0])
    if isinstance(symbol, Rejection):
        return symbol
    interval = cmd.args[1] if len(cmd.args) == 2 else "1h"  # exact: on Binance 1m is a minute, 1M a month
    if interval not in rules.FUTURES_INTERVALS:
        return Rejection("bad_timeframe", command=cmd.name, given=interval, served=" ".join(rules.FUTURES_INTERVALS))
    return (symbol, interval)


def _failed(out: dict[str, Any], symbol: str, answer: Any) -> bool:
    """Record why the feed cannot serve `symbol` (a FeedError or no answer); False when it can."""
    if isinstance(answer, FeedError):
        out[symbol] = Rejection(answer.kind, symbol=symbol) if answer.kind in FEED_TROUBLE else UNAVAILABLE
    elif isinstance(answer, Exception):
        out[symbol] = UNAVAILABLE
    else:
        return False
    return True


def _admin_command(action: AdminAction) -> Any:
    args, key, by = action.args, action.update_id, action.by
    usage = Rejection("admin_usage", usage=ADMIN_USAGE[action.name])
    match action.name, args:
        case "grant_credits", (amount,) if _ID.fullmatch(amount):
            return rules.GrantCredits(key, by, int(amount))
        case "set_premium", (period,):
            return rules.SetPremium(key, by, period.lower())
        case "revoke_premium", ():
            return rules.RevokePremium(key, by)
        case "grant_autosignal", (period,):
            days = rules.parse_days(period.lower())
            return days if isinstance(days, Rejection) else rules.GrantAutoSignal(key, by, days)
        case "ban", ():
            return rules.Ban(key, by)
        case "unban", ():
            return rules.Unban(key, by)
        case "refund", (charge_id,) if len(charge_id) <= 128:
            return rules.RequestRefund(key, by, charge_id)
    return usage


# --- the router ----------------------------------------------------------------------------


def _something_wrong(message: Any) -> Reply:
    """Something went wrong before a session could answer: worded in the language the message carries (an admin
    change the admin's, else Telegram's language_code), the closest Sessions knows without the session."""
    telegram = getattr(message, "language", None)
    language = message.language if isinstance(message, AdminAction) else from_telegram(telegram)
    return Reply("something_wrong", language=language, refused=True)


@dataclass
class _Live:
    ref: Any
    last_used: int


class Sessions(pykka.ThreadingActor):
    """Routes commands to per-user sessions, starting them on demand and passivating them.

    Passivation is a handshake: Sessions tells the session `Passivate` (queued behind whatever
    it still has to do), holds any new message for that user, and forwards them to a fresh
    session once the old one reports `Passivated`. So one writer per stream holds without
    Sessions tracking each command's completion. Sessions are pooled actors (`actors.pooled`):
    starting one costs no thread, and it reads its stream on a pool thread, not here.
    """

    def __init__(
        self,
        services: Services,
        admin_ids: frozenset[int] = frozenset(),
        idle_ms: int = 600_000,
        max_live: int = 2000,
        sweep_every_s: float | None = 60.0,
    ) -> None:
        super().__init__()
        self.services = services
        self.admin_ids = frozenset(admin_ids)
        self.idle_ms = idle_ms
        self.max_live = max_live
        self.sweep_every_s = sweep_every_s
        self.live: OrderedDict[int, _Live] = OrderedDict()
        self.stopping: dict[int, list[Any]] = {}  # user -> messages held until Passivated
        self.started = 0
        self.passivated = 0
        self._stop_sweeper = threading.Event()

    def on_start(self) -> None:
        if self.sweep_every_s:
            threading.Thread(target=self._sweeper, name="sessions-sweeper", daemon=True).start()

    def _sweeper(self) -> None:
        while not self._stop_sweeper.wait(self.sweep_every_s):
            try:
                self.actor_ref.tell(PassivateIdle())
            except pykka.ActorDeadError:
                return

    def on_stop(self) -> None:
        self._stop_sweeper.set()
        for user_id in list(self.live):
            self._passivate(user_id)

    def on_receive(self, message: Any) -> Any:
        try:
            return self._receive(message)
        except Exception:  # the router must survive anything one message does
            log.exception("Sessions failed on %s", type(message).__name__)
            return answer(message, _something_wrong(message))

    def _receive(self, message: Any) -> Any:
        match message:
            case Command() if message.name in ADMIN_COMMANDS:
                self._admin(message)
            case Command():
                self._route(message.user_id, message)
            case AdminAction(checked=True):
                self._route(message.target, message)
            case UserBlocked():
                self._route(message.chat_id, message)
            case RefundOwed() | PaymentReceived() | RefundSettled():
                self._route(message.user_id, message)
            case InspectSession():
                self._route(message.user_id, message)
            case Passivated():
                self._resume(message.user_id)
            case SessionBroken(user_id, ref) if (entry := self.live.get(user_id)) is not None and entry.ref is ref:
                self._passivate(user_id)
            case PassivateIdle():
                self._passivate_idle()
            case SessionStats():
                return answer(message, SessionCounters(len(self.live), self.started, self.passivated))
        return None

    def _admin(self, cmd: Command) -> None:
        """Check an admin command, refusing it through the user's own session (which knows their language)."""
        if cmd.user_id not in self.admin_ids:
            log.warning("user %s tried admin command /%s: not allowed", cmd.user_id, cmd.name)
            self._refuse(cmd, Reply("not_allowed", refused=True))
            return
        if not cmd.args or not _ID.fullmatch(cmd.args[0]):
            self._refuse(cmd, Reply("admin_usage", {"usage": ADMIN_USAGE[cmd.name]}, refused=True))
            return
        target = int(cmd.args[0])
        if cmd.name == "ban" and target in self.admin_ids:
            self._refuse(cmd, Reply("cannot_ban_admin", refused=True))
            return
        action = AdminAction(cmd.update_id, cmd.user_id, target, cmd.name, cmd.args[1:], cmd.reply_to)
        self._route(cmd.user_id, action)  # the admin's own session checks they are not banned

    def _refuse(self, cmd: Command, reply: Reply) -> None:
        self._route(cmd.user_id, Refused(reply, cmd.language, cmd.reply_to))

    def _route(self, user_id: int, message: Any) -> None:
        held = self.stopping.get(user_id)
        if held is not None:
            held.append(message)
            return
        entry = self.live.get(user_id)
        if entry is None:
            self._start(user_id, message)
            return
        entry.last_used = self.services.clock.now_ms()
        self.live.move_to_end(user_id)
        self._tell(user_id, entry.ref, message, restart=True)

    def _tell(self, user_id: int, ref: Any, message: Any, restart: bool) -> None:
        """Tell the live session; one that died (an unhandled failure) is started afresh once."""
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self.live.pop(user_id, None)
            if restart:
                self._start(user_id, message)
            else:
                answer(message, _something_wrong(message))

    def _resume(self, user_id: int) -> None:
        for message in self.stopping.pop(user_id, []):
            self._route(user_id, message)

    def _start(self, user_id: int, first: Any) -> None:
        ref = UserSession.start(user_id, self.services, self.actor_ref, user_id in self.admin_ids)
        self.started += 1
        self.live[user_id] = _Live(ref, self.services.clock.now_ms())
        self._tell(user_id, ref, first, restart=False)
        while len(self.live) > self.max_live:
            self._passivate(next(iter(self.live)))

    def _passivate_idle(self) -> None:
        cutoff = self.services.clock.now_ms() - self.idle_ms
        while self.live:
            user_id, entry = next(iter(self.live.items()))  # least recently used first
            if entry.last_used > cutoff:
                return
            self._passivate(user_id)

    def _passivate(self, user_id: int) -> None:
        entry = self.live.pop(user_id)
        self.stopping[user_id] = []
        self.passivated += 1
        try:
            entry.ref.tell(Passivate())
        except pykka.ActorDeadError:
            self.stopping.pop(user_id)
