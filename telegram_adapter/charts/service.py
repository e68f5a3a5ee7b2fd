"""Charts by signal id: from the disk cache, else rendered in the pool and stored. What the Sender calls."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analysis.candles import Candles
from telegram_adapter.charts.cache import ChartCache
from telegram_adapter.charts.pool import ChartRenderer

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger(__name__)


class ChartService:
    """`await chart(signal_id, signal, candles)` when a signal is issued; `await cached(signal_id, signal)` to send it.

    Both return PNG bytes or None (no chart: send the text alone) and never raise. Disk I/O runs in a
    thread, rendering in the renderer's processes: nothing blocks the loop.
    """

    def __init__(self, renderer: ChartRenderer, cache: ChartCache) -> None:
        self.renderer, self.cache = renderer, cache

    @classmethod
    def from_settings(cls, settings: Settings) -> ChartService:
        """CHART_WORKERS processes drawing in CHART_THEME, cached in CHART_CACHE_DIR."""
        return cls(ChartRenderer(settings.chart_workers, settings.chart_theme),
                   ChartCache(settings.chart_folder))

    async def start(self) -> bool:
        """Warm the render workers up (False, logged, when they cannot start)."""
        return await self.renderer.start()

    async def cached(self, signal_id: str, signal: Mapping[str, Any]) -> bytes | None:
        """The stored chart of this signal, or None."""
        try:
            return await asyncio.to_thread(self.cache.get, self._key(signal_id, signal))
        except OSError as exc:
            log.warning("chart cache read for %s failed: %s", signal_id, exc)
            return None

    async def chart(self, signal_id: str, signal: Mapping[str, Any], candles: Candles) -> bytes | None:
        """The stored chart, else a new one rendered from `candles` (up to the signal's candle) and stored."""
        png = await self.cached(signal_id, signal)
        if png is not None:
            return png
        png = await self.renderer.render(signal, candles)
        if png is not None:
            try:
                await asyncio.to_thread(self.cache.put, self._key(signal_id, signal), png)
            except OSError as exc:  # a full disk costs the cache, not the chart
                log.warning("chart cache write for %s failed: %s", signal_id, exc)
        return png

    async def close(self) -> None:
        """Stop the render workers (waits for renders in flight)."""
        await asyncio.to_thread(self.renderer.close)

    def _key(self, signal_id: str, signal: Mapping[str, Any]) -> str:
        """Signal id, theme and a digest of the signal: ids repeat across logs (an autosignal's is its symbol,
        interval, candle and side), so a file left by another log or signal is a miss, never a wrong chart;
        a CHART_THEME change draws anew."""
        payload = json.dumps(signal, sort_keys=True, separators=(",", ":"), default=str).encode()
        return f"{signal_id}.{self.renderer.theme}.{hashlib.sha256(payload).hexdigest()[:16]}"
