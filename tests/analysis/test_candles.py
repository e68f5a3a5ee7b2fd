"""load_csv over every real layout, validation messages naming the bar, and gap reporting."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from analysis.candles import Candles, gaps, interval_ms, load_csv, validate
from tests.conftest import klines_dir

# (path under the shared folder, symbol, interval, rows, first open ms, missing bars) from SOURCE.md
FILES = [
    ("c9s__bbgo/pkg/datasource/csvsource/testdata/BTCUSDT-1h-2021-Q1.csv", "BTCUSDT", "1h", 2158,
     1609459200000, 2),
    ("intabyu__interview-at/data/BTCUSDT-1h-2023-03.csv", "BTCUSDT", "1h", 743, 1677628800000, 1),
    ("misrori__binance_startegy/data/XRPUSDT_1h.csv", "XRPUSDT", "1h", 23988, 1617570000000, 12),
    ("azmath606961__hawk-crypto-bot/data/SOLUSDT_1h.csv", "SOLUSDT", "1h", 17520, 1713229200000, 0),
    ("privet1x__crypto-trading-bot/data/BTCUSDT_15m.csv", "BTCUSDT", "15m", 34945, 1704063600000, 0),
    ("privet1x__crypto-trading-bot/data/BTCUSDT_1m.csv", "BTCUSDT", "1m", 41761, 1733007600000, 0),
    ("Benicio1007__Bot_trading/data/dataset/2021/BTCUSDT_5m.csv", "BTCUSDT", "5m", 10000, 1616122800000, 30),
]


@pytest.mark.parametrize(("relative", "symbol", "interval", "rows", "first", "missing"), FILES)
def test_every_layout_loads_with_inferred_symbol_interval_and_real_gaps(
    relative: str, symbol: str, interval: str, rows: int, first: int, missing: int
) -> None:
    candles = load_csv(klines_dir() / relative)
    assert (candles.symbol, candles.interval, len(candles)) == (symbol, interval, rows)
    assert candles.open_time[0] == first
    assert sum(gap.missing for gap in gaps(candles)) == missing
    assert np.all(candles.open_time % interval_ms(interval) == 0)


def test_all_shared_files_load() -> None:
    paths = sorted(klines_dir().rglob("*.csv"))
    assert len(paths) >= 20
    for path in paths:
        assert len(load_csv(path)) > 500, path


def test_known_binance_open_and_the_zero_volume_bar_before_the_2023_03_24_halt() -> None:
    q1 = load_csv(klines_dir() / FILES[0][0])
    assert q1.open[0] == 28923.63
    march = load_csv(klines_dir() / FILES[1][0])
    k = int(np.flatnonzero(march.open_time == 1679659200000)[0])
    assert march.volume[k] == 0.0 and march.high[k] == march.low[k] == 28080.0
    assert gaps(march)[0].before == 1679659200000 and gaps(march)[0].missing == 1


def test_independent_sources_agree_bar_for_bar() -> None:
    official = load_csv(klines_dir() / "intabyu__interview-at/data/BTCUSDT-1h-2023-01.csv")
    naive = load_csv(klines_dir() / "misrori__binance_startegy/data/BTCUSDT_1h.csv")
    common, a, b = np.intersect1d(official.open_time, naive.open_time, return_indices=True)
    assert len(common) == 744
    for field in ("open", "high", "low", "close", "volume"):
        assert np.allclose(getattr(official, field)[a], getattr(naive, field)[b], rtol=1e-12)


def test_explicit_symbol_and_interval_win_and_a_wrong_interval_is_refused(tmp_path: Path) -> None:
    source = klines_dir() / FILES[1][0]
    assert load_csv(source, symbol="BTCFOO", interval="1h").symbol == "BTCFOO"
    with pytest.raises(ValueError, match="not a multiple of the 4h interval"):
        load_csv(source, interval="4h")


ROW = "{t},100.0,{h},{l},{c},5.0,{ct},0,0,0,0,0"


def _official_csv(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "ABCUSDT-1h-test.csv"
    lines = []
    for k, row in enumerate(rows):
        values = {"t": 1_700_000_000_000 // 3_600_000 * 3_600_000 + k * 3_600_000, "h": 101.0, "l": 99.0,
                  "c": 100.5, **row}
        values["ct"] = values["t"] + 3_599_999
        lines.append(ROW.format(**values))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"c": "nan"}, r"bar 2 .*close is nan"),
        ({"h": "inf"}, r"bar 2 .*high is inf"),
        ({"l": "-1"}, r"bar 2 .*low -1.0 is not positive"),
        ({"h": "98.0"}, r"bar 2 .*high 98.0 is below low 99.0"),
        ({"c": "102.0"}, r"bar 2 .*high 101.0 is below open 100.0 or close 102.0"),
        ({"l": "100.2"}, r"bar 2 .*low 100.2 is above open"),
        ({"t": 1_700_002_800_000}, r"bar 2 .*duplicates the previous"),
        ({"t": 1_699_990_000_000}, r"bar 2 .*earlier than"),
        ({"t": 1_700_006_460_000}, r"bar 2 .*not a multiple of the 1h interval"),
    ],
)
def test_bad_bars_are_named(tmp_path: Path, bad: dict, message: str) -> None:
    rows = [{}, {}, bad, {}]
    with pytest.raises(ValueError, match=message):
        load_csv(_official_csv(tmp_path, rows))


def test_bad_text_and_missing_columns_give_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "ABCUSDT_1h.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,2,0.5,abc,3\n")
    with pytest.raises(ValueError, match="column close"):
        load_csv(path)
    path.write_text("timestamp,open,high,low,close\n2024-01-01 00:00:00,1,2,0.5,1.5\n")
    with pytest.raises(ValueError, match="no volume column"):
        load_csv(path)
    path.write_text("")
    with pytest.raises(ValueError, match="empty file"):
        load_csv(path)
    path.write_bytes(b"\xef\xbb\xbftimestamp,open,high,low,close,volume\r\n2024-01-01 00:00:00,1,2,0.5,1.5,3\r\n"
                     b"2024-01-01 01:00:00,1.5,2,1,1.2,4\r\n")
    bom = load_csv(path)
    assert (bom.symbol, bom.interval, len(bom)) == ("ABCUSDT", "1h", 2)


def test_close_time_layout_with_offsets_and_inferred_interval_from_spacing(tmp_path: Path) -> None:
    path = tmp_path / "DOGEUSDT.csv"
    path.write_text("open,high,low,close,volume,close_datetime\n"
                    "0.52,0.53,0.51,0.525,10,2024-03-31 01:59:59.999000+01:00\n"
                    "0.525,0.53,0.52,0.521,11,2024-03-31 03:04:59.999000+02:00\n")
    candles = load_csv(path)
    assert candles.interval == "5m" and candles.symbol == "DOGEUSDT"
    assert list(candles.open_time) == [1711846500000, 1711846800000]


def test_validate_and_slicing_keep_the_contract() -> None:
    t = np.arange(5, dtype=np.int64) * 60_000
    ones = np.ones(5)
    candles = Candles("XUSDT", "1m", t, ones, ones * 2, ones / 2, ones, ones, tick_size=0.01)
    assert validate(candles) is candles
    part = candles[1:3]
    assert len(part) == 2 and part.tick_size == 0.01 and part.open_time[0] == 60_000
    assert part.close_time[0] == 119_999
    broken = Candles("XUSDT", "1m", t, ones, ones * 2, ones / 2, np.array([1, 1, math.nan, 1, 1.0]), ones)
    with pytest.raises(ValueError, match=r"XUSDT 1m bar 2 \(1970-01-01 00:02 UTC\): close is nan"):
        validate(broken)


def test_gaps_are_the_documented_binance_outages() -> None:
    candles = load_csv(klines_dir() / "misrori__binance_startegy/data/BTCUSDT_1h.csv")
    holes = gaps(candles)
    first = 1618880400000  # 2021-04-20 01:00 UTC, the last bar before the outage
    assert [(g.before, g.after, g.missing) for g in holes[:1]] == [(first, first + 3 * 3_600_000, 2)]
    assert [g.missing for g in holes] == [2, 3, 4, 2, 1]
    assert holes[-1].before == 1679659200000  # 2023-03-24 12:00 UTC, before the spot trading halt


# --- layouts people publish (issue 16 item 4) -----------------------------------------------

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _write(tmp_path: Path, name: str, text: str, newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.strip().replace("\n", newline).encode() + newline.encode())
    return path


@pytest.mark.parametrize(
    ("header", "times"),
    [
        ("open time,open,high,low,close,volume,close time,quote volume", (T0, T0 + HOUR, T0 + 2 * HOUR)),
        ("Open Time,Open,High,Low,Close,Volume,Close Time,Quote Volume", (T0, T0 + HOUR, T0 + 2 * HOUR)),
        ("OPEN-TIME,OPEN,HIGH,LOW,CLOSE,VOLUME,CLOSE-TIME,QUOTE-VOLUME",
         (T0 // 1000, (T0 + HOUR) // 1000, (T0 + 2 * HOUR) // 1000)),  # epoch seconds
        ("open_time,open,high,low,close,volume,close_time,quote_volume",
         (T0 * 1000, (T0 + HOUR) * 1000, (T0 + 2 * HOUR) * 1000)),  # epoch microseconds (archives since 2025)
    ],
)
def test_headers_match_case_and_separator_insensitively_with_crlf_and_any_epoch_unit(
        tmp_path: Path, header: str, times: tuple[int, ...]) -> None:
    rows = [f"{t},1.412e-05,1.5e-05,1.4e-05,1.45E-05,2.5e+09,{t},0" for t in times]
    path = _write(tmp_path, "PEPEUSDT-1h-2024-01.csv", "\n".join([header, *rows]), newline="\r\n")
    candles = load_csv(path)
    assert (candles.symbol, candles.interval) == ("PEPEUSDT", "1h")
    assert list(candles.open_time) == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert candles.open[0] == 1.412e-05 and candles.close[0] == 1.45e-05 and candles.volume[0] == 2.5e9


def test_usdm_futures_archive_loads_like_spot(tmp_path: Path) -> None:
    """Binance's USD-M archive: the spot header, 1-decimal prices, 3-decimal quantities."""
    path = _write(tmp_path, "BTCUSDT-1h-2024-01.csv", f"""
open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore
{T0},42314.0,42475.8,42200.0,42450.1,7541.236,{T0 + HOUR - 1},319237612.45840,81370,3900.143,165101962.04390,0
{T0 + HOUR},42450.1,42600.0,42318.6,42359.9,5820.773,{T0 + 2 * HOUR - 1},247041006.2231,62011,2830.402,120145433.8808,0
""")
    candles = load_csv(path)
    assert (candles.symbol, candles.interval, len(candles)) == ("BTCUSDT", "1h", 2)
    assert candles.high[0] == 42475.8 and candles.volume[1] == 5820.773


