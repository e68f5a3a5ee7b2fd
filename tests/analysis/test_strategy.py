"""analyze(): reasons true of the data, honest levels, deterministic, precision-preserving."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import indicators
from analysis.calibration import Calibration
from analysis.candles import Candles, load_csv
from analysis.strategy import DEFAULT_COSTS, Costs, NoSetup, Signal, analyze, price_precision
from app import strategy_file
from tests.analysis.conftest import BANDS
from tests.conftest import SHARED_KLINES, klines_dir

WINDOW = 1000
FILES = sorted(p.relative_to(SHARED_KLINES).as_posix() for p in SHARED_KLINES.rglob("*.csv"))
PROPERTY_FILES = [
    "misrori__binance_startegy/data/XRPUSDT_1h.csv",
    "azmath606961__hawk-crypto-bot/data/ETHUSDT_1h.csv",
    "privet1x__crypto-trading-bot/data/BTCUSDT_15m.csv",
    "Benicio1007__Bot_trading/data/dataset/2024/BTCUSDT_5m.csv",
]


MODEL = strategy_file.load().calibration  # the shipped parameter file


@pytest.fixture(scope="module")
def series() -> dict[str, Candles]:
    return {name: load_csv(klines_dir() / name) for name in PROPERTY_FILES}


# --- re-checking reasons against the candles ---------------------------------------------------


def on_grid(value: float, decimals: int) -> bool:
    return round(value, decimals) == value


def same_price(printed: float, value: float, decimals: int) -> bool:
    return printed == round(value, decimals)


def check_reason(reason: dict, candles: Candles, side: int, decimals: int) -> str:
    """Re-derive the reason's claim from the candles alone; return which rule it was."""
    last = len(candles) - 1
    price = candles.close[-1]
    direction = side  # evidence against the side is no setup, never a reason
    named = {1: "bullish", -1: "bearish"}[direction]
    prices = [v for k, v in reason.items() if k in ("price", "bottom", "top", "level", "ema21", "ema50", "ema200")]
    assert all(isinstance(v, float) and on_grid(v, decimals) for v in prices), reason
    match reason["code"]:
        case "order_block":
            assert reason["direction"] == named
            k = last - reason["bars_ago"]
            assert same_price(reason["bottom"], candles.low[k], decimals)
            assert same_price(reason["top"], candles.high[k], decimals)
            low, high = candles.low[k], candles.high[k]
            distance = 0.0 if low <= price <= high else min(abs(price - low), abs(price - high)) / price
            assert abs(reason["distance_pct"] - distance * 100) <= 0.006 and distance <= 0.015
            assert reason["where"] == ("around" if distance == 0 else "below" if direction == 1 else "above")
            later = candles.low[k + 1 :] if direction == 1 else candles.high[k + 1 :]
            assert (later.min() > low) if direction == 1 else (later.max() < high)  # never traded through
            return "order_block"
        case "fvg":
            assert same_price(reason["price"], price, decimals) and reason["direction"] == named
            bottom, top = reason["bottom"], reason["top"]
            assert bottom <= round(price, decimals) <= top
            h, lo, o, c = candles.high, candles.low, candles.open, candles.close
            if direction == 1:
                mids = np.flatnonzero((np.round(h[:-2], decimals) == bottom) & (np.round(lo[2:], decimals) == top)
                                      & (c[1:-1] > o[1:-1])) + 1
                assert any(lo[i + 1 :].min() > h[i - 1] for i in mids)
            else:
                mids = np.flatnonzero((np.round(lo[:-2], decimals) == top) & (np.round(h[2:], decimals) == bottom)
                                      & (c[1:-1] < o[1:-1])) + 1
                assert any(h[i + 1 :].max() < lo[i - 1] for i in mids)
            return "fvg"
        case "break":
            assert reason["direction"] == named and reason["kind"] in ("BOS", "CHOCH")
            bar, level = last - reason["bars_ago"], reason["level"]
            assert reason["bars_ago"] < 10
            assert (candles.close[bar] - level) * direction > 0  # that close broke the level
            pivots = candles.high[:bar] if direction == 1 else candles.low[:bar]
            assert np.any(np.round(pivots, decimals) == level)  # the level is an earlier swing's price
            ema50 = indicators.ema(candles.close, 50)[-1]
            assert same_price(reason["ema50"], ema50, decimals) and (price - ema50) * direction > 0
            return reason["kind"]
        case "ema21":
            ema21 = indicators.ema(candles.close, 21)[-1]
            assert same_price(reason["price"], price, decimals) and same_price(reason["ema21"], ema21, decimals)
            assert (price - ema21) * side > 0 and (reason["where"] == "above") == (side == 1)
            return "ema21"
        case "ema_stack":
            e21, e50, e200 = (indicators.ema(candles.close, p)[-1] for p in (21, 50, 200))
            assert (e21 - e50) * side > 0 and (e50 - e200) * side > 0 and reason["direction"] == named
            assert same_price(reason["ema21"], e21, decimals) and same_price(reason["ema50"], e50, decimals)
            assert same_price(reason["ema200"], e200, decimals)
            return "ema_stack"
        case "volume":
            ratio = candles.volume[-1] / np.mean(candles.volume[-21:-1])
            assert ratio > 1.1 and abs(reason["ratio"] - ratio) <= 0.0051 and reason["bars"] == 20
            return "volume"
        case "rsi":
            value = indicators.rsi(candles.close, 14)[-1]
            assert abs(reason["rsi"] - value) <= 0.051
            assert reason["side"] == ("LONG" if side == 1 else "SHORT") and reason["limit"] == (70 if side == 1 else 30)
            stretched = value >= 70 if side == 1 else value <= 30
            assert reason["stretched"] is bool(stretched)  # a JSON boolean
            return "rsi_stretched" if stretched else "rsi_room"
    raise AssertionError(f"reason nobody can check: {reason!r}")


