"""Candles: an immutable OHLCV series as numpy arrays, its validation, gap report and CSV loader."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


def interval_ms(interval: str) -> int:
    """Milliseconds in a Binance interval such as '15m'; ValueError for an unknown one."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVAL_MS)}") from None


@dataclass(frozen=True, eq=False)
class Candles:
    """Closed candles of one symbol and interval, oldest first; times are open times in ms UTC."""

    symbol: str
    interval: str
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    tick_size: float | None = None

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def close_time(self) -> np.ndarray:
        return self.open_time + (interval_ms(self.interval) - 1)

    def __getitem__(self, index: slice) -> Candles:
        if not isinstance(index, slice):
            raise TypeError("Candles can only be sliced; index the arrays for single values")
        return replace(
            self,
            open_time=self.open_time[index],
            open=self.open[index],
            high=self.high[index],
            low=self.low[index],
            close=self.close[index],
            volume=self.volume[index],
        )


# --- validation ----------------------------------------------------------------------------


def format_time(ms: int) -> str:
    """An open time as 'YYYY-MM-DD HH:MM UTC' for messages."""
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _bar(candles: Candles, i: int) -> str:
    return f"{candles.symbol} {candles.interval} bar {i} ({format_time(candles.open_time[i])})"


def validate(candles: Candles) -> Candles:
    """Return the candles unchanged, or raise ValueError naming the first bad bar and what is wrong."""
    step = interval_ms(candles.interval)
    n = len(candles.open_time)
    fields = ("open", "high", "low", "close", "volume")
    for name in fields:
        if len(getattr(candles, name)) != n:
            raise ValueError(f"{candles.symbol} {candles.interval}: {name} has {len(getattr(candles, name))} "
                             f"values but there are {n} open times")
    if n == 0:
        raise ValueError(f"{candles.symbol} {candles.interval}: no candles")
    for name in fields:
        values = np.asarray(getattr(candles, name), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{_bar(candles, bad[0])}: {name} is {values[bad[0]]} (not a finite number)")
        limit = values < 0 if name == "volume" else values <= 0
        bad = np.flatnonzero(limit)
        if bad.size:
            kind = "negative" if name == "volume" else "not positive"
            raise ValueError(f"{_bar(candles, bad[0])}: {name} {values[bad[0]]} is {kind}")
    o, h, lo, c = candles.open, candles.high, candles.low, candles.close
    checks = (
        (h < lo, "high {h} is below low {l}"),
        (h < np.maximum(o, c), "high {h} is below open {o} or close {c}"),
        (lo > np.minimum(o, c), "low {l} is above open {o} or close {c}"),
    )
    for mask, text in checks:
        bad = np.flatnonzero(mask)
        if bad.size:
            i = bad[0]
            raise ValueError(f"{_bar(candles, i)}: " + text.format(h=h[i], l=lo[i], o=o[i], c=c[i]))
    diff = np.diff(np.asarray(candles.open_time, dtype=np.int64))
    bad = np.flatnonzero(diff <= 0)
    if bad.size:
        i = bad[0] + 1
        what = "duplicates" if diff[bad[0]] == 0 else "is earlier than"
        raise ValueError(f"{_bar(candles, i)}: open time {what} the previous bar's (times must be strictly "
                         "ascending)")
    bad = np.flatnonzero(diff % step != 0)
    if bad.size:
        i = bad[0] + 1
        raise ValueError(f"{_bar(candles, i)}: {diff[bad[0]]} ms after the previous bar, not a multiple of "
                         f"the {candles.interval} interval ({step} ms)")
    return candles


@dataclass(frozen=True)
class Gap:
    """Bars missing between two present bars (real exchange outages are kept, never filled in)."""

    before: int  # open time of the last bar before the hole
    after: int  # open time of the first bar after the hole
    missing: int


def gaps(candles: Candles) -> list[Gap]:
    """Every hole in the series, oldest first."""
    step = interval_ms(candles.interval)
    times = np.asarray(candles.open_time, dtype=np.int64)
    diff = np.diff(times)
    holes = np.flatnonzero(diff > step)
    return [Gap(int(times[i]), int(times[i + 1]), int(diff[i] // step - 1)) for i in holes]


# --- CSV loading ---------------------------------------------------------------------------

# Column names are compared after `_column_name`: lower case, any run of separators one "_".
_OPEN_TIME_COLUMNS = ("open_time", "timestamp", "time", "date", "datetime")  # the first present wins
_CLOSE_TIME_COLUMNS = ("close_time", "close_datetime")
_ALIASES = {"opentime": "open_time", "closetime": "close_time"}
_SYMBOL_COLUMNS = ("symbol", "ticker")
_PRICES = ("open", "high", "low", "close", "volume")
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_SYMBOL_IN_NAME = re.compile(r"[A-Z0-9]{2,}(?:" + "|".join(_QUOTES) + ")")
_INTERVAL_IN_NAME = re.compile(r"(?<![0-9A-Za-z])(\d+[mhdw])(?![0-9A-Za-z])")
# The official Binance archive (spot and USD-M): open_time,open,high,low,close,volume,close_time,...
_OFFICIAL = ("open_time", "open", "high", "low", "close", "volume", "close_time")
# Epoch digits: the unit follows from the magnitude (seconds until the year 5138, then ms, us, ns).
_EPOCH_UNITS = ((10**11, "seconds", 1000, 1), (10**14, "milliseconds", 1, 1), (10**17, "microseconds", 1, 1000),
                (10**20, "nanoseconds", 1, 1_000_000))


def _column_name(text: str) -> str:
    """`Open Time`, `open time`, `open-time`, `OPEN_TIME` -> `open_time`."""
    name = re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")
    return _ALIASES.get(name, name)


def _epoch_ms(value: int) -> tuple[int, str]:
    for limit, unit, times, divide in _EPOCH_UNITS:
        if value < limit:
            return value * times // divide, unit
    raise ValueError(f"{value} is too large for an epoch time")


def _parse_times(cells: list[str], lines: list[int]) -> np.ndarray:
    """Epoch s/ms/us digits (one unit for the whole column) or ISO-8601 (naive means UTC) -> ms UTC.

    ValueError naming the file line of the first value that is neither, or whose unit differs.
    """
    out = np.empty(len(cells), dtype=np.int64)
    first_unit = None
    for k, cell in enumerate(cells):
        text = cell.strip()
        line = lines[k]
        if text.isdigit():
            ms, unit = _epoch_ms(int(text))
            first_unit = first_unit or unit
            if unit != first_unit:
                raise ValueError(f"line {line}: {text} looks like epoch {unit} but the column starts in {first_unit}")
            out[k] = ms
            continue
        if first_unit is not None:
            raise ValueError(f"line {line}: {text!r} is not epoch {first_unit} like the lines before it")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            hint = " (scientific notation loses the time's precision)" if "e" in text.lower() else ""
            raise ValueError(f"line {line}: {text!r} is neither epoch digits nor an ISO-8601 time{hint}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        out[k] = round(moment.timestamp() * 1000)
    return out


def _parse_numbers(cells: list[str], lines: list[int]) -> np.ndarray:
    """Plain or scientific (`1.412e-05`) decimals; ValueError naming the first line that is neither."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        for k, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                raise ValueError(f"line {lines[k]}: {cell.strip()!r} is not a number") from None
        raise


def _header(first_row: list[str]) -> list[str] | None:
    """The normalized column names, or None when the first row is already data (no header)."""
    names = [_column_name(cell) for cell in first_row]
    return names if any(name in _PRICES for name in names) else None


def _infer_interval(path: Path, times: np.ndarray) -> str:
    match = _INTERVAL_IN_NAME.search(path.stem)
    if match and match.group(1) in INTERVAL_MS:
        return match.group(1)
    diffs = np.diff(times)
    if diffs.size:
        step = int(diffs[diffs > 0].min()) if (diffs > 0).any() else 0
        for name, ms in INTERVAL_MS.items():
            if ms == step:
                return name
    raise ValueError(f"{path}: cannot tell the interval from the file name or the bar spacing; pass interval=")


def symbol_in_name(path: str | Path) -> str | None:
    """The file name's leading symbol: `DOTUSDT_30m_1095.csv` -> DOTUSDT, `BTCUSDT-1h-2023-01.csv` -> BTCUSDT."""
    token = re.split(r"[-_.\s]", Path(path).stem)[0].upper()
    return token if _SYMBOL_IN_NAME.fullmatch(token) else None


def _infer_symbol(path: Path, column: list[str] | None) -> str:
    """The file name's leading symbol, else the one symbol of a symbol/ticker column."""
    named = symbol_in_name(path)
    names = {value.strip().upper() for value in column or () if value.strip()}
    if len(names) > 1:
        raise ValueError(f"{path}: the file mixes symbols {sorted(names)}; load one symbol per file")
    if named and names and names != {named}:
        raise ValueError(f"{path}: the file name says {named} but its symbol column says {names.pop()}; "
                         "pass symbol=")
    if named or names:
        return named or names.pop()
    raise ValueError(f"{path}: cannot tell the symbol from the file name or a symbol column; pass symbol=")


def load_csv(path: str | Path, symbol: str | None = None, interval: str | None = None,
             tick_size: float | None = None) -> Candles:
    """Read a Binance kline CSV (spot or USD-M, as people publish them) into validated Candles.

    Layouts: the official 12-column archive with or without header; any header whose names match
    case- and separator-insensitively (`open_time`, `Open Time`, `Close`...); CRLF or LF; prices plain
    or in scientific notation. Times: epoch s, ms or us, or ISO-8601 with or without offset (naive
    means UTC). The open time is the first of `open_time`, `timestamp`, `time`, `date`, `datetime`;
    a file with only a bar *close* time has open time = close + 1 ms - interval. Anything ambiguous
    (mixed units, mixed symbols, unparseable cells) is a ValueError naming the file line.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: tolerate a BOM
        lines = [(n, row) for n, row in enumerate(csv.reader(handle), 1) if row and any(c.strip() for c in row)]
    if not lines:
        raise ValueError(f"{path}: empty file")
    header = _header(lines[0][1])
    if header is None:
        if not lines[0][1][0].strip().isdigit():
            raise ValueError(f"{path}: line {lines[0][0]}: no header and the first field "
                             f"{lines[0][1][0].strip()!r} is not an epoch open time")
        header = list(_OFFICIAL) + [f"extra{k}" for k in range(len(lines[0][1]) - len(_OFFICIAL))]
    else:
        lines = lines[1:]
    if not lines:
        raise ValueError(f"{path}: a header but no candles")
    numbers_at = [n for n, _ in lines]
    rows = [row for _, row in lines]
    columns: dict[str, int] = {}
    for k, name in enumerate(header):
        columns.setdefault(name, k)
    missing = [name for name in _PRICES if name not in columns]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} column (header: {','.join(header)})")

    def column(name: str) -> list[str]:
        k = columns[name]
        short = next((i for i, row in enumerate(rows) if len(row) <= k), None)
        if short is not None:
            raise ValueError(f"{path}: line {numbers_at[short]} has {len(rows[short])} fields, "
                             f"expected {len(header)}")
        return [row[k] for row in rows]

    def parsed(name: str, parse: Callable[[list[str], list[int]], np.ndarray]) -> np.ndarray:
        values = column(name)
        try:
            return parse(values, numbers_at)
        except ValueError as error:
            raise ValueError(f"{path}: column {name}: {error}") from None

    open_name = next((name for name in _OPEN_TIME_COLUMNS if name in columns), None)
    close_name = next((name for name in _CLOSE_TIME_COLUMNS if name in columns), None)
    if open_name is None and close_name is None:
        raise ValueError(f"{path}: no time column (header: {','.join(header)})")
    times = parsed(open_name or close_name, _parse_times)
    if interval is None:
        interval = _infer_interval(path, times)
    if open_name is None:
        times = times + 1 - interval_ms(interval)
    symbol_name = next((name for name in _SYMBOL_COLUMNS if name in columns), None)
    if symbol is None:
        symbol = _infer_symbol(path, column(symbol_name) if symbol_name else None)
    candles = Candles(symbol, interval, times, *(parsed(name, _parse_numbers) for name in _PRICES),
                      tick_size=tick_size)
    return validate(candles)
