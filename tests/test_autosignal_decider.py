"""Business rules of autosignals, on the pure decider (no actors, threads or database)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.autosignal import (
    SETUP_MEMORY_BARS,
    AutoSignalState,
    ClearCooldown,
    Disable,
    Enable,
    Evaluate,
    Policy,
    Rejection,
    decide,
    evolve,
    fold,
    founding,
    initial,
)
from domain.events import (
    AutoSignalDisabled,
    AutoSignalEnabled,
    AutoSignalIssued,
    CooldownCleared,
    CooldownStarted,
)

M15 = 900_000
T0 = 1_732_712_400_000  # a 15m open time
POLICY = Policy(min_confidence=75, cooldown_ms=60 * 60_000)


def candle(k: int, side: str = "LONG", confidence: float = 80, symbol: str = "BTCUSDT",
           triggers: list[str] | None = None) -> Evaluate:
    """A signal at bar k; its setup identity is a break at that bar unless `triggers` are given."""
    open_time = T0 + k * M15
    close_time = open_time + M15 - 1
    signal = {
        "symbol": symbol,
        "interval": "15m",
        "open_time": open_time,
        "close_time": close_time,
        "side": side,
        "entry": 100.0,
        "stop": 99.0,
        "tp1": 101.5,
        "tp2": 103.0,
        "confidence": confidence,
        "reasons": ["test"],
        "setup": {"triggers": triggers or [f"{side}:BOS:{open_time}"]},
    }
    return Evaluate(symbol, "15m", open_time, close_time, signal, recipients=(7, 42))


def run(state: AutoSignalState, cmd: Evaluate) -> tuple[AutoSignalState, list | Rejection]:
    out = decide(state, cmd, cmd.close_time, POLICY)
    if not isinstance(out, Rejection):
        state = fold(out, state)
    return state, out


def test_confident_signal_issues_signal_and_cooldown_in_one_decision():
    cmd = candle(0)
    out = decide(initial(), cmd, cmd.close_time, POLICY)
    assert out == [
        AutoSignalIssued(signal_id=f"a:BTCUSDT:15m:{T0}:LONG", signal=dict(cmd.signal), recipients=[7, 42]),
        CooldownStarted(symbol="BTCUSDT", side="LONG", until=cmd.close_time + 3_600_000),
    ]


def test_threshold_is_inclusive():
    assert not isinstance(run(initial(), candle(0, confidence=75))[1], Rejection)
    out = run(initial(), candle(0, confidence=74.9))[1]
    assert out == Rejection("low_confidence", confidence=74.9, min=75)


def test_a_signal_without_a_calibrated_confidence_is_never_issued():
    cmd = candle(0)
    uncalibrated = Evaluate(cmd.symbol, cmd.interval, cmd.open_time, cmd.close_time,
                            {**cmd.signal, "confidence": None})
    out = decide(initial(), uncalibrated, cmd.close_time, Policy(min_confidence=0, cooldown_ms=0))
    assert out == Rejection("uncalibrated")


def test_no_setup_is_rejected_with_its_reason():
    cmd = Evaluate("BTCUSDT", "15m", T0, T0 + M15 - 1, None, no_setup="no zone near price")
    assert decide(initial(), cmd, cmd.close_time, POLICY) == Rejection("no_setup", reason="no zone near price")


def test_disabled_issues_nothing_and_enable_restores():
    state = fold(decide(initial(), Disable(by=1), 0, POLICY), initial())
    assert not state.enabled
    out = run(state, candle(0))[1]
    assert out == Rejection("disabled")
    state = fold(decide(state, Enable(by=1), 0, POLICY), state)
    assert not isinstance(run(state, candle(0))[1], Rejection)


def test_fresh_log_state_follows_the_setting():
    assert not initial(enabled=False).enabled
    assert decide(initial(enabled=False), Enable(by=3), 0, POLICY) == [AutoSignalEnabled(by=3)]
    assert decide(initial(enabled=False), Disable(by=3), 0, POLICY) == []
    assert decide(initial(), Disable(by=3), 0, POLICY) == [AutoSignalDisabled(by=3)]
    assert decide(initial(), Enable(by=3), 0, POLICY) == []


def test_founding_events_record_the_setting():
    assert founding(True) == [AutoSignalEnabled(by=None)]
    assert founding(False) == [AutoSignalDisabled(by=None)]
    assert not fold(founding(False), initial(enabled=True)).enabled  # the log wins over the setting


def test_cooldown_blocks_the_same_side_until_close_plus_cooldown():
    state, _ = run(initial(), candle(0))
    for k in (1, 2, 3, 4):  # closes 15, 30, 45 and 60 minutes later: 60 ends on the close it guards
        out = run(state, candle(k))[1]
        assert isinstance(out, Rejection) and out.code in ("cooldown", "previous_bar")
    state, out = run(state, candle(5))
    assert isinstance(out, list) and out[0].signal_id.endswith(":LONG")


def test_cooldown_is_at_least_one_bar_and_blocks_the_next_close():
    policy = Policy(min_confidence=0, cooldown_ms=0)
    cmd = candle(0)
    out = decide(initial(), cmd, cmd.close_time, policy)
    assert out[1] == CooldownStarted(symbol="BTCUSDT", side="LONG", until=cmd.close_time + M15)
    state = fold(out, initial())
    state = evolve(state, CooldownCleared("BTCUSDT", "LONG", by=1))  # even without a cooldown...
    nxt = candle(1)
    assert decide(state, nxt, nxt.close_time, policy) == Rejection("previous_bar", side="LONG")
    fresh = fold(out, initial())
    assert fresh.cooldowns[("BTCUSDT", "LONG")] == nxt.close_time  # ends on the next close, which it blocks
    later = candle(2)
    assert isinstance(decide(fresh, later, later.close_time, policy), list)


def test_the_same_setup_is_never_auto_issued_again():
    zone = [f"LONG:OB:{T0 - 20 * M15}"]
    state, out = run(initial(), candle(0, triggers=[*zone, f"LONG:BOS:{T0}"]))
    assert isinstance(out, list) and out
    restarted = fold([out[0]], initial())  # folded from the stream: a restart remembers it too
    for s in (state, restarted):
        again = run(s, candle(40, triggers=zone))[1]
        assert again == Rejection("repeated_setup", triggers=zone[0])
        shared = run(s, candle(40, triggers=[f"LONG:FVG:{T0 + 30 * M15}", f"LONG:BOS:{T0}"]))[1]
        assert isinstance(shared, Rejection)  # one trigger in common is the same setup
    assert isinstance(run(state, candle(40, triggers=[f"LONG:OB:{T0 + 30 * M15}"]))[1], list)
    assert isinstance(run(state, candle(40, side="SHORT", triggers=[f"SHORT:OB:{T0 - 20 * M15}"]))[1], list)


def test_issued_setups_are_forgotten_once_older_than_the_memory_so_state_stays_bounded():
    state, _ = run(initial(), candle(0, triggers=[f"LONG:OB:{T0}"]))
    far = SETUP_MEMORY_BARS + 1
    state, _ = run(state, candle(far, triggers=[f"LONG:OB:{T0 + far * M15}"]))
    assert state.issued == {("BTCUSDT", "15m"): {f"LONG:OB:{T0 + far * M15}": T0 + far * M15}}


def test_opposite_side_and_other_symbols_are_independent():
    state, _ = run(initial(), candle(0, side="LONG"))
    assert not isinstance(run(state, candle(1, side="SHORT"))[1], Rejection)
    assert not isinstance(run(state, candle(1, symbol="ETHUSDT"))[1], Rejection)


def test_candle_seen_twice_is_acknowledged_and_changes_nothing():
    state, _ = run(initial(), candle(5))
    assert decide(state, candle(5), candle(5).close_time, POLICY) == []
    assert decide(state, candle(3), candle(3).close_time, POLICY) == []  # older than the last issued
    assert state.last_open == {("BTCUSDT", "15m"): T0 + 5 * M15}


def test_cooldown_clear_per_side_and_both():
    state, _ = run(initial(), candle(0, side="LONG"))
    state, _ = run(state, candle(1, side="SHORT"))
    now = candle(1).close_time
    cleared = decide(state, ClearCooldown("BTCUSDT", "LONG", by=1), now, POLICY)
    assert cleared == [CooldownCleared("BTCUSDT", "LONG", by=1)]
    both = decide(state, ClearCooldown("BTCUSDT", None, by=1), now, POLICY)
    assert {e.side for e in both} == {"LONG", "SHORT"}
    state = fold(both, state)
    assert state.active_cooldowns(now) == {}
    assert not isinstance(run(state, candle(2))[1], Rejection)


def test_cooldown_clear_rejects_bad_side_and_nothing_active():
    assert isinstance(decide(initial(), ClearCooldown("BTCUSDT", "UP"), 0, POLICY), Rejection)
    assert isinstance(decide(initial(), ClearCooldown("BTCUSDT"), 0, POLICY), Rejection)
    state, _ = run(initial(), candle(0))
    expired = candle(0).close_time + 3_600_000
    assert isinstance(decide(state, ClearCooldown("BTCUSDT", "LONG"), expired, POLICY), Rejection)


def test_signals_today_counts_by_market_day():
    state, _ = run(initial(), candle(0))
    state, _ = run(state, candle(1, side="SHORT"))
    now = candle(1).close_time
    assert state.issued_on(now) == 2
    assert state.issued_on(now + 86_400_000) == 0


def test_unknown_events_leave_state_alone():
    state = initial()
    assert evolve(state, CooldownStarted("X", "LONG", 5)).cooldowns == {("X", "LONG"): 5}
    assert evolve(state, object()) is state


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(["LONG", "SHORT"]), st.integers(60, 100)),
        max_size=40,
    )
)
def test_no_two_issues_of_one_side_within_the_cooldown(seq):
    """Whatever the candles, issued signals of one side are at least the cooldown apart."""
    state = initial()
    issued: list[tuple[str, int]] = []
    for k, side, conf in sorted(seq):
        state, out = run(state, candle(k, side=side, confidence=conf))
        if isinstance(out, list) and out:
            issued.append((side, out[1].until - POLICY.cooldown_ms))
            assert conf >= 75
    for side in ("LONG", "SHORT"):
        closes = [c for s, c in issued if s == side]
        assert all(b - a >= POLICY.cooldown_ms for a, b in itertools.pairwise(closes))
    keys = [k for k, _, _ in sorted(seq)]
    assert len(issued) <= len(set(keys))  # at most one signal per candle
