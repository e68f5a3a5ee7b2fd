"""What a chart shows, as plain data: the candle window up to the signal's candle, levels, zones, texts.

Built in the caller's process (cheap, no matplotlib) and pickled to a render worker. The window ends at
the signal's own candle: later candles are never drawn, whatever the caller hands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.candles import Candles
from telegram_adapter.catalogue import moment, price
from telegram_adapter.signal_text import decimals

BARS = 120
LEVELS = (("entry", "ENTRY", "entry"), ("stop", "SL", "stop"), ("tp1", "TP1", "target"), ("tp2", "TP2", "target"))
ZONES = (("order_block", "OB"), ("fvg", "FVG"))


@dataclass(frozen=True)
class Level:
    """A trade level drawn as a labelled horizontal line; role is 'entry', 'stop' or 'target'."""

    label: str
    price: float
    role: str
    text: str  # the tag, e.g. "TP1 97,500.00"


@dataclass(frozen=True)
class Box:
    """An order block or fair value gap, shaded from its candle (window index) to the right edge."""

    label: str  # "OB" or "FVG"
    bullish: bool
    top: float
    bottom: float
    start: int


@dataclass(frozen=True)
class Mark:
    """The last BOS / CHOCH level, drawn from the breaking candle (window index) to the right edge."""

    text: str  # e.g. "BOS 95,000.00"
    price: float
    start: int


@dataclass(frozen=True, eq=False)
class ChartSpec:
    """Everything a render worker needs; `candles` ends at the signal's candle."""

    candles: Candles
    theme: str
    title: str  # "BTCUSDT · 15m"
    badge: str | None  # "LONG · 78%", None for a plain analysis
    bullish: bool | None  # the badge's colour
    footer: str
    decimals: int
    levels: tuple[Level, ...]
    boxes: tuple[Box, ...]
    mark: Mark | None


def window(candles: Candles, open_time: int, bars: int = BARS) -> Candles:
    """The last `bars` candles up to and including the one opened at `open_time` (ms); ValueError if absent."""
    times = np.asarray(candles.open_time, dtype=np.int64)
    end = int(np.searchsorted(times, open_time, side="right"))
    if end == 0 or times[end - 1] != open_time:
        raise ValueError(f"{candles.symbol} {candles.interval}: no candle opened at {moment(open_time, 'en')}")
    return candles[max(0, end - bars):end]


def chart_spec(signal: Mapping[str, Any], candles: Candles, theme: str = "dark", bars: int = BARS) -> ChartSpec:
    """The chart of a Signal or NoSetup payload (`to_dict()`); levels that are absent or None are not drawn."""
    if (signal["symbol"], signal["interval"]) != (candles.symbol, candles.interval):
        raise ValueError(f"candles of {candles.symbol} {candles.interval} for a "
                         f"{signal['symbol']} {signal['interval']} signal")
    shown = window(candles, int(signal["open_time"]), bars)
    smc = signal.get("smc") or {}
    digits = decimals(signal if "precision" in signal or "entry" in signal else smc)
    levels = tuple(Level(label, float(signal[key]), role, f"{label} {price(signal[key], digits, 'en')}")
                   for key, label, role in LEVELS if signal.get(key) is not None)
    side = signal.get("side")
    badge = f"{side} · {signal['confidence']}%" if side and signal.get("confidence") is not None else side
    boxes = tuple(Box(label, zone["direction"] == "bullish", float(zone["top"]), float(zone["bottom"]),
                      _index(shown, zone["open_time"]))
                  for key, label in ZONES if isinstance(zone := smc.get(key), dict))
    brk = smc.get("last_break")
    mark = None if not isinstance(brk, dict) else Mark(f"{brk['type']} {price(brk['level'], digits, 'en')}",
                                                         float(brk["level"]), _index(shown, brk["open_time"]))
    return ChartSpec(candles=shown, theme=theme, title=f"{signal['symbol']} · {signal['interval']}",
                     badge=badge, bullish=None if not side else side == "LONG",
                     footer=f"{moment(int(signal['open_time']), 'en')} · not financial advice", decimals=digits,
                     levels=levels, boxes=boxes, mark=mark)


def _index(shown: Candles, open_time: int) -> int:
    """The window index of the candle opened at `open_time`, or 0 when it is older than the window."""
    return min(int(np.searchsorted(np.asarray(shown.open_time, dtype=np.int64), int(open_time))), len(shown) - 1)
