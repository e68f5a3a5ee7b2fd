"""domain.outcomes: one test per outcome rule (LONG and SHORT), and properties of the fold."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import outcomes
from domain.events import SignalClosed, SignalEntered, SignalExpired, StopHit, TargetHit
from domain.outcomes import Candle, MarketTime, Rules

HOUR = 3_600_000
T = 1_700_002_800_000  # the signal's candle (an hour boundary)
NO_FEES = Rules(horizon_bars=48, fee_rate=0.0)


def signal(side: str = "LONG", entry: float = 100.0, stop: float = 98.0, tp1: float | None = 103.0,
           tp2: float | None = 106.0, **extra: Any) -> dict[str, Any]:
    if side == "SHORT" and stop == 98.0:  # the same distances mirrored
        stop, tp1, tp2 = 102.0, 97.0 if tp1 == 103.0 else tp1, 94.0 if tp2 == 106.0 else tp2
    return {"symbol": "BTCUSDT", "interval": "1h", "open_time": T, "side": side, "entry": entry, "stop": stop,
            "tp1": tp1, "tp2": tp2, "confidence": 80, **extra}


def bar(k: int, o: float, h: float, low: float, c: float, symbol: str = "BTCUSDT") -> Candle:
    """Bar k after the signal's candle (bar 1 is the next one)."""
    return Candle(symbol, "1h", T + k * HOUR, o, h, low, c)


def run(sig: dict[str, Any], candles: list[Candle | MarketTime], rules: Rules = NO_FEES,
        signal_id: str = "a:1") -> list:
    """Track `sig`, feed the candles through decide + evolve, return every event."""
    state = outcomes.track(outcomes.OutcomeState(), signal_id, sig)
    events = []
    for candle in candles:
        out = outcomes.decide(state, candle, rules)
        for event in out:
            state = outcomes.evolve(state, event)
        events += out
    return events


def closed(events: list) -> SignalClosed:
    [last] = [e for e in events if isinstance(e, SignalClosed)]
    return last


def test_market_entry_fills_at_the_next_candles_open() -> None:
    events = run(signal(), [bar(1, 100.4, 101.0, 99.5, 100.8)])
    assert events == [SignalEntered("a:1", 100.4, T + HOUR)]


@pytest.mark.parametrize("side", ["LONG", "SHORT"])
def test_a_candle_touching_stop_and_target_counts_the_stop(side: str) -> None:
    wide = bar(1, 100.0, 104.0, 96.0, 100.0)  # reaches both 98/102 stops and 103/97 first targets
    events = run(signal(side), [wide])
    assert [type(e) for e in events] == [SignalEntered, StopHit, SignalClosed]
    assert events[1].price == (98.0 if side == "LONG" else 102.0)
    assert closed(events).reason == "stop" and closed(events).result_r == -1.0


@pytest.mark.parametrize("side", ["LONG", "SHORT"])
def test_the_stop_is_touched_by_the_candles_adverse_extreme(side: str) -> None:
    """LONG: the low reaches the stop; SHORT: the high does (the low of a SHORT's candle is not adverse)."""
    candle = bar(1, 100.0, 101.0, 97.5, 99.0) if side == "LONG" else bar(1, 100.0, 102.5, 99.0, 101.0)
    events = run(signal(side), [candle])
    assert closed(events).reason == "stop" and closed(events).bars == 1
    quiet = bar(1, 100.0, 101.0, 99.0, 100.0)
    assert run(signal(side), [quiet]) == [SignalEntered("a:1", 100.0, T + HOUR)]


@pytest.mark.parametrize("side", ["LONG", "SHORT"])
def test_both_targets_in_one_candle_exit_half_at_each(side: str) -> None:
    candle = bar(1, 100.0, 107.0, 99.0, 106.5) if side == "LONG" else bar(1, 100.0, 101.0, 93.0, 93.5)
    events = run(signal(side), [candle])
    assert [(type(e), getattr(e, "target", None)) for e in events] == [
        (SignalEntered, None), (TargetHit, "tp1"), (TargetHit, "tp2"), (SignalClosed, None)]
    assert closed(events).reason == "tp2" and closed(events).result_r == pytest.approx(0.5 * 1.5 + 0.5 * 3.0)


def test_without_a_second_target_the_whole_position_exits_at_tp1() -> None:
    events = run(signal(tp2=None), [bar(1, 100.0, 103.5, 99.5, 103.2)])
    assert closed(events).reason == "tp2" and closed(events).result_r == pytest.approx(1.5)
    assert [e.target for e in events if isinstance(e, TargetHit)] == ["tp1"]


