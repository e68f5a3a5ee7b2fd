"""Chart rendering in a small process pool, awaited from the event loop and never run in its thread.

A chart is optional: a render that raises, takes longer than the timeout or loses its worker is logged,
counted and answered with None (the signal goes out as text); nothing is raised into the caller. A pool
whose worker hangs or dies is killed and replaced.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from analysis.candles import Candles
from telegram_adapter.charts import worker
from telegram_adapter.charts.spec import ChartSpec, chart_spec
from telegram_adapter.charts.theme import THEMES

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
START_POLL_S = 0.02


class ChartRenderer:
    """`await render(signal, candles)` -> PNG bytes or None, in `workers` spawned processes.

    At most `workers` renders are in flight; the rest wait their turn, and `timeout` (seconds) starts when
    a render is handed to a worker. `counts` (a Counter the Sender or metrics may read) holds `rendered`,
    `failed` (the render raised), `timed_out`, `broken` (a worker died) and `replaced` (pools replaced).
    `job` and `initializer` run in the workers and must be importable module-level functions.
    """

    def __init__(self, workers: int = 1, theme: str = "dark", timeout: float = TIMEOUT_S,
                 job: Callable[[ChartSpec], bytes] = worker.render,
                 initializer: Callable[[], None] | None = worker.warm_up) -> None:
        if theme not in THEMES:
            raise ValueError(f"unknown chart theme {theme!r}; expected one of {', '.join(THEMES)}")
        self.workers, self.theme, self.timeout = workers, theme, timeout
        self.counts: Counter[str] = Counter()
        self._job, self._initializer = job, initializer
        self._slots = asyncio.Semaphore(workers)
        self._pool = self._new_pool()

    @property
    def failures(self) -> int:
        """Renders that gave no chart: raised, timed out or lost their worker."""
        return self.counts["failed"] + self.counts["timed_out"] + self.counts["broken"]

    async def start(self) -> bool:
        """Start every worker and wait until each has warmed up (matplotlib imported, fonts loaded).

        False (logged, never raised) when the pool cannot start; renders then return None.
        """
        pool, seen = self._pool, set()
        try:
            while len(seen) < self.workers:  # a quick worker may answer for a slow one: ask until all have
                pids = await asyncio.gather(*(asyncio.wrap_future(pool.submit(os.getpid))
                                              for _ in range(self.workers)))
                seen.update(pids)
                if len(seen) < self.workers:
                    await asyncio.sleep(START_POLL_S)
        except BrokenProcessPool as exc:
            log.error("chart workers failed to start, signals go out as text: %s", exc)
            self._replace(pool)
            return False
        return True

    async def render(self, signal: Mapping[str, Any], candles: Candles) -> bytes | None:
        """The chart of a Signal or NoSetup payload from `candles` up to its candle, or None (see the class)."""
        what = f"{signal.get('symbol')} {signal.get('interval')} {signal.get('open_time')}"
        try:
            spec = chart_spec(signal, candles, self.theme)
        except (KeyError, TypeError, ValueError) as exc:
            return self._failed("failed", what, exc)
        async with self._slots:
            pool = self._pool
            try:
                png = await asyncio.wait_for(asyncio.wrap_future(pool.submit(self._job, spec)), self.timeout)
            except TimeoutError:
                self._replace(pool)
                return self._failed("timed_out", what, f"no chart within {self.timeout:g} s, worker killed")
            except BrokenProcessPool as exc:
                self._replace(pool)
                return self._failed("broken", what, exc)
            except Exception as exc:  # whatever the job raised: the chart is optional, the signal is not
                return self._failed("failed", what, exc)
        self.counts["rendered"] += 1
        return png

    def close(self) -> None:
        """Stop the workers, waiting for renders in flight (blocking: from a loop, use asyncio.to_thread)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=self._initializer)

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        """Kill a hung or broken pool and start its successor warming up (once, however many renders saw it)."""
        if pool is not self._pool:
            return
        self._pool = self._new_pool()
        self.counts["replaced"] += 1
        # no public way to stop a hung worker before Python 3.14 (terminate_workers): kill the processes
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        for _ in range(self.workers):
            self._pool.submit(os.getpid)  # spawns and warms the new workers now, not on the next render

    def _failed(self, reason: str, what: str, error: object) -> None:
        """Count and log a render that gave no chart; the traceback only for an error the render raised."""
        self.counts[reason] += 1
        log.warning("chart %s: %s (%s); the signal goes out as text", what, reason.replace("_", " "), error,
                    exc_info=error if reason == "failed" and isinstance(error, BaseException) else None)
