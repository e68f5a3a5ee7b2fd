"""The operator's commands over a log: replay, audit, verify, backup. Read-only except backup's copy."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app.log_file import read_only_folder
from domain import autosignal, invariants, ledger, outcomes
from domain.events import decode, upcast, user_of, user_stream
from domain.outbox import Outbox
from domain.payments import pack_of
from domain.track_record import TrackRecord, summarize
from domain.user import UserState
from domain.user import evolve as evolve_user
from eventstore import EventStore, Recorded


def open_log(db_path: str | Path) -> EventStore:
    """The log for reading only: nothing is written to the file, and a file that is not a log is refused."""
    if not Path(db_path).is_file():
        raise FileNotFoundError(f"no event log at {db_path}")
    try:
        return EventStore.open(db_path, upcast=upcast, readonly=True)
    except sqlite3.OperationalError:
        read_only = read_only_folder(Path(db_path))
        if read_only is None:
            raise
        raise RuntimeError(f"{db_path}: {read_only}; copy the log, with any -wal file, to a writable "
                           "folder to read it") from None


def with_progress(records: Iterable[Recorded], total: int, out: TextIO | None) -> Iterator[Recorded]:
    """Pass records through, drawing a progress bar on `out` for large logs."""
    step = max(total // 50, 1)
    show = out is not None and total >= 100_000
    for record in records:
        if show and record.position % step == 0:
            done = record.position * 40 // max(total, 1)
            out.write(f"\rreplaying [{'#' * done}{'.' * (40 - done)}] {record.position:,}/{total:,}")
            out.flush()
        yield record
    if show:
        out.write("\n")


@dataclass
class Summary:
    """Every projection and session state, rebuilt from the log."""

    users: dict[int, UserState] = field(default_factory=dict)
    outbox: Outbox = field(default_factory=Outbox)
    autosignal: autosignal.AutoSignalState = field(default_factory=autosignal.initial)
    outcomes: outcomes.OutcomeState = field(default_factory=outcomes.OutcomeState)
    track_record: TrackRecord = field(default_factory=TrackRecord)
    manual_signals: int = 0
    auto_signals: int = 0
    delivered: int = 0
    failed: int = 0
    events: int = 0

    def apply(self, record: Recorded) -> None:
        self.events += 1
        self.outbox.apply(record)
        self.track_record.apply(record)
        if record.type in ("ManualSignalIssued", "AutoSignalIssued") or record.stream == outcomes.STREAM:
            self.outcomes = outcomes.evolve(self.outcomes, decode(record.type, record.data))
        user = user_of(record.stream)
        if record.type == "AutoSignalIssued":
            self.auto_signals += 1
        elif record.type == "ManualSignalIssued":
            self.manual_signals += 1
        elif record.type == "SignalDelivered":
            self.delivered += 1
        elif record.type == "DeliveryFailed":
            self.failed += 1
        if user is not None:
            state = self.users.get(user) or UserState(user_id=user)
            self.users[user] = evolve_user(state, decode(record.type, record.data), record.meta.get("update_id"))
        elif record.stream == autosignal.STREAM:
            self.autosignal = autosignal.evolve(self.autosignal, decode(record.type, record.data))

    def figures(self, now_ms: int) -> dict[str, Any]:
        registered = [u for u in self.users.values() if u.registered]
        return {
            "events": self.events,
            "users": len(registered),
            "credits_in_circulation": sum(u.credits for u in self.users.values()),
            "manual_signals": self.manual_signals,
            "autosignals": self.auto_signals,
            "delivered": self.delivered,
            "failed": self.failed,
            "pending_deliveries": len(self.outbox.pending),
            "autosignals_enabled": self.autosignal.enabled,
            "cooldowns": {f"{s}:{side}": until for (s, side), until in sorted(self.autosignal.cooldowns.items())},
            "signals_open": len(self.outcomes.open),
            "signals_closed": len(self.outcomes.closed),
            "average_r_closed": summarize(self.track_record.closed).avg_r,
        }


def replay(store: EventStore, progress: TextIO | None = sys.stderr) -> Summary:
    summary = Summary()
    for record in with_progress(store.read_all(), store.last_position(), progress):
        summary.apply(record)
    return summary


def audit(store: EventStore, user: int | None = None, since_ms: int | None = None) -> dict[str, Any]:
    """The ledger of one user or all, with the balance each adds up to (entries before `since` still count)."""
    users: dict[int, dict[str, Any]] = {}
    records = store.read_stream(user_stream(user)) if user is not None else store.read_all()
    for entry in ledger.entries(records):
        book = users.setdefault(entry.user_id, {"user_id": entry.user_id, "entries": [], "balance": 0})
        book["balance"] = entry.balance
        if since_ms is None or entry.at >= since_ms:
            book["entries"].append(entry.to_dict())
    return {"users": sorted(users.values(), key=lambda b: b["user_id"])}


def audit_payments(store: EventStore, since_ms: int | None = None) -> dict[str, Any]:
    """Every Stars payment (received at or after `since`): what it granted and whether it was refunded,
    with totals overall and per user."""
    rows: dict[str, dict[str, Any]] = {}
    for logged in store.read_all():
        user, data = user_of(logged.stream), logged.data
        row = rows.get(data.get("charge_id") or "")
        if user is None:
            continue
        if logged.type == "StarsPaymentReceived":
            rows[data["charge_id"]] = {"user_id": user, "charge_id": data["charge_id"], "stars": data["amount"],
                                       "pack": data["pack"], "granted": {}, "refunded": None,
                                       "at": data.get("at") or logged.recorded_at}
        elif row is None:
            continue
        elif logged.type == "CreditsGranted":
            row["granted"] = {"credits": data["amount"]}
        elif logged.type == "PremiumGranted":
            row["granted"] = {"premium_days": pack_of(row["pack"], 0).days}
        elif logged.type in ("RefundRequested", "RefundFailed"):
            row["refunded"] = {"status": "pending" if logged.type == "RefundRequested" else "failed",
                               "reason": data["reason"]}
        elif logged.type == "StarsRefunded":
            row["refunded"] = {**(row["refunded"] or {}), "status": "refunded", "stars": data["amount"]}
        elif logged.type == "CreditsRevoked":
            row["refunded"].update(credits_revoked=data["amount"], unrecovered=data.get("unrecovered", 0))
    payments = [r for r in rows.values() if since_ms is None or r["at"] >= since_ms]
    return {"payments": payments, "totals": _payment_totals(payments),
            "users": {str(u): _payment_totals([r for r in payments if r["user_id"] == u])
                      for u in sorted({r["user_id"] for r in payments})}}


def _payment_totals(payments: list[dict[str, Any]]) -> dict[str, int]:
    refunded = [r for r in payments if (r["refunded"] or {}).get("status") == "refunded"]
    return {
        "payments": len(payments),
        "stars_received": sum(r["stars"] for r in payments),
        "stars_refunded": sum(r["refunded"]["stars"] for r in refunded),
        "credits_sold": sum(r["granted"].get("credits", 0) for r in payments),
        "premium_days_sold": sum(r["granted"].get("premium_days", 0) for r in payments),
        "refunds": len(refunded),
    }


_STATUS = {"tp2": "tp2", "stop": "stopped", "tp1_then_stop": "stopped", "expired": "expired"}


def audit_outcomes(store: EventStore, since_ms: int | None = None) -> dict[str, Any]:
    """Every tracked signal (signal candle at or after `since`) with its levels, fill and outcome.

    Status: open, tp1 (open, TP1 taken), tp2, stopped, expired; result in R after fees once closed.
    Statuses and results come from domain.track_record; levels and fill from the issued and entered events.
    """
    record = TrackRecord()
    levels: dict[str, dict[str, Any]] = {}
    fills: dict[str, float] = {}
    for logged in store.read_all():
        data = logged.data
        if logged.type in ("ManualSignalIssued", "AutoSignalIssued"):
            for trade_id, setup in outcomes.setups(data["signal_id"], data.get("signal") or {}):
                levels.setdefault(trade_id, {k: setup.get(k) for k in ("open_time", "entry", "stop", "tp1", "tp2")})
        elif logged.type == "SignalEntered":
            fills[data["signal_id"]] = data["price"]
        record.apply(logged)
    rows = [{"signal_id": r.signal_id, "kind": r.kind, "symbol": r.symbol, "interval": r.interval, "side": r.side,
             "confidence": r.confidence, **levels[r.signal_id], "fill": fills.get(r.signal_id),
             "status": _STATUS[r.reason], "reason": r.reason, "tp1_first": r.tp1_first, "result_r": r.result_r,
             "result_pct": r.result_pct, "bars": r.bars} for r in record.closed]
    for trade_id, entry in record.open.items():
        s = entry.signal
        rows.append({"signal_id": trade_id, "kind": entry.kind, "symbol": s.get("symbol"),
                     "interval": s.get("interval"), "side": s.get("side"), "confidence": s.get("confidence"),
                     **levels[trade_id], "fill": fills.get(trade_id), "status": "tp1" if entry.tp1 else "open",
                     "reason": None, "tp1_first": entry.tp1, "result_r": None, "result_pct": None, "bars": None})
    if since_ms is not None:
        rows = [row for row in rows if (row["open_time"] or 0) >= since_ms]
    rows.sort(key=lambda row: (row["open_time"] or 0, row["signal_id"]))
    closed = [r for r in record.closed if since_ms is None or (levels[r.signal_id]["open_time"] or 0) >= since_ms]
    return {"signals": rows, "open": sum(1 for row in rows if row["result_r"] is None),
            "summary": asdict(summarize(closed))}


def verify(store: EventStore) -> tuple[bool, list[str]]:
    """Hash chain and append-only first, then the domain invariants; lines to print and the verdict."""
    chain = store.verify()
    lines = [f"chain: {chain.events_checked} events checked, " + ("ok" if chain.ok else "BROKEN")]
    if chain.head_hash:
        lines.append(f"head: position {chain.events_checked}, hash {chain.head_hash} (keep it: a later "
                     "verify that does not reach this hash means events were cut off the end)")
    if not chain.ok:
        lines.append(f"first violation at position {chain.first_bad_position}: {chain.reason}")
        return False, lines
    report = invariants.check(store.read_all())
    lines.append(
        f"signals owed: {report.issued}, delivered: {report.delivered}, failed: {report.failed}, "
        f"pending: {report.pending}"
    )
    lines.append(f"refunds of failed paid signals: {report.refunded}, owed: {report.refunds_owed}"
                 + (" (written at the next start)" if report.refunds_owed else ""))
    pay = report.payments
    lines.append(f"Stars payments: {pay.payments}, refunded: {len(pay.refunds_done)}, refund failed: "
                 f"{pay.refund_failed}, refunds pending: {pay.refunds_pending}"
                 + (" (the refund worker resumes them at the next start)" if pay.refunds_pending else ""))
    lines.append(f"follow-ups owed: {report.followups}, delivered: {report.followups_delivered}, failed: "
                 f"{report.followups_failed}, pending: {report.followups_pending}; "
                 f"signals closed: {report.closed_signals}")
    if report.in_flight_duplicates:
        lines.append(f"attempted more than once (in flight at a crash): {len(report.in_flight_duplicates)}")
    if not report.ok:
        lines.append(f"first violation at position {report.position}: {report.violation}")
        return False, lines
    lines.append("invariants: ok")
    return True, lines


def backup(db_path: str | Path, target: str | Path) -> int:
    """A consistent online copy with SQLite's backup API, verified before success; returns events copied.

    The source gets open_log's refusals (an empty or foreign file is no log to back up), and a failed
    backup leaves no target behind, so a retry is not told the file already exists.
    """
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; choose a new file")
    open_log(db_path).close()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        with EventStore.open(target, create=False) as restored:
            report = restored.verify()
        if not report.ok:
            raise RuntimeError(f"backup failed verification at position {report.first_bad_position}: "
                               f"{report.reason}")
    except BaseException:
        for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    return report.events_checked