def test_tp1_equal_to_tp2_closes_both_halves_at_that_level() -> None:
    events = run(signal(tp1=103.0, tp2=103.0), [bar(1, 100.0, 103.5, 99.5, 103.2)])
    assert [e.target for e in events if isinstance(e, TargetHit)] == ["tp1", "tp2"]
    assert closed(events).reason == "tp2" and closed(events).result_r == pytest.approx(1.5)


@pytest.mark.parametrize("side", ["LONG", "SHORT"])
def test_tp1_then_stop_keeps_the_original_stop_for_the_second_half(side: str) -> None:
    if side == "LONG":
        candles = [bar(1, 100.0, 103.5, 99.5, 102.0), bar(2, 102.0, 102.5, 97.0, 97.5)]
    else:
        candles = [bar(1, 100.0, 100.5, 96.5, 98.0), bar(2, 98.0, 103.0, 97.5, 102.5)]
    events = run(signal(side), candles)
    assert closed(events).reason == "tp1_then_stop" and closed(events).bars == 2
    assert closed(events).result_r == pytest.approx(0.5 * 1.5 - 0.5 * 1.0)


def test_still_open_at_the_horizon_closes_at_that_candles_close() -> None:
    rules = Rules(horizon_bars=3, fee_rate=0.0)
    candles = [bar(k, 100.0, 101.0, 99.0, 100.0 + k / 10) for k in (1, 2, 3, 4)]
    events = run(signal(), candles, rules)
    assert events[-2] == SignalExpired("a:1", 100.3, T + 3 * HOUR)
    assert closed(events).reason == "expired" and closed(events).bars == 3
    assert closed(events).result_r == pytest.approx(0.3 / 2)


def test_a_gap_skipping_the_horizon_candle_closes_at_the_first_open_after_it() -> None:
    rules = Rules(horizon_bars=3, fee_rate=0.0)
    candles = [bar(1, 100.0, 101.0, 99.0, 100.0), bar(2, 100.0, 101.0, 99.0, 100.5),
               bar(5, 101.0, 102.5, 100.5, 102.0)]  # bars 3 and 4 never came (an outage)
    events = run(signal(), candles, rules)
    assert events[-2] == SignalExpired("a:1", 101.0, T + 5 * HOUR)
    assert closed(events).reason == "expired" and closed(events).bars == 5


def test_a_gap_inside_the_horizon_is_skipped_not_invented() -> None:
    candles = [bar(1, 100.0, 101.0, 99.0, 100.0), bar(4, 100.0, 103.5, 99.5, 103.0)]
    events = run(signal(), candles)
    assert [type(e) for e in events] == [SignalEntered, TargetHit]
    assert events[1].open_time == T + 4 * HOUR


def test_a_signal_whose_candles_never_come_expires_by_market_time_unfilled() -> None:
    rules = Rules(horizon_bars=3, fee_rate=0.0004)
    assert run(signal(), [MarketTime(T + 7 * HOUR - 1)], rules) == []
    events = run(signal(), [MarketTime(T + 7 * HOUR)], rules)
    assert events == [SignalExpired("a:1", None, None), SignalClosed("a:1", 0.0, 0.0, "expired", 6)]


@pytest.mark.parametrize("side", ["LONG", "SHORT"])
def test_a_gap_through_a_level_fills_at_the_open(side: str) -> None:
    through_stop = bar(2, 97.0, 97.5, 96.0, 96.5) if side == "LONG" else bar(2, 103.0, 104.0, 102.5, 103.5)
    events = run(signal(side), [bar(1, 100.0, 100.5, 99.5, 100.0), through_stop])
    assert [e.price for e in events if isinstance(e, StopHit)] == [through_stop.open]
    assert closed(events).result_r == pytest.approx(-1.5)
    through_tp1 = bar(2, 104.0, 104.5, 103.8, 104.2) if side == "LONG" else bar(2, 96.0, 96.2, 95.5, 95.8)
    events = run(signal(side), [bar(1, 100.0, 100.5, 99.5, 100.0), through_tp1])
    assert [e.price for e in events if isinstance(e, TargetHit)] == [through_tp1.open]


def test_fees_are_charged_per_side_in_r_of_the_stated_entry_and_pct_is_the_raw_move() -> None:
    rules = Rules(horizon_bars=48, fee_rate=0.001)
    fill = 100.5  # the stated entry is 100, R = |100 - 98| = 2
    events = run(signal(tp2=None), [bar(1, fill, 103.5, 100.0, 103.0)], rules)
    expected_r = ((103.0 - fill) - 0.001 * (fill + 103.0)) / 2.0
    assert closed(events).result_r == pytest.approx(expected_r, abs=1e-4)
    assert closed(events).result_pct == pytest.approx((103.0 - fill) / fill * 100, abs=1e-4)
    assert outcomes.result(-1, 100.0, 102.0, 100.0, [(0.5, 97.0), (0.5, 102.0)], 0.0) == (0.25, 0.5)


