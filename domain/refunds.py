"""Refunds owed: paid manual signals whose delivery failed, minus the refunds already recorded.

A projection folded from the log in position order (anything with position, stream, type,
data), so a refund owed when the process stopped is owed again after a restart, and one
already written is never owed twice. Only paid signals still in flight are held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.events import LoggedEvent, user_of


@dataclass(frozen=True)
class OwedRefund:
    user_id: int
    signal_id: str
    amount: int  # credits charged for the signal


class Refunds:
    """Paid manual signals not yet settled, and the failed ones not yet refunded."""

    def __init__(self) -> None:
        self.in_flight: dict[str, OwedRefund] = {}
        self.owed: dict[str, OwedRefund] = {}
        self.position = 0

    def apply(self, rec: LoggedEvent) -> list[OwedRefund]:
        """Fold one event; returns the refund it made owed (a DeliveryFailed of a paid signal), else []."""
        if rec.position <= self.position:
            return []
        self.position = rec.position
        data = rec.data
        match rec.type:
            case "ManualSignalIssued" if data.get("cost") and (user := user_of(rec.stream)) is not None:
                self.in_flight[data["signal_id"]] = OwedRefund(user, data["signal_id"], data["cost"])
            case "SignalDelivered":
                self.in_flight.pop(data["signal_id"], None)
            case "DeliveryFailed" if data["signal_id"] in self.in_flight:
                owed = self.owed[data["signal_id"]] = self.in_flight.pop(data["signal_id"])
                return [owed]
            case "CreditsGranted" if data.get("reason") == "refund":
                self.owed.pop(data.get("signal_id"), None)
        return []
