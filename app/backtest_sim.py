"""One symbol's candles through the live code path, bar by bar: the backtest's inner loop.

At each bar t (a closed candle), in the order the live system handles it: the outcome decider
takes candle t for the setups already open; `analysis.strategy.analyze` reads the `history`
candles ending at t (the AutoSignal actor's causal window, so no bar after t is seen); the
autosignal decider decides on it with the policy; every setup is tracked on its own, and so is
its mirror (the other side, same stop and target distances) for the baselines. Pure apart from
the clock reads for the speed figures: candles in, events and rows out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from analysis.calibration import FEATURES, Calibration, features, model_at
from analysis.candles import Candles, interval_ms
from analysis.strategy import DEFAULT_COSTS, Costs, Signal, analyze
from domain import autosignal, outcomes
from domain.events import AutoSignalIssued, Event
from domain.track_record import ClosedSignal, TrackRecord

PROGRESS_EVERY = 250  # bars between progress reports


@dataclass(frozen=True)
class Setup:
    """The backtest's knobs: the autosignal policy per interval, the outcome rules, the confidence models,
    the analysis window, the range."""

    policies: Mapping[str, autosignal.Policy]  # per interval (analysis.candles.INTERVAL_MS); one missing: none issued
    rules: outcomes.Rules
    costs: Costs = DEFAULT_COSTS  # FEE_RATE and MAX_FEE_SHARE, as the analyzer pool applies them
    models: tuple[Calibration, ...] = ()  # the strategy file's walk-forward models, oldest first (none: no confidence)
    version: str | None = None  # the strategy file's version
    history: int = 500  # candles analyzed, ending at the closed one (the AutoSignal actor's default)
    start: int | None = None  # ms: the first bar that may signal (--from); earlier bars are history only
    end: int | None = None  # ms: the last bar replayed (--to); setups still open then are open at the end

    def policy(self, interval: str) -> autosignal.Policy:
        return self.policies.get(interval) or autosignal.Policy(100, 0, enabled=False, why=f"no policy for {interval}")


class _Logged(NamedTuple):
    """What TrackRecord.apply reads of a logged event."""

    type: str
    data: dict[str, Any]


# per signal bar, for baselines and calibration; results are NaN while a trade is open at the end
BAR_FIELDS = ("open_time", "confidence", "side", "trend", "auto", "result_r", "mirror_r", "tp1_first", "fee_share")


@dataclass
class SeriesRun:
    """What one series produced. Autosignal events carry their idempotency key; outcome events of
    autosignals carry (candle close time, key) so several series can be merged in market time."""

    symbol: str
    interval: str
    bars: int = 0  # bars that could signal
    first: int | None = None
    last: int | None = None
    seconds: float = 0.0  # wall clock of the bar loop
    cpu_seconds: float = 0.0  # CPU time of the bar loop (a fairer speed figure on a shared machine)
    autosignal_events: list[tuple[Event, str]] = field(default_factory=list)
    outcome_events: list[tuple[int, Event, str]] = field(default_factory=list)
    setups: list[ClosedSignal] = field(default_factory=list)  # every setup closed, in close order
    setups_open: int = 0
    # per set ("autosignal", "every_setup"): signals sharing a trigger with an earlier one, and with tp2 == tp1
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {
        name: {"repeated_setups": 0, "equal_targets": 0} for name in ("autosignal", "every_setup")})
    table: dict[str, np.ndarray] = field(default_factory=dict)  # BAR_FIELDS -> one value per setup
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FEATURES))))  # a row per setup
    triggers: list[tuple[str, ...]] = field(default_factory=list)  # per setup: its identity (autosignal.triggers)


def mirrored(signal: Mapping[str, Any]) -> dict[str, Any]:
    """The same trade on the other side: stop and targets mirrored around the entry."""
    entry = signal["entry"]

    def flip(level: float | None) -> float | None:
        return None if level is None else 2 * entry - level

    return {"symbol": signal["symbol"], "interval": signal["interval"], "open_time": signal["open_time"],
            "side": "SHORT" if signal["side"] == "LONG" else "LONG", "entry": entry, "stop": flip(signal["stop"]),
            "tp1": flip(signal["tp1"]), "tp2": flip(signal.get("tp2")), "confidence": signal["confidence"]}


def trend_side(signal: Mapping[str, Any]) -> int:
    """+1 when the analysis saw EMA50 at or above EMA200 at the signal's bar, else -1."""
    smc = signal.get("smc") or {}
    ema50, ema200 = smc.get("ema50"), smc.get("ema200")
    return 1 if ema50 is None or ema200 is None or ema50 >= ema200 else -1


def bar_range(candles: Candles, setup: Setup) -> tuple[int, int]:
    """[lo, hi) indices of the bars that may signal: a full `history` window behind them, inside the range."""
    times = candles.open_time
    lo = max(setup.history - 1, int(np.searchsorted(times, setup.start)) if setup.start is not None else 0)
    hi = len(candles) if setup.end is None else int(np.searchsorted(times, setup.end, side="right"))
    return lo, max(lo, hi)