def test_a_candle_delivered_twice_or_late_changes_nothing() -> None:
    state = outcomes.track(outcomes.OutcomeState(), "a:1", signal())
    first = bar(1, 100.0, 101.0, 99.0, 100.5)
    for event in outcomes.decide(state, first, NO_FEES):
        state = outcomes.evolve(state, event)
    assert outcomes.decide(state, first, NO_FEES) == []  # the same (signal_id, candle) again
    second = bar(2, 100.5, 103.5, 100.0, 103.0)
    for event in outcomes.decide(state, second, NO_FEES):
        state = outcomes.evolve(state, event)
    assert outcomes.decide(state, first, NO_FEES) == []  # an older candle after a newer one
    assert outcomes.decide(state, bar(0, 100.0, 120.0, 80.0, 100.0), NO_FEES) == []  # the signal's own candle


def test_a_scan_tracks_each_setup_on_its_own_symbol() -> None:
    scan = {"kind": "scan", "signals": [signal(), signal("SHORT", symbol="ETHUSDT"), {"symbol": "XRPUSDT"}]}
    state = outcomes.track(outcomes.OutcomeState(), "m:42:7", scan)
    assert sorted(state.open) == ["m:42:7/BTCUSDT", "m:42:7/ETHUSDT"]  # no side, no trade
    events = outcomes.decide(state, bar(1, 100.0, 103.0, 99.0, 102.5, symbol="ETHUSDT"), NO_FEES)
    assert [e.signal_id for e in events] == ["m:42:7/ETHUSDT"] * 3
    assert closed(events).reason == "stop"


def test_a_closed_id_issued_again_is_not_tracked_twice() -> None:
    events = run(signal(), [bar(1, 100.0, 101.0, 97.0, 97.5)])
    state = outcomes.fold([_issued("a:1", signal()), *events])
    assert "a:1" in state.closed and outcomes.track(state, "a:1", signal()) is state


def _issued(signal_id: str, sig: dict[str, Any]) -> Any:
    from domain.events import AutoSignalIssued

    return AutoSignalIssued(signal_id=signal_id, signal=sig, recipients=[])


# --- properties ------------------------------------------------------------------------------

moves = st.lists(st.tuples(st.floats(-3, 3), st.floats(0, 2), st.floats(0, 2)), min_size=1, max_size=60)


def _path(first_open: float, steps: list[tuple[float, float, float]]) -> list[Candle]:
    """Candles without gaps between them: each opens at the previous close."""
    candles, price = [], first_open
    for k, (move, up, down) in enumerate(steps, 1):
        close = max(1.0, price + move)
        candles.append(bar(k, price, max(price, close) + up, max(0.5, min(price, close) - down), close))
        price = close
    return candles


@settings(max_examples=150, deadline=None)
@given(side=st.sampled_from(["LONG", "SHORT"]), first=st.floats(95, 105), steps=moves,
       tp2=st.sampled_from([None, 103.0, 106.0]), horizon=st.integers(1, 50))
def test_property_results_stay_within_the_levels_and_the_fold_is_the_decisions(
        side: str, first: float, steps: list, tp2: float | None, horizon: int) -> None:
    rules = Rules(horizon_bars=horizon, fee_rate=0.0004)
    sig = signal(side, tp2=tp2 if side == "LONG" or tp2 is None else 200.0 - tp2)
    candles = _path(first, steps)
    events = run(sig, candles, rules)
    ends = [e for e in events if isinstance(e, SignalClosed)]
    assert len(ends) <= 1 and (ends or len(candles) < horizon)
    if ends:
        s, fill = (1 if side == "LONG" else -1), first
        far = sig["tp2"] if sig["tp2"] is not None else sig["tp1"]
        fees = 0.0004 * (fill + max(abs(far), abs(sig["stop"]))) / 2.0 + 1e-3
        assert ends[0].result_r <= max((far - fill) * s, 0) / 2.0 + 1e-3
        assert ends[0].result_r >= min((sig["stop"] - fill) * s, 0) / 2.0 - fees
        assert ends[0].bars <= horizon
    # a restart at any point: the state folded from the log decides the rest exactly as before
    for cut in range(len(candles) + 1):
        before = run(sig, candles[:cut], rules)
        state = outcomes.fold([_issued("a:1", sig), *before])
        rest = []
        for candle in candles[cut:]:
            out = outcomes.decide(state, candle, rules)
            rest += out
            state = outcomes.fold(out, state)
        assert before + rest == events
