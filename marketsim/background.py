"""Run a `MarketSim` on its own event loop in a background thread (for tests, demos and benches)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future

from marketsim.server import MarketSim


class BackgroundSim:
    """`with BackgroundSim(lambda: MarketSim(...)) as sim:` serves until the block ends.

    The factory runs on the simulator's loop, so every asyncio object belongs to that loop.
    Fault switches on the returned `MarketSim` are plain attribute writes: call them from any thread.
    """

    def __init__(self, factory: Callable[[], MarketSim], start_timeout: float = 10.0) -> None:
        self._factory = factory
        self._timeout = start_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="marketsim", daemon=True)
        self.sim: MarketSim | None = None

    def __enter__(self) -> MarketSim:
        self._thread.start()
        self.sim = self.call(self._start)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, coro_fn: Callable, *args: object):
        """Run `coro_fn(*args)` on the simulator's loop and wait for its result."""
        future: Future = asyncio.run_coroutine_threadsafe(coro_fn(*args), self._loop)
        return future.result(self._timeout)

    async def _start(self) -> MarketSim:
        sim = self._factory()
        await sim.start()
        return sim

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        if self.sim is not None:
            self.call(self.sim.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)
        self._loop.close()
