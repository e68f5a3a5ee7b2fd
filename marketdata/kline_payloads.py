"""Pure parsing of Binance kline payloads (WebSocket events and REST rows) into `Kline`s.

Kept free of I/O so the feed's hot path and its tests share one definition of "a valid frame".
Anything that is not a well-formed payload raises `MalformedPayload` (the feed counts it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from actors.messages import Kline


class MalformedPayload(ValueError):
    """A frame or row that does not have the shape Binance documents."""


class KlineUpdate(NamedTuple):
    """One kline event: the candle so far, and whether Binance marked it closed (`k.x`)."""

    symbol: str
    interval: str
    event_time: int
    closed: bool
    kline: Kline


@dataclass(frozen=True, slots=True)
class ControlReply:
    """The answer to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS (`result`) or an error (`code`)."""

    id: int | None
    result: object = None
    error_code: int | None = None
    error_msg: str = ""


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """Binance announces the server is about to go away: reconnect elsewhere now."""

    event_time: int


Frame = KlineUpdate | ControlReply | ServerShutdown


def parse_frame(raw: str | bytes) -> Frame:
    """Parse one WebSocket text frame (combined-stream wrapper or raw event)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedPayload(f"expected a JSON object, got {type(obj).__name__}")
    data = obj.get("data", obj) if "stream" in obj else obj
    if not isinstance(data, dict):
        raise MalformedPayload("combined-stream frame without an object in 'data'")
    event = data.get("e")
    if event == "kline":
        return parse_kline_event(data)
    if event == "serverShutdown":
        return ServerShutdown(_int(data.get("E", 0), "E"))
    nested = data.get("event")
    if isinstance(nested, dict) and nested.get("e") == "serverShutdown":
        return ServerShutdown(_int(nested.get("E", 0), "E"))
    if "result" in data and "id" in data:
        return ControlReply(id=data["id"], result=data["result"])
    if "code" in data:
        error = data
    elif isinstance(data.get("error"), dict):
        error = data["error"]
    else:
        raise MalformedPayload(f"unrecognised frame with keys {sorted(data)[:8]}")
    return ControlReply(id=data.get("id"), error_code=error.get("code"), error_msg=str(error.get("msg", "")))


def parse_kline_event(data: dict) -> KlineUpdate:
    """Parse the `{"e": "kline", "E": ..., "k": {...}}` payload of a kline stream (the hot path)."""
    k = data.get("k")
    if type(k) is not dict:
        raise MalformedPayload("kline event without a 'k' object")
    try:
        t, close_time, closed, symbol, interval = k["t"], k["T"], k["x"], k["s"], k["i"]
        kline = Kline(t, close_time, float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"]), float(k["v"]))
    except KeyError as exc:
        raise MalformedPayload(f"kline payload misses field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise MalformedPayload(f"kline prices must be decimal strings: {exc}") from None
    event_time = data.get("E", t)
    if type(t) is not int or type(close_time) is not int or type(event_time) is not int:
        raise MalformedPayload("kline times (E, t, T) must be integers")
    if closed is not True and closed is not False:
        raise MalformedPayload(f"k.x must be a boolean, got {closed!r:.20}")
    if type(symbol) is not str or type(interval) is not str:
        raise MalformedPayload("kline symbol and interval must be strings")
    _check_candle(kline)
    return KlineUpdate(symbol, interval, event_time, closed, kline)


def parse_rest_row(row: object) -> Kline:
    """Parse one row of `GET /api/v3/klines` (or `/fapi/v1/klines`): a 12-element array."""
    if not isinstance(row, list | tuple) or len(row) < 7:
        raise MalformedPayload(f"kline row must be an array of at least 7 fields, got {row!r:.80}")
    kline = Kline(
        open_time=_int(row[0], "open time"),
        close_time=_int(row[6], "close time"),
        open=_price(row[1], "open"),
        high=_price(row[2], "high"),
        low=_price(row[3], "low"),
        close=_price(row[4], "close"),
        volume=_price(row[5], "volume"),
    )
    _check_candle(kline)
    return kline


def stream_name(symbol: str, interval: str) -> str:
    """Binance's stream name for a kline stream: lowercase symbol, e.g. `btcusdt@kline_15m`."""
    return f"{symbol.lower()}@kline_{interval}"


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPayload(f"{name} must be an integer, got {value!r:.40}")
    return value


def _price(value: object, name: str) -> float:
    """Binance sends decimals as strings; accept numbers too, reject anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedPayload(f"{name} must be a decimal string, got {value!r:.40}")
    try:
        return float(value)
    except ValueError:
        raise MalformedPayload(f"{name} is not a decimal: {value!r:.40}") from None


def _check_candle(kline: Kline) -> None:
    """Structural checks only: Binance's own documented example has a low above its open."""
    if not math.isfinite(kline.open + kline.high + kline.low + kline.close + kline.volume):
        raise MalformedPayload("kline prices and volume must be finite numbers")
    if kline.close_time < kline.open_time:
        raise MalformedPayload("kline close time precedes its open time")
    if kline.volume < 0:
        raise MalformedPayload("kline volume is negative")
