"""Invariants of Stars payments, folded in log order for `main.py verify` (via `domain.invariants`).

Every `StarsPaymentReceived` is one per charge and is followed in its stream, in the same append, by
exactly one grant of that charge (`CreditsGranted` reason purchase, or `PremiumGranted`) or exactly one
`RefundRequested`. A refund is requested for a payment received, settles once (`StarsRefunded` or
`RefundFailed`) and is reversed at most once, right with its `StarsRefunded`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMPANIONS = frozenset({"CreditsGranted", "PremiumGranted", "RefundRequested"})
REVERSALS = frozenset({"CreditsRevoked", "PremiumShortened"})


@dataclass
class PaymentChecks:
    payments: int = 0
    refund_failed: int = 0
    received: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    refunds_done: set[str] = field(default_factory=set)
    awaiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # stream -> (charge, grant | reversal)

    @property
    def refunds_pending(self) -> int:
        return len(self.pending)

    def apply(self, stream: str, kind: str, data: dict[str, Any]) -> str | None:
        """Fold one user-stream event; returns what is wrong with it, else None."""
        charge = data.get("charge_id")
        expected, mode = self.awaiting.pop(stream, (None, None))
        if mode == "grant":
            if kind not in COMPANIONS or charge != expected:
                return f"payment {expected} is not followed by exactly one grant or RefundRequested"
            if kind != "RefundRequested":
                return None
        elif mode == "reversal" and kind in REVERSALS and charge == expected:
            return None
        elif kind in ("CreditsGranted", "PremiumGranted") and charge is not None:
            return f"grant for charge {charge} without its StarsPaymentReceived"
        match kind:
            case "StarsPaymentReceived":
                if charge in self.received:
                    return f"payment {charge} received a second time"
                self.received.add(charge)
                self.payments += 1
                self.awaiting[stream] = (charge, "grant")
            case "RefundRequested":
                return self._request(charge)
            case "StarsRefunded" | "RefundFailed":
                if charge not in self.pending:
                    return f"{kind} for {charge} without a pending RefundRequested"
                self.pending.discard(charge)
                if kind == "StarsRefunded":
                    if charge in self.refunds_done:
                        return f"{charge} refunded a second time"
                    self.refunds_done.add(charge)
                    self.awaiting[stream] = (charge, "reversal")
                else:
                    self.refund_failed += 1
            case "CreditsRevoked" | "PremiumShortened":
                return f"{kind} for {charge} without its StarsRefunded"
        return None

    def unfinished(self) -> str | None:
        """At the end of the log: a payment whose grant or RefundRequested never followed."""
        for charge, mode in self.awaiting.values():
            if mode == "grant":
                return f"payment {charge} is not followed by exactly one grant or RefundRequested"
        return None

    def _request(self, charge: str) -> str | None:
        if charge not in self.received:
            return f"RefundRequested for {charge}, which was never paid"
        if charge in self.pending:
            return f"refund of {charge} requested twice"
        self.pending.add(charge)
        return None
