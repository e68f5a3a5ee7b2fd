"""The credit ledger read from the log: every grant and charge, and the balance it adds up to.

A pure fold over user-stream events (anything with position, stream, type, data,
recorded_at), shared by `/audit` and `main.py audit` so both tell the same story.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from domain.events import LoggedEvent, user_of


@dataclass(frozen=True)
class Entry:
    """One credit movement or signal: `amount` is signed (grants and purchases +, charges and revocations −)."""

    position: int
    user_id: int
    at: int
    kind: str  # grant | signal | revoke
    amount: int  # credits
    reason: str
    signal_id: str | None  # the signal charged, or refunded (a grant with reason "refund")
    balance: int
    charge_id: str | None = None  # the Stars payment bought (a grant with reason "purchase") or refunded (a revoke)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def entries(records: Iterable[LoggedEvent]) -> Iterator[Entry]:
    """Ledger entries in log order, each with the user's running balance."""
    balances: dict[int, int] = {}
    for record in records:
        user = user_of(record.stream)
        if user is None:
            continue
        data = record.data
        if record.type == "CreditsGranted":
            amount, kind, reason, signal_id = data["amount"], "grant", data["reason"], data.get("signal_id")
            if data.get("by") is not None:
                reason = f"{reason} by {data['by']}"
        elif record.type == "ManualSignalIssued":
            amount, kind, signal_id = -data["cost"], "signal", data["signal_id"]
            reason = describe_signal(data.get("signal") or {})
        elif record.type == "CreditsRevoked":
            amount, kind, reason, signal_id = -data["amount"], "revoke", data["reason"], None
        else:
            continue
        balances[user] = balances.get(user, 0) + amount
        yield Entry(record.position, user, record.recorded_at, kind, amount, reason, signal_id, balances[user],
                    data.get("charge_id") if record.type != "ManualSignalIssued" else None)


def describe_signal(signal: dict[str, Any]) -> str:
    """A one-line subject for a signal payload: `BTCUSDT 1h LONG`, or `scan BTCUSDT ETHUSDT` (its setups)."""
    if signal.get("kind") == "scan":
        return " ".join(["scan", *(str(s.get("symbol")) for s in signal.get("signals", []))])
    return " ".join(str(signal.get(k)) for k in ("symbol", "interval", "side") if signal.get(k) is not None)
