"""What is owed to whom: pending deliveries = issued − delivered − failed, folded from the log.

A projection, not a decider: `Outbox.apply(record)` folds one logged event (anything with
`position, stream, type, data, recorded_at`), deterministic and free of I/O, so a restart
that folds the same log owes exactly the same messages. Attempts without an outcome stay
pending (they are the only possible duplicates after a crash).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from domain.events import LoggedEvent, user_of

MANUAL, AUTO = 0, 1  # delivery priority: replies to commands before broadcasts


@dataclass(frozen=True)
class Delivery:
    signal_id: str
    chat_id: int
    signal: dict[str, Any]
    issued_ms: int
    priority: int
    position: int
    attempts: int = 0
    redirected: bool = False  # already re-addressed once (a group's migration): never again
    reply_to: int | None = None  # the command's message in a group: the signal answers it

    @property
    def key(self) -> tuple[str, int]:
        return (self.signal_id, self.chat_id)


class Outbox:
    """Pending deliveries in log order, plus the users known to have blocked the bot.

    Only users (positive chat ids) are remembered as blocked: a user's next message unblocks them
    (BotUnblocked), while a group that removed the bot has no such event, so each later delivery
    to a group simply tries once.
    """

    def __init__(self) -> None:
        self.pending: dict[tuple[str, int], Delivery] = {}
        self.blocked: set[int] = set()
        self.position = 0

    def apply(self, rec: LoggedEvent) -> list[Delivery]:
        """Fold one event; returns the deliveries it made owed (usually none)."""
        if rec.position <= self.position:
            return []
        self.position = rec.position
        data = rec.data
        match rec.type:
            case "ManualSignalIssued":
                chats, priority = [data.get("chat_id") or user_of(rec.stream)], MANUAL
            case "AutoSignalIssued":
                chats, priority = data["recipients"], AUTO
            case "DeliveryRedirected":
                return self._redirect(data)
            case _:
                self._settle(rec)
                return []
        owed = [Delivery(data["signal_id"], chat, data["signal"], rec.recorded_at, priority, rec.position,
                         reply_to=data.get("reply_to")) for chat in chats]
        owed = [d for d in owed if d.key not in self.pending]
        self.pending.update((d.key, d) for d in owed)
        return owed

    def _settle(self, rec: LoggedEvent) -> None:
        data = rec.data
        match rec.type:
            case "DeliveryAttempted":
                key = (data["signal_id"], data["chat_id"])
                if key in self.pending:
                    self.pending[key] = replace(self.pending[key], attempts=self.pending[key].attempts + 1)
            case "SignalDelivered":
                self.pending.pop((data["signal_id"], data["chat_id"]), None)
            case "DeliveryFailed":
                self.pending.pop((data["signal_id"], data["chat_id"]), None)
                if data.get("reason") == "blocked" and data["chat_id"] > 0:
                    self.blocked.add(data["chat_id"])
            case "BotBlocked":
                self.blocked.add(user_of(rec.stream))
            case "BotUnblocked":
                self.blocked.discard(user_of(rec.stream))

    def _redirect(self, data: dict[str, Any]) -> list[Delivery]:
        old = self.pending.pop((data["signal_id"], data["chat_id"]), None)
        if old is None:
            return []
        moved = replace(old, chat_id=data["to_chat_id"], attempts=0, redirected=True)
        self.pending[moved.key] = moved
        return [moved]

    def in_flight(self) -> list[Delivery]:
        """Pending deliveries already attempted: a crash may have sent them once already."""
        return [d for d in self.pending.values() if d.attempts]


def fold(records: Any) -> Outbox:
    outbox = Outbox()
    for rec in records:
        outbox.apply(rec)
    return outbox
