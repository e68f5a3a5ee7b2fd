"""The AutoSignal actor: the live market triggers signals; every decision is an event first.

It never blocks on another actor: candles come from the feed and analyses from the pool by
`tell` with a reply future whose completion comes back as a message to this actor. So an
admin's /signal_off that arrives while a scan is in flight is handled before the scan's
result, and the result is then decided against the state that says "off" (an off wins).

Scans finish in any order but are decided and persisted in the order their candles
arrived, so the same candles fed twice give the same `autosignal` stream, event for event.
Decisions that become ready together (a close of 25 symbols) share one append.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pykka

from actors.clock import Clock, SystemClock
from actors.messages import (
    AnalysisFailed,
    AnalysisResult,
    Analyze,
    AutoSignalCommand,
    BeginShutdown,
    CandleClosed,
    Decision,
    FeedError,
    GetCandles,
    Kline,
    Logged,
    Reply,
    SubscribeCandles,
    answer,
    outcome_of,
    relay_log,
)
from analysis.candles import Candles, interval_ms
from domain import autosignal as rules
from domain import recipients as audience
from domain.events import REGISTRY, USER_STREAM_PREFIX, AutoSignalIssued, Event, decode
from domain.outbox import AUTO, Outbox
from eventstore import ConcurrencyError, EventStore, NewEvent, Recorded

log = logging.getLogger("autosignal")

SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
FEED_LEAD = 64  # extra candles asked for, in case the feed has moved on since the candle closed
REPLY_MEMORY = 256  # replies kept per admin update_id, so a redelivered update gets the same answer


@dataclass
class _Scan:
    """One candle on its way through feed -> analyzer -> decision."""

    seq: int
    symbol: str
    interval: str
    candle: Kline | None  # None for /signal_tick until the feed says which candle is last
    tick: _Tick | None = None
    started: float = field(default_factory=time.monotonic)
    evaluation: rules.Evaluate | None = None
    failure: Decision | None = None

    @property
    def done(self) -> bool:
        return self.evaluation is not None or self.failure is not None


@dataclass
class _Tick:
    """An admin's /signal_tick: answered once every watchlist symbol has been decided."""

    command: AutoSignalCommand
    waiting: int
    lines: list[tuple[str, Decision]] = field(default_factory=list)  # (symbol, what became of its candle)


# Messages this actor sends itself (completions of its reply futures); nothing else sees them.
@dataclass(frozen=True)
class _Fetched:
    seq: int
    reply: Future


@dataclass(frozen=True)
class _Analyzed:
    seq: int
    reply: Future


@dataclass(frozen=True)
class _Flush:
    """Decide the finished scans (queued behind the completions that arrived before it)."""


@dataclass(frozen=True)
class _Sweep:
    """Sent by the sweeper thread every second: fail scans that waited longer than the timeout."""


