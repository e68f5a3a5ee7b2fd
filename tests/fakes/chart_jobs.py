"""Stand-ins for the chart workers' job, picked by symbol (they run in spawned processes: keep imports light)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from telegram_adapter.charts.spec import ChartSpec


def fake_png(spec: ChartSpec) -> bytes:
    """BOOMUSDT raises, HANGUSDT never returns, DIEUSDT kills its worker; any other symbol gets a tiny 'PNG'."""
    symbol = spec.candles.symbol
    if symbol == "BOOMUSDT":
        raise RuntimeError("the renderer blew up")
    if symbol == "HANGUSDT":
        time.sleep(600)
    if symbol == "DIEUSDT":
        os._exit(3)
    return b"\x89PNG\r\n\x1a\n" + spec.title.encode()


def stand_in_charts(folder: Path, feed: Any) -> Any:
    """SignalCharts drawing with fake_png in a one-process pool (no matplotlib), cached in `folder`."""
    from telegram_adapter.charts.cache import ChartCache
    from telegram_adapter.charts.pool import ChartRenderer
    from telegram_adapter.charts.service import ChartService
    from telegram_adapter.signal_charts import SignalCharts, feed_candles

    return SignalCharts(ChartService(ChartRenderer(job=fake_png, initializer=None), ChartCache(folder)),
                        feed_candles(feed))
