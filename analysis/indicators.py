"""Classic indicators over numpy arrays: EMA, Wilder RSI and ATR, volume ratio, week high/low.

Each returns an array aligned with its input, NaN until enough bars exist (no value is invented
from too little data). The exponential recursions run as blocked matrix products so that a
1,000-bar series costs a few numpy calls instead of a Python loop per bar.
"""

from __future__ import annotations

import numpy as np

from analysis.candles import Candles, interval_ms

_CHUNK = 64
WEEK_MS = 7 * 86_400_000
# Read-only constants for the blocked recurrence: lag j-k inside a chunk, and where it is >= 0.
_LAG = np.maximum(np.subtract.outer(np.arange(_CHUNK), np.arange(_CHUNK)), 0)
_LOWER = np.tri(_CHUNK)
_LAG.flags.writeable = False
_LOWER.flags.writeable = False


def _recurrence(drive: np.ndarray, decay: float, seed: float) -> np.ndarray:
    """y[0] = seed; y[t] = decay * y[t-1] + drive[t-1]: returns y[1:] (len(drive) values).

    Inside each 64-bar chunk the recurrence is a matrix product; only the chunk ends are chained
    in Python (a few float operations per 64 bars).
    """
    n = len(drive)
    if n == 0:
        return np.empty(0)
    chunks = -(-n // _CHUNK)
    padded = np.zeros(chunks * _CHUNK)
    padded[:n] = drive
    powers = decay ** np.arange(_CHUNK + 1)
    inner = padded.reshape(chunks, _CHUNK) @ (powers[_LAG] * _LOWER).T  # weights[j, k] = decay^(j-k)
    carry = powers[_CHUNK]
    starts = [seed]
    for end in inner[:-1, -1].tolist():
        starts.append(end + carry * starts[-1])
    return (inner + np.outer(starts, powers[1:])).ravel()[:n]


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average, alpha = 2/(period+1), seeded with the simple mean of the first period."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    if period < 1 or len(values) < period:
        return out
    alpha = 2.0 / (period + 1)
    seed = values[:period].mean()
    out[period - 1] = seed
    out[period:] = _recurrence(alpha * values[period:], 1.0 - alpha, seed)
    return out


def _wilder(values: np.ndarray, period: int, first: int) -> np.ndarray:
    """Wilder smoothing of values[first:], seeded at index first+period-1 with their simple mean."""
    out = np.full(len(values), np.nan)
    start = first + period - 1
    if period < 1 or len(values) <= start:
        return out
    seed = values[first : start + 1].mean()
    out[start] = seed
    out[start + 1 :] = _recurrence(values[start + 1 :] / period, (period - 1) / period, seed)
    return out


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI (0-100): 100 when there were no losses, 50 when price did not move at all."""
    close = np.asarray(close, dtype=np.float64)
    change = np.diff(close, prepend=np.nan)
    gain = np.where(change > 0, change, 0.0)
    loss = np.where(change < 0, -change, 0.0)
    average_gain = _wilder(gain, period, 1)
    average_loss = _wilder(loss, period, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + average_gain / average_loss)
    value = np.where(average_loss == 0, np.where(average_gain == 0, 50.0, 100.0), value)
    return np.where(np.isnan(average_gain), np.nan, value)


def true_range(candles: Candles) -> np.ndarray:
    """max(high-low, |high-previous close|, |low-previous close|); bar 0 has no previous close: NaN."""
    h, lo, previous = candles.high[1:], candles.low[1:], candles.close[:-1]
    out = np.full(len(candles.close), np.nan)
    out[1:] = np.maximum(h - lo, np.maximum(np.abs(h - previous), np.abs(lo - previous)))
    return out


def atr(candles: Candles, period: int = 14) -> np.ndarray:
    """Wilder's average true range, first value at bar `period` (the mean of bars 1..period)."""
    return _wilder(true_range(candles), period, 1)


def volume_ratio(volume: np.ndarray, period: int = 20) -> np.ndarray:
    """Volume divided by the mean volume of the `period` bars before it (NaN without history or volume)."""
    volume = np.asarray(volume, dtype=np.float64)
    out = np.full(len(volume), np.nan)
    if len(volume) <= period:
        return out
    sums = np.cumsum(np.concatenate([[0.0], volume]))
    mean = (sums[period:-1] - sums[:-period - 1]) / period
    with np.errstate(divide="ignore", invalid="ignore"):
        out[period:] = np.where(mean > 0, volume[period:] / mean, np.nan)
    return out


def week_high_low(candles: Candles) -> tuple[float, float]:
    """Highest high and lowest low of the bars that opened in the 7 days up to the last bar's close."""
    close_time = int(candles.open_time[-1]) + interval_ms(candles.interval)
    first = int(np.searchsorted(candles.open_time, close_time - WEEK_MS, side="left"))
    return float(candles.high[first:].max()), float(candles.low[first:].min())