def test_iso_times_with_or_without_offset_are_the_same_instant(tmp_path: Path) -> None:
    naive = _write(tmp_path, "ETHUSDT_1h_naive.csv", """
Date,Open,High,Low,Close,Volume
2024-01-01 00:00:00,10,11,9,10.5,1
2024-01-01T01:00:00,10.5,11,10,10.2,1
""")
    offset = _write(tmp_path, "ETHUSDT_1h_offset.csv", """
datetime,open,high,low,close,volume
2024-01-01T01:00:00+01:00,10,11,9,10.5,1
2024-01-01T01:00:00Z,10.5,11,10,10.2,1
""")
    assert list(load_csv(naive).open_time) == list(load_csv(offset).open_time) == [T0, T0 + HOUR]


def test_with_several_time_columns_the_open_time_is_the_first_of_the_documented_order(tmp_path: Path) -> None:
    # `date` here is the bar's close written as text; `timestamp` comes first in the order and wins.
    path = _write(tmp_path, "SOLUSDT_1h.csv", f"""
date,timestamp,open,high,low,close,volume,close time
2024-01-01 00:59:59,{T0},10,11,9,10.5,1,{T0 + HOUR - 1}
2024-01-01 01:59:59,{T0 + HOUR},10.5,11,10,10.2,1,{T0 + 2 * HOUR - 1}
""")
    assert list(load_csv(path).open_time) == [T0, T0 + HOUR]
    both = _write(tmp_path, "SOLUSDT_1h_both.csv", f"""
Timestamp,Open Time,Open,High,Low,Close,Volume
{T0 + 5 * HOUR},{T0},10,11,9,10.5,1
{T0 + 6 * HOUR},{T0 + HOUR},10.5,11,10,10.2,1
""")
    assert list(load_csv(both).open_time) == [T0, T0 + HOUR]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"open_time,open,high,low,close,volume\n{T0},1,2,0.5,1.5,3\n{(T0 + HOUR) // 1000},1,2,0.5,1.5,3",
         r"line 3: .* epoch seconds but the column starts in milliseconds"),
        ("open_time,open,high,low,close,volume\n1.70407E+12,1,2,0.5,1.5,3",
         r"column open_time: line 2: .*scientific notation"),
        (f"open_time,open,high,low,close,volume\n{T0},1,2,0.5,1.5,3\n2024-01-01 01:00:00,1,2,0.5,1.5,3",
         r"line 3: .* not epoch milliseconds"),
        (f"Open Time,Open,High,Low,Close,Volume\n{T0},1,2,0.5,1.5,3\n\n{T0 + HOUR},1,2,0.5,1,5..3",
         r"column volume: line 4: '5..3' is not a number"),
        ("2024-01-01 00:00:00,1,2,0.5,1.5,3", r"line 1: no header and the first field"),
        (f"open_time,open,high,low,close,volume,symbol\n{T0},1,2,0.5,1.5,3,ETHUSDT",
         r"file name says ABCUSDT but its symbol column says ETHUSDT"),
        (f"open_time,open,high,low,close,volume\n{T0},1,2,0.5,1.5,3\n{T0 + HOUR},1,2,0.5",
         r"line 3 has 4 fields"),
    ],
)
def test_ambiguous_or_broken_files_are_refused_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_csv(_write(tmp_path, "ABCUSDT_1h.csv", text))


def test_symbol_comes_from_the_file_name_else_a_symbol_column(tmp_path: Path) -> None:
    body = f"open_time,open,high,low,close,volume,Symbol\n{T0},1,2,0.5,1.5,3,xrpusdt\n{T0 + HOUR},1,2,0.5,1.5,3,XRPUSDT"
    assert load_csv(_write(tmp_path, "klines_1h.csv", body)).symbol == "XRPUSDT"
    assert load_csv(_write(tmp_path, "DOTUSDT_30m_1095.csv", body.replace(",xrpusdt", ",").replace(",XRPUSDT", ",")),
                    interval="1h").symbol == "DOTUSDT"
