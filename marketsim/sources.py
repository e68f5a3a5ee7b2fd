"""Where the simulated market's candles come from: recorded kline files or the synthetic walk."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from analysis.candles import Candles, interval_ms, load_csv
from marketsim.market import Market
from marketsim.synthetic import synthetic_candles

_DAY_MS = 86_400_000


def market_from_files(
    paths: Sequence[str | Path],
    symbols: Sequence[str],
    *,
    skip: int = 0,
    limit: int | None = None,
    history: int | None = None,
) -> Market:
    """The n-th file is the n-th symbol. Rows `skip`..`skip+limit` of each file are served.

    Files from different periods are shifted by whole days onto the first file's timeline, so
    every symbol trades at once; shifted data keeps its intraday alignment (and its gaps).
    """
    if len(paths) != len(symbols):
        raise ValueError(f"{len(paths)} data files for {len(symbols)} symbols: give one file per symbol")
    loaded: dict[str, Candles] = {}
    anchor = None
    for path, symbol in zip(paths, symbols, strict=True):
        candles = load_csv(path, symbol=symbol)
        candles = candles[skip : None if limit is None else skip + limit]
        if len(candles) == 0:
            raise ValueError(f"{path}: no rows left after skip={skip}, limit={limit}")
        first = int(candles.open_time[0])
        anchor = first if anchor is None else anchor
        shift = round((anchor - first) / _DAY_MS) * _DAY_MS
        if shift:
            candles = Candles(
                candles.symbol, candles.interval, candles.open_time + shift, candles.open, candles.high,
                candles.low, candles.close, candles.volume, candles.tick_size,
            )
        loaded[symbol] = candles
    return Market(loaded, history=history)


def synthetic_market(
    symbols: Sequence[str],
    interval: str,
    seed: int,
    *,
    count: int = 20_000,
    history: int = 1000,
    now_ms: int | None = None,
) -> Market:
    """`history` candles closed before now (wall clock by default), `count - history` still to come."""
    if count <= history:
        raise ValueError("count must exceed history")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    end = now + (count - history - 1) * interval_ms(interval)
    candles = {s: synthetic_candles(s, interval, count, end, seed) for s in symbols}
    return Market(candles, history=history)
