"""Candles: an immutable OHLCV series as numpy arrays, its validation, gap report and CSV loader."""

from __future__ import annotations

import csv
import re
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

_OPEN_TIME_COLUMNS = ("open_time", "opentime", "timestamp", "date", "datetime", "time")
_CLOSE_TIME_COLUMNS = ("close_time", "close_datetime", "closetime")
_SYMBOL_COLUMNS = ("ticker", "symbol")
_INTERVAL_IN_NAME = re.compile(r"(?<![0-9A-Za-z])(\d+[mhdw])(?![0-9A-Za-z])")
# The official Binance archive: open_time,open,high,low,close,volume,close_time,... with no header.
_OFFICIAL = ("open_time", "open", "high", "low", "close", "volume", "close_time")


def _parse_time(text: str) -> int:
    """Epoch s/ms/us digits or an ISO-8601 timestamp (naive means UTC) -> ms since the epoch, UTC."""
    text = text.strip()
    if text.isdigit():
        value = int(text)
        if value >= 10**14:  # microseconds (Binance archives since 2025)
            return value // 1000
        if value < 10**11:  # seconds
            return value * 1000
        return value
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _header(first_row: list[str]) -> list[str] | None:
    """The lower-cased column names, or None when the first row is already data."""
    try:
        float(first_row[0])
    except ValueError:
        return [name.strip().lower() for name in first_row]
    return None


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


def _infer_symbol(path: Path, column: list[str] | None) -> str:
    if column:
        names = {value.strip().upper() for value in column}
        if len(names) != 1:
            raise ValueError(f"{path}: the file mixes symbols {sorted(names)}; load one symbol per file")
        return names.pop()
    token = re.split(r"[-_.\s]", path.stem)[0].upper()
    if re.fullmatch(r"[A-Z0-9]{5,}", token):
        return token
    raise ValueError(f"{path}: cannot tell the symbol from the file name; pass symbol=")


def load_csv(path: str | Path, symbol: str | None = None, interval: str | None = None,
             tick_size: float | None = None) -> Candles:
    """Read a kline CSV in any layout of the shared data folder into validated Candles.

    Layouts: the official 12-column Binance archive (with or without header), `date,...,ticker`,
    ISO-8601 or naive-UTC `timestamp` columns, and files with only a bar *close* time (in any UTC
    offset), whose open time is close + 1 ms - interval.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: tolerate a BOM
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path}: empty file")
    header = _header(rows[0])
    if header is None:
        header = list(_OFFICIAL) + [f"extra{k}" for k in range(len(rows[0]) - len(_OFFICIAL))]
    else:
        rows = rows[1:]
    if not rows:
        raise ValueError(f"{path}: a header but no candles")
    columns = {name: k for k, name in enumerate(header)}
    missing = [name for name in ("open", "high", "low", "close", "volume") if name not in columns]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} column (header: {','.join(header)})")

    def column(name: str) -> list[str]:
        k = columns[name]
        try:
            return [row[k] for row in rows]
        except IndexError:
            line = next(n for n, row in enumerate(rows) if len(row) <= k)
            raise ValueError(f"{path}: data row {line + 1} has {len(rows[line])} fields, "
                             f"expected {len(header)}") from None

    def numbers(name: str) -> np.ndarray:
        try:
            return np.array(column(name), dtype=np.float64)
        except ValueError as error:
            raise ValueError(f"{path}: column {name}: {error}") from None

    open_name = next((name for name in _OPEN_TIME_COLUMNS if name in columns), None)
    close_name = next((name for name in _CLOSE_TIME_COLUMNS if name in columns), None)
    if open_name is None and close_name is None:
        raise ValueError(f"{path}: no time column (header: {','.join(header)})")
    time_name = open_name or close_name
    try:
        times = np.array([_parse_time(text) for text in column(time_name)], dtype=np.int64)
    except ValueError as error:
        raise ValueError(f"{path}: column {time_name}: {error}") from None
    if interval is None:
        interval = _infer_interval(path, times)
    if open_name is None:
        times = times + 1 - interval_ms(interval)
    symbol_name = next((name for name in _SYMBOL_COLUMNS if name in columns), None)
    if symbol is None:
        symbol = _infer_symbol(path, column(symbol_name) if symbol_name else None)
    candles = Candles(
        symbol=symbol,
        interval=interval,
        open_time=times,
        open=numbers("open"),
        high=numbers("high"),
        low=numbers("low"),
        close=numbers("close"),
        volume=numbers("volume"),
        tick_size=tick_size,
    )
    return validate(candles)
