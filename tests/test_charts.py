"""Signal charts: the PNG read back with Pillow (size, budget, line colours), no look-ahead, determinism;
the process pool (failures are None and counted, a hung or dead worker is replaced) and the disk cache."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from analysis.candles import Candles, interval_ms, load_csv
from analysis.strategy import NoSetup, Signal, analyze
from app.config import load_settings
from telegram_adapter.charts.cache import PNG_SIGNATURE, ChartCache
from telegram_adapter.charts.draw import HEIGHT, PRICE_RECT, WIDTH, draw, spread
from telegram_adapter.charts.pool import ChartRenderer
from telegram_adapter.charts.service import ChartService
from telegram_adapter.charts.spec import Box, ChartSpec, Level, Mark, chart_spec, window
from telegram_adapter.charts.theme import THEMES
from tests.conftest import klines_dir
from tests.fakes.chart_jobs import fake_png

ROLES = {"ENTRY": "entry", "SL": "stop", "TP1": "target", "TP2": "target"}


@pytest.fixture(scope="module")
def btc() -> Candles:
    return load_csv(klines_dir() / "azmath606961__hawk-crypto-bot/data/BTCUSDT_1h.csv")


def first(candles: Candles, kind: type, two_targets: bool = False) -> tuple[dict, Candles]:
    """The first analysis of this kind (Signal or NoSetup) in 1,000-candle windows, and the candles up to it;
    `two_targets`: the first signal with a TP2 (a signal without room for one has tp2 null)."""
    for end in range(1000, len(candles), 25):
        result = analyze(candles[end - 1000:end])
        if isinstance(result, kind) and not (two_targets and result.to_dict().get("tp2") is None):
            return result.to_dict(), candles[:end]
    raise AssertionError(f"no {kind.__name__} in {candles.symbol} {candles.interval}")


@pytest.fixture(scope="module")
def issued(btc) -> tuple[dict, Candles]:
    return first(btc, Signal, two_targets=True)


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


def synthetic(symbol: str, bars: int = 150) -> tuple[dict, Candles]:
    """A plain-analysis payload (no levels) and rising 1h candles that end at its candle."""
    close = 100.0 + np.arange(bars, dtype=np.float64)
    candles = Candles(symbol, "1h", np.arange(bars, dtype=np.int64) * interval_ms("1h"), close - 0.5, close + 1,
                      close - 1, close, np.ones(bars))
    return {"symbol": symbol, "interval": "1h", "open_time": int(candles.open_time[-1])}, candles


def test_zone_and_structure_labels_stay_whole_and_clear_of_the_tags_and_each_other():
    """An order block from before the window, a gap and a BOS at the entry's price both starting under the
    tags: every label inside the price axes, none overlapping a tag or another label."""
    _, candles = synthetic("BTCUSDT")
    entry = float(candles.close[-1])
    spec = ChartSpec(candles=candles, theme="dark", title="BTCUSDT · 1h", badge="LONG", bullish=True,
                     footer="test", decimals=2,
                     levels=(Level("ENTRY", entry, "entry", f"ENTRY {entry:,.2f}"),
                             Level("SL", entry - 8, "stop", f"SL {entry - 8:,.2f}")),
                     boxes=(Box("OB", True, entry - 3, entry - 6, 0), Box("FVG", True, entry + 1, entry - 1, 149)),
                     mark=Mark(f"BOS {entry:,.2f}", entry, 148))
    texts = draw(spec).texts
    x0, y0 = PRICE_RECT[0] * WIDTH, PRICE_RECT[1] * HEIGHT
    x1, y1 = x0 + PRICE_RECT[2] * WIDTH, y0 + PRICE_RECT[3] * HEIGHT
    labels = {"OB", "FVG", f"BOS {entry:,.2f}"}
    assert labels < set(texts)
    for label in labels:
        left, bottom, right, top = texts[label]
        assert x0 <= left < right <= x1 and y0 <= bottom < top <= y1, label
        for other, (o_left, o_bottom, o_right, o_top) in texts.items():
            overlap = min(right, o_right) > max(left, o_left) and min(top, o_top) > max(bottom, o_bottom)
            assert other == label or not overlap, (label, other)


def test_a_worker_process_renders_the_same_bytes_as_this_one(issued):
    signal, candles = issued

    async def scenario() -> bytes | None:
        renderer = ChartRenderer(workers=1, theme="light")
        try:
            assert await renderer.start()
            return await renderer.render(signal, candles)
        finally:
            renderer.close()

    assert asyncio.run(scenario()) == draw(chart_spec(signal, candles, "light")).png


def test_failed_slow_and_dead_renders_are_none_counted_logged_and_the_pool_recovers(caplog):
    caplog.set_level(logging.WARNING, logger="telegram_adapter.charts.pool")
    good = synthetic("BTCUSDT")

    async def scenario() -> Counter:
        renderer = ChartRenderer(workers=1, timeout=2.0, job=fake_png, initializer=None)
        try:
            assert await renderer.start()
            assert (await renderer.render(*good)).startswith(PNG_SIGNATURE)
            for symbol, reason in (("BOOMUSDT", "failed"), ("HANGUSDT", "timed_out"), ("DIEUSDT", "broken")):
                assert await renderer.render(*synthetic(symbol)) is None
                assert renderer.counts[reason] == 1, reason
                assert await renderer.start()  # the replacement pool is up and warm
                assert (await renderer.render(*good)).startswith(PNG_SIGNATURE), f"after {reason}"
            # a payload whose candle is not among the candles never reaches a worker
            assert await renderer.render(good[0] | {"open_time": 1}, good[1]) is None
            assert renderer.failures == 4
            return renderer.counts
        finally:
            renderer.close()

    counts = asyncio.run(scenario())
    assert counts == Counter(rendered=4, failed=2, timed_out=1, broken=1, replaced=2)
    logged = caplog.text
    assert "BOOMUSDT 1h" in logged and "the renderer blew up" in logged
    assert "timed out" in logged and "broken" in logged and "no candle opened at" in logged


def test_cache_returns_the_same_bytes_keeps_no_temp_files_and_prunes_oldest_first(tmp_path):
    folder = tmp_path / "charts"
    cache = ChartCache(folder, cap_bytes=2500)
    assert cache.get("a:BTCUSDT:15m:1:LONG") is None
    charts = {f"m:42:{k}": PNG_SIGNATURE + bytes([k]) * 992 for k in range(4)}  # 1,000 bytes each
    for age, (key, png) in enumerate(charts.items()):
        cache.put(key, png)
        assert cache.get(key) == png
        os.utime(cache.path(key), ns=(age * 10**9, age * 10**9))  # written `age` s after the epoch
    assert sorted(p.suffix for p in folder.iterdir()) == [".png", ".png"]
    survivors = {key for key in charts if cache.get(key) is not None}
    assert survivors == {"m:42:2", "m:42:3"}
    restarted = ChartCache(folder, cap_bytes=2500)
    assert restarted.get("m:42:3") == charts["m:42:3"]
    restarted.path("m:42:3").write_bytes(b"")  # emptied by a crash: a miss, not a broken photo
    assert restarted.get("m:42:3") is None


def test_service_renders_once_per_signal_and_serves_it_again_after_a_restart(tmp_path):
    signal_id = "a:BTCUSDT:1h:536400000:LONG"
    good = synthetic("BTCUSDT")

    async def scenario() -> tuple[list[bytes | None], int]:
        renderer = ChartRenderer(workers=1, job=fake_png, initializer=None)
        service = ChartService(renderer, ChartCache(tmp_path))
        try:
            first = await service.chart(signal_id, *good)
            again = await service.chart(signal_id, *good)
            restarted = ChartService(renderer, ChartCache(tmp_path))
            return [first, again, await restarted.cached(signal_id, good[0]),
                    await restarted.cached("m:1:1", good[0])], renderer.counts["rendered"]
        finally:
            await service.close()

    (first, again, after_restart, unknown), rendered = asyncio.run(scenario())
    assert first is not None and first == again == after_restart and unknown is None
    assert rendered == 1


def test_a_cached_chart_is_never_served_for_another_signal_with_the_same_id(tmp_path):
    """Autosignal ids repeat across logs (symbol, interval, candle, side): another log's chart, or a file
    under the old id-only name, must be a miss and the signal drawn anew."""
    signal_id = "a:BTCUSDT:1h:536400000:LONG"
    xrp, btc = synthetic("XRPUSDT"), synthetic("BTCUSDT")
    cache = ChartCache(tmp_path)
    cache.put(f"{signal_id}.dark", PNG_SIGNATURE + b"XRPUSDT")  # an id-only entry, as written before

    async def scenario() -> tuple[bytes | None, bytes | None, bytes | None]:
        service = ChartService(ChartRenderer(workers=1, job=fake_png, initializer=None), cache)
        try:
            foreign = await service.chart(signal_id, *xrp)  # drawn into the shared folder by another log
            return foreign, await service.cached(signal_id, btc[0]), await service.chart(signal_id, *btc)
        finally:
            await service.close()

    foreign, cached, drawn = asyncio.run(scenario())
    assert foreign is not None and b"XRPUSDT" in foreign
    assert cached is None and drawn is not None and b"BTCUSDT" in drawn and b"XRPUSDT" not in drawn


def test_service_follows_the_settings(tmp_path):
    settings = load_settings({"DB_PATH": str(tmp_path / "events.db"), "CHART_THEME": "light",
                              "CHART_WORKERS": "2"}, None)
    service = ChartService.from_settings(settings)
    try:
        assert (service.renderer.theme, service.renderer.workers) == ("light", 2)
        assert service.cache.folder == tmp_path / "charts" and service.cache.folder.is_dir()
    finally:
        service.renderer.close()


def test_the_bots_process_never_loads_matplotlib():
    """Only the workers draw: importing the service (what the Sender holds) leaves matplotlib out."""
    probe = "import sys, telegram_adapter.charts.service; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