def check_signal(signal: Signal, candles: Candles, model: Calibration | None = None) -> None:
    side = 1 if signal.side == "LONG" else -1
    decimals = signal.precision
    for reason in signal.reasons:
        check_reason(reason, candles, side, decimals)
    if model is None:
        assert signal.confidence is None and signal.strategy_version is None
    else:  # the stored model's probability of TP1 first, nothing hidden
        assert signal.confidence == round(100 * model.probability(signal.to_dict()))
        assert signal.strategy_version == model.version and signal.record == model.record(signal.confidence)
    assert (signal.entry - signal.stop) * side > 0
    assert (signal.tp1 - signal.entry) * side > 0
    risk = (signal.entry - signal.stop) * side
    assert signal.rr1 == round((signal.tp1 - signal.entry) * side / risk, 2) >= 1.0
    if signal.tp2 is None:  # one target: a second would not lie 0.5R beyond the first
        assert signal.rr2 is None
    else:
        assert (signal.tp2 - signal.tp1) * side >= 0.5 * risk - 10**-decimals
        assert signal.rr2 == round((signal.tp2 - signal.entry) * side / risk, 2) <= 3.0
    atr = indicators.atr(candles, 14)[-1]
    assert risk >= 1.2 * atr - 10**-decimals  # never a stop inside the noise
    assert 2 * DEFAULT_COSTS.fee_rate * signal.entry <= DEFAULT_COSTS.max_fee_share * risk  # fees <= 10% of risk
    for price in (signal.entry, signal.stop, signal.tp1, signal.tp2 or signal.tp1):
        assert round(price, decimals) == price


@settings(max_examples=60, deadline=None)
@given(source=st.sampled_from(PROPERTY_FILES), end=st.integers(WINDOW, 10_000))
def test_every_reason_a_signal_gives_is_true_of_its_candles(series: dict[str, Candles], source: str,
                                                            end: int) -> None:
    candles = series[source][end - WINDOW : end]
    result = analyze(candles)
    assert result == analyze(candles)  # deterministic
    calibrated = analyze(candles, calibration=MODEL)
    if isinstance(result, Signal):
        check_signal(result, candles)
        check_signal(calibrated, candles, MODEL)
        assert replace(calibrated, confidence=None, strategy_version=None, record=None) == result  # only rated
    json.dumps(calibrated.to_dict())


