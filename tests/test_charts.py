"""Signal charts: the PNG read back with Pillow (size, budget, line colours), no look-ahead, determinism."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from analysis.candles import Candles, load_csv
from analysis.strategy import NoSetup, Signal, analyze
from telegram_adapter.charts.draw import HEIGHT, PRICE_RECT, WIDTH, draw, spread
from telegram_adapter.charts.spec import chart_spec, window
from telegram_adapter.charts.theme import THEMES
from tests.conftest import klines_dir

ROLES = {"ENTRY": "entry", "SL": "stop", "TP1": "target", "TP2": "target"}


@pytest.fixture(scope="module")
def btc() -> Candles:
    return load_csv(klines_dir() / "azmath606961__hawk-crypto-bot/data/BTCUSDT_1h.csv")


def first(candles: Candles, kind: type) -> tuple[dict, Candles]:
    """The first analysis of this kind (Signal or NoSetup) in 1,000-candle windows, and the candles up to it."""
    for end in range(1000, len(candles), 25):
        result = analyze(candles[end - 1000:end])
        if isinstance(result, kind):
            return result.to_dict(), candles[:end]
    raise AssertionError(f"no {kind.__name__} in {candles.symbol} {candles.interval}")


@pytest.fixture(scope="module")
def issued(btc) -> tuple[dict, Candles]:
    return first(btc, Signal)


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)])


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def share_of_row_in_colour(image: np.ndarray, row: float, colour: str) -> float:
    """Of the columns across the candles (left of the tags), the share where the line's rows show `colour`."""
    left = int(PRICE_RECT[0] * WIDTH) + 5
    columns = np.arange(left, left + int(PRICE_RECT[2] * WIDTH * 0.7), 5)
    band = image[round(row) - 1:round(row) + 2][:, columns]
    close = np.abs(band - rgb(colour)).max(axis=2) <= 16
    return float(close.any(axis=0).mean())


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_png_decodes_at_size_under_budget_with_each_line_in_its_colour(issued, theme):
    signal, candles = issued
    drawing = draw(chart_spec(signal, candles, theme))
    image = Image.open(io.BytesIO(drawing.png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT) and len(drawing.png) < 200_000
    assert set(drawing.rows) == {"ENTRY", "SL", "TP1", "TP2"}
    grid = pixels(drawing.png)
    for label, row in drawing.rows.items():
        assert 0 < row < HEIGHT
        assert share_of_row_in_colour(grid, row, THEMES[theme].level(ROLES[label])) > 0.95, label
    background = rgb(THEMES[theme].background)
    assert (np.abs(grid[5, 5] - background).max() <= 2), "the theme's background"


def test_rows_follow_prices_and_sides(issued):
    signal, candles = issued
    rows = draw(chart_spec(signal, candles)).rows
    direction = 1 if signal["side"] == "LONG" else -1
    # higher prices are nearer the top: a LONG has its targets above the entry and the stop below
    assert (rows["ENTRY"] - rows["TP1"]) * direction > 0 and (rows["SL"] - rows["ENTRY"]) * direction > 0


def test_a_null_tp2_and_a_plain_analysis_draw_no_such_lines(issued, btc):
    signal, candles = issued
    drawing = draw(chart_spec(signal | {"tp2": None}, candles))
    assert set(drawing.rows) == {"ENTRY", "SL", "TP1"}
    drawing = draw(chart_spec(*first(btc, NoSetup)))
    grid = pixels(drawing.png)
    assert drawing.rows == {}
    theme = THEMES["dark"]
    for colour in (theme.entry, theme.stop, theme.target):
        assert not (np.abs(grid - rgb(colour)).max(axis=2) <= 4).any(), colour


def test_later_candles_are_never_drawn(issued, btc):
    signal, candles = issued
    later = btc[len(candles):len(candles) + 40]
    outlandish = 100 * float(btc.high.max())
    future = Candles(btc.symbol, btc.interval,
                     np.concatenate([candles.open_time, later.open_time]),
                     *(np.concatenate([getattr(candles, name), getattr(later, name) * 100])
                       for name in ("open", "high", "low", "close", "volume")))
    spec = chart_spec(signal, future)
    assert spec.candles.open_time[-1] == signal["open_time"] and len(spec.candles) == 120
    drawing = draw(spec)
    assert drawing.price_range[1] < outlandish / 50
    assert drawing.png == draw(chart_spec(signal, candles)).png


def test_the_signal_candle_must_be_there(issued, btc):
    signal, candles = issued
    with pytest.raises(ValueError, match="no candle opened at"):
        window(candles[:-1], signal["open_time"])
    with pytest.raises(ValueError, match="ETHUSDT"):
        chart_spec(signal | {"symbol": "ETHUSDT"}, candles)


def test_same_inputs_same_bytes_and_no_metadata(issued):
    signal, candles = issued
    first = draw(chart_spec(signal, candles, "light")).png
    assert first == draw(chart_spec(signal, replace(candles), "light")).png
    info = Image.open(io.BytesIO(first)).info
    assert not {"Software", "Creation Time", "date:create"} & set(info)


def test_tags_are_spread_apart_in_order_and_in_bounds():
    placed = spread([10.0, 10.2, 9.9, 30.0], gap=1.0, low=0.0, high=11.0)
    assert sorted(placed) == [placed[2], placed[0], placed[1], placed[3]]
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(sorted(placed), sorted(placed)[1:], strict=False))
    assert placed[3] == 11.0 and placed[2] == pytest.approx(8.0)
