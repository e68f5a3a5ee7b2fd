"""The analyzer pool: N worker actors behind one reference, with a cache and request coalescing.

A router actor owns the cache, keyed by (symbol, interval, last open time, mode), and the requests
in flight: a thousand users asking for BTCUSDT 1h in the same hour cost one analysis, even when
they all ask before the first answer is ready. Workers only compute. Bad candles fail the request
with a reason and nothing else; neither the router nor a worker ever stops on bad input.

Threads and the GIL: analyze() is ~1 ms of many small numpy calls, which hold the GIL most of the
time, so a second worker thread adds no throughput (bench/analysis_bench.py measured 0.55x of one
thread on 2 cores: contention costs more than it gains). `processes=True` keeps the same interface
and runs each worker's analyses in its own child process (1.24x of one thread with 2 on 2 cores);
each child costs a second or so to spawn at its first analysis, so tests and the demo use threads,
and `main.py run` uses processes whenever it has more than one worker (app.system.analyzer_pool).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import partial
from typing import Any

import pykka

from actors.messages import (
    AnalysisFailed,
    AnalysisResult,
    Analyze,
    AnalyzeDone,
    AnalyzeJob,
    AnalyzerStats,
    answer,
)
from analysis.calibration import Calibration
from analysis.candles import Candles
from analysis.strategy import DEFAULT_COSTS, Costs, analyze

log = logging.getLogger(__name__)

CACHE_ENTRIES = 4096


class AnalyzerWorker(pykka.ThreadingActor):
    """Computes analyses and reports each outcome to the router.

    With `in_process=False` the analysis runs on the actor's thread; with True it runs in the
    worker's own child process (spawned, so no locks are inherited), which the GIL cannot serialize.
    `costs` (FEE_RATE, MAX_FEE_SHARE) and `calibration` (the strategy file's model) go to every analysis.
    """

    def __init__(self, in_process: bool = False, costs: Costs = DEFAULT_COSTS,
                 calibration: Calibration | None = None) -> None:
        super().__init__()
        self.in_process = in_process
        self.costs = costs
        self.calibration = calibration
        self.executor: ProcessPoolExecutor | None = None

    def on_start(self) -> None:
        if self.in_process:
            self.executor = _child_process()

    def on_stop(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, AnalyzeJob):
            log.warning("analyzer worker ignored %s", type(message).__name__)
            return None
        if self.executor is None:
            try:
                outcome: Any = AnalysisResult(analyze(message.candles, mode=message.mode, costs=self.costs,
                                                       calibration=self.calibration))
            except Exception as error:
                outcome = _failure(message.key, error)
            message.router.tell(AnalyzeDone(message.key, outcome))
            return None
        # In a child process the work is pipelined: the child is fed while earlier results travel back.
        try:
            future = self.executor.submit(analyze, message.candles, mode=message.mode, costs=self.costs,
                                          calibration=self.calibration)
        except BrokenProcessPool as error:
            self.executor = _child_process()
            message.router.tell(AnalyzeDone(message.key, _failure(message.key, error)))
            return None
        future.add_done_callback(partial(_report, message.router, message.key))
        return None


def _failure(key: tuple, error: BaseException) -> AnalysisFailed:
    """Bad candles are the caller's problem (ValueError); anything else is a bug, logged, still one request."""
    if isinstance(error, ValueError):
        return AnalysisFailed(str(error))
    log.error("analysis of %s crashed: %r", key, error)
    return AnalysisFailed(f"analysis error: {type(error).__name__}: {error}")


def _report(router: pykka.ActorRef, key: tuple, future: Future) -> None:
    """Runs on the executor's thread when a child finishes: hand the outcome to the router."""
    if future.cancelled():
        return
    error = future.exception()
    outcome = _failure(key, error) if error is not None else AnalysisResult(future.result())
    try:
        router.tell(AnalyzeDone(key, outcome))
    except pykka.ActorDeadError:
        log.debug("analysis of %s finished after the pool stopped", key)


def _child_process() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


class AnalyzerRouter(pykka.ThreadingActor):
    """Owns the cache and the in-flight requests; hands work to the workers in turn."""

    def __init__(self, workers: list[pykka.ActorRef], cache_entries: int = CACHE_ENTRIES,
                 observe: Callable[[float], None] | None = None) -> None:
        super().__init__()
        self.workers = workers
        self.observe = observe  # seconds from handing a job to a worker to its result
        self.started: dict[tuple, float] = {}
        self.cache_entries = cache_entries
        self.cache: OrderedDict[tuple, AnalysisResult] = OrderedDict()
        self.waiting: dict[tuple, list[Analyze]] = {}
        self.turn = 0
        self.computed = 0
        self.served_from_cache = 0

    def on_receive(self, message: Any) -> Any:
        match message:
            case Analyze():
                return self._request(message)
            case AnalyzeDone(key, outcome):
                return self._done(key, outcome)
            case AnalyzerStats():
                return answer(message, {"computed": self.computed, "cached": self.served_from_cache,
                                        "entries": len(self.cache), "in_flight": len(self.waiting)})
        log.warning("analyzer ignored %s", type(message).__name__)
        return None

    def _request(self, message: Analyze) -> Any:
        problem = _check(message)
        if problem:
            return answer(message, AnalysisFailed(problem))
        key = (message.symbol, message.interval, int(message.candles.open_time[-1]), message.mode)
        if key in self.cache:
            self.cache.move_to_end(key)
            self.served_from_cache += 1
            return answer(message, self.cache[key])
        if key in self.waiting:
            self.waiting[key].append(message)
            return None
        self.waiting[key] = [message]
        self.started[key] = time.perf_counter()
        worker = self.workers[self.turn % len(self.workers)]
        self.turn += 1
        worker.tell(AnalyzeJob(key, message.candles, message.mode, self.actor_ref))
        return None

    def _done(self, key: tuple, outcome: Any) -> None:
        self.computed += 1
        started = self.started.pop(key, None)
        if self.observe is not None and started is not None:
            self.observe(time.perf_counter() - started)
        if isinstance(outcome, AnalysisResult):  # failures are not cached: fixed candles may follow
            self.cache[key] = outcome
            while len(self.cache) > self.cache_entries:
                self.cache.popitem(last=False)
        for message in self.waiting.pop(key, []):
            answer(message, outcome)


def _check(message: Analyze) -> str | None:
    """What is wrong with the request itself, before any analysis."""
    candles = message.candles
    if not isinstance(candles, Candles):
        return f"expected Candles, got {type(candles).__name__}"
    if len(candles) == 0:
        return f"no candles for {message.symbol} {message.interval}"
    if (candles.symbol, candles.interval) != (message.symbol, message.interval):
        return (f"candles are {candles.symbol} {candles.interval} but the request is for "
                f"{message.symbol} {message.interval}")
    if message.mode not in ("causal", "compat"):
        return f"unknown mode {message.mode!r} (causal or compat)"
    return None


class AnalyzerPool:
    """One reference to the pool: tell(Analyze(..., reply_to=Future())) or ask(Analyze(...))."""

    def __init__(self, router: pykka.ActorRef, workers: list[pykka.ActorRef], processes: bool = False) -> None:
        self._router = router
        self._workers = workers
        self.processes = processes  # each worker computes in its own child process

    @classmethod
    def start(cls, workers: int | None = None, cache_entries: int = CACHE_ENTRIES,
              processes: bool = False, costs: Costs = DEFAULT_COSTS,
              calibration: Calibration | None = None,
              observe: Callable[[float], None] | None = None) -> AnalyzerPool:
        """`workers` actors (default: the CPU count); `processes=True` gives each its own child process;
        `costs` and `calibration` for every analysis; `observe` gets each analysis's seconds (on the router's
        thread)."""
        count = workers or os.cpu_count() or 1
        refs = [AnalyzerWorker.start(processes, costs, calibration) for _ in range(count)]
        return cls(AnalyzerRouter.start(refs, cache_entries, observe), refs, processes)

    @property
    def size(self) -> int:
        return len(self._workers)

    def tell(self, message: Analyze) -> None:
        self._router.tell(message)

    def ask(self, message: Analyze, timeout: float | None = None) -> AnalysisResult | AnalysisFailed:
        """Send and wait for the answer (never call this from an actor the pool could call back)."""
        if message.reply_to is None:
            message = replace(message, reply_to=Future())
        self._router.tell(message)
        return message.reply_to.result(timeout)

    def stats(self) -> dict[str, int]:
        return self._router.ask(AnalyzerStats())

    def stop(self) -> None:
        """Workers first (their last results still reach the router), then the router."""
        for worker in self._workers:
            worker.stop()
        self._router.stop()
