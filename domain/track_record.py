"""The track record: closed signals folded from the log, and the figures traders ask for.

One projection and one summary for `/winrate`, `main.py audit --outcomes` and `main.py backtest`, so
the live record and the backtest's table are the same computation. Pure: `TrackRecord.apply` folds a
logged event (anything with `type`, `data`); `summarize` turns closed rows into figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.outcomes import setups


@dataclass(frozen=True)
class ClosedSignal:
    """One closed setup. `closed_at` is market time: the open time (ms) of the candle that closed it."""

    signal_id: str
    kind: str  # auto | manual
    symbol: str
    interval: str
    side: str
    confidence: float | None
    result_r: float  # after fees
    result_pct: float
    reason: str  # tp2 | stop | tp1_then_stop | expired
    tp1_first: bool  # TP1 was reached before the stop (and before expiry)
    closed_at: int | None
    bars: int
    setup_kind: str = ""  # the trigger kinds of its setup, e.g. "BOS+OB" (setup_kind())


@dataclass
class _Open:
    kind: str
    signal: dict[str, Any]
    tp1: bool = False
    last_time: int | None = None


@dataclass
class TrackRecord:
    """Open setups and closed rows, in the order their `SignalClosed` events were logged."""

    open: dict[str, _Open] = field(default_factory=dict)
    closed: list[ClosedSignal] = field(default_factory=list)

    def apply(self, record: Any) -> None:
        data = record.data
        match record.type:
            case "ManualSignalIssued" | "AutoSignalIssued":
                kind = "manual" if record.type == "ManualSignalIssued" else "auto"
                for trade_id, setup in setups(data["signal_id"], data.get("signal") or {}):
                    self.open.setdefault(trade_id, _Open(kind, dict(setup)))
            case "SignalEntered" | "TargetHit" | "StopHit" | "SignalExpired":
                entry = self.open.get(data["signal_id"])
                if entry is None:
                    return
                if data.get("open_time") is not None:
                    entry.last_time = data["open_time"]
                if record.type == "TargetHit" and data.get("target") == "tp1":
                    entry.tp1 = True
            case "SignalClosed":
                entry = self.open.pop(data["signal_id"], None)
                if entry is None:
                    return
                s = entry.signal
                reached = entry.tp1 or data["reason"] in ("tp2", "tp1_then_stop")
                self.closed.append(ClosedSignal(
                    data["signal_id"], entry.kind, str(s.get("symbol")), str(s.get("interval")), str(s.get("side")),
                    s.get("confidence"), float(data["result_r"]), float(data["result_pct"]), data["reason"],
                    reached, entry.last_time, int(data["bars"]), setup_kind(s)))


def setup_kind(signal: Mapping[str, Any]) -> str:
    """The kinds of a signal's setup triggers (`SIDE:KIND:formed`), sorted and joined: "BOS+OB"; "" without."""
    triggers = (signal.get("setup") or {}).get("triggers") or []
    return "+".join(sorted({str(t).split(":")[1] for t in triggers if str(t).count(":") == 2}))


LIVE_MIN_CLOSED = 30  # closed signals like one before its live record is shown


def live_record(closed: Iterable[ClosedSignal], signal: Mapping[str, Any],
                minimum: int = LIVE_MIN_CLOSED) -> dict[str, Any] | None:
    """What the closed signals like `signal` (same interval and setup kind) did: n, % TP1 first, average R
    after fees; None under `minimum` of them."""
    kind, interval = setup_kind(signal), signal.get("interval")
    like = [r for r in closed if r.interval == interval and r.setup_kind == kind]
    if len(like) < minimum:
        return None
    figures = summarize(like)
    return {"n": figures.closed, "tp1_first_pct": figures.tp1_first_pct, "avg_r": figures.avg_r,
            "interval": interval, "setup_kind": kind}


@dataclass(frozen=True)
class Summary:
    """Figures over closed signals; percentages of `closed`, R after fees. None where undefined."""

    closed: int
    tp1_first_pct: float | None
    tp2_pct: float | None  # closed at the last target
    stopped_pct: float | None  # closed at the stop before any target
    expired_pct: float | None
    avg_r: float | None
    profit_factor: float | None  # gross won R / gross lost R; None without a loss
    max_drawdown_r: float  # deepest fall of the cumulative R from its running peak, in close order


def summarize(rows: Iterable[ClosedSignal]) -> Summary:
    rows = list(rows)
    n = len(rows)
    if not n:
        return Summary(0, None, None, None, None, None, None, 0.0)

    def pct(count: int) -> float:
        return round(100 * count / n, 1)

    results = [r.result_r for r in rows]
    won = sum(x for x in results if x > 0)
    lost = -sum(x for x in results if x < 0)
    peak = total = drawdown = 0.0
    for x in results:
        total += x
        peak = max(peak, total)
        drawdown = max(drawdown, peak - total)
    return Summary(
        closed=n,
        tp1_first_pct=pct(sum(r.tp1_first for r in rows)),
        tp2_pct=pct(sum(r.reason == "tp2" for r in rows)),
        stopped_pct=pct(sum(r.reason == "stop" for r in rows)),
        expired_pct=pct(sum(r.reason == "expired" for r in rows)),
        avg_r=round(total / n, 3),
        profit_factor=round(won / lost, 2) if lost > 0 else None,
        max_drawdown_r=round(drawdown, 2),
    )
