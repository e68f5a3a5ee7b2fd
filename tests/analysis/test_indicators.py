"""Indicators against plain per-bar reference formulas written out here, on real candles."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from analysis import indicators
from analysis.candles import Candles, load_csv
from tests.conftest import klines_dir


@pytest.fixture(scope="module")
def candles() -> Candles:
    return load_csv(klines_dir() / "misrori__binance_startegy/data/SOLUSDT_1h.csv")[-1500:]


def plain_ema(values: list[float], period: int) -> list[float]:
    out = [math.nan] * len(values)
    if len(values) < period:
        return out
    alpha = 2 / (period + 1)
    out[period - 1] = sum(values[:period]) / period
    for t in range(period, len(values)):
        out[t] = alpha * values[t] + (1 - alpha) * out[t - 1]
    return out


def plain_wilder(values: list[float], period: int) -> list[float]:
    """values[0] is unused (no previous bar); seed at bar `period` with the mean of bars 1..period."""
    out = [math.nan] * len(values)
    out[period] = sum(values[1 : period + 1]) / period
    for t in range(period + 1, len(values)):
        out[t] = (out[t - 1] * (period - 1) + values[t]) / period
    return out


def close_enough(got: np.ndarray, expected: list[float]) -> bool:
    return np.allclose(got, np.array(expected), rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("period", [1, 21, 50, 200])
def test_ema_matches_the_recursive_definition(candles: Candles, period: int) -> None:
    assert close_enough(indicators.ema(candles.close, period), plain_ema(candles.close.tolist(), period))


def test_rsi_and_atr_match_wilder(candles: Candles) -> None:
    close = candles.close.tolist()
    gains = [0.0] + [max(b - a, 0.0) for a, b in pairwise(close)]
    losses = [0.0] + [max(a - b, 0.0) for a, b in pairwise(close)]
    up, down = plain_wilder(gains, 14), plain_wilder(losses, 14)
    expected = [math.nan if math.isnan(g) else (100.0 if d == 0 else 100 - 100 / (1 + g / d))
                for g, d in zip(up, down, strict=True)]
    assert close_enough(indicators.rsi(candles.close, 14), expected)
    high, low = candles.high.tolist(), candles.low.tolist()
    ranges = [math.nan] + [max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
                           for t in range(1, len(close))]
    assert close_enough(indicators.atr(candles, 14), plain_wilder(ranges, 14))
    value = indicators.rsi(candles.close)
    assert np.nanmin(value) >= 0 and np.nanmax(value) <= 100 and np.isnan(value[13]) and not np.isnan(value[14])


def test_rsi_edges_flat_and_rising() -> None:
    assert indicators.rsi(np.full(30, 5.0))[-1] == 50.0
    assert indicators.rsi(np.arange(1.0, 31.0))[-1] == 100.0
    assert np.isnan(indicators.rsi(np.arange(1.0, 10.0))).all()


def test_volume_ratio_against_the_previous_bars_mean(candles: Candles) -> None:
    got = indicators.volume_ratio(candles.volume, 20)
    v = candles.volume
    for t in (20, 21, 500, len(v) - 1):
        assert got[t] == pytest.approx(v[t] / (sum(v[t - 20 : t].tolist()) / 20), rel=1e-12)
    assert np.isnan(got[:20]).all()


def test_week_high_low_uses_the_last_seven_days(candles: Candles) -> None:
    high, low = indicators.week_high_low(candles)
    assert high == candles.high[-168:].max() and low == candles.low[-168:].min()
    five = load_csv(klines_dir() / "Benicio1007__Bot_trading/data/dataset/2024/BTCUSDT_5m.csv")
    assert indicators.week_high_low(five) == (five.high[-2016:].max(), five.low[-2016:].min())
