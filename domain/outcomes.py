"""Signal outcomes as a pure decider: what the market did to each issued signal, in market time.

One set of rules for the live `OutcomeTracker` and for `main.py backtest`, so their figures are one
computation. State is the fold of the issued signals (`ManualSignalIssued`, `AutoSignalIssued`) and
of the `outcomes` stream; `decide` turns one closed candle (or an advance of market time) into events.

Rules (the outcomes issue):
- Entry is a market entry: the fill is the open of the candle after the signal's (bar 1).
- Exits: half at TP1, half at TP2, the original stop kept for the rest; without a second target
  (`tp2` null) the whole position exits at TP1. Both targets in one candle: half at each.
- A candle that touches the stop and a target counts the stop (the conservative reading).
- A level the candle opened beyond fills at that open (a gap), else at the level itself.
- Still open after `horizon_bars` bars: closed at that candle's close, `expired`. Bars are counted in
  market time, so a real outage is skipped, not invented. When the horizon candle itself is missing,
  the first candle after it closes the trade at its open; when market time passes the horizon by
  another horizon with no candle, at the last price the log knows. A trade never filled closes at 0 R.
- Result in R, R = |stated entry − stop| (the signal's entry, not the fill), net of `fee_rate` per
  side on each leg's notional; `result_pct` is the raw move of the position in % of the fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from analysis.candles import interval_ms
from domain.events import Event, SignalClosed, SignalEntered, SignalExpired, StopHit, TargetHit

STREAM = "outcomes"
HORIZON_BARS = 48  # OUTCOME_HORIZON_BARS
FEE_RATE = 0.0004  # FEE_RATE: Binance USD-M taker fee per side
REASONS = ("tp2", "stop", "tp1_then_stop", "expired")
_SIDE = {"LONG": 1, "SHORT": -1}


@dataclass(frozen=True)
class Rules:
    """The settings `OUTCOME_HORIZON_BARS` and `FEE_RATE`."""

    horizon_bars: int = HORIZON_BARS
    fee_rate: float = FEE_RATE

    def __post_init__(self) -> None:
        if self.horizon_bars < 1 or not 0 <= self.fee_rate < 0.01:
            raise ValueError("horizon_bars must be >= 1 and fee_rate within 0..0.01")


@dataclass(frozen=True)
class Trade:
    """One tracked setup: its stated levels and what has happened to it so far."""

    signal_id: str
    symbol: str
    interval: str
    open_time: int  # the signal's candle
    side: int  # +1 LONG, -1 SHORT
    entry: float
    stop: float
    tp1: float
    tp2: float | None
    fill: float | None = None
    legs: tuple[tuple[float, float], ...] = ()  # (share of the position, exit price)
    last_time: int = -1  # open time of the newest candle that produced an event
    last_price: float | None = None  # the newest price an event recorded

    @property
    def step(self) -> int:
        return interval_ms(self.interval)

    @property
    def risk(self) -> float:
        return abs(self.entry - self.stop)

    @property
    def remaining(self) -> float:
        return 1.0 - sum(share for share, _ in self.legs)

    @property
    def tp1_hit(self) -> bool:
        return bool(self.legs)

    def bar(self, open_time: int) -> int:
        return (open_time - self.open_time) // self.step


@dataclass(frozen=True)
class OutcomeState:
    """Open trades by id, and the ids already closed (a re-issued id is never tracked twice)."""

    open: Mapping[str, Trade] = field(default_factory=dict)
    closed: frozenset[str] = frozenset()


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candle:
    """A closed candle of one symbol and interval (times in ms UTC, open time first)."""

    symbol: str
    interval: str
    open_time: int
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class MarketTime:
    """Market time advanced to `now` (ms): trades whose candles never came expire."""

    now: int


# --- which setups a signal event carries -----------------------------------------------------


def setups(signal_id: str, signal: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(trade id, setup) pairs of one issued signal: itself, or each setup of a /signals scan
    (id `<signal_id>/<symbol>`). Payloads without a side or levels carry nothing to track."""
    if signal.get("kind") == "scan":
        for inner in signal.get("signals") or ():
            yield from setups(f"{signal_id}/{inner.get('symbol')}", inner)
        return
    if signal.get("side") in _SIDE and all(signal.get(k) is not None for k in ("entry", "stop", "tp1")):
        yield signal_id, signal


