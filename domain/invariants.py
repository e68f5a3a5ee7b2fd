"""Invariants the whole log must satisfy, checked by `main.py verify` after the hash chain.

Pure: fold events in position order and report the first violation. Duplicated sends can
only be attempts in flight at a crash; they are counted and reported, not failed. Likewise a
failed paid signal whose refund is not written yet (a crash between the two) is reported as
owed, not failed: the next start writes it. A second refund, or one without a failed paid
delivery, is a violation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from domain import outcomes
from domain.events import LoggedEvent, user_of
from domain.outbox import Outbox
from domain.payment_checks import PaymentChecks

OUTCOME_TYPES = ("SignalEntered", "TargetHit", "StopHit", "SignalExpired", "SignalClosed")


@dataclass
class InvariantReport:
    ok: bool = True
    violation: str | None = None
    position: int | None = None
    issued: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    refunded: int = 0
    refunds_owed: int = 0
    followups: int = 0  # follow-up deliveries owed (f:<trade id>:<status>)
    followups_delivered: int = 0  # kept apart from `delivered`, which counts against `issued`
    followups_failed: int = 0
    followups_pending: int = 0
    closed_signals: int = 0
    in_flight_duplicates: list[tuple[str, int]] = field(default_factory=list)
    payments: PaymentChecks = field(default_factory=PaymentChecks)

    def fail(self, position: int, message: str) -> None:
        if self.ok:
            self.ok, self.position, self.violation = False, position, message


def check(records: Iterable[LoggedEvent]) -> InvariantReport:
    """No negative balance; every delivery outcome matches an issued (signal, chat) or a follow-up the
    Outbox derives; one outcome each; one refund per failed paid manual signal and none for anything
    else; outcome events only for issued, still open setups (so each closed one has exactly one
    SignalClosed); Stars payments granted or refunded once (`domain.payment_checks`).

    A redirect (the chat became a supergroup) is the old chat's outcome and makes the new chat owed.
    """
    report = InvariantReport()
    balances: dict[int, int] = {}
    owed: dict[tuple[str, int], int] = {}  # (signal_id, chat) -> attempts
    followup_keys: set[tuple[str, int]] = set()  # the owed keys that are follow-ups, not signals
    settled: set[tuple[str, int]] = set()
    paid: dict[str, tuple[int, int]] = {}  # manual signal_id -> (user, cost) when cost > 0
    failed_paid: set[str] = set()
    refunded: set[str] = set()
    last = 0
    outbox = Outbox()  # derives the follow-ups owed
    trades: set[str] = set()
    closed: set[str] = set()
    for record in records:
        last = record.position
        data: dict[str, Any] = record.data
        kind = record.type
        user = user_of(record.stream)
        if user is not None and (wrong := report.payments.apply(record.stream, kind, data)):
            report.fail(record.position, wrong)
        if kind == "CreditsRevoked" and user is not None:
            balances[user] = balances.get(user, 0) - data["amount"]
            if balances[user] < 0:
                report.fail(record.position, f"user {user} balance went negative ({balances[user]})")
        made_owed = outbox.apply(record)
        if record.stream == outcomes.STREAM:  # the follow-ups an outcome event makes owed
            for followup in made_owed:
                owed[followup.key] = 0
                followup_keys.add(followup.key)
                report.followups += 1
        if kind in ("ManualSignalIssued", "AutoSignalIssued"):
            trades.update(trade_id for trade_id, _ in outcomes.setups(data["signal_id"], data.get("signal") or {}))
        elif kind in OUTCOME_TYPES and record.stream == outcomes.STREAM:
            if data["signal_id"] in closed:
                report.fail(record.position, f"{kind} for {data['signal_id']} after its SignalClosed")
            elif data["signal_id"] not in trades:
                report.fail(record.position, f"{kind} for {data['signal_id']} which was never issued")
            if kind == "SignalClosed":
                closed.add(data["signal_id"])
                report.closed_signals = len(closed)
        if kind == "CreditsGranted" and user is not None:
            balances[user] = balances.get(user, 0) + data["amount"]
            if data["reason"] == "refund":
                _check_refund(report, record.position, user, data, paid, failed_paid, refunded)
        elif kind == "ManualSignalIssued" and user is not None:
            balances[user] = balances.get(user, 0) - data["cost"]
            if balances[user] < 0:
                report.fail(record.position, f"user {user} balance went negative ({balances[user]})")
            owed[(data["signal_id"], data.get("chat_id") or user)] = 0
            if data["cost"] > 0:
                paid[data["signal_id"]] = (user, data["cost"])
            report.issued += 1
        elif kind == "AutoSignalIssued":
            for chat in data["recipients"]:
                owed[(data["signal_id"], chat)] = 0
                report.issued += 1
        elif kind in ("DeliveryAttempted", "SignalDelivered", "DeliveryFailed", "DeliveryRedirected"):
            key = (data["signal_id"], data["chat_id"])
            if key not in owed:
                report.fail(record.position, f"{kind} for {key} which was never issued")
                continue
            if kind == "DeliveryAttempted":
                owed[key] += 1
                continue
            if key in settled:
                report.fail(record.position, f"{key} has a second outcome ({kind})")
                continue
            settled.add(key)
            followup = key in followup_keys
            if kind == "DeliveryRedirected":
                owed[(data["signal_id"], data["to_chat_id"])] = 0  # the same signal, owed to the new chat
                if followup:
                    followup_keys.add((data["signal_id"], data["to_chat_id"]))
            elif kind == "SignalDelivered":
                if followup:
                    report.followups_delivered += 1
                else:
                    report.delivered += 1
            elif followup:
                report.followups_failed += 1
            else:
                report.failed += 1
                if data["signal_id"] in paid:
                    failed_paid.add(data["signal_id"])
    if wrong := report.payments.unfinished():
        report.fail(last, wrong)
    report.pending = sum(1 for key in owed if key not in settled and key not in followup_keys)
    report.followups_pending = sum(1 for key in followup_keys if key not in settled)
    report.refunded = len(refunded)
    report.refunds_owed = len(failed_paid - refunded)
    report.in_flight_duplicates = sorted(key for key, attempts in owed.items() if attempts > 1)
    return report


def _check_refund(report: InvariantReport, position: int, user: int, data: dict[str, Any],
                  paid: dict[str, tuple[int, int]], failed_paid: set[str], refunded: set[str]) -> None:
    """A refund gives back exactly what its failed paid signal cost, to its user, once."""
    signal_id = data.get("signal_id")
    if signal_id not in failed_paid:
        report.fail(position, f"refund of {signal_id} for user {user} without a failed paid delivery")
    elif signal_id in refunded:
        report.fail(position, f"{signal_id} refunded a second time")
    elif paid[signal_id] != (user, data["amount"]):
        report.fail(position, f"refund of {signal_id} is {data['amount']} to user {user}, the charge was "
                              f"{paid[signal_id][1]} to user {paid[signal_id][0]}")
    else:
        refunded.add(signal_id)