class AutoSignal(pykka.ThreadingActor):
    """Owner and only writer of stream `autosignal`.

    `feed` is the MarketFeed ref (this actor sends it `SubscribeCandles` at start, then `GetCandles`),
    `analyzer` anything with `tell` (the AnalyzerPool). `watchlist` () means every symbol the feed
    sends on `interval`. `policy` is the strategy file's for `interval` (`StrategyFile.policy`): a
    disabled one issues nothing, whatever /signal_on says. `enabled` (AUTOSIGNAL_ENABLED) is recorded
    as the first event of a fresh stream; after that only /signal_on and /signal_off change it.
    `history` candles are analyzed, ending at the closed one. `on_decided(symbol, open_time, outcome)`
    is an optional hook for tests, metrics and benchmarks, called on this actor's thread once a decision
    is final (persisted or not).
    Admin commands (`AutoSignalCommand`) are answered with a `Reply` (data; the adapter words it) through
    `reply_to`, in the admin's language as the log records it.
    """

    def __init__(
        self,
        store: EventStore,
        feed: Any,
        analyzer: Any,
        *,
        clock: Clock | None = None,
        admin_ids: tuple[int, ...] = (),
        watchlist: tuple[str, ...] = (),
        enabled: bool = True,
        interval: str = "1h",
        policy: rules.Policy,
        history: int = 500,
        scan_timeout_s: float = 30.0,
        on_decided: Any = None,
    ) -> None:
        super().__init__()
        interval_ms(interval)  # a bad interval fails at construction, with the valid ones named
        if policy.cooldown_ms < 0 or not 0 <= policy.min_confidence <= 100:
            raise ValueError("AUTOSIGNAL_COOLDOWN_MIN must be >= 0 and AUTOSIGNAL_MIN_CONFIDENCE in 0..100")
        self.store = store
        self.feed = feed
        self.analyzer = analyzer
        self.clock = clock or SystemClock()
        self.admin_ids = tuple(admin_ids)
        self.watchlist = list(dict.fromkeys(watchlist))
        self.fixed_watchlist = bool(watchlist)
        self.default_enabled = enabled
        self.interval = interval
        self.policy = policy
        self.history = history
        self.scan_timeout_s = scan_timeout_s
        self.on_decided = on_decided
        self.state = rules.initial(enabled)
        self.version = 0
        self.audience = audience.Recipients()
        self.outbox = Outbox()  # read only for /signal_status; the Sender owns delivery
        self.seen: dict[tuple[str, str], int] = {}  # last candle scanned per (symbol, interval)
        self.scans: OrderedDict[int, _Scan] = OrderedDict()
        self.next_seq = 0
        self.market_now: int | None = None
        self.replies: OrderedDict[int, Reply] = OrderedDict()
        self.subscription = None
        self.sweeping = threading.Event()  # set at stop: ends the sweeper thread
        self.flush_queued = False
        self.stopping = False  # shutdown has begun: no scan starts and no signal is issued

    # --- life cycle ---------------------------------------------------------------------

    def on_start(self) -> None:
        self._rehydrate()
        if self.version == 0:
            founding = rules.founding(self.default_enabled)
            failure = self._persist(founding, keys=["setting/AUTOSIGNAL_ENABLED"] * len(founding))
            if failure:
                log.error("autosignal could not record AUTOSIGNAL_ENABLED: %s", failure)
        self._follow(self.store.read_all(0))
        self.subscription = self.store.subscribe(relay_log(self.actor_ref), after_position=self.audience.position)
        if self.feed is not None:
            self.feed.tell(SubscribeCandles(self.actor_ref, intervals=(self.interval,), watchlist_only=True))
        threading.Thread(target=self._sweeper, name="autosignal-sweeper", daemon=True).start()
        log.info(
            "autosignal started: %s, interval %s, %d recipients",
            "on" if self.state.enabled else "off",
            self.interval,
            len(self._recipients(self._now())),
        )
        if not self.policy.enabled:
            log.warning("autosignal: no autosignals on %s (the strategy file disables it: %s); /signal_on cannot "
                        "change that, another AUTOSIGNAL_INTERVAL or an explicit AUTOSIGNAL_MIN_CONFIDENCE can",
                        self.interval, self.policy.why)

    def on_stop(self) -> None:
        if self.subscription is not None:
            self.store.unsubscribe(self.subscription)
        self.sweeping.set()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """pykka skips on_stop after a failure: release what it would; the owner's Supervisor restarts us."""
        log.error("autosignal actor failed: %s", exception_value)
        self.on_stop()

    def _rehydrate(self) -> None:
        """State = fold of the `autosignal` stream (also after a failed append: the log decides)."""
        records = self.store.read_stream(rules.STREAM)
        events = [decode(r.type, r.data) for r in records if r.type in REGISTRY]
        self.state = rules.fold(events, rules.initial(self.default_enabled))
        self.version = records[-1].version if records else 0
        for (symbol, interval), open_time in self.state.last_open.items():
            key = (symbol, interval)
            self.seen[key] = max(self.seen.get(key, -1), open_time)
            if interval == self.interval:
                self._watch(symbol)
                self._advance_market(open_time + interval_ms(interval) - 1)

    def _sweeper(self) -> None:
        """One thread for every scan's timeout (not a timer per scan): a tick a second until stop."""
        while not self.sweeping.wait(1.0):
            self._tell_self(_Sweep())

    def _sweep(self) -> None:
        too_old = time.monotonic() - self.scan_timeout_s
        for seq in [seq for seq, scan in self.scans.items() if scan.started < too_old and not scan.done]:
            self._fail(seq, Decision("timeout", {"seconds": self.scan_timeout_s}))

    # --- messages ----------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        match message:
            case CandleClosed():
                self._on_candle(message)
            case _Fetched(seq, reply):
                self._on_fetched(seq, reply)
            case _Analyzed(seq, reply):
                self._on_analyzed(seq, reply)
            case _Flush():
                self._flush()
            case _Sweep():
                self._sweep()
            case Logged(records):
                self._follow(records)
            case AutoSignalCommand():
                return self._on_command(message)
            case BeginShutdown():
                self.stopping = True
                log.info("autosignal: shutting down, no more signals are issued")
                return answer(message, True)
            case _:
                log.warning("autosignal ignored an unknown message: %r", type(message).__name__)
        return None

    def _on_candle(self, msg: CandleClosed) -> None:
        if msg.interval != self.interval:
            return
        self._advance_market(msg.candle.close_time)
        if self.fixed_watchlist and msg.symbol not in self.watchlist:
            return
        self._watch(msg.symbol)
        key = (msg.symbol, msg.interval)
        if not msg.fresh or msg.candle.open_time <= self.seen.get(key, -1):
            return  # history never triggers; a candle already scanned never scans twice
        self.seen[key] = msg.candle.open_time
        if not self.stopping:
            self._start_scan(msg.symbol, msg.candle, tick=None)

    def _start_scan(self, symbol: str, candle: Kline | None, tick: _Tick | None) -> None:
        seq = self.next_seq
        self.next_seq += 1
        scan = _Scan(seq, symbol, self.interval, candle, tick)
        self.scans[seq] = scan
        request = GetCandles(symbol, self.interval, self.history + FEED_LEAD, reply_to=Future())
        self._request(self.feed, request, _Fetched, seq)

    def _request(self, target: Any, message: Any, done: type, seq: int) -> None:
        """`tell` a request; its reply future comes back to this actor as `done(seq, future)`."""
        message.reply_to.add_done_callback(lambda reply: self._tell_self(done(seq, reply)))
        try:
            target.tell(message)
        except Exception as exc:  # a dead or missing actor: this scan fails, the actor goes on
            self._fail(seq, Decision("unavailable", {"actor": type(target).__name__, "error": str(exc)}))

    def _tell_self(self, message: Any) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            self.sweeping.set()

    def _on_fetched(self, seq: int, reply: Future) -> None:
        scan = self.scans.get(seq)
        if scan is None or scan.done:
            return
        candles = outcome_of(reply)
        if isinstance(candles, FeedError):
            return self._fail(seq, Decision("feed_error", {"reason": candles.reason}))
        if not isinstance(candles, Candles) or len(candles) == 0:
            log.warning("autosignal %s: the feed answered %r", scan.symbol, candles)
            return self._fail(seq, Decision("no_candles"))
        if scan.candle is None:  # /signal_tick: the last closed candle
            scan.candle = Kline.of(candles, -1)
        end = int(np.searchsorted(candles.open_time, scan.candle.open_time, side="right"))
        if end == 0 or int(candles.open_time[end - 1]) != scan.candle.open_time:
            return self._fail(seq, Decision("missing_candle", {"when": scan.candle.open_time}))
        window = candles[max(0, end - self.history) : end]  # the same window whatever the feed has since
        request = Analyze(scan.symbol, scan.interval, window, mode="causal", reply_to=Future())
        self._request(self.analyzer, request, _Analyzed, seq)

    def _on_analyzed(self, seq: int, reply: Future) -> None:
        scan = self.scans.get(seq)
        if scan is None or scan.done:
            return
        outcome = outcome_of(reply)
        if isinstance(outcome, AnalysisFailed):
            return self._fail(seq, Decision("analysis_failed", {"reason": outcome.reason}))
        if not isinstance(outcome, AnalysisResult):
            return self._fail(seq, Decision("bad_answer", {"answer": f"{outcome!r:.80}"}))
        result = outcome.result
        data = result.to_dict() if hasattr(result, "to_dict") else {}
        signal = data if data.get("side") in rules.SIDES else None
        candle = scan.candle
        scan.evaluation = rules.Evaluate(
            scan.symbol,
            scan.interval,
            candle.open_time,
            candle.close_time,
            signal,
            no_setup=getattr(result, "reason", ""),
        )
        self._flush_soon()

    def _fail(self, seq: int, failure: Decision) -> None:
        scan = self.scans.get(seq)
        if scan is None or scan.done:
            return
        scan.failure = failure
        self._flush_soon()

    # --- deciding, in arrival order -------------------------------------------------------

    def _flush_soon(self) -> None:
        """Decide once the messages already queued are in: what finished meanwhile shares one append."""
        if not self.flush_queued:
            self.flush_queued = True
            self._tell_self(_Flush())

    def _flush(self) -> None:
        """Decide every finished scan at the head of the queue, in arrival order, and persist the
        issued ones in one append (each issue's AutoSignalIssued + CooldownStarted stay together);
        only then report the outcomes. Under load this turns many commits into one."""
        self.flush_queued = False
        ready: list[_Scan] = []
        while self.scans and next(iter(self.scans.values())).done:
            ready.append(self.scans.popitem(last=False)[1])
        if not ready:
            return
        state = self.state
        staged: list[tuple[Event, str]] = []  # (event, idempotency key)
        outcomes: list[Decision] = []
        for scan in ready:
            if scan.evaluation is None:
                log.warning("autosignal %s: %s", scan.symbol, scan.failure)
                outcomes.append(scan.failure or Decision("error", {"error": "unknown"}))
                continue
            state, outcome, events = self._decide_safely(state, scan.evaluation)
            key = f"{scan.symbol}/{scan.interval}/{scan.evaluation.open_time}"
            staged.extend((e, key) for e in events)
            outcomes.append(outcome)
        if staged:
            failure = self._persist([e for e, _ in staged], keys=[k for _, k in staged])
            if failure:
                outcomes = [failure if o.code == "issued" else o for o in outcomes]
            else:
                for e, _ in staged:
                    if isinstance(e, AutoSignalIssued):
                        log.info("autosignal issued %s to %d recipients", e.signal_id, len(e.recipients))
        for scan, outcome in zip(ready, outcomes, strict=True):
            if scan.tick is not None:
                self._tick_line(scan.tick, scan.symbol, outcome)
            if self.on_decided is not None:
                self.on_decided(scan.symbol, scan.candle.open_time if scan.candle else None, outcome)

    def _decide_safely(
        self, state: rules.AutoSignalState, cmd: rules.Evaluate
    ) -> tuple[rules.AutoSignalState, Decision, list[Event]]:
        """(state after, outcome, events) for one candle; a malformed analysis fails only that candle."""
        if self.stopping and cmd.signal is not None:
            return state, Decision("shutting_down"), []
        try:
            if cmd.signal is not None:
                cmd = replace(cmd, recipients=tuple(self._recipients(cmd.close_time)))
            out = rules.decide(state, cmd, cmd.close_time, self.policy)
        except Exception as exc:
            log.exception("autosignal could not decide %s %s", cmd.symbol, cmd.open_time)
            return state, Decision("error", {"error": repr(exc)}), []
        if isinstance(out, rules.Rejection):
            return state, Decision(out.code, out.params), []
        if not out:
            return state, Decision("already_decided"), []
        issued = out[0]
        return rules.fold(out, state), Decision("issued", {"signal": issued.signal_id,
                                                           "recipients": len(issued.recipients)}), out

    def _persist(self, events: list[Event], keys: list[str]) -> Decision | None:
        """Append then evolve; None on success, else why nothing happened."""
        new = [
            NewEvent(e.type, e.payload(), {"schema": e.schema, "key": k, "actor": "autosignal"})
            for e, k in zip(events, keys, strict=True)
        ]
        try:
            self.store.append(rules.STREAM, self.version, new)
        except ConcurrencyError as exc:
            log.error("autosignal stream written by someone else (%s); reloading it", exc)
            self._rehydrate()
            return Decision("concurrent_write")
        except Exception as exc:
            log.error("autosignal append failed: %s", exc)
            return Decision("not_persisted", {"error": str(exc)})
        self.version += len(events)
        self.state = rules.fold(events, self.state)
        return None

    # --- following the log: recipients and pending deliveries -----------------------------

    def _follow(self, records: Any) -> None:
        """Fold logged events into the recipients projection and the outbox (pending deliveries)."""
        batch = []
        for r in records:
            if r.position <= self.audience.position:
                continue
            try:
                self.outbox.apply(r)
            except (TypeError, KeyError, ValueError) as exc:
                log.error("autosignal could not count %s at position %d: %s", r.type, r.position, exc)
            relevant = r.type in audience.RELEVANT_TYPES and r.stream.startswith(USER_STREAM_PREFIX)
            batch.append((r.position, r.stream, self._decode_user_event(r) if relevant else None))
        if batch:
            self.audience = audience.evolve_many(self.audience, batch)

    @staticmethod
    def _decode_user_event(r: Recorded) -> Event | None:
        try:
            return decode(r.type, r.data)
        except (TypeError, KeyError) as exc:
            log.error("autosignal skipped malformed %s at position %d: %s", r.type, r.position, exc)
            return None

    def _pending_autosignals(self) -> int:
        return sum(1 for d in self.outbox.pending.values() if d.priority == AUTO)

    def _recipients(self, now: int) -> list[int]:
        return audience.recipients(self.audience, self.admin_ids, now)

    # --- admin commands -----------------------------------------------------------------

    def _on_command(self, cmd: AutoSignalCommand) -> Any:
        language = self.outbox.languages.get(cmd.user_id)
        if cmd.user_id not in self.admin_ids:
            log.warning("autosignal: user %s is not an admin and tried %s", cmd.user_id, cmd.name)
            return answer(cmd, Reply("not_allowed", language=language, refused=True))
        if self.audience.members.get(cmd.user_id, audience.Member()).banned:
            log.warning("autosignal: banned admin %s tried %s", cmd.user_id, cmd.name)
            return answer(cmd, Reply("suspended", language=language, refused=True))
        if cmd.update_id in self.replies:
            return answer(cmd, self.replies[cmd.update_id])
        name = cmd.name.lstrip("/").lower()
        if name == "signal_tick":
            return self._start_tick(cmd)
        if name == "signal_on":
            reply = self._admin_change(rules.Enable(by=cmd.user_id), cmd, Reply("signals_enabled"),
                                       Reply("signals_already_enabled"))
            if not self.policy.enabled and not reply.refused:  # on, but this interval's policy issues nothing
                reply = Reply(f"{reply.kind}_idle", {"interval": self.interval, "why": self.policy.why})
        elif name == "signal_off":
            reply = self._admin_change(rules.Disable(by=cmd.user_id), cmd, Reply("signals_disabled"),
                                       Reply("signals_already_disabled"))
        elif name == "signal_status":
            reply = self._status()
        elif name == "cooldown_clear":
            reply = self._cooldown_clear(cmd)
        else:
            reply = Reply("autosignal_admin_usage", refused=True)
        return self._reply(cmd, reply)

    def _reply(self, cmd: AutoSignalCommand, reply: Reply) -> Reply:
        reply = replace(reply, language=self.outbox.languages.get(cmd.user_id))
        self.replies[cmd.update_id] = reply
        while len(self.replies) > REPLY_MEMORY:
            self.replies.popitem(last=False)
        return answer(cmd, reply)

    def _admin_change(self, command: Any, cmd: AutoSignalCommand, done: Reply, already: Reply) -> Reply:
        out = rules.decide(self.state, command, self._now(), self.policy)
        if isinstance(out, rules.Rejection):
            return Reply.refusal(out)
        if out:
            failure = self._persist(out, keys=[f"update/{cmd.update_id}"] * len(out))
            if failure:
                return Reply(f"decision_{failure.code}", failure.params, refused=True)
            log.info("autosignal: admin %s ran %s", cmd.user_id, cmd.name)
            return done
        return already

    def _cooldown_clear(self, cmd: AutoSignalCommand) -> Reply:
        if not 1 <= len(cmd.args) <= 2:
            return Reply("cooldown_usage", refused=True)
        symbol = cmd.args[0].strip().upper()
        if not SYMBOL.match(symbol):
            return Reply("cooldown_bad_symbol", refused=True)
        if not symbol.endswith("USDT"):
            symbol += "USDT"
        side = cmd.args[1].strip().upper() if len(cmd.args) == 2 else None
        if side is not None and side not in rules.SIDES:
            return Reply("cooldown_bad_side", refused=True)
        done = Reply("cooldown_cleared", {"symbol": symbol, "side": side}) if side else \
            Reply("cooldown_cleared_both", {"symbol": symbol})
        return self._admin_change(rules.ClearCooldown(symbol, side, by=cmd.user_id), cmd, done, done)

    def _start_tick(self, cmd: AutoSignalCommand) -> Reply | None:
        if not self.watchlist:
            return self._reply(cmd, Reply("watchlist_empty"))
        tick = _Tick(cmd, waiting=len(self.watchlist))
        for symbol in self.watchlist:
            self._start_scan(symbol, None, tick)
        return None  # answered through reply_to when the last symbol is decided

    def _tick_line(self, tick: _Tick, symbol: str, decision: Decision) -> None:
        tick.lines.append((symbol, decision))
        tick.waiting -= 1
        if tick.waiting == 0:
            self._reply(tick.command, Reply("tick", {"lines": tuple(tick.lines)}))

    def _status(self) -> Reply:
        now = self._now()
        return Reply("status", {
            "enabled": self.state.enabled,
            "watchlist": tuple(self.watchlist),
            "interval": self.interval,
            "policy_off": None if self.policy.enabled else self.policy.why,
            "min_confidence": self.policy.min_confidence,
            "cooldown_min": self.policy.cooldown_ms // 60_000,
            "cooldowns": tuple((symbol, side, until) for (symbol, side), until in
                               self.state.active_cooldowns(now).items()),
            "today": self.state.issued_on(now),
            "recipients": len(self._recipients(now)),
            "pending": self._pending_autosignals(),
            "market_time": now,
        })

    # --- helpers ------------------------------------------------------------------------

    def _watch(self, symbol: str) -> None:
        if not self.fixed_watchlist and symbol not in self.watchlist:
            self.watchlist.append(symbol)

    def _advance_market(self, close_time: int) -> None:
        if self.market_now is None or close_time > self.market_now:
            self.market_now = close_time

    def _now(self) -> int:
        """Market time: the latest candle close seen (the wall clock before any candle)."""
        return self.market_now if self.market_now is not None else self.clock.now_ms()

