"""OutcomeTracker: what the market did to every issued signal, persisted to stream `outcomes`.

The only writer of `outcomes`. State is the fold (`domain.outcomes.evolve`) of the issued signals
and of the `outcomes` stream, followed with `store.subscribe`; closed candles come from the feed.
Each candle is decided by `domain.outcomes.decide`, persisted, and only then folded in.

Candles are applied per stream in order. A candle that does not follow the last one applied (after
a start, a new signal on an older candle, a gap) makes the tracker fetch the stream's buffer with
`GetCandles` and apply what follows; a candle applied twice changes nothing, because the decider
ignores candles at or before a trade's last event. Market time (the newest candle close seen)
expires trades whose candles never come. Every stream with an open trade is held with
`EnsureStream(hold=True)` and released when its last trade closes. `/winrate` and `/history`
are answered from this state (`WinrateQuery`, `OutcomesQuery`), never by reading the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pykka

from actors.clock import Clock, SystemClock
from actors.messages import (
    CandleClosed,
    EnsureStream,
    GetCandles,
    Logged,
    OutcomesQuery,
    ReleaseStream,
    StreamReady,
    SubscribeCandles,
    TradeStatus,
    Winrate,
    WinrateQuery,
    answer,
    outcome_of,
    relay_log,
)
from analysis.candles import Candles, interval_ms
from domain import outcomes
from domain.events import REGISTRY, Event, decode
from domain.track_record import ClosedSignal, Summary, TrackRecord, summarize
from eventstore import ConcurrencyError, EventStore, NewEvent, Recorded

log = logging.getLogger("outcomes")

ISSUED = ("ManualSignalIssued", "AutoSignalIssued")
MAX_FETCH = 1000  # candles asked for in one catch-up (the feed's default buffer)
RETRY_MS = 60_000  # wait before asking again for a stream the feed could not serve


@dataclass
class _Stream:
    """One (symbol, interval) with open trades: the newest candle applied, and a catch-up in flight."""

    seen: int | None = None  # open time of the newest candle applied; None: catch up first
    held: bool = False  # the feed answered StreamReady to our EnsureStream(hold=True)
    asked: bool = False  # an EnsureStream or GetCandles is in flight
    again: bool = False  # candles arrived during a catch-up: fetch once more
    retry_at: int = 0  # ms: no EnsureStream before this after a refusal


# Messages this actor sends itself (completions of its reply futures, log batches).
@dataclass(frozen=True)
class _Ready:
    key: tuple[str, str]
    reply: Future


@dataclass(frozen=True)
class _Fetched:
    key: tuple[str, str]
    reply: Future


class OutcomeTracker(pykka.ThreadingActor):
    """`OutcomeTracker.start(store, feed, rules=Rules(...))`; `feed` may be None (replay, tests)."""

    def __init__(self, store: EventStore, feed: Any, *, rules: outcomes.Rules | None = None,
                 clock: Clock | None = None) -> None:
        super().__init__()
        self.store = store
        self.feed = feed
        self.rules = rules or outcomes.Rules()
        self.clock = clock or SystemClock()
        self.state = outcomes.OutcomeState()
        self.version = 0  # of stream `outcomes`
        self.position = 0  # of the log, folded so far
        self.record = TrackRecord()
        self.closed: dict[str, ClosedSignal] = {}
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.market_now: int | None = None
        self.subscription: Any = None

    # --- life cycle ---------------------------------------------------------------------

    def on_start(self) -> None:
        self._follow(self.store.read_all(0))
        self.subscription = self.store.subscribe(relay_log(self.actor_ref), after_position=self.position)
        if self.feed is not None:
            self.feed.tell(SubscribeCandles(self.actor_ref))
        self._sync_streams()
        log.info("outcome tracker started: %d open, %d closed", len(self.state.open), len(self.closed))

    def on_stop(self) -> None:
        if self.subscription is not None:
            self.store.unsubscribe(self.subscription)
            self.subscription = None
        for key, stream in self.streams.items():
            if stream.held:
                self._tell_feed(ReleaseStream(*key))

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """pykka skips on_stop after a failure: release what it would; the Supervisor restarts us."""
        log.error("outcome tracker failed: %s", exception_value)
        self.on_stop()

    # --- messages ----------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        match message:
            case CandleClosed():
                self._on_candle(message)
            case Logged(records):
                self._follow(records)
                self._sync_streams()
            case _Ready(key, reply):
                self._on_ready(key, outcome_of(reply))
            case _Fetched(key, reply):
                self._on_fetched(key, outcome_of(reply))
            case WinrateQuery():
                return answer(message, self._winrate(message))
            case OutcomesQuery(trade_ids):
                return answer(message, {t: s for t in trade_ids if (s := self._status(t)) is not None})
        return None

    # --- following the log --------------------------------------------------------------

    def _follow(self, records: Iterable[Recorded]) -> None:
        """Fold issued signals and outcome events (ours already folded when persisted are skipped)."""
        for r in records:
            if r.position <= self.position:
                continue
            self.position = r.position
            try:
                closed = len(self.record.closed)
                self.record.apply(r)
                if len(self.record.closed) > closed:
                    self.closed[self.record.closed[-1].signal_id] = self.record.closed[-1]
                if r.type in ISSUED:
                    self._track(decode(r.type, r.data))
                elif r.stream == outcomes.STREAM and r.version > self.version and r.type in REGISTRY:
                    self.state = outcomes.evolve(self.state, decode(r.type, r.data))
                    self.version = r.version
            except (KeyError, TypeError, ValueError) as exc:
                log.error("outcome tracker skipped malformed %s at position %d: %s", r.type, r.position, exc)

    def _track(self, issued: Event) -> None:
        before = self.state.open
        self.state = outcomes.evolve(self.state, issued)
        for trade_id, trade in self.state.open.items():
            if trade_id in before:
                continue
            stream = self.streams.setdefault((trade.symbol, trade.interval), _Stream())
            if stream.seen is not None and trade.open_time < stream.seen:
                stream.seen = None  # candles after its own were applied before it was known: catch up

    # --- the feed: holding streams and catching up --------------------------------------

    def _sync_streams(self) -> None:
        """Hold every stream with an open trade, catch up those behind, release the rest."""
        needed = {(t.symbol, t.interval) for t in self.state.open.values()}
        now = self.clock.now_ms()
        for key in needed:
            stream = self.streams.setdefault(key, _Stream())
            if stream.asked or self.feed is None:
                continue
            if not stream.held and now >= stream.retry_at:
                stream.asked = True
                self._request(EnsureStream(*key, hold=True, reply_to=Future()), _Ready, key)
            elif stream.held and stream.seen is None:
                self._catch_up(key)
        for key in [k for k in self.streams if k not in needed]:
            if self.streams.pop(key).held:
                self._tell_feed(ReleaseStream(*key))

    def _on_ready(self, key: tuple[str, str], ready: Any) -> None:
        stream = self.streams.get(key)
        if stream is None:  # closed meanwhile
            if isinstance(ready, StreamReady):
                self._tell_feed(ReleaseStream(*key))
            return
        stream.asked = False
        if not isinstance(ready, StreamReady):
            log.warning("outcome tracker cannot follow %s %s: %s", *key, getattr(ready, "reason", ready))
            stream.retry_at = self.clock.now_ms() + RETRY_MS
            return
        stream.held = True
        self._catch_up(key)

    def _catch_up(self, key: tuple[str, str]) -> None:
        stream = self.streams[key]
        if stream.asked:
            stream.again = True
            return
        stream.asked, stream.again = True, False
        self._request(GetCandles(*key, self._fetch_size(key), reply_to=Future()), _Fetched, key)

    def _fetch_size(self, key: tuple[str, str]) -> int:
        """Candles from the stream's oldest unapplied one to market time (all the feed keeps, if unknown)."""
        start = self._start(key)
        if start is None or self.market_now is None:
            return MAX_FETCH
        return max(2, min(MAX_FETCH, (self.market_now - start) // interval_ms(key[1]) + 2))

    def _start(self, key: tuple[str, str]) -> int | None:
        """Open time of the newest candle every trade of the stream has had (None: no trade)."""
        seen = self.streams[key].seen
        if seen is not None:
            return seen
        marks = [max(t.open_time, t.last_time) for t in self.state.open.values() if (t.symbol, t.interval) == key]
        return min(marks, default=None)

    def _on_fetched(self, key: tuple[str, str], candles: Any) -> None:
        stream = self.streams.get(key)
        if stream is None:
            return
        stream.asked = False
        if not isinstance(candles, Candles):
            log.warning("outcome tracker: no candles for %s %s: %s", *key, getattr(candles, "reason", candles))
            stream.seen = None  # try again with the next candle
            return
        start = self._start(key)
        for i in range(len(candles)):
            candle = _candle(key, candles, i)
            if start is not None and candle.open_time > start:
                if not self._apply(stream, candle):
                    return
                start = candle.open_time
        if stream.seen is None and start is not None:
            stream.seen = start
        if stream.again and key in self.streams:
            self._catch_up(key)
        self._expire()

    def _on_candle(self, msg: CandleClosed) -> None:
        if self.market_now is None or msg.candle.close_time > self.market_now:
            self.market_now = msg.candle.close_time
        key = (msg.symbol, msg.interval)
        stream = self.streams.get(key)
        if stream is not None and stream.held:
            k = msg.candle
            if stream.asked:
                stream.again = True
            elif stream.seen is not None and k.open_time == stream.seen + interval_ms(msg.interval):
                self._apply(stream, outcomes.Candle(*key, k.open_time, k.open, k.high, k.low, k.close))
            elif stream.seen is None or k.open_time > stream.seen:
                self._catch_up(key)  # a gap, or nothing applied yet: the feed's buffer is the truth
        self._expire()

    def _apply(self, stream: _Stream, candle: outcomes.Candle) -> bool:
        """Decide, persist, fold one candle; False (and a catch-up later) when the append failed."""
        events = outcomes.decide(self.state, candle, self.rules)
        if events and not self._persist(events, f"{candle.symbol}/{candle.interval}/{candle.open_time}"):
            stream.seen = None
            return False
        stream.seen = candle.open_time
        if events:
            self._sync_streams()
        return True

    def _expire(self) -> None:
        """Market time closes trades whose candles never came (none while their stream catches up)."""
        if self.market_now is None:
            return
        waiting = {k for k, s in self.streams.items() if s.asked}
        state = self.state
        if waiting:
            state = outcomes.OutcomeState({i: t for i, t in state.open.items()
                                           if (t.symbol, t.interval) not in waiting}, state.closed)
        events = outcomes.decide(state, outcomes.MarketTime(self.market_now), self.rules)
        if events and self._persist(events, f"market/{self.market_now}"):
            self._sync_streams()

    def _persist(self, events: list[Event], key: str) -> bool:
        """Append with expected_version, then fold; False when nothing was written."""
        new = [NewEvent(e.type, e.payload(), {"schema": e.schema, "key": f"{e.signal_id}@{key}",
                                              "actor": "OutcomeTracker"}) for e in events]
        try:
            self.store.append(outcomes.STREAM, self.version, new)
        except ConcurrencyError as exc:
            log.error("stream outcomes written by someone else (%s); reloading it", exc)
            self._follow(self.store.read_all(self.position))
            return False
        except Exception as exc:
            log.error("outcome append failed: %s", exc)
            return False
        self.version += len(events)
        self.state = outcomes.fold(events, self.state)
        return True

    def _request(self, message: Any, done: type, key: tuple[str, str]) -> None:
        message.reply_to.add_done_callback(lambda reply: self._tell_self(done(key, reply)))
        try:
            self.feed.tell(message)
        except pykka.ActorDeadError as exc:
            message.reply_to.set_exception(exc)

    def _tell_self(self, message: Any) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass

    def _tell_feed(self, message: Any) -> None:
        try:
            self.feed.tell(message)
        except (pykka.ActorDeadError, AttributeError):
            pass  # the feed stopped first (shutdown) or there is none

    # --- queries ------------------------------------------------------------------------

    def _winrate(self, query: WinrateQuery) -> Winrate:
        now = self.market_now if self.market_now is not None else self.clock.now_ms()
        rows = [r for r in self.record.closed
                if (query.symbol is None or r.symbol == query.symbol)
                and (query.period_ms is None or (r.closed_at is not None and r.closed_at >= now - query.period_ms))]
        open_trades = [t for t in self.state.open.values() if query.symbol is None or t.symbol == query.symbol]
        auto = sum(t.signal_id.startswith("a:") for t in open_trades)
        by_symbol: tuple[tuple[str, Summary], ...] = ()
        if query.per_symbol:
            symbols = sorted({r.symbol for r in rows})
            by_symbol = tuple((s, summarize(r for r in rows if r.symbol == s)) for s in symbols)
        return Winrate(summarize(r for r in rows if r.kind == "auto"), summarize(r for r in rows if r.kind != "auto"),
                       auto, len(open_trades) - auto, by_symbol)

    def _status(self, trade_id: str) -> TradeStatus | None:
        closed = self.closed.get(trade_id)
        if closed is not None:
            return TradeStatus(closed.reason, closed.result_r)
        trade = self.state.open.get(trade_id)
        if trade is None:
            return None
        return TradeStatus("tp1" if trade.tp1_hit else "open")


def _candle(key: tuple[str, str], candles: Candles, i: int) -> outcomes.Candle:
    return outcomes.Candle(key[0], key[1], int(candles.open_time[i]), float(candles.open[i]),
                           float(candles.high[i]), float(candles.low[i]), float(candles.close[i]))

