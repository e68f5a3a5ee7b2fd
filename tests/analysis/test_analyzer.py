"""AnalyzerPool: real pykka actors answering Analyze with the same result analyze() gives."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from dataclasses import replace

import numpy as np
import pykka
import pytest

from actors.analyzer import AnalyzerPool
from actors.messages import AnalysisFailed, AnalysisResult, Analyze
from analysis.candles import Candles, load_csv
from analysis.strategy import Costs, NoSetup, analyze
from app.system import analyzer_pool
from tests.conftest import klines_dir

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def candles() -> Candles:
    return load_csv(klines_dir() / "azmath606961__hawk-crypto-bot/data/BNBUSDT_1h.csv")[-1200:]


@pytest.fixture
def pool():
    started = AnalyzerPool.start(workers=2)
    yield started
    started.stop()
    pykka.ActorRegistry.stop_all()


def test_ask_and_reply_to_give_the_same_result_as_analyze(pool: AnalyzerPool, candles: Candles) -> None:
    window = candles[:1000]
    reply = pool.ask(Analyze("BNBUSDT", "1h", window), timeout=10)
    assert isinstance(reply, AnalysisResult) and reply.result == analyze(window)
    future: Future = Future()
    pool.tell(Analyze("BNBUSDT", "1h", candles[1:1001], reply_to=future))
    assert future.result(timeout=10).result == analyze(candles[1:1001])


def test_the_pool_analyzes_with_the_configured_costs() -> None:
    """MAX_FEE_SHARE reaches the live analysis: a stop too close for the fees drops the setup there too."""
    window = load_csv(klines_dir() / "Benicio1007__Bot_trading/data/dataset/2023/ETHUSDT_5m.csv")[576:1076]
    for processes in (False, True):
        strict = AnalyzerPool.start(workers=1, processes=processes)
        lenient = AnalyzerPool.start(workers=1, processes=processes, costs=Costs(max_fee_share=1.0))
        try:
            dropped = strict.ask(Analyze("ETHUSDT", "5m", window), timeout=30).result
            assert isinstance(dropped, NoSetup) and dropped.reason["code"] == "fees_too_high"
            assert lenient.ask(Analyze("ETHUSDT", "5m", window), timeout=30).result == analyze(
                window, costs=Costs(max_fee_share=1.0))
        finally:
            strict.stop()
            lenient.stop()


def test_many_requests_for_one_candle_cost_one_analysis(pool: AnalyzerPool, candles: Candles) -> None:
    window = candles[100:1100]
    futures = [Future() for _ in range(200)]
    for future in futures:
        pool.tell(Analyze("BNBUSDT", "1h", window, reply_to=future))
    answers = [f.result(timeout=20) for f in futures]
    assert all(a is answers[0] for a in answers)
    assert pool.stats()["computed"] == 1
    assert pool.ask(Analyze("BNBUSDT", "1h", window, mode="compat"), timeout=10).result.smc["mode"] == "compat"
    assert pool.stats()["computed"] == 2  # the mode is part of the key
    pool.ask(Analyze("BNBUSDT", "1h", candles[101:1101]), timeout=10)
    assert pool.stats()["computed"] == 3  # so is the last open time


def test_bad_candles_fail_the_request_and_the_pool_keeps_working(pool: AnalyzerPool, candles: Candles) -> None:
    window = candles[:1000]
    high = window.high.copy()
    high[500] = window.low[500] / 2
    reply = pool.ask(Analyze("BNBUSDT", "1h", replace(window, high=high)), timeout=10)
    assert isinstance(reply, AnalysisFailed) and "bar 500" in reply.reason and "below low" in reply.reason
    reply = pool.ask(Analyze("ETHUSDT", "1h", window), timeout=10)
    assert isinstance(reply, AnalysisFailed) and "BNBUSDT 1h" in reply.reason
    empty = replace(window, open_time=np.empty(0, dtype=np.int64))
    assert isinstance(pool.ask(Analyze("BNBUSDT", "1h", empty), timeout=10), AnalysisFailed)
    reply = pool.ask(Analyze("BNBUSDT", "1h", window[:20]), timeout=10)
    assert isinstance(reply, AnalysisFailed) and "at least" in reply.reason
    assert isinstance(pool.ask(Analyze("BNBUSDT", "1h", window), timeout=10), AnalysisResult)


def test_an_asyncio_caller_awaits_the_reply(pool: AnalyzerPool, candles: Candles) -> None:
    async def main() -> AnalysisResult:
        future: Future = Future()
        pool.tell(Analyze("BNBUSDT", "1h", candles[50:1050], reply_to=future))
        return await asyncio.wait_for(asyncio.wrap_future(future), 10)

    assert asyncio.run(main()).result == analyze(candles[50:1050])


def test_the_process_backed_pool_answers_the_same(candles: Candles) -> None:
    pool = AnalyzerPool.start(workers=1, processes=True)
    try:
        window = candles[200:1200]
        reply = pool.ask(Analyze("BNBUSDT", "1h", window), timeout=60)
        assert isinstance(reply, AnalysisResult) and reply.result == analyze(window)
        broken = replace(candles[199:1199], low=candles.low[199:1199] * -1)  # another key: no cache hit
        reply = pool.ask(Analyze("BNBUSDT", "1h", broken), timeout=60)
        assert isinstance(reply, AnalysisFailed) and "not positive" in reply.reason
    finally:
        pool.stop()
        pykka.ActorRegistry.stop_all()


def test_run_starts_the_fastest_measured_pool() -> None:
    """One worker: a thread; more: processes (threads contend for the GIL; bench/analysis_bench.py)."""
    for workers, processes in ((1, False), (2, True)):
        pool = analyzer_pool(workers)  # child processes spawn at their first analysis, not here
        try:
            assert (pool.size, pool.processes) == (workers, processes)
        finally:
            pool.stop()
