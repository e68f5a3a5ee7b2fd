"""A seeded synthetic market for offline demos: a regime-switching random walk per symbol.

Regimes (trend up, trend down, quiet range, volatile range) switch as a Markov chain, so the
series has the trends, ranges and sweeps that the SMC analysis looks for. Same seed, same market.
"""

from __future__ import annotations

import zlib

import numpy as np

from analysis.candles import Candles, interval_ms

# (drift per candle, volatility per candle) in log-price units
_REGIMES = ((4e-4, 2e-3), (-4e-4, 2e-3), (0.0, 8e-4), (0.0, 3.5e-3))
_STAY = 0.97  # chance a regime carries on into the next candle

_KNOWN_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "BNB": 550.0, "SOL": 150.0, "XRP": 0.6}


def synthetic_candles(symbol: str, interval: str, count: int, end_ms: int, seed: int) -> Candles:
    """`count` candles of `symbol` ending with the candle that opens at `end_ms` (aligned down)."""
    step = interval_ms(interval)
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
    base = symbol.removesuffix("USDT")
    start_price = _KNOWN_PRICES.get(base, float(rng.uniform(0.05, 400.0)))
    tick = 10.0 ** (np.floor(np.log10(start_price)) - 4)
    regime = np.empty(count, dtype=np.int64)
    state = 0
    for i in range(count):
        if rng.random() > _STAY:
            state = int(rng.integers(len(_REGIMES)))
        regime[i] = state
    drift = np.array([_REGIMES[r][0] for r in regime])
    vol = np.array([_REGIMES[r][1] for r in regime])
    log_close = np.log(start_price) + np.cumsum(drift + vol * rng.standard_normal(count))
    close = np.maximum(np.round(np.exp(log_close) / tick) * tick, tick)
    open_ = np.r_[start_price, close[:-1]]
    open_ = np.maximum(np.round(open_ / tick) * tick, tick)
    wick = np.abs(rng.standard_normal((2, count))) * vol * close
    high = np.round((np.maximum(open_, close) + wick[0]) / tick) * tick
    low = np.maximum(np.round((np.minimum(open_, close) - wick[1]) / tick) * tick, tick)
    volume_scale = 1e6 / start_price * (1.0 + zlib.crc32(symbol.encode()) % 97)
    volume = np.round(rng.lognormal(0.0, 0.6, count) * volume_scale * (vol / 2e-3), 5)
    last_open = end_ms // step * step
    open_time = last_open - step * np.arange(count - 1, -1, -1, dtype=np.int64)
    decimals = max(0, round(float(-np.log10(tick))))
    return Candles(
        symbol,
        interval,
        open_time,
        np.round(open_, decimals),
        np.round(high, decimals),
        np.round(low, decimals),
        np.round(close, decimals),
        volume,
        tick_size=float(tick),
    )
