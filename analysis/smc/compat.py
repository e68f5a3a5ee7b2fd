"""Bit-for-bit `smartmoneyconcepts` 0.0.27 over Candles, vectorized: the validation mode.

Every output matches the reference column for column, including its dtypes (float32 where it stores
float32) and its quirks, each named where it is reproduced. This mode looks into the future (a swing
needs later bars, structure needs the next swings): live trading uses `analysis.smc.causal`.
"""

from __future__ import annotations

import numpy as np

from analysis.candles import Candles
from analysis.smc._search import FirstReach, segment_arg_extreme, window_max, window_min

Result = dict[str, np.ndarray]

__all__ = ["bos_choch", "fvg", "liquidity", "ob", "swing_highs_lows"]

# Rows of the price search table shared by ob, bos_choch and liquidity.
LOW, NEG_HIGH, CLOSE, NEG_CLOSE = 0, 1, 2, 3


class Swings(dict):
    """swing_highs_lows' result: exactly the reference's columns (HighLow, Level), and nothing else
    visible. It also remembers its candles so that ob, bos_choch and liquidity, given the same
    candles, share one price search table instead of building one each.
    """

    def __init__(self, candles: Candles, columns: Result) -> None:
        super().__init__(columns)
        self._candles = candles
        self._search: FirstReach | None = None

    def search_for(self, candles: Candles) -> FirstReach | None:
        if candles is not self._candles:
            return None
        if self._search is None:
            self._search = _price_search(candles)
        return self._search


def _price_search(candles: Candles) -> FirstReach:
    return FirstReach(np.vstack([candles.low, -candles.high, candles.close, -candles.close]))


def _search(candles: Candles, swings: Result) -> FirstReach:
    """The shared table when these swings came from these candles, else a fresh one."""
    shared = swings.search_for(candles) if isinstance(swings, Swings) else None
    return shared if shared is not None else _price_search(candles)


def swing_highs_lows(candles: Candles, swing_length: int = 50) -> Swings:
    """HighLow (1 swing high, -1 swing low) and Level, as the reference defines them."""
    high, low = candles.high, candles.low
    n = len(high)
    half = int(swing_length)
    if half < 1:
        raise ValueError(f"swing_length must be at least 1, got {swing_length}")
    # The reference compares each bar with a rolling 2L window over data shifted L ahead: the window
    # is [i-L+1, i+L], and (quirk) the first 2L-1 bars get none because the rolling window is not full.
    flags = np.full(n, np.nan)
    if n >= 3 * half:
        bars = np.arange(2 * half - 1, n - half)
        is_high = high[bars] == window_max(high, 2 * half)[half:]
        is_low = low[bars] == window_min(low, 2 * half)[half:]
        flags[bars] = np.where(is_high, 1.0, np.where(is_low, -1.0, np.nan))
    _drop_repeated_swings(flags, high, low)
    _mark_series_ends(flags)
    level = np.where(~np.isnan(flags), np.where(flags == 1, high, low), np.nan)
    return Swings(candles, {"HighLow": flags, "Level": level})


def _drop_repeated_swings(flags: np.ndarray, high: np.ndarray, low: np.ndarray) -> None:
    """Of two consecutive highs keep the higher (the later one on ties); lows likewise. In place."""
    while True:
        positions = np.flatnonzero(~np.isnan(flags))
        if len(positions) < 2:
            return
        current, following = flags[positions[:-1]], flags[positions[1:]]
        remove = np.zeros(len(positions), dtype=bool)
        highs, next_highs = high[positions[:-1]], high[positions[1:]]
        lows, next_lows = low[positions[:-1]], low[positions[1:]]
        both_high = (current == 1) & (following == 1)
        remove[:-1] |= both_high & (highs < next_highs)
        remove[1:] |= both_high & (highs >= next_highs)
        both_low = (current == -1) & (following == -1)
        remove[:-1] |= both_low & (lows > next_lows)
        remove[1:] |= both_low & (lows <= next_lows)
        if not remove.any():
            return
        flags[positions[remove]] = np.nan