def test_confidence_bands_on_real_data(request: pytest.FixtureRequest) -> None:
    """How often each calibrated confidence band occurs, so that a threshold means something."""
    outcomes: Counter[str] = Counter()
    for name in FILES:
        candles = load_csv(klines_dir() / name)
        for end in range(WINDOW, len(candles) + 1, 251):
            result = analyze(candles[end - WINDOW : end], calibration=MODEL)
            if isinstance(result, Signal):
                low = min(result.confidence // 10 * 10, 90)
                outcomes[f"signal {low}-{low + 9 if low < 90 else 100}"] += 1
            else:
                outcomes["no setup"] += 1
    request.config.stash[BANDS] = dict(sorted(outcomes.items()))
    signals = sum(v for k, v in outcomes.items() if k.startswith("signal"))
    assert signals > 100 and outcomes["no setup"] > 100
    assert len([k for k in outcomes if k.startswith("signal")]) >= 2  # confidence discriminates


def test_signal_and_no_setup_dicts_have_the_contract_shape(series: dict[str, Candles]) -> None:
    candles = series[PROPERTY_FILES[1]]
    seen: dict[type, dict] = {}
    for end in range(WINDOW, len(candles), 97):
        result = analyze(candles[end - WINDOW : end])
        seen.setdefault(type(result), result.to_dict())
        if len(seen) == 2:
            break
    signal, nothing = seen[Signal], seen[NoSetup]
    assert list(signal) == ["symbol", "interval", "open_time", "close_time", "side", "entry", "stop", "tp1",
                            "tp2", "rr1", "rr2", "confidence", "reasons", "smc", "precision", "setup",
                            "strategy_version", "record"]
    assert list(nothing) == ["symbol", "interval", "open_time", "reason", "bias", "smc"]
    for payload in (signal, nothing):
        assert json.loads(json.dumps(payload)) == payload
        assert {"trend", "last_break", "order_block", "fvg", "ema21", "ema50", "ema200", "rsi", "atr",
                "price", "precision"} <= set(payload["smc"])
    assert Signal.from_dict(signal).to_dict() == signal
    assert NoSetup.from_dict(nothing).to_dict() == nothing
    assert Signal.from_dict({**signal, "signal_id": "a:x"}).to_dict() == signal
    assert signal["close_time"] == signal["open_time"] + 3_600_000 - 1


def test_a_setup_keeps_its_identity_and_its_since_while_its_trigger_holds(series: dict[str, Candles]) -> None:
    """The identity names the side's triggers by formation candle; bar after bar the same trigger keeps
    the same `since`, which lies between the trigger's formation and the signal's candle."""
    candles = series[PROPERTY_FILES[0]]
    previous: dict | None = None
    kept = 0
    for end in range(2000, 2300):  # growing from one start: the causal read of bar t never changes
        result = analyze(candles[:end])
        if not isinstance(result, Signal):
            previous = None
            continue
        setup = result.setup
        assert setup["id"] == setup["triggers"][0] and len(set(setup["triggers"])) == len(setup["triggers"])
        for trigger in setup["triggers"]:
            side, kind, formed = trigger.split(":")
            assert side == result.side and kind in ("OB", "FVG", "BOS", "CHOCH")
            assert int(formed) <= result.open_time and int(formed) in candles.open_time
        assert int(setup["id"].rsplit(":", 1)[1]) <= setup["since"] <= result.open_time
        if previous is not None and previous["id"] == setup["id"]:
            assert setup["since"] == previous["since"]
            kept += 1
        previous = setup
    assert kept > 10  # the same setup does persist over bars: why autosignals need the identity


def test_evidence_against_the_side_is_no_setup(series: dict[str, Candles]) -> None:
    """Any live vote for the other side (an order block, a gap or a break against it) means no trade."""
    candles = series[PROPERTY_FILES[1]]
    conflicts = 0
    for end in range(WINDOW, WINDOW + 1500, 3):
        result = analyze(candles[end - 500 : end])
        if isinstance(result, NoSetup) and result.reason["code"] == "conflicting":
            assert {vote["direction"] for vote in result.reason["votes"]} == {"bullish", "bearish"}
            conflicts += 1
    assert conflicts > 10


def test_a_second_target_only_half_an_r_beyond_the_first_else_tp2_is_null(series: dict[str, Candles]) -> None:
    candles = series[PROPERTY_FILES[0]]
    kinds = Counter()
    for end in range(WINDOW, WINDOW + 1500, 3):
        result = analyze(candles[end - 500 : end])
        if isinstance(result, Signal):
            check_signal(result, candles[end - 500 : end])
            assert result.tp2 != result.tp1
            kinds["one target" if result.tp2 is None else "two targets"] += 1
    assert kinds["one target"] > 0 and kinds["two targets"] > 0


def test_a_stop_too_close_to_pay_its_fees_drops_the_setup_instead_of_squeezing_it() -> None:
    candles = load_csv(klines_dir() / "Benicio1007__Bot_trading/data/dataset/2023/ETHUSDT_5m.csv")[576:1076]
    dropped = analyze(candles)
    assert isinstance(dropped, NoSetup)
    assert dropped.reason == {"code": "fees_too_high", "precision": 2, "side": "SHORT", "stop": 1842.52,
                              "distance_pct": 0.63, "fee_pct": 0.08, "share_pct": 13, "max_share_pct": 10.0}
    allowed = analyze(candles, costs=Costs(max_fee_share=1.0))  # the same setup, had fees not mattered
    assert isinstance(allowed, Signal) and allowed.stop == 1842.52
    assert Costs().fee_share(allowed.entry, allowed.stop) > 0.10
    assert isinstance(analyze(candles, costs=Costs(fee_rate=0.0)), Signal)


def test_a_cheap_coin_keeps_its_decimals(series: dict[str, Candles]) -> None:
    xrp = series[PROPERTY_FILES[0]]
    assert price_precision(xrp[:200]) == 5  # April 2021: XRPUSDT still quoted in 0.00001 steps
    assert price_precision(xrp) == 4  # by late 2023 in 0.0001 steps
    assert price_precision(replace(xrp, tick_size=0.001)) == 3
    for end in range(WINDOW, len(xrp), 50):
        result = analyze(xrp[end - WINDOW : end])
        if isinstance(result, Signal):
            assert result.precision == price_precision(xrp[end - WINDOW : end]) >= 4
            assert 0.1 < result.entry < 5
            assert result.stop != round(result.stop) and result.entry != round(result.entry)
            return
    pytest.fail("no XRP signal found")


def test_compat_mode_reads_the_reference_definitions(series: dict[str, Candles]) -> None:
    candles = series[PROPERTY_FILES[2]][-WINDOW:]
    result = analyze(candles, mode="compat")
    assert result.smc["mode"] == "compat"
    with pytest.raises(ValueError, match="mode must be"):
        analyze(candles, mode="future")


def test_bad_or_too_few_candles_raise_clear_errors(series: dict[str, Candles]) -> None:
    candles = series[PROPERTY_FILES[1]][-WINDOW:]
    with pytest.raises(ValueError, match="needs at least 50"):
        analyze(candles[-10:])
    broken = replace(candles, high=np.where(np.arange(WINDOW) == 700, candles.low - 1, candles.high))
    with pytest.raises(ValueError, match=r"bar 700 .*high .* is below low"):
        analyze(broken)
    nan_close = candles.close.copy()
    nan_close[-1] = math.nan
    with pytest.raises(ValueError, match=r"bar 999 .*close is nan"):
        analyze(replace(candles, close=nan_close))
