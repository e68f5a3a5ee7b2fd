"""What is owed to whom: pending deliveries = issued − delivered − failed, folded from the log.

A projection, not a decider: `Outbox.apply(record)` folds one logged event (anything with
`position, stream, type, data, recorded_at`), deterministic and free of I/O, so a restart
that folds the same log owes exactly the same messages. Attempts without an outcome stay
pending (they are the only possible duplicates after a crash).

Follow-ups are deliverables of their own, id `f:<trade id>:<status>` (status tp1, tp2, stop,
expired): when a delivered signal's setup hits TP1 (with a second target to come) or closes, each
chat with a `SignalDelivered` for it is owed one line, unless its user turned follow-ups off.

The track record of every signal is folded here too (`domain.track_record`): a signal owed gets, as
`live_record`, what the signals like it that closed before it was issued did, once there are
LIVE_MIN_CLOSED of them (the same on every fold: only earlier events count).

The last autosignals delivered to each chat are kept too: a user's stream records only what they paid
for, so the adapter adds these to the user's /history command (`Command.autosignals`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from domain import outcomes
from domain.events import LoggedEvent, user_of
from domain.language import Languages
from domain.track_record import TrackRecord, live_record

MANUAL, AUTO, FOLLOWUP = 0, 1, 2  # delivery priority: replies to commands, then broadcasts, then follow-ups
FOLLOWUP_PREFIX = "f:"
DELIVERED_KEPT = 10  # autosignals remembered per chat, for its /history
CLOSED_STATUS = {"tp2": "tp2", "stop": "stop", "tp1_then_stop": "stop", "expired": "expired"}


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
    language: str | None = None  # a manual signal's: its requester's (in a group too); else the chat's

    @property
    def key(self) -> tuple[str, int]:
        return (self.signal_id, self.chat_id)


@dataclass(frozen=True)
class AutoDelivered:
    """An autosignal that reached a chat: what a user's /history shows of the signals they did not pay for."""

    at: int  # ms UTC, when its SignalDelivered was logged
    signal_id: str
    signal: dict[str, Any]


@dataclass
class _Followed:
    """An issued setup still open: the chats it was delivered to, and its fill once entered."""

    setup: dict[str, Any]
    chats: set[int] = field(default_factory=set)
    fill: float | None = None


