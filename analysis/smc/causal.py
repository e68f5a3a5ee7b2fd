"""Smart Money Concepts that live trading may use: nothing is reported before it could be known.

Every result is a dict of arrays aligned with the candles in which row t holds what became known
when bar t closed, and is computed from bars <= t only. So the rows <= t of a result over the full
series equal the result over candles[:t+1]: a later bar never changes an earlier row. The price
definitions follow the reference library (same swing window, gap, block and band rules), and the
differences are all about timing:

- a swing at bar i is reported at bar i + swing_length, once the bars after it are in;
- a fair value gap is reported when its third candle closes;
- a break of structure is the first close beyond the latest confirmed swing, reported at that bar;
  it is BOS when it continues the previous break's direction, CHOCH when it reverses it;
- an order block is the extreme candle between the swing and its break, reported at the break;
- liquidity is a swing within the band of the previous swing of its kind, the band being
  range_percent of the range seen so far, reported when the second swing is confirmed.

Whether a zone is still fresh at the last bar is a question about the present: `unfilled()`.
"""

from __future__ import annotations

import numpy as np

from analysis.candles import Candles
from analysis.smc._search import FirstReach, segment_arg_extreme, window_max, window_min

Result = dict[str, np.ndarray]

__all__ = ["bos_choch", "fvg", "liquidity", "ob", "swing_highs_lows", "unfilled"]


def swing_highs_lows(candles: Candles, swing_length: int = 50) -> Result:
    """HighLow (1/-1), Level and Index (the swing bar) at the bar the swing is confirmed."""
    high, low = candles.high, candles.low
    n = len(high)
    half = int(swing_length)
    if half < 1:
        raise ValueError(f"swing_length must be at least 1, got {swing_length}")
    out = _empty(n, ("HighLow", "Level", "Index"))
    if n < 2 * half:
        return out
    bars = np.arange(half - 1, n - half)  # window [i-L+1, i+L], as the reference
    is_high = high[bars] == window_max(high, 2 * half)
    is_low = ~is_high & (low[bars] == window_min(low, 2 * half))
    swing = bars[is_high | is_low]
    known = swing + half
    out["HighLow"][known] = np.where(is_high[swing - (half - 1)], 1.0, -1.0)
    out["Level"][known] = np.where(out["HighLow"][known] == 1, high[swing], low[swing])
    out["Index"][known] = swing
    return out


def fvg(candles: Candles) -> Result:
    """FVG (1/-1), Top, Bottom and Index (the middle candle) at the gap's third candle."""
    o, h, lo, c = candles.open, candles.high, candles.low, candles.close
    n = len(c)
    out = _empty(n, ("FVG", "Top", "Bottom", "Index"))
    if n < 3:
        return out
    mid = slice(1, n - 1)
    rising = c[mid] > o[mid]
    found = ((h[:-2] < lo[2:]) & rising) | ((lo[:-2] > h[2:]) & (c[mid] < o[mid]))
    third = np.flatnonzero(found) + 2
    up = rising[third - 2]
    out["FVG"][third] = np.where(up, 1.0, -1.0)
    out["Top"][third] = np.where(up, lo[third], lo[third - 2])
    out["Bottom"][third] = np.where(up, h[third - 2], h[third])
    out["Index"][third] = third - 1
    return out


def _breaks(candles: Candles, swings: Result, rising: bool) -> tuple[np.ndarray, np.ndarray]:
    """(swing row in `swings`, break bar) for each swing first closed beyond while it is the latest one."""
    c = candles.close
    n = len(c)
    known = np.flatnonzero(swings["HighLow"] == (1 if rising else -1))
    if len(known) == 0:
        return known, known
    level = swings["Level"][known]
    reach = FirstReach(np.vstack([-c, c]))
    # bullish: close > level (as -close < -level); bearish: close < level
    first = reach.find(0 if rising else 1, known + 1, -level if rising else level, strict=True)
    limit = np.append(known[1:], n)  # a newer swing of the same kind takes over from its row on
    hit = first < limit
    return known[hit], first[hit]


