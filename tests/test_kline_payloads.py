"""Parsing Binance kline payloads, checked against the examples in Binance's API documentation."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.messages import Kline
from marketdata.kline_payloads import (
    ControlReply,
    KlineUpdate,
    MalformedPayload,
    ServerShutdown,
    parse_frame,
    parse_rest_row,
    stream_name,
)

# Spot "Kline/Candlestick Streams" response example (binance-spot-api-docs, web-socket-streams.md)
SPOT_EXAMPLE = {
    "e": "kline",
    "E": 1672515782136,
    "s": "BNBBTC",
    "k": {
        "t": 1672515780000,
        "T": 1672515839999,
        "s": "BNBBTC",
        "i": "1m",
        "f": 100,
        "L": 200,
        "o": "0.0010",
        "c": "0.0020",
        "h": "0.0025",
        "l": "0.0015",
        "v": "1000",
        "n": 100,
        "x": False,
        "q": "1.0000",
        "V": "500",
        "Q": "0.500",
        "B": "123456",
    },
}

# USD-M futures example (derivatives docs, Kline-Candlestick-Streams)
FUTURES_EXAMPLE = {
    "e": "kline",
    "E": 1638747660000,
    "s": "BTCUSDT",
    "k": {
        "t": 1638747660000,
        "T": 1638747719999,
        "s": "BTCUSDT",
        "i": "1m",
        "f": 100,
        "L": 200,
        "o": "0.0010",
        "c": "0.0020",
        "h": "0.0025",
        "l": "0.0015",
        "v": "1000",
        "n": 100,
        "x": False,
        "q": "1.0000",
        "V": "500",
        "Q": "0.500",
        "B": "123456",
    },
}

# GET /api/v3/klines response example (binance-spot-api-docs, rest-api.md)
REST_EXAMPLE = [
    1499040000000,
    "0.01634790",
    "0.80000000",
    "0.01575800",
    "0.01577100",
    "148976.11427815",
    1499644799999,
    "2434.19055334",
    308,
    "1756.87402397",
    "28.46694368",
    "0",
]


def test_spot_example_as_raw_stream():
    update = parse_frame(orjson.dumps(SPOT_EXAMPLE))
    assert update == KlineUpdate(
        "BNBBTC", "1m", 1672515782136, False,
        Kline(1672515780000, 1672515839999, 0.0010, 0.0025, 0.0015, 0.0020, 1000.0),
    )


def test_futures_example_in_combined_wrapper_closed():
    data = {**FUTURES_EXAMPLE, "k": {**FUTURES_EXAMPLE["k"], "x": True}}
    frame = orjson.dumps({"stream": "btcusdt@kline_1m", "data": data})
    update = parse_frame(frame)
    assert update.closed is True
    assert (update.symbol, update.interval) == ("BTCUSDT", "1m")
    assert update.kline.close_time - update.kline.open_time == 60_000 - 1


def test_rest_row_example():
    assert parse_rest_row(REST_EXAMPLE) == Kline(
        1499040000000, 1499644799999, 0.01634790, 0.80000000, 0.01575800, 0.01577100, 148976.11427815
    )


def test_control_replies_and_errors():
    assert parse_frame(b'{"result": null, "id": 1}') == ControlReply(1, None)
    assert parse_frame(b'{"result": ["btcusdt@kline_1m"], "id": 3}') == ControlReply(3, ["btcusdt@kline_1m"])
    error = parse_frame(b'{"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}')
    assert error.error_code == 3 and error.id is None
    nested = parse_frame(b'{"error": {"code": 2, "msg": "Invalid request"}, "id": 9}')
    assert (nested.error_code, nested.id) == (2, 9)


def test_server_shutdown_event():
    assert parse_frame(b'{"e": "serverShutdown", "E": 1728972148778}') == ServerShutdown(1728972148778)
    assert parse_frame(b'{"event": {"e": "serverShutdown", "E": 5}}') == ServerShutdown(5)


def test_stream_names_are_lowercase():
    assert stream_name("BTCUSDT", "15m") == "btcusdt@kline_15m"


def _broken(**changes):
    k = {**SPOT_EXAMPLE["k"], **changes}
    return orjson.dumps({**SPOT_EXAMPLE, "k": {key: v for key, v in k.items() if v is not ...}})


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"k":',
        b"[1,2,3]",
        b'{"unexpected":"shape"}',
        b'{"stream":"x","data":5}',
        b'{"e":"kline","E":1}',
        _broken(x="true"),
        _broken(t="1672515780000"),
        _broken(o="abc"),
        _broken(h=None),
        _broken(c="nan"),
        _broken(v="-1"),
        _broken(T=1),
        _broken(s=...),
    ],
)
def test_malformed_frames_raise_malformed_payload(frame):
    with pytest.raises(MalformedPayload):
        parse_frame(frame)


@pytest.mark.parametrize("row", [[], [1, "2"], "row", [1, "a", "2", "1", "1", "1", 2], ["t", *REST_EXAMPLE[1:]]])
def test_malformed_rest_rows(row):
    with pytest.raises(MalformedPayload):
        parse_rest_row(row)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_never_raise_anything_else(raw):
    try:
        parse_frame(raw)
    except MalformedPayload:
        pass


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("ekEsxtTohlcv"), inner,
                                                                                max_size=6), max_leaves=20))
def test_arbitrary_json_never_raises_anything_else(value):
    try:
        parse_frame(orjson.dumps({"stream": "a@kline_1m", "data": value}))
    except MalformedPayload:
        pass