def trade_of(trade_id: str, signal: Mapping[str, Any]) -> Trade | None:
    """The trade for a setup, or None when its levels cannot make one (zero risk, bad numbers)."""
    try:
        trade = Trade(trade_id, str(signal["symbol"]), str(signal["interval"]), int(signal["open_time"]),
                      _SIDE[signal["side"]], float(signal["entry"]), float(signal["stop"]), float(signal["tp1"]),
                      None if signal.get("tp2") is None else float(signal["tp2"]))
        trade.step  # noqa: B018 - an unknown interval raises here
    except (KeyError, TypeError, ValueError):
        return None
    return trade if trade.risk > 0 else None


# --- decide --------------------------------------------------------------------------------


def decide(state: OutcomeState, command: Candle | MarketTime, rules: Rules = Rules()) -> list[Event]:
    """The outcome events one candle (or an advance of market time) causes, oldest trade first.

    A candle at or before one a trade already has events for changes nothing for that trade, so a
    candle delivered twice (backfill after a restart) is idempotent per (signal_id, candle).
    """
    events: list[Event] = []
    if isinstance(command, MarketTime):
        for trade in state.open.values():
            if command.now >= trade.open_time + (2 * rules.horizon_bars + 1) * trade.step:
                last_time = trade.last_time if trade.last_time >= 0 else None
                events += _expire(trade, trade.last_price, last_time, rules, 2 * rules.horizon_bars)
        return events
    for trade in state.open.values():
        if trade.symbol == command.symbol and trade.interval == command.interval \
                and command.open_time > max(trade.open_time, trade.last_time):
            events += _on_candle(trade, command, rules)
    return events


def _on_candle(trade: Trade, c: Candle, rules: Rules) -> list[Event]:
    bar = trade.bar(c.open_time)
    if bar > rules.horizon_bars:  # the horizon candle is missing (an outage): close at the first price after it
        return _expire(trade, c.open if trade.fill is not None else None, c.open_time, rules, bar)
    events: list[Event] = []
    if trade.fill is None:
        events.append(SignalEntered(trade.signal_id, c.open, c.open_time))
        trade = replace(trade, fill=c.open)
    s = trade.side
    worst, best = (c.low, c.high) if s == 1 else (c.high, c.low)  # the candle's extremes against and for it
    stop_touched = (worst - trade.stop) * s <= 0
    if stop_touched:
        price = _exit_price(trade.stop, c, s, adverse=True)
        reason = "tp1_then_stop" if trade.tp1_hit else "stop"
        events.append(StopHit(trade.signal_id, price, c.open_time))
        trade = replace(trade, legs=(*trade.legs, (trade.remaining, price)))
        return [*events, _closed(trade, reason, bar, rules)]
    targets = [("tp1", trade.tp1)] if not trade.tp1_hit else []
    if trade.tp2 is not None:
        targets.append(("tp2", trade.tp2))
    for name, level in targets:
        if (best - level) * s < 0:
            break
        price = _exit_price(level, c, s, adverse=False)
        last = name == "tp2" or trade.tp2 is None
        share = trade.remaining if last else 0.5
        events.append(TargetHit(trade.signal_id, name, price, c.open_time))
        trade = replace(trade, legs=(*trade.legs, (share, price)))
        if last:
            return [*events, _closed(trade, "tp2", bar, rules)]
    if bar == rules.horizon_bars:
        return events + _expire(trade, c.close, c.open_time, rules, bar)
    return events


