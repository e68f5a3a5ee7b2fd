"""Signal rules: one trade setup (or an honest "no setup") for the last closed candle.

Side. Each of these is a vote (a trigger) for a side:
  - an unfilled order block within 1.5% of the close (bullish below / around price: LONG);
  - the close inside an unfilled fair value gap;
  - a break of structure (BOS or CHOCH) within the last 10 bars that agrees with the EMA-50 trend.
All votes must agree: any live vote for the other side is "conflicting evidence", no setup (in sample,
misrori 1h 2021-2023, such setups made +0.015 R more than the others, 95% week-bootstrap interval
[-0.086, +0.115]: no measured reason to trade against evidence, bench/setup_effects.py).
Identity. A setup is its side's triggers, each named `SIDE:KIND:open time of its formation candle` (the
block's or gap's candle, the breaking bar); `since` is the open time of the bar from which the first of
them has held without a break ("active since" in a manual answer). The autosignal decider issues a setup
once (domain.autosignal).
Levels. Entry is the close, a market order (filled at the next open). The stop sits beyond the triggering
order block (0.1 ATR past it) but never closer than 1.2 ATR, and is never squeezed: when the round-trip
fees (2 x FEE_RATE x entry) would exceed MAX_FEE_SHARE (10%) of the risk |entry - stop|, the setup is
dropped. Targets are 1.5R and 3R, each cut back to the nearest opposing zone (an order block, or a fair
value gap at least 0.5 ATR tall) when that is nearer; less than 1R of room is no setup, and a second
target less than 0.5R beyond the first is none (`tp2` null: one target).

Confidence is a calibrated probability: the % chance that such a setup reaches TP1 before its stop within
the outcome horizon (expired counts as not), from the strategy file's logistic model over the features the
reasons name (analysis.calibration; fitted by `main.py calibrate` on 2021-2023 candles only, and passed in:
without a model the confidence is None). Every reason states the numbers that made it true.
Reasons are data, worded by the adapter in the reader's language: `{"code": ..., **params}` with prices as
floats on the price grid, percentages and ratios rounded as shown, sides (LONG/SHORT) and directions
(bullish/bearish) as codes; a no-setup reason also carries the `precision` its prices are shown at.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

import numpy as np

from analysis import indicators
from analysis.calibration import Calibration
from analysis.candles import Candles, interval_ms, validate
from analysis.smc import causal, compat

SWING_LENGTH = 5
MIN_CANDLES = 50
OB_DISTANCE = 0.015
RECENT_BREAK_BARS = 10
STOP_ATR = 1.2
STOP_BUFFER_ATR = 0.1
TARGET_R = (1.5, 3.0)
MIN_REWARD_R = 1.0
MIN_TARGET_GAP_R = 0.5  # a second target only this far (in R) beyond the first
MIN_GAP_ATR = 0.5
VOLUME_RATIO = 1.1

DIRECTION_NAME = {1: "bullish", -1: "bearish", 0: "neutral"}
SIDE = {1: "LONG", -1: "SHORT"}

Reason = dict[str, Any]  # {"code": ..., **params}; old event logs hold English sentences (str) instead


# --- costs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Costs:
    """What a trade pays: `fee_rate` per side (FEE_RATE, 0.0004 = Binance USD-M taker) and
    `max_fee_share` (MAX_FEE_SHARE), the largest share of the risk |entry - stop| that the round-trip
    fees 2 x fee_rate x entry may take; a setup whose stop is closer is dropped, never squeezed."""

    fee_rate: float = 0.0004
    max_fee_share: float = 0.10

    def fee_share(self, entry: float, stop: float) -> float:
        """Round-trip fees as a share of the risk (inf for a zero risk)."""
        risk = abs(entry - stop)
        return 2 * self.fee_rate * entry / risk if risk > 0 else math.inf


DEFAULT_COSTS = Costs()  # the settings' defaults


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    """A trade setup at one closed candle; to_dict() is the DESIGN `signal` payload."""

    symbol: str
    interval: str
    open_time: int
    close_time: int
    side: str
    entry: float
    stop: float
    tp1: float
    tp2: float | None  # None: one target (the second would lie under MIN_TARGET_GAP_R beyond the first)
    rr1: float
    rr2: float | None
    confidence: int | None  # calibrated % chance of TP1 before the stop; None when analyzed without a model
    reasons: tuple[Reason | str, ...] = field(hash=False, compare=True)
    smc: dict[str, Any] = field(hash=False, compare=True)
    precision: int = 2
    setup: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)  # identity: see `_setup`
    strategy_version: str | None = None  # the parameter file's version that gave the confidence
    record: dict[str, Any] | None = field(default=None, hash=False, compare=True)  # its band's backtest record

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "open_time": self.open_time,
            "close_time": self.close_time,
            "side": self.side,
            "entry": self.entry,
            "stop": self.stop,
            "tp1": self.tp1,
            "tp2": self.tp2,
            "rr1": self.rr1,
            "rr2": self.rr2,
            "confidence": self.confidence,
            "reasons": copy.deepcopy(list(self.reasons)),
            "smc": copy.deepcopy(self.smc),  # cached results are shared: hand out a copy
            "precision": self.precision,
            "setup": copy.deepcopy(self.setup),
            "strategy_version": self.strategy_version,
            "record": copy.deepcopy(self.record),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signal:
        """Rebuild from a payload (keys others added to it are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known} | {"reasons": tuple(data["reasons"])})


