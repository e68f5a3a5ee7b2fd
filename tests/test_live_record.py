"""The live record line: what closed signals like this one (same interval and setup kind) did, from the
outcomes stream, shown next to the backtest's record once there are 30 of them."""

from __future__ import annotations

from typing import Any

from domain.outbox import Outbox
from domain.track_record import LIVE_MIN_CLOSED, ClosedSignal, live_record, setup_kind
from telegram_adapter.signal_text import signal_text
from tests.fakes.records import Rec

HOUR = 3_600_000


def signal(k: int, interval: str = "1h", kinds: tuple[str, ...] = ("OB", "BOS")) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "interval": interval, "open_time": k * HOUR, "side": "LONG", "entry": 100.0,
            "stop": 99.0, "tp1": 102.0, "tp2": None, "confidence": 42,
            "setup": {"triggers": [f"LONG:{kind}:{k * HOUR - HOUR}" for kind in kinds]}}


def closed(k: int, interval: str = "1h", kind: str = "BOS+OB", r: float = 1.0) -> ClosedSignal:
    return ClosedSignal(f"a:{k}", "auto", "BTCUSDT", interval, "LONG", 42, r, 1.0, "tp2" if r > 0 else "stop", r > 0,
                        k, 3, kind)


def test_setup_kind_is_the_sorted_trigger_kinds() -> None:
    assert setup_kind(signal(1)) == "BOS+OB" and setup_kind({"setup": None}) == ""


def test_the_live_record_counts_only_closed_signals_like_this_one_from_30_on() -> None:
    rows = [closed(k, r=1.0 if k % 3 == 0 else -1.0) for k in range(LIVE_MIN_CLOSED - 1)]
    others = [closed(100 + k, interval="4h") for k in range(50)] + [closed(200 + k, kind="OB") for k in range(50)]
    assert live_record(rows + others, signal(500)) is None  # 29 like it
    live = live_record([*rows, closed(99, r=-1.0), *others], signal(500))
    assert live == {"n": 30, "tp1_first_pct": 33.3, "avg_r": -0.333, "interval": "1h", "setup_kind": "BOS+OB"}


def test_a_signal_owed_carries_what_closed_before_it_and_the_message_shows_it() -> None:
    outbox, position = Outbox(), 0

    def log(stream: str, type_: str, data: dict[str, Any]) -> list:
        nonlocal position
        position += 1
        return outbox.apply(Rec(position, stream, type_, data))

    for k in range(LIVE_MIN_CLOSED):
        log("autosignal", "AutoSignalIssued", {"signal_id": f"a:{k}", "signal": signal(k), "recipients": [7]})
        log("outcomes", "SignalClosed", {"signal_id": f"a:{k}", "reason": "stop", "result_r": -1.0,
                                         "result_pct": -1.0, "bars": 2})
        if k == LIVE_MIN_CLOSED - 2:  # 29 closed: not yet
            [early] = log("autosignal", "AutoSignalIssued", {"signal_id": "a:early", "signal": signal(900),
                                                             "recipients": [7]})
    [owed] = log("autosignal", "AutoSignalIssued", {"signal_id": "a:late", "signal": signal(901), "recipients": [7]})
    assert "live_record" not in early.signal and "Live:" not in signal_text(early.signal, "en")
    assert owed.signal["live_record"]["n"] == LIVE_MIN_CLOSED and owed.signal["live_record"]["avg_r"] == -1.0
    text = signal_text(owed.signal, "en")
    assert "Live: 0% reached TP1 first, -1.00R after fees on average (n = 30 closed 1h BOS+OB signals)" in text