def _mark_series_ends(flags: np.ndarray) -> None:
    """Reference quirk: bar 0 and the last bar get the type opposite to the first/last swing.

    The four checks run in sequence on the array being changed, exactly as the reference does.
    """
    positions = np.flatnonzero(~np.isnan(flags))
    if len(positions) == 0:
        return
    if flags[positions[0]] == 1:
        flags[0] = -1
    if flags[positions[0]] == -1:
        flags[0] = 1
    if flags[positions[-1]] == -1:
        flags[-1] = 1
    if flags[positions[-1]] == 1:
        flags[-1] = -1


def fvg(candles: Candles, join_consecutive: bool = False) -> Result:
    """Fair value gaps: FVG (1/-1), Top, Bottom and MitigatedIndex (0 when not yet mitigated)."""
    o, h, lo, c = candles.open, candles.high, candles.low, candles.close
    n = len(c)
    kind = np.full(n, np.nan)
    top = np.full(n, np.nan)
    bottom = np.full(n, np.nan)
    if n >= 3:
        mid = slice(1, n - 1)
        rising, falling = c[mid] > o[mid], c[mid] < o[mid]
        bullish = (h[:-2] < lo[2:]) & rising
        bearish = (lo[:-2] > h[2:]) & falling
        found = bullish | bearish
        kind[mid] = np.where(found, np.where(rising, 1.0, -1.0), np.nan)
        top[mid] = np.where(found, np.where(rising, lo[2:], lo[:-2]), np.nan)
        bottom[mid] = np.where(found, np.where(rising, h[:-2], h[2:]), np.nan)
    if join_consecutive:
        _join_consecutive(kind, top, bottom)
    gaps = np.flatnonzero(~np.isnan(kind))
    up = kind[gaps] == 1
    # bullish: first later low <= top; bearish: first later high >= bottom (as -high <= -bottom)
    reach = FirstReach(np.vstack([lo, -h]))
    first = reach.find(np.where(up, 0, 1), gaps + 2, np.where(up, top[gaps], -bottom[gaps]))
    mitigated = np.full(n, np.nan)
    mitigated[gaps] = np.where(first < n, first, 0)
    return {"FVG": kind, "Top": top, "Bottom": bottom, "MitigatedIndex": mitigated}