@dataclass(frozen=True)
class NoSetup:
    """Nothing qualifies at this candle: why, and the same market read a signal would carry."""

    symbol: str
    interval: str
    open_time: int
    reason: Reason | str = field(hash=False, compare=True)
    bias: str  # a direction code: bullish, bearish or neutral
    smc: dict[str, Any] = field(hash=False, compare=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "open_time": self.open_time,
            "reason": copy.deepcopy(self.reason),
            "bias": self.bias,
            "smc": copy.deepcopy(self.smc),  # cached results are shared: hand out a copy
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoSetup:
        """Rebuild from a payload (keys others added to it are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# --- the market read ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    kind: str  # "OB" or "FVG"
    direction: int  # 1 bullish (demand), -1 bearish (supply)
    top: float
    bottom: float
    bar: int  # the candle the zone is drawn from
    known: int  # the bar at whose close the zone became known (causal); `bar` in compat mode

    def distance(self, price: float) -> float:
        """0 inside the zone, else the gap to its nearer edge as a fraction of price."""
        if self.bottom <= price <= self.top:
            return 0.0
        return min(abs(price - self.top), abs(price - self.bottom)) / price


@dataclass(frozen=True)
class Break:
    kind: str  # "BOS" or "CHOCH"
    direction: int
    level: float
    bar: int  # the bar whose close broke the level


@dataclass(frozen=True)
class Read:
    zones: tuple[Zone, ...]
    last_break: Break | None
    trend: int


def _read_causal(candles: Candles) -> Read:
    swings = causal.swing_highs_lows(candles, SWING_LENGTH)
    zones = []
    for kind, result in (("OB", causal.ob(candles, swings)), ("FVG", causal.fvg(candles))):
        for row in causal.unfilled(candles, result, kind).tolist():
            bar = int(result["Index"][row])
            zones.append(Zone(kind, int(result[kind][row]), float(result["Top"][row]),
                              float(result["Bottom"][row]), bar, row))
    structure = causal.bos_choch(candles, swings)
    rows = np.flatnonzero(~np.isnan(structure["Level"]))
    last_break = None
    if len(rows):
        row = int(rows[-1])
        kind = "BOS" if not np.isnan(structure["BOS"][row]) else "CHOCH"
        last_break = Break(kind, int(structure[kind][row]), float(structure["Level"][row]), row)
    return Read(tuple(zones), last_break, int(structure["Trend"][-1]))


def _read_compat(candles: Candles) -> Read:
    """The reference library's read (it looks ahead: for validation and comparison only)."""
    swings = compat.swing_highs_lows(candles, SWING_LENGTH)
    zones = []
    for kind, result in (("OB", compat.ob(candles, swings)), ("FVG", compat.fvg(candles))):
        for row in np.flatnonzero((~np.isnan(result[kind])) & (result["MitigatedIndex"] == 0)).tolist():
            zones.append(Zone(kind, int(result[kind][row]), float(result["Top"][row]),
                              float(result["Bottom"][row]), row, row))
    structure = compat.bos_choch(candles, swings)
    marked = np.flatnonzero(~np.isnan(structure["Level"]))
    last_break, trend = None, 0
    if len(marked):
        row = int(marked[np.argmax(structure["BrokenIndex"][marked])])
        kind = "BOS" if not np.isnan(structure["BOS"][row]) else "CHOCH"
        direction = int(structure[kind][row])
        last_break = Break(kind, direction, float(structure["Level"][row]),
                           int(structure["BrokenIndex"][row]))
        trend = direction
    return Read(tuple(zones), last_break, trend)


# --- prices --------------------------------------------------------------------------------------


def price_precision(candles: Candles) -> int:
    """Decimals to print: from the tick size when known, else the fewest that represent the data."""
    if candles.tick_size:
        return max(0, -Decimal(repr(candles.tick_size)).normalize().as_tuple().exponent)
    sample = np.concatenate([candles.high[-200:], candles.low[-200:], candles.close[-200:]])
    for decimals in range(0, 9):
        scaled = sample * 10.0**decimals
        if np.max(np.abs(scaled - np.round(scaled))) < 1e-6:
            return decimals
    return 8


def _opt(value: float, decimals: int) -> float | None:
    return None if math.isnan(value) else round(float(value), decimals)


# --- the rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gauges:
    """The indicator values at the last bar (NaN where the series is too short)."""

    ema21: float
    ema50: float
    ema200: float
    rsi: float
    atr: float
    volume_ratio: float
    week_high: float
    week_low: float


def _gauges(candles: Candles) -> Gauges:
    ema21, ema50, ema200 = (float(indicators.ema(candles.close, p)[-1]) for p in (21, 50, 200))
    week_high, week_low = indicators.week_high_low(candles)
    return Gauges(ema21, ema50, ema200, float(indicators.rsi(candles.close, 14)[-1]),
                  float(indicators.atr(candles, 14)[-1]), float(indicators.volume_ratio(candles.volume, 20)[-1]),
                  week_high, week_low)


@dataclass(frozen=True)
class _Vote:
    """One trigger for a side: `bar` is its formation candle (a zone's candle, a break's breaking
    bar), `since` the first bar of the run of bars, ending at the last, on which it held."""

    direction: int
    code: str
    reason: Reason
    bar: int
    since: int
    zone: Zone | None = None

    @property
    def kind(self) -> str:
        return self.zone.kind if self.zone is not None else self.code


@dataclass(frozen=True)
class _Context:
    """What every rule looks at: the read, the last bar, its close, the gauges and the price grid."""

    read: Read
    last: int
    price: float
    gauges: Gauges
    decimals: int
    candles: Candles

    def p(self, value: float) -> float:
        """A price for a reason: on the grid it is shown at."""
        return round(float(value), self.decimals)


def analyze(candles: Candles, *, mode: str = "causal", costs: Costs = DEFAULT_COSTS,
            calibration: Calibration | None = None) -> Signal | NoSetup:
    """The setup at the last candle (which must be closed), for a trade paying `costs`, its confidence from
    `calibration` (None without one). ValueError for bad or too few candles."""
    if mode not in ("causal", "compat"):
        raise ValueError(f"mode must be 'causal' or 'compat', got {mode!r}")
    validate(candles)
    if len(candles) < MIN_CANDLES:
        raise ValueError(f"{candles.symbol} {candles.interval}: {len(candles)} candles, "
                         f"the analysis needs at least {MIN_CANDLES}")
    read = _read_causal(candles) if mode == "causal" else _read_compat(candles)
    ctx = _Context(read, len(candles) - 1, float(candles.close[-1]), _gauges(candles), price_precision(candles),
                   candles)
    smc = _summary(ctx, candles, mode)
    g = ctx.gauges
    bias = DIRECTION_NAME[read.trend or (int(np.sign(g.ema21 - g.ema50)) if not math.isnan(g.ema50) else 0)]

    def no_setup(code: str, **params: Any) -> NoSetup:
        reason = {"code": code, "precision": ctx.decimals, **params}
        return NoSetup(candles.symbol, candles.interval, int(candles.open_time[-1]), reason, bias, smc)

    votes = _votes(ctx)
    if not votes:
        return no_setup("no_trigger", price=ctx.p(ctx.price), within_pct=round(OB_DISTANCE * 100, 1),
                        bars=RECENT_BREAK_BARS)
    if len({v.direction for v in votes}) > 1:  # live evidence against either side: no trade (measured)
        return no_setup("conflicting", votes=[v.reason for v in votes])
    side = votes[0].direction
    levels = _levels(ctx, votes, side, costs)
    if isinstance(levels, dict):
        return no_setup(**levels)
    entry, stop, tp1, tp2 = levels
    risk = (entry - stop) * side
    signal = Signal(
        symbol=candles.symbol,
        interval=candles.interval,
        open_time=int(candles.open_time[-1]),
        close_time=int(candles.open_time[-1]) + interval_ms(candles.interval) - 1,
        side=SIDE[side],
        entry=entry,
        stop=stop,
        tp1=tp1,
        tp2=tp2,
        rr1=round((tp1 - entry) * side / risk, 2),
        rr2=None if tp2 is None else round((tp2 - entry) * side / risk, 2),
        confidence=None,
        reasons=tuple(_reasons(ctx, votes, side)),
        smc=smc,
        precision=ctx.decimals,
        setup=_setup(ctx, votes, side),
    )
    if calibration is None:
        return signal
    chance = calibration.probability({"side": signal.side, "smc": smc, "setup": signal.setup, "entry": entry,
                                      "stop": stop, "tp2": tp2, "interval": signal.interval})
    confidence = round(100 * chance)
    return replace(signal, confidence=confidence, strategy_version=calibration.version,
                   record=calibration.record(confidence))


def _votes(ctx: _Context) -> list[_Vote]:
    """The side triggers present at the last bar, each with the reason that makes it true."""
    price, p, zones = ctx.price, ctx.p, ctx.read.zones
    votes: list[_Vote] = []
    for direction in (1, -1):
        near = [z for z in zones if z.kind == "OB" and z.direction == direction and z.distance(price) <= OB_DISTANCE]
        if near:
            zone = min(near, key=lambda z: (z.distance(price), -z.bar))
            where = "around" if zone.distance(price) == 0 else ("below" if direction == 1 else "above")
            closes = ctx.candles.close[zone.known:]
            gap = np.minimum(np.abs(closes - zone.top), np.abs(closes - zone.bottom)) / closes
            held = ((zone.bottom <= closes) & (closes <= zone.top)) | (gap <= OB_DISTANCE)
            votes.append(_Vote(direction, "order_block",
                               {"code": "order_block", "direction": DIRECTION_NAME[direction],
                                "bottom": p(zone.bottom), "top": p(zone.top),
                                "distance_pct": round(zone.distance(price) * 100, 2), "where": where,
                                "bars_ago": ctx.last - zone.bar}, zone.bar, _run_start(held, zone.known), zone))
    for direction in (1, -1):
        inside = [z for z in zones if z.kind == "FVG" and z.direction == direction and z.bottom <= price <= z.top]
        if inside:
            zone = max(inside, key=lambda z: z.bar)
            closes = ctx.candles.close[zone.known:]
            held = (zone.bottom <= closes) & (closes <= zone.top)
            votes.append(_Vote(direction, "fvg",
                               {"code": "fvg", "direction": DIRECTION_NAME[direction], "price": p(price),
                                "bottom": p(zone.bottom), "top": p(zone.top)}, zone.bar,
                               _run_start(held, zone.known), zone))
    brk, ema50 = ctx.read.last_break, ctx.gauges.ema50
    if brk is not None and ctx.last - brk.bar < RECENT_BREAK_BARS and not math.isnan(ema50) \
            and (price - ema50) * brk.direction > 0:
        votes.append(_Vote(brk.direction, brk.kind,
                           {"code": "break", "kind": brk.kind, "direction": DIRECTION_NAME[brk.direction],
                            "level": p(brk.level), "bars_ago": ctx.last - brk.bar, "ema50": p(ema50)},
                           brk.bar, brk.bar))
    return votes


def _run_start(held: np.ndarray, first: int) -> int:
    """The bar where the run of True ending at the last element of `held` begins (`held[0]` is bar `first`)."""
    misses = np.flatnonzero(~held)
    return first + (int(misses[-1]) + 1 if len(misses) else 0)


def _setup(ctx: _Context, votes: list[_Vote], side: int) -> dict[str, Any]:
    """The setup's identity: its side's triggers as `SIDE:KIND:formation open_time` (order block first,
    then gap, then break; `id` is the first), and `since`, the open time of the bar from which the `id`
    trigger has held without a break (what a manual request shows as "active since")."""
    times = ctx.candles.open_time
    triggers = [f"{SIDE[side]}:{v.kind}:{int(times[v.bar])}" for v in votes]
    return {"id": triggers[0], "triggers": triggers, "since": int(times[votes[0].since])}


def _levels(ctx: _Context, votes: list[_Vote], side: int,
            costs: Costs) -> tuple[float, float, float, float | None] | Reason:
    """(entry, stop, tp1, tp2 or None) on the price grid, or why there is no tradeable setup (a code and its
    parameters)."""
    atr, p = ctx.gauges.atr, ctx.p
    if math.isnan(atr) or atr <= 0:
        return {"code": "no_atr", "bars": 14}
    entry = round(ctx.price, ctx.decimals)
    block = next((v.zone for v in votes if v.direction == side and v.code == "order_block"), None)
    stop = entry - side * STOP_ATR * atr
    if block is not None:
        beyond = (block.bottom if side == 1 else block.top) - side * STOP_BUFFER_ATR * atr
        stop = min(stop, beyond) if side == 1 else max(stop, beyond)
    stop = _round_away(stop, ctx.decimals, side)
    risk = (entry - stop) * side
    if risk <= 0:
        return {"code": "stop_rounds_to_zero"}
    share = costs.fee_share(entry, stop)
    if share > costs.max_fee_share:
        return {"code": "fees_too_high", "side": SIDE[side], "stop": p(stop),
                "distance_pct": round(risk / entry * 100, 2), "fee_pct": round(2 * costs.fee_rate * 100, 2),
                "share_pct": round(share * 100), "max_share_pct": costs.max_fee_share * 100}
    # the nearest opposing zone (supply above a LONG, demand below a SHORT) caps the targets;
    # gaps thinner than half an ATR are noise, not zones worth aiming at
    edges = [(z, z.bottom if side == 1 else z.top) for z in ctx.read.zones
             if z.direction == -side and (z.kind == "OB" or z.top - z.bottom >= MIN_GAP_ATR * atr)]
    ahead = [(z, edge) for z, edge in edges if (edge - entry) * side > 0]
    room = min(((edge - entry) * side for _, edge in ahead), default=math.inf)
    if room < MIN_REWARD_R * risk:
        zone, edge = min(ahead, key=lambda pair: (pair[1] - entry) * side)
        return {"code": "no_room", "side": SIDE[side], "zone": "order_block" if zone.kind == "OB" else "fvg",
                "edge": p(edge), "reward_r": round(room / risk, 2), "risk": p(risk)}
    tp1, tp2 = (round(entry + side * min(r * risk, room), ctx.decimals) for r in TARGET_R)
    return entry, stop, tp1, tp2 if (tp2 - tp1) * side >= MIN_TARGET_GAP_R * risk else None


def _reasons(ctx: _Context, votes: list[_Vote], side: int) -> list[Reason]:
    """The evidence for the setup, each with the numbers that make it true (the calibration's features)."""
    g, price, p = ctx.gauges, ctx.price, ctx.p
    reasons = [vote.reason for vote in votes]
    if not math.isnan(g.ema21) and (price - g.ema21) * side > 0:
        reasons.append({"code": "ema21", "where": "above" if side == 1 else "below", "price": p(price),
                        "ema21": p(g.ema21)})
    if not math.isnan(g.ema200) and (g.ema21 - g.ema50) * side > 0 and (g.ema50 - g.ema200) * side > 0:
        reasons.append({"code": "ema_stack", "direction": DIRECTION_NAME[side], "ema21": p(g.ema21),
                        "ema50": p(g.ema50), "ema200": p(g.ema200)})
    if not math.isnan(g.volume_ratio) and g.volume_ratio > VOLUME_RATIO:
        reasons.append({"code": "volume", "ratio": round(g.volume_ratio, 2), "bars": 20})
    if not math.isnan(g.rsi):
        limit = 70 if side == 1 else 30
        reasons.append({"code": "rsi", "rsi": round(g.rsi, 1), "side": SIDE[side],
                        "stretched": g.rsi >= limit if side == 1 else g.rsi <= limit, "limit": limit})
    return reasons


def _round_away(value: float, decimals: int, side: int) -> float:
    """Round a stop to the price grid, away from the entry (down for LONG, up for SHORT)."""
    scale = 10**decimals
    scaled = value * scale
    return (math.floor(scaled + 1e-9) if side == 1 else math.ceil(scaled - 1e-9)) / scale


def _summary(ctx: _Context, candles: Candles, mode: str) -> dict[str, Any]:
    """The market read as plain JSON: nearest zones, structure, indicators."""
    read, price, decimals, g = ctx.read, ctx.price, ctx.decimals, ctx.gauges

    def zone_dict(kind: str) -> dict[str, Any] | None:
        zones = [z for z in read.zones if z.kind == kind]
        if not zones:
            return None
        zone = min(zones, key=lambda z: (z.distance(price), -z.bar))
        return {
            "direction": DIRECTION_NAME[zone.direction],
            "top": round(zone.top, decimals),
            "bottom": round(zone.bottom, decimals),
            "open_time": int(candles.open_time[zone.bar]),
            "distance_pct": round(zone.distance(price) * 100, 2),
        }

    brk = read.last_break
    return {
        "mode": mode,
        "price": round(price, decimals),
        "precision": decimals,
        "trend": DIRECTION_NAME[read.trend],
        "last_break": None if brk is None else {
            "type": brk.kind,
            "direction": DIRECTION_NAME[brk.direction],
            "level": round(brk.level, decimals),
            "open_time": int(candles.open_time[brk.bar]),
            "bars_ago": ctx.last - brk.bar,
        },
        "order_block": zone_dict("OB"),
        "fvg": zone_dict("FVG"),
        "ema21": _opt(g.ema21, decimals),
        "ema50": _opt(g.ema50, decimals),
        "ema200": _opt(g.ema200, decimals),
        "rsi": _opt(g.rsi, 1),
        "atr": _opt(g.atr, decimals),
        "volume_ratio": _opt(g.volume_ratio, 2),
        "week_high": round(g.week_high, decimals),
        "week_low": round(g.week_low, decimals),
        "swing_length": SWING_LENGTH,
    }