def bos_choch(candles: Candles, swings: Result) -> Result:
    """BOS / CHOCH (1/-1), the broken Level and swing Index at the breaking bar; Trend as of every bar."""
    n = len(candles.close)
    out = _empty(n, ("BOS", "CHOCH", "Level", "Index"))
    rows, bars, directions = [], [], []
    for rising in (True, False):
        row, bar = _breaks(candles, swings, rising)
        rows.append(row)
        bars.append(bar)
        directions.append(np.full(len(bar), 1.0 if rising else -1.0))
    row, bar, direction = (np.concatenate(x) for x in (rows, bars, directions))
    order = np.lexsort((-direction, bar))  # by bar; a bar breaking both ways counts up, then down
    row, bar, direction = row[order], bar[order], direction[order]
    previous = np.concatenate([[0.0], direction[:-1]])
    reversal = previous == -direction
    out["BOS"][bar] = np.where(reversal, np.nan, direction)
    out["CHOCH"][bar] = np.where(reversal, direction, np.nan)
    out["Level"][bar] = swings["Level"][row]
    out["Index"][bar] = swings["Index"][row]
    trend = np.zeros(n)
    trend[bar] = direction  # the later of two same-bar breaks wins, as in the labels above
    last = np.maximum.accumulate(np.where(trend != 0, np.arange(n), -1))
    out["Trend"] = np.where(last >= 0, trend[np.maximum(last, 0)], 0.0)
    return out


def ob(candles: Candles, swings: Result) -> Result:
    """OB (1/-1), Top, Bottom, Index, OBVolume and Percentage at the bar that broke the swing.

    A bullish block is the lowest candle (the last one on ties) between the swing high and the
    close above it; a bearish block the highest candle between the swing low and the close below.
    """
    h, lo, v = candles.high, candles.low, candles.volume
    n = len(h)
    out = _empty(n, ("OB", "Top", "Bottom", "Index", "OBVolume", "Percentage"))
    for rising in (True, False):
        row, born = _breaks(candles, swings, rising)
        if len(born) == 0:
            continue
        swing = swings["Index"][row].astype(np.int64)
        block = segment_arg_extreme(lo if rising else h, swing + 1, born, largest=not rising)
        recent = v[born] + v[born - 1]
        older = np.where(born >= 2, v[np.maximum(born - 2, 0)], 0.0)
        larger = np.maximum(recent, older)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(larger > 0, np.minimum(recent, older) / larger * 100.0, 100.0)
        out["OB"][born] = 1.0 if rising else -1.0
        out["Top"][born] = h[block]
        out["Bottom"][born] = lo[block]
        out["Index"][born] = block
        out["OBVolume"][born] = recent + older
        out["Percentage"][born] = share
    return out


def liquidity(candles: Candles, swings: Result, range_percent: float = 0.01) -> Result:
    """Liquidity (1 equal highs, -1 equal lows), Level (their mean), Index (first swing), End (second).

    Reported when the second swing is confirmed, if it lies within the band of the previous swing of
    its kind and price has not run through that band since the first swing.
    """
    h, lo = candles.high, candles.low
    n = len(h)
    out = _empty(n, ("Liquidity", "Level", "Index", "End"))
    band_so_far = (np.maximum.accumulate(h) - np.minimum.accumulate(lo)) * range_percent
    reach = FirstReach(np.vstack([-h, lo]))
    for direction in (1, -1):
        known = np.flatnonzero(swings["HighLow"] == direction)
        if len(known) < 2:
            continue
        first, second = known[:-1], known[1:]
        level_a, level_b = swings["Level"][first], swings["Level"][second]
        band = band_so_far[second]
        near = np.abs(level_b - level_a) <= band
        start = swings["Index"][first].astype(np.int64) + 1
        edge = -(level_a + band) if direction == 1 else level_a - band  # rows: 0 -high, 1 low
        run = reach.find(0 if direction == 1 else 1, start, edge)
        pool = near & (run > second)
        at = second[pool]
        out["Liquidity"][at] = direction
        out["Level"][at] = (level_a[pool] + level_b[pool]) / 2
        out["Index"][at] = swings["Index"][first[pool]]
        out["End"][at] = swings["Index"][second[pool]]
    return out


def unfilled(candles: Candles, zones: Result, kind: str) -> np.ndarray:
    """Rows of the zones (kind "FVG" or "OB") that price has not traded through since the zone's candle.

    A bullish zone is filled once a later low reaches its bottom, a bearish one once a later high
    reaches its top (the candle that confirmed the zone counts too: a breaking candle can wick
    through its own block). Only bars present in `candles` are consulted: the state at the last bar.
    """
    rows = np.flatnonzero(~np.isnan(zones[kind]))
    if len(rows) == 0:
        return rows
    up = zones[kind][rows] == 1
    after = zones["Index"][rows].astype(np.int64) + 1
    reach = FirstReach(np.vstack([candles.low, -candles.high]))
    filled = reach.find(np.where(up, 0, 1), after, np.where(up, zones["Bottom"][rows], -zones["Top"][rows]))
    return rows[filled >= len(candles.close)]


def _empty(n: int, names: tuple[str, ...]) -> Result:
    return {name: np.full(n, np.nan) for name in names}