def _join_consecutive(kind: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> None:
    """Merge runs of same-direction gaps into their last bar (widest bounds), as the reference loop does."""
    same = np.flatnonzero(kind[:-1] == kind[1:])
    for i in same.tolist():
        top[i + 1] = max(top[i], top[i + 1])
        bottom[i + 1] = min(bottom[i], bottom[i + 1])
        kind[i] = top[i] = bottom[i] = np.nan


def bos_choch(candles: Candles, swing_highs_lows: Result, close_break: bool = True) -> Result:
    """Break of structure / change of character from each four-swing pattern, kept only once broken."""
    n = len(candles.close)
    flags, levels = swing_highs_lows["HighLow"], swing_highs_lows["Level"]
    pos = np.flatnonzero(~np.isnan(flags))
    bos = np.zeros(n, dtype=np.int32)
    choch = np.zeros(n, dtype=np.int32)
    level = np.zeros(n, dtype=np.float32)
    if len(pos) >= 4:
        hl, lv = flags[pos], levels[pos]
        a, b, c, d = hl[:-3], hl[1:-2], hl[2:-1], hl[3:]
        la, lb, lc, ld = lv[:-3], lv[1:-2], lv[2:-1], lv[3:]
        up = (a == -1) & (b == 1) & (c == -1) & (d == 1)
        down = (a == 1) & (b == -1) & (c == 1) & (d == -1)
        target = pos[1:-2]  # the pattern's second swing, whose level is the one to break
        bos[target] = np.where(up & (la < lc) & (lc < lb) & (lb < ld), 1,
                               np.where(down & (la > lc) & (lc > lb) & (lb > ld), -1, 0))
        choch[target] = np.where(up & (ld > lb) & (lb > la) & (la > lc), 1,
                                 np.where(down & (ld < lb) & (lb < la) & (la < lc), -1, 0))
        level[target] = np.where((bos[target] != 0) | (choch[target] != 0), lb, 0).astype(np.float32)
    broken = np.zeros(n, dtype=np.int64)
    marks = np.flatnonzero((bos != 0) | (choch != 0))
    if len(marks):
        rising = (bos[marks] == 1) | (choch[marks] == 1)
        # The level is compared as the float32 the reference stored, widened back to float64.
        threshold = level[marks].astype(np.float64)
        # rising: close (high) > level, as -close (-high) < -level; falling: close (low) < level
        up_row, down_row = (NEG_CLOSE, CLOSE) if close_break else (NEG_HIGH, LOW)
        first = _search(candles, swing_highs_lows).find(np.where(rising, up_row, down_row), marks + 2,
                                                        np.where(rising, -threshold, threshold), strict=True)
        hit = first < n
        broken[marks[hit]] = first[hit]
        # A mark is dropped when a later mark breaks no later than it; the reference keeps the
        # dropped mark's BrokenIndex (quirk reproduced: BrokenIndex without BOS/CHOCH).
        later = np.where(hit, first, np.iinfo(np.int64).max)
        later_min = np.minimum.accumulate(later[::-1])[::-1]
        superseded = np.zeros(len(marks), dtype=bool)
        superseded[:-1] = hit[:-1] & (later_min[1:] <= first[:-1])
        gone = marks[superseded | ~hit]
        bos[gone] = 0
        choch[gone] = 0
        level[gone] = 0
    return {
        "BOS": np.where(bos != 0, bos, np.nan),
        "CHOCH": np.where(choch != 0, choch, np.nan),
        "Level": np.where(level != 0, level, np.float32(np.nan)),
        "BrokenIndex": np.where(broken != 0, broken, np.nan),
    }


def ob(candles: Candles, swing_highs_lows: Result, close_mitigation: bool = False) -> Result:
    """Order blocks: OB (1/-1), Top, Bottom, OBVolume, MitigatedIndex, Percentage (float32 as stored).

    The reference walks every bar twice (a bullish pass, then a bearish pass over the same arrays);
    here each block's whole life (placed, mitigated, reset) is found with three batched searches.
    """
    o, c = candles.open, candles.close
    n = len(c)
    reach = _search(candles, swing_highs_lows)
    body = FirstReach(np.vstack([np.minimum(o, c), -np.maximum(o, c)])) if close_mitigation else None
    blocks = _place_blocks(candles, swing_highs_lows["HighLow"], reach)
    kind, top, bottom, volume, mitigated, percentage = _live_blocks(blocks, reach, body, n)
    kind = np.where(kind != 0, kind, np.nan)
    alive = ~np.isnan(kind)
    nan32 = np.float32(np.nan)
    return {
        "OB": kind,
        "Top": np.where(alive, top, nan32),
        "Bottom": np.where(alive, bottom, nan32),
        "OBVolume": np.where(alive, volume, nan32),
        "MitigatedIndex": np.where(alive, mitigated, np.nan),
        "Percentage": np.where(alive, percentage, nan32),
    }


class _Blocks:
    """Placed order blocks, bullish ones first: direction, bar, confirming bar and stored float32 values."""

    def __init__(self, rising: np.ndarray, index: np.ndarray, born: np.ndarray, top: np.ndarray,
                 bottom: np.ndarray, volume: np.ndarray, percentage: np.ndarray) -> None:
        self.rising, self.index, self.born = rising, index, born
        self.top, self.bottom, self.volume, self.percentage = top, bottom, volume, percentage


def _place_blocks(candles: Candles, flags: np.ndarray, reach: FirstReach) -> _Blocks:
    """Each swing is crossed at most once, by the first close beyond it before the next swing of its kind."""
    h, lo, v = candles.high, candles.low, candles.volume
    n = len(h)
    highs, lows = np.flatnonzero(flags == 1), np.flatnonzero(flags == -1)  # a swing on the last bar: never crossed
    swings = np.concatenate([highs, lows])
    rising = np.arange(len(swings)) < len(highs)
    # bullish: close > swing high (as -close < -high); bearish: close < swing low
    born = reach.find(np.where(rising, NEG_CLOSE, CLOSE), swings + 1, np.where(rising, -h[swings], lo[swings]),
                      strict=True)
    # until the next swing of the same kind takes over (that bar itself still counts)
    limit = np.concatenate([np.append(highs[1:], n - 1)[: len(highs)], np.append(lows[1:], n - 1)[: len(lows)]])
    crossed = born <= limit
    swings, born, rising = swings[crossed], born[crossed], rising[crossed]
    # The block is the lowest low (highest high for bearish) strictly between swing and cross, last on
    # ties; with no bar in between the reference falls back to the previous candle.
    spaced = born - swings > 1
    index = born - 1
    shift = np.where(rising[spaced], 0, n)  # bearish ranges search -high, stored after the lows
    index[spaced] = segment_arg_extreme(np.concatenate([lo, -h]), swings[spaced] + 1 + shift,
                                        born[spaced] + shift, largest=False) - shift
    top, bottom = h[index], lo[index]
    # Quirk: the fallback bullish block stores the candle's high as bottom and low as top.
    swapped = rising & ~spaced
    top[swapped], bottom[swapped] = lo[index[swapped]], h[index[swapped]]
    current, previous = v[born], v[born - 1]
    before = np.where(born >= 2, v[np.maximum(born - 2, 0)], 0.0)
    total = (current + previous + before).astype(np.float32)
    recent = (current + previous).astype(np.float32)
    older = before.astype(np.float32)
    larger, smaller = np.maximum(recent, older), np.minimum(recent, older)
    with np.errstate(divide="ignore", invalid="ignore"):
        percentage = np.where(larger != 0, smaller / larger * np.float32(100.0), np.float32(100.0))
    return _Blocks(rising, index, born, top.astype(np.float32), bottom.astype(np.float32), total,
                   percentage.astype(np.float32))


def _live_blocks(blocks: _Blocks, reach: FirstReach, body: FirstReach | None, n: int) -> tuple[np.ndarray, ...]:
    """Mitigation and reset of every block, written into the reference's shared per-bar arrays.

    `body` (rows: min(open, close), -max(open, close)) is given when mitigation is by candle body.
    """
    rising, index, born = blocks.rising, blocks.index, blocks.born
    top64, bottom64 = blocks.top.astype(np.float64), blocks.bottom.astype(np.float64)
    # mitigated once a low (body) goes below a bullish bottom / a high (body) above a bearish top
    mitigated_bar = (body or reach).find(np.where(rising, 0, 1), born + 1,  # LOW/NEG_HIGH, or the body's
                                         np.where(rising, bottom64, -top64), strict=True)
    # Quirk: the bearish pass reuses the bullish pass's breaker flags, so a bearish block placed
    # where a bullish block was mitigated starts out as a breaker.
    bullish_breaker = np.zeros(n, dtype=bool)
    bullish_breaker[index[rising]] = mitigated_bar[rising] < n
    already = ~rising & bullish_breaker[index]
    mitigated_bar = np.where(already, born, mitigated_bar)
    breaker = already | (mitigated_bar < n)
    # a breaker is reset (erased) once a high tops a bullish top / a low undercuts a bearish bottom
    reset_bar = reach.find(np.where(rising, NEG_HIGH, LOW), mitigated_bar + 1,
                           np.where(rising, -top64, bottom64), strict=True)
    reset = breaker & (reset_bar < n)
    fresh = ~already & (mitigated_bar < n)
    kind = np.zeros(n, dtype=np.int32)
    top, bottom, volume, percentage = (np.zeros(n, dtype=np.float32) for _ in range(4))
    mitigated = np.zeros(n, dtype=np.int64)
    for direction in (rising, ~rising):  # bullish pass first, then the bearish pass over it
        at = index[direction]
        kind[at] = 1 if direction is rising else -1
        top[at], bottom[at] = blocks.top[direction], blocks.bottom[direction]
        volume[at], percentage[at] = blocks.volume[direction], blocks.percentage[direction]
        # Quirk: bullish blocks record the bar before the mitigating one, bearish the bar itself.
        done = direction & fresh
        mitigated[index[done]] = mitigated_bar[done] - (1 if direction is rising else 0)
        gone = index[direction & reset]
        for array in (kind, top, bottom, volume, percentage, mitigated):
            array[gone] = 0
    return kind, top, bottom, volume, mitigated, percentage


def liquidity(candles: Candles, swing_highs_lows: Result, range_percent: float = 0.01) -> Result:
    """Liquidity: groups of swing highs (lows) within a band, with average Level, End and Swept (float32)."""
    h, lo = candles.high, candles.low
    n = len(h)
    flags, levels = swing_highs_lows["HighLow"], swing_highs_lows["Level"]
    band = (h.max() - lo.min()) * range_percent
    out = {name: np.full(n, np.nan, dtype=np.float32) for name in ("Liquidity", "Level", "End", "Swept")}
    swings = np.flatnonzero(~np.isnan(flags))
    rising = flags[swings] == 1
    level = levels[swings]
    low_edge, high_edge = level - band, level + band
    # swept: first later high reaching the top of the band (low reaching its bottom for lows)
    swept = _search(candles, swing_highs_lows).find(np.where(rising, NEG_HIGH, LOW), swings + 1,
                                                    np.where(rising, -high_edge, low_edge))
    swept = np.where(swept < n, swept, 0)
    for direction, mine in ((1, rising), (-1, ~rising)):
        bars = swings[mine]
        stop = np.where(swept[mine] > 0, np.searchsorted(bars, swept[mine]), len(bars))
        _group_swings(out, direction, bars, level[mine], low_edge[mine], high_edge[mine], swept[mine], stop)
    return out


def _group_swings(out: Result, direction: int, swings: np.ndarray, level: np.ndarray, low_edge: np.ndarray,
                  high_edge: np.ndarray, swept: np.ndarray, stop: np.ndarray) -> None:
    """The reference's greedy grouping: each unused swing absorbs later in-band swings until the sweep.

    The in-band pairs (k, j) inside each swing's window are found vectorized; only the greedy
    "already used" bookkeeping over those pairs runs in Python, in the reference's order.
    """
    count = len(swings)
    lengths = np.maximum(stop - np.arange(count) - 1, 0)
    owner = np.repeat(np.arange(count), lengths)
    later = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + owner + 1
    inside = (level[later] >= low_edge[owner]) & (level[later] <= high_edge[owner])
    levels = level.tolist()
    used = [False] * count
    groups: dict[int, list[float]] = {}
    ends: dict[int, int] = {}
    for k, j in zip(owner[inside].tolist(), later[inside].tolist(), strict=True):
        if used[k] or used[j]:
            continue
        groups.setdefault(k, [levels[k]]).append(levels[j])
        ends[k] = j
        used[j] = True
    if not groups:
        return
    first = np.fromiter(groups, dtype=np.int64, count=len(groups))
    bars = swings[first]
    out["Liquidity"][bars] = direction
    # Python's left-to-right sum over each group, as the reference computes the average
    out["Level"][bars] = [sum(group) / len(group) for group in groups.values()]
    out["End"][bars] = swings[[ends[k] for k in groups]]
    out["Swept"][bars] = swept[first]
