"""The feed against the simulator replaying real Binance candles, with each fault and all mixed.

Every run asserts the subscriber got exactly the data's closed candles (no missing, no duplicate,
identical OHLCV, in order per symbol and interval), and that the fault's counter moved.
"""

from __future__ import annotations

import pykka
import pytest

from marketsim import market_from_files
from tests.conftest import klines_dir
from tests.feed_harness import DATA_2025, assert_exact, fire_once, run_feed

INTERVALS = ("5m", "15m")
SPEED = 9000.0  # 30 five-minute candles per real second
TIGHT = 0.25  # a 0.5 s silence watchdog, for the tests that stall the connection


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def two_symbols(rows: int = 240):
    d = klines_dir() / DATA_2025
    return market_from_files([d / "BTCUSDT_5m.csv", d / "ETHUSDT_5m.csv"], ["BTCUSDT", "ETHUSDT"], limit=rows)


@pytest.mark.timeout(60)
def test_fault_free_run_streams_and_backfills_nothing():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED)
    assert_exact(run, INTERVALS)
    assert run.counters.backfilled == 0
    assert run.counters.duplicates_dropped == 0
    assert run.counters.gaps == 0
    assert run.counters.malformed == 0
    assert run.sim_stats.pongs > 0 and run.sim_stats.pong_timeouts == 0  # every ping answered
    assert any(m.fresh for m in run.received) and any(not m.fresh for m in run.received)


@pytest.mark.timeout(60)
def test_real_outage_in_the_data_is_kept_not_invented():
    d = klines_dir() / "Benicio1007__Bot_trading/data/dataset/2021"
    # 2021-04-20 01:55 -> 04:30: 30 bars missing on Binance itself
    market = market_from_files([d / "BTCUSDT_5m.csv"], ["BTCUSDT"], skip=9043, limit=240)
    run = run_feed(market, ("5m",), speed=SPEED)
    assert_exact(run, ("5m",))
    assert run.counters.gaps > 0
    assert run.counters.backfilled == 0


@pytest.mark.timeout(60)
def test_dropped_connections_reconnect_and_backfill():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED,
                   faults=fire_once({1.0: lambda s: s.drop_connections(), 2.0: lambda s: s.drop_connections()}))
    assert_exact(run, INTERVALS)
    assert run.sim_stats.dropped >= 2
    assert run.counters.reconnects >= 2


@pytest.mark.timeout(60)
def test_stall_without_close_trips_the_watchdog():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED, update_period_s=TIGHT,
                   faults=fire_once({1.0: lambda s: s.stall(1.2)}))
    assert_exact(run, INTERVALS)
    assert run.sim_stats.stalls == 1
    assert run.counters.watchdog_trips >= 1
    assert run.counters.backfilled > 0


@pytest.mark.timeout(60)
def test_duplicated_and_reordered_frames():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED,
                   before_start=lambda s: s.set_frame_faults(duplicate=0.2, reorder=0.2))
    assert_exact(run, INTERVALS)
    assert run.sim_stats.duplicated > 0 and run.sim_stats.reordered > 0
    assert run.counters.duplicates_dropped > 0


@pytest.mark.timeout(60)
def test_malformed_frames_are_counted_and_survived():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED, before_start=lambda s: s.set_frame_faults(malformed=0.1))
    assert_exact(run, INTERVALS)
    assert run.sim_stats.malformed_sent > 0
    assert run.counters.malformed > 0  # (garbage in flight on a dropped connection is never read)


@pytest.mark.timeout(60)
def test_outage_window_is_backfilled():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED, faults=fire_once({1.0: lambda s: s.outage(0.8)}))
    assert_exact(run, INTERVALS)
    assert run.sim_stats.refused + run.sim_stats.rest_errors > 0
    assert run.counters.backfilled > 0


@pytest.mark.timeout(60)
def test_rest_429_and_418_wait_out_retry_after():
    def outage_then_ban(sim):
        sim.rest_error(418, count=1, retry_after=1)  # the first request after the outage
        sim.outage(0.3)  # candles close meanwhile: only the (banned, then retried) backfill has them

    # the 429s hit the start-up requests (about 2 s of waiting), the 418 a backfill once streaming
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED,
                   before_start=lambda s: s.rest_error(429, count=2, retry_after=1),
                   faults=fire_once({1.5: outage_then_ban}))
    assert_exact(run, INTERVALS)
    assert run.counters.rate_limited >= 3
    assert run.counters.backfilled > 0


@pytest.mark.timeout(60)
def test_server_shutdown_rotates_make_before_break():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED,
                   faults=fire_once({1.0: lambda s: s.server_shutdown(), 2.0: lambda s: s.server_shutdown()}))
    assert_exact(run, INTERVALS)
    assert run.sim_stats.shutdowns >= 1
    assert run.counters.rotations >= 1


@pytest.mark.timeout(60)
def test_scaled_24h_cut_reconnects():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED,
                   before_start=lambda s: s.set_connection_lifetime(SPEED * 1.0))
    assert_exact(run, INTERVALS)
    assert run.sim_stats.cuts >= 2
    assert run.counters.reconnects >= 2


@pytest.mark.timeout(60)
def test_proactive_rotation_beats_the_cut_without_backfill():
    run = run_feed(two_symbols(), INTERVALS, speed=SPEED, rotate_after_s=0.8, rotation_overlap_s=0.3,
                   before_start=lambda s: s.set_connection_lifetime(SPEED * 1.5))
    assert_exact(run, INTERVALS)
    assert run.counters.rotations >= 2
    assert run.sim_stats.cuts == 0
    assert run.counters.backfilled == 0


@pytest.mark.timeout(90)
def test_all_faults_mixed():
    def rest_trouble(sim):
        sim.rest_error(429, count=1, retry_after=1)
        sim.drop_connections()

    schedule = fire_once({
        0.8: lambda s: s.drop_connections(),
        1.6: lambda s: s.stall(1.0),
        3.0: lambda s: s.server_shutdown(),
        3.6: rest_trouble,
        5.2: lambda s: s.outage(0.6),
    })

    def setup(sim):
        sim.set_frame_faults(duplicate=0.1, reorder=0.1, malformed=0.05)
        sim.set_connection_lifetime(SPEED * 2.2)

    run = run_feed(two_symbols(rows=400), INTERVALS, speed=SPEED, before_start=setup, faults=schedule,
                   rotate_after_s=1.7, update_period_s=TIGHT, timeout_s=45.0)
    assert_exact(run, INTERVALS)
    c = run.counters
    assert c.reconnects > 0 and c.duplicates_dropped > 0 and c.malformed > 0 and c.backfilled > 0
    assert c.rate_limited > 0 and c.rotations > 0 and c.watchdog_trips > 0
