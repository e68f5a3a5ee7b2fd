"""The autosignal decider: when the market's signal becomes an issued autosignal.

Pure: no threads, no I/O, no clock. State is the fold of the `autosignal` stream; time is
market time (a candle's close), so a replay of the same candles decides the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from analysis.candles import interval_ms
from domain.events import (
    AutoSignalDisabled,
    AutoSignalEnabled,
    AutoSignalIssued,
    CooldownCleared,
    CooldownStarted,
    Event,
)
from domain.rejection import Rejection  # why a command changed nothing (shown to admins, never persisted)

STREAM = "autosignal"
SIDES = ("LONG", "SHORT")
DAY_MS = 86_400_000
SETUP_MEMORY_BARS = 1_000  # issued triggers kept this many bars back: twice the analysis window (500 candles),
                           # so a trigger old enough to be forgotten can no longer be in any analysis


@dataclass(frozen=True)
class Policy:
    """The autosignal policy of one interval (the strategy file's, or AUTOSIGNAL_MIN_CONFIDENCE: calibrated %,
    AUTOSIGNAL_COOLDOWN_MIN); `enabled` False issues nothing on that interval, `why` says why."""

    min_confidence: float
    cooldown_ms: int
    enabled: bool = True
    why: str = ""


@dataclass(frozen=True)
class AutoSignalState:
    """What the `autosignal` stream says now.

    `last_open` keeps the last issued candle per (symbol, interval): one number per key,
    not a growing set, and enough because candles arrive in time order. `issued` keeps the setup
    triggers already auto-issued per (symbol, interval) with their formation time, pruned to the
    last SETUP_MEMORY_BARS bars (bounded memory).
    """

    enabled: bool = True
    cooldowns: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (symbol, side) -> until
    last_open: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (symbol, interval) -> open
    last_side: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (symbol, interval) -> side
    issued: Mapping[tuple[str, str], Mapping[str, int]] = field(default_factory=dict)  # -> {trigger: formed}
    day: int = -1  # UTC day (market time) of `today`
    today: int = 0  # signals issued on that day

    def active_cooldowns(self, now: int) -> dict[tuple[str, str], int]:
        return {key: until for key, until in sorted(self.cooldowns.items()) if until > now}

    def issued_on(self, now: int) -> int:
        return self.today if self.day == now // DAY_MS else 0

    def seen(self, symbol: str, interval: str, open_time: int) -> bool:
        return open_time <= self.last_open.get((symbol, interval), -1)


def initial(enabled: bool = True) -> AutoSignalState:
    """The state before any event (a log written before the setting was recorded folds from here)."""
    return AutoSignalState(enabled=enabled)


def founding(enabled: bool) -> list[Event]:
    """The first events of a fresh stream: AUTOSIGNAL_ENABLED recorded, so that from then on only
    admin commands change the flag (a later restart with another setting does not)."""
    return [AutoSignalEnabled(by=None) if enabled else AutoSignalDisabled(by=None)]


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluate:
    """The analysis of one closed candle: `signal` is `Signal.to_dict()`, or None with `no_setup`."""

    symbol: str
    interval: str
    open_time: int
    close_time: int
    signal: Mapping[str, Any] | None
    recipients: tuple[int, ...] = ()
    no_setup: Mapping[str, Any] | str = ""  # the analysis' reason when there is no signal (a code and its parameters)


@dataclass(frozen=True)
class Enable:
    by: int | None = None


@dataclass(frozen=True)
class Disable:
    by: int | None = None


@dataclass(frozen=True)
class ClearCooldown:
    """Clear one side's cooldown, or both when `side` is None."""

    symbol: str
    side: str | None = None
    by: int | None = None


Command = Evaluate | Enable | Disable | ClearCooldown


def signal_id(symbol: str, interval: str, open_time: int, side: str) -> str:
    return f"a:{symbol}:{interval}:{open_time}:{side}"


def decide(state: AutoSignalState, cmd: Command, now: int, policy: Policy) -> list[Event] | Rejection:
    """Events that `cmd` causes (market time `now`, in ms), or why it causes none.

    A candle already issued answers `[]`: acknowledged again, nothing new.
    """
    match cmd:
        case Evaluate():
            return _evaluate(state, cmd, now, policy)
        case Enable(by):
            return [] if state.enabled else [AutoSignalEnabled(by=by)]
        case Disable(by):
            return [AutoSignalDisabled(by=by)] if state.enabled else []
        case ClearCooldown(symbol, side, by):
            if side is not None and side not in SIDES:
                return Rejection("bad_side", side=side)
            sides = SIDES if side is None else (side,)
            active = [s for s in sides if state.cooldowns.get((symbol, s), 0) > now]
            if not active:
                return Rejection("no_cooldown", symbol=symbol, side=side or "")
            return [CooldownCleared(symbol=symbol, side=s, by=by) for s in active]
    raise TypeError(f"not an autosignal command: {cmd!r}")