class Outbox:
    """Pending deliveries in log order, the users known to have blocked the bot, and the open setups
    whose outcome the chats that got them will hear about, and the users who want signals without charts.

    Only users (positive chat ids) are remembered as blocked: a user's next message unblocks them
    (BotUnblocked), while a group that removed the bot has no such event, so each later delivery
    to a group simply tries once.
    """

    def __init__(self) -> None:
        self.pending: dict[tuple[str, int], Delivery] = {}
        self.blocked: set[int] = set()
        self.followed: dict[str, _Followed] = {}  # trade id -> from its issue to its SignalClosed
        self.followups_off: set[int] = set()
        self.charts_off: set[int] = set()  # users who get signals as text only (ChartsToggled)
        self.record = TrackRecord()  # every signal's outcome, for the live record line
        self.languages = Languages()  # what each recipient reads: deliveries are worded at send time
        self.delivered_auto: dict[int, deque[AutoDelivered]] = {}  # the last DELIVERED_KEPT per chat
        self.position = 0

    def apply(self, rec: LoggedEvent) -> list[Delivery]:
        """Fold one event; returns the deliveries it made owed (usually none)."""
        if rec.position <= self.position:
            return []
        self.position = rec.position
        self.languages.apply(rec)
        data = rec.data
        language = None
        match rec.type:
            case "ManualSignalIssued":
                chats, priority = [data.get("chat_id") or user_of(rec.stream)], MANUAL
                language = self.languages.get(user_of(rec.stream))
                self._track(data)
            case "AutoSignalIssued":
                chats, priority = data["recipients"], AUTO
                self._track(data)
            case "SignalEntered" | "TargetHit" | "SignalClosed" if rec.stream == outcomes.STREAM:
                self.record.apply(rec)  # what the live record needs: TP1 reached, the close (reason, R)
                return self._owe(self._followups(rec))
            case "DeliveryRedirected":
                return self._redirect(data)
            case _:
                self._settle(rec)
                return []
        signal = data["signal"]
        live = live_record(self.record.closed, signal) if signal.get("side") else None
        self.record.apply(rec)
        signal = {**signal, "live_record": live} if live else signal
        return self._owe([Delivery(data["signal_id"], chat, signal, rec.recorded_at, priority, rec.position,
                                   reply_to=data.get("reply_to"), language=language) for chat in chats])

    def _owe(self, owed: list[Delivery]) -> list[Delivery]:
        owed = [d for d in owed if d.key not in self.pending]
        self.pending.update((d.key, d) for d in owed)
        return owed

    def _followups(self, rec: LoggedEvent) -> list[Delivery]:
        """The follow-ups an outcome event makes owed: TP1 while a second target is open, or the close."""
        data = rec.data
        trade_id = data["signal_id"]
        followed = self.followed.get(trade_id)
        if followed is None:
            return []
        setup = followed.setup
        if rec.type == "SignalEntered":
            followed.fill = data["price"]
            return []
        if rec.type == "TargetHit":
            if data["target"] != "tp1" or setup.get("tp2") is None or followed.fill is None:
                return []
            side = 1 if setup.get("side") == "LONG" else -1  # the half taken so far, at the default fee rate
            so_far, _ = outcomes.result(side, float(setup["entry"]), float(setup["stop"]), followed.fill,
                                        [(0.5, data["price"])], outcomes.FEE_RATE)
            status, line = "tp1", {"result_r": so_far, "reason": "tp1"}
        else:
            del self.followed[trade_id]
            status = CLOSED_STATUS.get(data["reason"], "expired")
            line = {"result_r": data["result_r"], "reason": data["reason"], "bars": data["bars"]}
        payload = {"kind": "followup", "trade_id": trade_id, "status": status, "symbol": setup.get("symbol"),
                   "interval": setup.get("interval"), "side": setup.get("side"),
                   "open_time": setup.get("open_time"), "single_target": setup.get("tp2") is None, **line}
        return [Delivery(f"{FOLLOWUP_PREFIX}{trade_id}:{status}", chat, payload, rec.recorded_at, FOLLOWUP,
                         rec.position) for chat in sorted(followed.chats - self.followups_off)]

    def _track(self, issued: dict[str, Any]) -> None:
        """Follow the setups the outcome tracker will close (kept from the issue to the SignalClosed)."""
        for trade_id, setup in outcomes.setups(issued["signal_id"], issued["signal"]):
            if outcomes.trade_of(trade_id, setup) is not None:
                self.followed.setdefault(trade_id, _Followed(dict(setup)))

    def _follow(self, delivery: Delivery) -> None:
        """A signal reached its chat: that chat hears about its setups still open."""
        for trade_id, _ in outcomes.setups(delivery.signal_id, delivery.signal):
            if (followed := self.followed.get(trade_id)) is not None:
                followed.chats.add(delivery.chat_id)

    def _settle(self, rec: LoggedEvent) -> None:
        data = rec.data
        match rec.type:
            case "DeliveryAttempted":
                key = (data["signal_id"], data["chat_id"])
                if key in self.pending:
                    self.pending[key] = replace(self.pending[key], attempts=self.pending[key].attempts + 1)
            case "SignalDelivered":
                delivered = self.pending.pop((data["signal_id"], data["chat_id"]), None)
                if delivered is not None:
                    self._follow(delivered)
                    if delivered.priority == AUTO:
                        kept = self.delivered_auto.setdefault(delivered.chat_id, deque(maxlen=DELIVERED_KEPT))
                        kept.append(AutoDelivered(rec.recorded_at, delivered.signal_id, delivered.signal))
            case "DeliveryFailed":
                self.pending.pop((data["signal_id"], data["chat_id"]), None)
                if data.get("reason") == "blocked" and data["chat_id"] > 0:
                    self.blocked.add(data["chat_id"])
            case "BotBlocked":
                self.blocked.add(user_of(rec.stream))
            case "BotUnblocked":
                self.blocked.discard(user_of(rec.stream))
            case "FollowupsToggled" | "ChartsToggled":
                off = self.followups_off if rec.type == "FollowupsToggled" else self.charts_off
                user = user_of(rec.stream)
                if data["enabled"]:
                    off.discard(user)
                else:
                    off.add(user)

    def _redirect(self, data: dict[str, Any]) -> list[Delivery]:
        old = self.pending.pop((data["signal_id"], data["chat_id"]), None)
        if old is None:
            return []
        moved = replace(old, chat_id=data["to_chat_id"], attempts=0, redirected=True)
        self.pending[moved.key] = moved
        return [moved]

    def language(self, delivery: Delivery) -> str:
        """The language a delivery is worded in."""
        return delivery.language or self.languages.get(delivery.chat_id)

    def autosignals_of(self, chat_id: int) -> tuple[AutoDelivered, ...]:
        """The last autosignals delivered to a chat, oldest first."""
        return tuple(self.delivered_auto.get(chat_id, ()))

    def in_flight(self) -> list[Delivery]:
        """Pending deliveries already attempted: a crash may have sent them once already."""
        return [d for d in self.pending.values() if d.attempts]


def fold(records: Any) -> Outbox:
    outbox = Outbox()
    for rec in records:
        outbox.apply(rec)
    return outbox
