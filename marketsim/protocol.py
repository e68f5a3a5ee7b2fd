"""Binance's wire formats as the simulator writes them: kline events, REST rows, errors."""

from __future__ import annotations

import re

import orjson

from marketsim.market import Series, format_decimal

STREAM_RE = re.compile(r"^([a-z0-9]+)@kline_([0-9]+[smhdwM])$")

ERR_INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
ERR_INVALID_INTERVAL = {"code": -1120, "msg": "Invalid interval."}
ERR_TOO_MANY = {"code": -1003, "msg": "Too many requests; current limit of IP is 6000 requests per minute."}
ERR_BANNED = {"code": -1003, "msg": "Way too many requests; IP banned. Please use WebSocket Streams."}
ERR_RESTRICTED = {
    "code": 0,
    "msg": "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you "
    "received this message in error.",
}
ERR_UNAVAILABLE = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}


def mandatory(name: str) -> dict:
    return {"code": -1102, "msg": f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."}


def derived_fields(t: int, step: int, o: float, c: float, v: float) -> tuple[int, int, int, float, float, float]:
    """Fields the recorded data lacks (trade ids, counts, quote and taker volumes), derived stably."""
    n = 50 + (t // step) % 200
    first = (t // 1000) % 2_000_000_000
    quote = v * (o + c) / 2
    return first, first + n - 1, n, quote, v / 2, quote / 2


def kline_event(
    symbol: str, interval: str, step: int, now: int, t: int, ohlcv: tuple[float, ...], closed: bool
) -> bytes:
    """A kline stream payload with every field Binance sends (`T = t + interval - 1`)."""
    o, h, lo, c, v = ohlcv
    first, last, n, quote, taker_v, taker_q = derived_fields(t, step, o, c, v)
    return orjson.dumps(
        {
            "e": "kline",
            "E": now,
            "s": symbol,
            "k": {
                "t": t,
                "T": t + step - 1,
                "s": symbol,
                "i": interval,
                "f": first,
                "L": last,
                "o": format_decimal(o),
                "c": format_decimal(c),
                "h": format_decimal(h),
                "l": format_decimal(lo),
                "v": format_decimal(v),
                "n": n,
                "x": closed,
                "q": format_decimal(quote),
                "V": format_decimal(taker_v),
                "Q": format_decimal(taker_q),
                "B": "0",
            },
        }
    )


def combined(stream: str, data: bytes) -> bytes:
    return b'{"stream":"' + stream.encode() + b'","data":' + data + b"}"


def rest_row(series: Series, i: int, ohlcv: tuple[float, ...] | None = None) -> list:
    """One `/api/v3/klines` row: [t, o, h, l, c, v, T, quote, trades, taker base, taker quote, "0"]."""
    t = int(series.open_time[i])
    o, h, lo, c, v = ohlcv if ohlcv is not None else series.row(i)[1:]
    step = series.step_ms
    _, _, n, quote, taker_v, taker_q = derived_fields(t, step, o, c, v)
    return [
        t,
        format_decimal(o),
        format_decimal(h),
        format_decimal(lo),
        format_decimal(c),
        format_decimal(v),
        t + step - 1,
        format_decimal(quote),
        n,
        format_decimal(taker_v),
        format_decimal(taker_q),
        "0",
    ]


def server_shutdown(now: int) -> bytes:
    return orjson.dumps({"e": "serverShutdown", "E": now})


GARBAGE = (
    b"not json at all",
    b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"k":',
    b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"k":{"t":"soon","x":true}}}',
    b"[1,2,3]",
    b'{"unexpected":"shape"}',
)