def simulate(candles: Candles, setup: Setup, progress: Callable[[int], None] | None = None) -> SeriesRun:
    """Replay `candles` (closed, one symbol and interval) bar by bar; see the module docstring."""
    symbol, interval, step = candles.symbol, candles.interval, interval_ms(candles.interval)
    times = candles.open_time
    lo, hi = bar_range(candles, setup)
    run = SeriesRun(symbol, interval, bars=max(0, hi - lo))
    if hi <= lo:
        return run
    run.first, run.last = int(times[lo]), int(times[hi - 1])
    began, began_cpu = time.perf_counter(), time.process_time()
    auto_state = autosignal.initial()
    policy = setup.policy(interval)
    trades = outcomes.OutcomeState()
    every, mirrors = TrackRecord(), TrackRecord()
    auto_ids: set[str] = set()
    signalled: dict[str, set[str]] = {"autosignal": set(), "every_setup": set()}  # triggers seen per set
    bars: list[tuple[int, int, int, int, bool, str, str, float]] = []
    rows: list[np.ndarray] = []
    o, h, low, c = candles.open, candles.high, candles.low, candles.close
    for i in range(lo, hi):
        t = int(times[i])
        key = f"{symbol}/{interval}/{t}"
        candle = outcomes.Candle(symbol, interval, t, float(o[i]), float(h[i]), float(low[i]), float(c[i]))
        for event in outcomes.decide(trades, candle, setup.rules):
            trades = outcomes.evolve(trades, event)
            logged = _Logged(event.type, event.payload())
            (mirrors if event.signal_id.startswith("b:") else every).apply(logged)
            if event.signal_id in auto_ids:
                run.outcome_events.append((t + step, event, key))
        result = analyze(candles[max(0, i + 1 - setup.history) : i + 1], mode="causal", costs=setup.costs,
                         calibration=model_at(setup.models, t))
        signal = result.to_dict() if isinstance(result, Signal) else None
        decided = autosignal.decide(auto_state, autosignal.Evaluate(symbol, interval, t, t + step - 1, signal),
                                    t + step - 1, policy)
        if isinstance(decided, list) and decided:
            auto_state = autosignal.fold(decided, auto_state)
            run.autosignal_events += [(event, key) for event in decided]
            auto_ids.update(e.signal_id for e in decided if isinstance(e, AutoSignalIssued))
        if signal is not None:
            side = signal["side"]
            sid = autosignal.signal_id(symbol, interval, t, side)
            mid = "b:" + sid[2:]
            trades = outcomes.track(outcomes.track(trades, sid, signal), mid, mirrored(signal))
            every.apply(_Logged("AutoSignalIssued", {"signal_id": sid, "signal": signal}))
            mirrors.apply(_Logged("AutoSignalIssued", {"signal_id": mid, "signal": mirrored(signal)}))
            confidence = float("nan") if signal["confidence"] is None else signal["confidence"]
            bars.append((t, confidence, 1 if side == "LONG" else -1, trend_side(signal),
                         sid in auto_ids, sid, mid, setup.costs.fee_share(signal["entry"], signal["stop"])))
            rows.append(features(signal))
            run.triggers.append(tuple(autosignal.triggers(signal)))
            for name in ("every_setup", "autosignal") if sid in auto_ids else ("every_setup",):
                found = autosignal.triggers(signal)
                run.counts[name]["repeated_setups"] += bool(signalled[name].intersection(found))
                run.counts[name]["equal_targets"] += signal.get("tp2") == signal["tp1"]
                signalled[name].update(found)
        if progress is not None and (i - lo + 1) % PROGRESS_EVERY == 0:
            progress(i - lo + 1)
    run.seconds, run.cpu_seconds = time.perf_counter() - began, time.process_time() - began_cpu
    run.setups, run.setups_open = every.closed, len(every.open)
    run.table = _table(bars, every.closed, mirrors.closed)
    if rows:
        run.features = np.array(rows)
    return run


def _table(bars: list[tuple], own: list[ClosedSignal], mirror: list[ClosedSignal]) -> dict[str, np.ndarray]:
    closed = {row.signal_id: row for row in own} | {row.signal_id: row for row in mirror}
    nan = float("nan")
    values = [(t, conf, side, trend, auto, closed[sid].result_r if sid in closed else nan,
               closed[mid].result_r if mid in closed else nan, sid in closed and closed[sid].tp1_first, fee_share)
              for t, conf, side, trend, auto, sid, mid, fee_share in bars]
    columns = list(zip(*values, strict=True)) if values else [()] * len(BAR_FIELDS)
    types = (np.int64, np.float64, np.int8, np.int8, bool, np.float64, np.float64, bool, np.float64)
    return {name: np.array(col, dtype=kind) for name, col, kind in zip(BAR_FIELDS, columns, types, strict=True)}
