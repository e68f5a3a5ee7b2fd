"""analysis.smc.causal never looks ahead: rows <= t are the same whether bars after t exist or not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.candles import Candles, load_csv
from analysis.smc import causal
from tests.conftest import klines_dir

SOURCES = [
    "misrori__binance_startegy/data/XRPUSDT_1h.csv",
    "privet1x__crypto-trading-bot/data/BTCUSDT_1m.csv",
    "Benicio1007__Bot_trading/data/dataset/2022/ETHUSDT_5m.csv",
]
LENGTH = 800


@pytest.fixture(scope="module")
def series() -> list[Candles]:
    return [load_csv(klines_dir() / s)[-LENGTH:] for s in SOURCES]


def everything(candles: Candles, swing_length: int) -> dict[str, dict[str, np.ndarray]]:
    swings = causal.swing_highs_lows(candles, swing_length)
    return {
        "swings": swings,
        "fvg": causal.fvg(candles),
        "ob": causal.ob(candles, swings),
        "bos_choch": causal.bos_choch(candles, swings),
        "liquidity": causal.liquidity(candles, swings),
    }


@settings(max_examples=100, deadline=None)
@given(source=st.integers(0, len(SOURCES) - 1), cut=st.integers(0, LENGTH - 1),
       swing_length=st.sampled_from([3, 5, 10, 50]))
def test_a_prefix_gives_the_same_rows_as_the_full_series(series: list[Candles], source: int, cut: int,
                                                          swing_length: int) -> None:
    full_series = series[source]
    full = everything(full_series, swing_length)
    prefix = everything(full_series[: cut + 1], swing_length)
    for name, result in prefix.items():
        for column, values in result.items():
            assert len(values) == cut + 1
            assert np.array_equal(values, full[name][column][: cut + 1], equal_nan=True), (name, column, cut)


def test_events_are_reported_no_earlier_than_they_can_be_known(series: list[Candles]) -> None:
    candles = series[0]
    result = everything(candles, 5)
    swings = result["swings"]
    rows = np.flatnonzero(~np.isnan(swings["HighLow"]))
    assert len(rows) > 20
    assert np.all(rows - swings["Index"][rows] == 5)
    for row in rows:  # a swing high is the highest high of its window, all of which is in the past
        i = int(swings["Index"][row])
        window = candles.high[i - 4 : i + 6] if swings["HighLow"][row] == 1 else candles.low[i - 4 : i + 6]
        assert swings["Level"][row] == (window.max() if swings["HighLow"][row] == 1 else window.min())
    gaps = result["fvg"]
    rows = np.flatnonzero(~np.isnan(gaps["FVG"]))
    for row in rows:
        if gaps["FVG"][row] == 1:
            assert candles.high[row - 2] == gaps["Bottom"][row] < gaps["Top"][row] == candles.low[row]
        else:
            assert candles.low[row - 2] == gaps["Top"][row] > gaps["Bottom"][row] == candles.high[row]
    structure = result["bos_choch"]
    for row in np.flatnonzero(~np.isnan(structure["Level"])):
        direction = structure["BOS"][row] if not np.isnan(structure["BOS"][row]) else structure["CHOCH"][row]
        assert (candles.close[row] - structure["Level"][row]) * direction > 0  # the close broke the level
        assert structure["Trend"][row] in (1, -1)
    blocks = result["ob"]
    for row in np.flatnonzero(~np.isnan(blocks["OB"])):
        k = int(blocks["Index"][row])
        assert k < row and blocks["Top"][row] == candles.high[k] and blocks["Bottom"][row] == candles.low[k]


def test_unfilled_zones_are_those_price_never_traded_through(series: list[Candles]) -> None:
    candles = series[1]
    gaps = causal.fvg(candles)
    open_rows = set(causal.unfilled(candles, gaps, "FVG").tolist())
    for row in np.flatnonzero(~np.isnan(gaps["FVG"])).tolist():
        later_low, later_high = candles.low[row:], candles.high[row:]  # from the third candle on
        if gaps["FVG"][row] == 1:
            filled = later_low.min() <= gaps["Bottom"][row]
        else:
            filled = later_high.max() >= gaps["Top"][row]
        assert (row in open_rows) == (not filled)
    blocks = causal.ob(candles, causal.swing_highs_lows(candles, 5))
    open_rows = set(causal.unfilled(candles, blocks, "OB").tolist())
    for row in np.flatnonzero(~np.isnan(blocks["OB"])).tolist():
        k = int(blocks["Index"][row])
        if blocks["OB"][row] == 1:
            filled = candles.low[k + 1 :].min() <= blocks["Bottom"][row]
        else:
            filled = candles.high[k + 1 :].max() >= blocks["Top"][row]
        assert (row in open_rows) == (not filled)
