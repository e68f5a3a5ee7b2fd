"""marketsim speaks Binance: REST answers, WebSocket control protocol, kline events, faults, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np
import orjson
import pytest
import websockets

from analysis.candles import load_csv
from marketsim import MarketSim, market_from_files, synthetic_market
from marketsim.faults import Faults, FaultSchedule, parse_fault
from tests.conftest import klines_dir
from tests.feed_harness import DATA_2025

ROOT = Path(__file__).resolve().parents[1]
PRIVET = "privet1x__crypto-trading-bot/data"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def five_minute_market(rows: int = 200):
    d = klines_dir() / DATA_2025
    return market_from_files([d / "BTCUSDT_5m.csv", d / "ETHUSDT_5m.csv"], ["BTCUSDT", "ETHUSDT"], limit=rows)


async def get(session: aiohttp.ClientSession, url: str, **params):
    async with session.get(url, params=params) as resp:
        return resp.status, resp.headers, await resp.json(content_type=None)


async def served(market, speed, scenario, **kwargs):
    sim = MarketSim(market, speed, **kwargs)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            return await scenario(sim, session)
    finally:
        await sim.stop()


def test_rest_history_is_the_recorded_data():
    market = five_minute_market(rows=300)
    data = load_csv(klines_dir() / DATA_2025 / "BTCUSDT_5m.csv")[:300]

    async def scenario(sim, session):
        rest = sim.urls["rest"]
        status, headers, rows = await get(session, f"{rest}/api/v3/klines", symbol="BTCUSDT", interval="5m",
                                          limit=1000)
        assert status == 200 and int(headers["X-MBX-USED-WEIGHT-1M"]) > 0
        closed = [r for r in rows if r[6] < sim.clock.now_ms()]
        assert len(closed) >= 150  # min(1000, half the file) candles are history at the start
        for i, r in enumerate(closed):
            assert r[0] == data.open_time[i] and r[6] == r[0] + 300_000 - 1
            assert [float(x) for x in r[1:6]] == [data.open[i], data.high[i], data.low[i], data.close[i],
                                                   data.volume[i]]
            assert all(isinstance(x, str) for x in r[1:6])
        last = rows[-1]
        assert last[6] >= sim.clock.now_ms() - 50  # the in-progress candle is served as the last row
        status, _, paged = await get(session, f"{rest}/api/v3/klines", symbol="BTCUSDT", interval="5m",
                                     startTime=int(data.open_time[10]), limit=5)
        assert [r[0] for r in paged] == list(data.open_time[10:15])
        status, _, body = await get(session, f"{rest}/api/v3/klines", symbol="DOGEUSDT", interval="5m")
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
        status, _, body = await get(session, f"{rest}/api/v3/klines", symbol="BTCUSDT", interval="1m")
        assert (status, body["code"]) == (400, -1120)
        status, _, body = await get(session, f"{rest}/fapi/v1/klines", symbol="BTCUSDT", interval="5m", limit=2000)
        assert status == 200 and len(body) <= 1500
        status, _, server = await get(session, f"{rest}/api/v3/time")
        assert abs(server["serverTime"] - sim.clock.now_ms()) < 60_000
        status, _, info = await get(session, f"{rest}/api/v3/exchangeInfo")
        ticks = {s["symbol"]: s["filters"][0]["tickSize"] for s in info["symbols"]}
        assert float(ticks["BTCUSDT"]) == 0.01
        status, _, ticker = await get(session, f"{rest}/api/v3/ticker/24hr", symbol="ETHUSDT")
        assert ticker["symbol"] == "ETHUSDT" and float(ticker["quoteVolume"]) > 0
        status, _, pong = await get(session, f"{rest}/api/v3/ping")
        assert (status, pong) == (200, {})

    run(served(market, 60.0, scenario))


def test_larger_intervals_are_aggregated_like_binance():
    """15m candles built from the 1m file equal the independently recorded 15m file."""
    d = klines_dir() / PRIVET
    market = market_from_files([d / "BTCUSDT_1m.csv"], ["BTCUSDT"], limit=1500)
    fifteen = load_csv(d / "BTCUSDT_15m.csv")
    series = market.series("BTCUSDT", "15m")
    start = int(np.searchsorted(fifteen.open_time, series.open_time[0]))
    n = len(series.open_time) - 1  # the last bucket may be partial
    ref = fifteen[start : start + n]
    assert np.array_equal(series.open_time[:n], ref.open_time)
    for column in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(series, column)[:n], getattr(ref, column))
    np.testing.assert_allclose(series.volume[:n], ref.volume, rtol=1e-9)
    week = market.series("BTCUSDT", "1w")
    assert all(int(t) // 86_400_000 % 7 == 4 for t in week.open_time)  # Mondays


def test_websocket_control_protocol_and_kline_events():
    market = five_minute_market()

    async def scenario(sim, session):
        url = sim.urls["ws"] + "/stream?streams=btcusdt@kline_5m/ethusdt@kline_15m"
        async with websockets.connect(url, proxy=None) as ws:
            requests = (
                json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}),
                "{not json",
                json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 2}),
                json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@kline_15m"], "id": 3}),
                json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@kline_30m"], "id": 4}),
            )
            for request in requests:  # paced under the 5 messages/s limit (pongs count too)
                await ws.send(request)
                await asyncio.sleep(0.35)
            replies, events = {}, []
            while len(replies) < 5 or sum(e["data"]["k"]["x"] for e in events) < 30:
                msg = json.loads(await ws.recv())
                if "stream" in msg:
                    events.append(msg)
                else:
                    replies[msg.get("id", "error")] = msg
            assert replies[1] == {"result": ["btcusdt@kline_5m", "ethusdt@kline_15m"], "id": 1}
            assert replies["error"]["code"] == 3  # invalid JSON, and the connection stayed open
            assert replies[2]["code"] == 2 and replies[2]["id"] == 2  # 1m is smaller than the data
            assert replies[3] == {"result": None, "id": 3}
            assert replies[4] == {"result": None, "id": 4}
        closed = [e["data"] for e in events if e["stream"] == "btcusdt@kline_5m" and e["data"]["k"]["x"]]
        opens = [e["k"]["t"] for e in closed]
        assert opens == sorted(set(opens)) and np.all(np.diff(opens) == 300_000)
        for e in closed:
            k = e["k"]
            assert set(k) == set("tTsifLochlvnxqVQB") and k["T"] == k["t"] + 300_000 - 1
            assert e["E"] > k["T"] and isinstance(k["o"], str)
        assert any(not e["data"]["k"]["x"] for e in events)  # in-progress updates flow too
        assert sim.stats.pings > 0 and sim.stats.pongs > 0  # websockets answers pings with pongs

    run(served(market, 3000.0, scenario, ping_floor_s=0.5))


def test_raw_and_futures_endpoints():
    market = five_minute_market()

    async def scenario(sim, session):
        async with websockets.connect(sim.urls["ws"] + "/ws/btcusdt@kline_5m", proxy=None) as ws:
            event = json.loads(await ws.recv())
            assert event["e"] == "kline" and event["s"] == "BTCUSDT"
        async with websockets.connect(sim.urls["ws"] + "/market/stream?streams=ethusdt@kline_5m", proxy=None) as ws:
            event = json.loads(await ws.recv())
            assert event["stream"] == "ethusdt@kline_5m"
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(sim.urls["ws"] + "/stream?streams=btcusdt@kline_1m", proxy=None)

    run(served(market, 3000.0, scenario))


def test_control_messages_over_the_limit_close_the_connection():
    async def scenario(sim, session):
        async with websockets.connect(sim.urls["ws"] + "/ws", proxy=None) as ws:
            for i in range(8):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            with pytest.raises(websockets.ConnectionClosed):
                for _ in range(20):
                    await ws.recv()
        assert sim.stats.rate_limit_kicks == 1

    run(served(five_minute_market(), 60.0, scenario))


def test_rest_faults_and_outage():
    async def scenario(sim, session):
        api = sim.urls["rest"] + "/api/v3"
        sim.rest_error(429, retry_after=3)
        sim.rest_error(418, retry_after=7)
        status, headers, body = await get(session, f"{api}/time")
        assert (status, headers["Retry-After"], body["code"]) == (429, "3", -1003)
        status, headers, _ = await get(session, f"{api}/time")
        assert (status, headers["Retry-After"]) == (418, "7")
        assert (await get(session, f"{api}/time"))[0] == 200
        sim.outage(0.5)
        assert (await get(session, f"{api}/time"))[0] == 503
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(sim.urls["ws"] + "/ws/btcusdt@kline_5m", proxy=None)
        await asyncio.sleep(0.6)
        assert (await get(session, f"{api}/time"))[0] == 200
        sim.restrict_location()
        status, _, body = await get(session, f"{api}/klines", symbol="BTCUSDT", interval="5m")
        assert status == 451 and "restricted location" in body["msg"]

    run(served(five_minute_market(), 60.0, scenario))


def test_fault_specs_parse_and_refuse_nonsense():
    assert parse_fault("stall:every=7,for=1.5").duration == 1.5
    assert parse_fault("duplicate:p=0.2").p == 0.2
    for bad in ("explode", "drop", "stall:every=x", "drop:often=1"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_cli_fault_schedule_fires_periodically():
    faults = Faults()
    specs = [parse_fault(s) for s in ("drop:every=0.05", "stall:every=0.05,for=2", "rest429:every=0.05,retry_after=4",
                                      "malformed:p=0.3", "rest451")]
    schedule = FaultSchedule(specs, faults)
    assert faults.malformed == 0.3 and faults.fatal_status == 451
    schedule.tick()
    assert faults.drop_requested == 0
    time.sleep(0.06)
    schedule.tick()
    assert faults.drop_requested == 1 and list(faults.stall_requests) == [2.0]
    assert faults.rest_errors[0].status == 429 and faults.rest_errors[0].retry_after == 4


def test_files_of_different_periods_share_one_timeline():
    d = klines_dir() / "Benicio1007__Bot_trading/data/dataset"
    market = market_from_files([d / "2024/BTCUSDT_5m.csv", d / "2025/ETHUSDT_5m.csv"], ["BTCUSDT", "ETHUSDT"],
                               limit=50)
    btc, eth = market.series("BTCUSDT", "5m"), market.series("ETHUSDT", "5m")
    assert btc.open_time[0] == eth.open_time[0]
    assert eth.close[0] == load_csv(d / "2025/ETHUSDT_5m.csv").close[0]


def test_synthetic_market_is_seeded():
    a = synthetic_market(["BTCUSDT", "ETHUSDT"], "1m", seed=3, count=3000, now_ms=1_700_000_000_000)
    b = synthetic_market(["BTCUSDT", "ETHUSDT"], "1m", seed=3, count=3000, now_ms=1_700_000_000_000)
    c = synthetic_market(["BTCUSDT", "ETHUSDT"], "1m", seed=4, count=3000, now_ms=1_700_000_000_000)
    sa, sb, sc = (m.series("ETHUSDT", "1m") for m in (a, b, c))
    assert np.array_equal(sa.close, sb.close) and not np.array_equal(sa.close, sc.close)
    assert a.series("BTCUSDT", "1m").closed_count(a.start_ms) == 1000
    assert np.all(sa.low <= np.minimum(sa.open, sa.close)) and np.all(sa.high >= np.maximum(sa.open, sa.close))


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "marketsim", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(60)
def test_cli_prints_only_the_urls_line_then_serves():
    d = klines_dir() / DATA_2025
    proc = _cli("--data", str(d / "BTCUSDT_5m.csv"), str(d / "ETHUSDT_5m.csv"), "--symbols", "BTCUSDT,ETHUSDT",
                "--interval", "5m", "--speed", "600", "--port", "0", "--limit", "300", "--fault", "duplicate:p=0.1")
    try:
        urls = orjson.loads(proc.stdout.readline())
        assert set(urls) == {"ws", "rest"}
        assert urls["ws"].startswith("ws://127.0.0.1:") and urls["rest"].startswith("http://127.0.0.1:")
        assert urls["ws"].rsplit(":", 1)[1] == urls["rest"].rsplit(":", 1)[1]

        async def check():
            async with aiohttp.ClientSession() as session:
                status, _, rows = await get(session, urls["rest"] + "/api/v3/klines", symbol="ETHUSDT",
                                            interval="1h", limit=3)
                assert status == 200 and len(rows) == 3

        run(check())
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert out == ""  # nothing after the first line


def test_cli_refuses_bad_arguments_clearly():
    d = klines_dir() / DATA_2025
    proc = _cli("--data", str(d / "BTCUSDT_5m.csv"), "--symbols", "BTCUSDT,ETHUSDT")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == "" and "the n-th file is the n-th symbol" in err
    proc = _cli("--synthetic", "1", "--fault", "explode")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == "" and "unknown fault" in err