def _evaluate(state: AutoSignalState, cmd: Evaluate, now: int, policy: Policy) -> list[Event] | Rejection:
    if state.seen(cmd.symbol, cmd.interval, cmd.open_time):
        return []
    if not state.enabled:
        return Rejection("disabled")
    if not policy.enabled:
        return Rejection("policy_off", interval=cmd.interval, why=policy.why)
    if cmd.signal is None:
        return Rejection("no_setup", reason=cmd.no_setup)
    side = cmd.signal["side"]
    confidence = cmd.signal.get("confidence")
    if confidence is None:
        return Rejection("uncalibrated")
    if confidence < policy.min_confidence:
        return Rejection("low_confidence", confidence=confidence, min=policy.min_confidence)
    key = (cmd.symbol, cmd.interval)
    step = interval_ms(cmd.interval)
    if state.last_open.get(key) == cmd.open_time - step and state.last_side.get(key) == side:
        return Rejection("previous_bar", side=side)
    repeated = [t for t in triggers(cmd.signal) if t in state.issued.get(key, {})]
    if repeated:
        return Rejection("repeated_setup", triggers=", ".join(repeated))
    until = state.cooldowns.get((cmd.symbol, side), 0)
    if until >= now:  # a cooldown that ends on the close it guards still blocks it
        return Rejection("cooldown", side=side, until=until)
    return [
        AutoSignalIssued(
            signal_id=signal_id(cmd.symbol, cmd.interval, cmd.open_time, side),
            signal=dict(cmd.signal),
            recipients=list(cmd.recipients),
        ),
        CooldownStarted(symbol=cmd.symbol, side=side, until=cmd.close_time + max(policy.cooldown_ms, step)),
    ]


def triggers(signal: Mapping[str, Any]) -> list[str]:
    """The setup identity's triggers (`SIDE:KIND:formation open_time`); none for a signal without one."""
    return list((signal.get("setup") or {}).get("triggers") or [])


# --- evolve --------------------------------------------------------------------------------


def evolve(state: AutoSignalState, event: Event) -> AutoSignalState:
    match event:
        case AutoSignalIssued(signal=signal):
            key = (signal["symbol"], signal["interval"])
            last_open = {**state.last_open, key: max(signal["open_time"], state.last_open.get(key, -1))}
            last_side = {**state.last_side, key: signal["side"]}
            day = _close_time(signal) // DAY_MS
            today = state.today + 1 if day == state.day else 1
            return replace(state, last_open=last_open, last_side=last_side, day=day, today=today,
                           issued={**state.issued, key: _remember(state.issued.get(key, {}), signal)})
        case CooldownStarted(symbol, side, until):
            return replace(state, cooldowns={**state.cooldowns, (symbol, side): until})
        case CooldownCleared(symbol, side):
            cooldowns = {k: v for k, v in state.cooldowns.items() if k != (symbol, side)}
            return replace(state, cooldowns=cooldowns)
        case AutoSignalEnabled():
            return replace(state, enabled=True)
        case AutoSignalDisabled():
            return replace(state, enabled=False)
    return state


def _remember(issued: Mapping[str, int], signal: Mapping[str, Any]) -> dict[str, int]:
    """`issued` plus the signal's triggers, minus those formed over SETUP_MEMORY_BARS bars before it."""
    horizon = int(signal["open_time"]) - SETUP_MEMORY_BARS * interval_ms(signal["interval"])
    fresh = {t: int(t.rsplit(":", 1)[1]) for t in triggers(signal)}
    return {t: formed for t, formed in {**issued, **fresh}.items() if formed >= horizon}


def fold(events: Iterable[Event], state: AutoSignalState) -> AutoSignalState:
    for event in events:
        state = evolve(state, event)
    return state


def _close_time(signal: Mapping[str, Any]) -> int:
    close_time = signal.get("close_time")
    if close_time is not None:
        return int(close_time)
    return int(signal["open_time"]) + interval_ms(signal["interval"]) - 1
