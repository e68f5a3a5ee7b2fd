"""analysis.resample: complete UTC buckets only, outages never filled, one series from overlapping files."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.candles import Candles, gaps, load_csv
from analysis.resample import bucket_start, join, resample
from tests.conftest import klines_dir

FIVE_2021 = "Benicio1007__Bot_trading/data/dataset/2021/BTCUSDT_5m.csv"  # the 2021-04-20 outage inside


def test_5m_to_1h_equals_the_independent_1h_file_and_drops_the_outage_hours() -> None:
    five = load_csv(klines_dir() / FIVE_2021)
    hourly = resample(five, "1h")
    reference = load_csv(klines_dir() / "misrori__binance_startegy/data/BTCUSDT_1h.csv")
    common, a, b = np.intersect1d(hourly.open_time, reference.open_time, return_indices=True)
    assert len(common) == 431  # SOURCE.md: 431/431 identical
    for name in ("open", "high", "low", "close", "volume"):
        assert np.allclose(getattr(hourly, name)[a], getattr(reference, name)[b], rtol=1e-9)
    outage = 1618880400000  # 2021-04-20 01:00 UTC: 01:00 is complete, 02:00-04:00 are not
    assert outage in hourly.open_time and not np.isin(outage + np.arange(1, 4) * 3_600_000, hourly.open_time).any()
    assert [g.missing for g in gaps(hourly)] == [3]
    assert hourly.open_time[0] % 3_600_000 == 0 and len(hourly) == 10000 // 12 - 1


def test_equal_interval_is_unchanged_and_finer_or_uneven_targets_are_refused() -> None:
    hourly = load_csv(klines_dir() / "intabyu__interview-at/data/BTCUSDT-1h-2023-01.csv")
    assert resample(hourly, "1h") is hourly
    with pytest.raises(ValueError, match="cannot make 30m candles from 1h"):
        resample(hourly, "30m")
    ones = np.ones(10)
    three = Candles("XUSDT", "3m", np.arange(10, dtype=np.int64) * 180_000, ones, ones, ones, ones, ones)
    with pytest.raises(ValueError, match="cannot make 5m candles from 3m"):
        resample(three, "5m")  # coarser but not a whole multiple
    daily = resample(hourly, "1d")
    assert len(daily) == 31 and daily.high[0] == hourly.high[:24].max() and daily.close[0] == hourly.close[23]


def test_weeks_open_on_monday_utc() -> None:
    monday = 1704067200000  # 2024-01-01 00:00 UTC was a Monday
    assert bucket_start(np.array([monday, monday + 6 * 86_400_000 + 1, monday - 1]), "1w").tolist() == [
        monday, monday, monday - 7 * 86_400_000]


def test_join_merges_overlapping_files_and_refuses_disagreeing_bars() -> None:
    months = [load_csv(klines_dir() / f"intabyu__interview-at/data/BTCUSDT-1h-2023-0{m}.csv") for m in (1, 2)]
    whole = join([months[1], months[0], months[0][10:20]])
    assert len(whole) == 744 + 672 and np.all(np.diff(whole.open_time) == 3_600_000)
    bad = months[0][:5]
    altered = Candles(bad.symbol, bad.interval, bad.open_time, bad.open, bad.high * 1.01, bad.low, bad.close,
                      bad.volume)
    with pytest.raises(ValueError, match=r"two files disagree on the bar at 2023-01-01 00:00 UTC \(high"):
        join([months[0], altered])