def _exit_price(level: float, c: Candle, side: int, adverse: bool) -> float:
    """The level, or the open when the candle opened beyond it (stops: below a LONG's; targets: above)."""
    beyond = (c.open - level) * side < 0 if adverse else (c.open - level) * side > 0
    return c.open if beyond else level


def _expire(trade: Trade, price: float | None, open_time: int | None, rules: Rules, bars: int) -> list[Event]:
    if trade.fill is None or price is None:  # never filled: nothing won, nothing lost
        return [SignalExpired(trade.signal_id, None, open_time),
                SignalClosed(trade.signal_id, 0.0, 0.0, "expired", bars)]
    expired = SignalExpired(trade.signal_id, price, open_time)
    trade = replace(trade, legs=(*trade.legs, (trade.remaining, price)))
    return [expired, _closed(trade, "expired", bars, rules)]


def _closed(trade: Trade, reason: str, bars: int, rules: Rules) -> SignalClosed:
    result_r, result_pct = result(trade.side, trade.entry, trade.stop, trade.fill, trade.legs, rules.fee_rate)
    return SignalClosed(trade.signal_id, result_r, result_pct, reason, bars)


def result(side: int, entry: float, stop: float, fill: float, legs: Iterable[tuple[float, float]],
           fee_rate: float) -> tuple[float, float]:
    """(R after fees, raw % move) of a position filled at `fill` and closed in `legs` of (share, price).

    Fees: `fee_rate` of the notional on the way in and on the way out of every leg, converted to R.
    """
    risk = abs(entry - stop)
    r = pct = 0.0
    for share, price in legs:
        r += share * ((price - fill) * side - fee_rate * (fill + price)) / risk
        pct += share * (price - fill) * side / fill * 100
    return round(r, 4), round(pct, 4)


# --- evolve --------------------------------------------------------------------------------


def evolve(state: OutcomeState, event: Event) -> OutcomeState:
    """Fold an issued signal (start tracking) or an outcome event into the state."""
    match event:
        case SignalEntered(signal_id, price, open_time):
            return _update(state, signal_id, lambda t: replace(t, fill=price, last_time=open_time, last_price=price))
        case TargetHit(signal_id, target, price, open_time):
            def hit(t: Trade) -> Trade:
                share = t.remaining if target == "tp2" or t.tp2 is None else 0.5
                return replace(t, legs=(*t.legs, (share, price)), last_time=open_time, last_price=price)
            return _update(state, signal_id, hit)
        case StopHit(signal_id, price, open_time):
            return _update(state, signal_id, lambda t: replace(t, last_time=open_time, last_price=price))
        case SignalExpired(signal_id, price, open_time):
            return _update(state, signal_id, lambda t: replace(
                t, last_time=t.last_time if open_time is None else open_time, last_price=price))
        case SignalClosed(signal_id):
            if signal_id not in state.open:
                return state
            return OutcomeState({k: v for k, v in state.open.items() if k != signal_id}, state.closed | {signal_id})
    signal_id = getattr(event, "signal_id", None)
    signal = getattr(event, "signal", None)
    if signal_id is None or not isinstance(signal, Mapping):
        return state
    return track(state, signal_id, signal)


def track(state: OutcomeState, signal_id: str, signal: Mapping[str, Any]) -> OutcomeState:
    """Start tracking the setups of an issued signal (ids already open or closed are left alone)."""
    added = {}
    for trade_id, setup in setups(signal_id, signal):
        if trade_id in state.open or trade_id in state.closed:
            continue
        trade = trade_of(trade_id, setup)
        if trade is not None:
            added[trade_id] = trade
    return replace(state, open={**state.open, **added}) if added else state


def _update(state: OutcomeState, signal_id: str, change: Any) -> OutcomeState:
    trade = state.open.get(signal_id)
    if trade is None:
        return state
    return replace(state, open={**state.open, signal_id: change(trade)})


def fold(events: Iterable[Event], state: OutcomeState | None = None) -> OutcomeState:
    state = state or OutcomeState()
    for event in events:
        state = evolve(state, event)
    return state
