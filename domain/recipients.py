"""Who receives autosignals: a projection over the user streams, rebuilt from the log.

Recipients are lifetime-premium users, admins and users with an active autosignal grant,
minus the banned, those who blocked the bot and those who muted autosignals. Pure: the
caller hands in events with their stream and the time (`now`, for grant expiry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from domain.events import (
    AutoSignalGranted,
    AutoSignalMuted,
    AutoSignalUnmuted,
    BotBlocked,
    BotUnblocked,
    Event,
    PremiumGranted,
    PremiumRevoked,
    UserBanned,
    UserUnbanned,
    user_of,
)


@dataclass(frozen=True)
class Member:
    """What the log says about one user, as far as autosignals care."""

    lifetime: bool = False
    grant_until: int | None = None  # ms UTC
    muted: bool = False
    banned: bool = False
    blocked: bool = False

    def excluded(self) -> bool:
        return self.muted or self.banned or self.blocked

    def entitled(self, now: int) -> bool:
        return self.lifetime or (self.grant_until is not None and self.grant_until > now)


@dataclass(frozen=True)
class Recipients:
    """The projection's state: members by chat id, and the log position it has read up to."""

    members: Mapping[int, Member] = field(default_factory=dict)
    position: int = 0


def _member(member: Member, event: Event) -> Member:
    match event:
        case PremiumGranted(lifetime=lifetime):  # a later timed grant does not undo lifetime (as domain.user)
            return replace(member, lifetime=member.lifetime or lifetime)
        case PremiumRevoked():
            return replace(member, lifetime=False)
        case AutoSignalGranted(until=until):
            return replace(member, grant_until=until)
        case AutoSignalMuted():
            return replace(member, muted=True)
        case AutoSignalUnmuted():
            return replace(member, muted=False)
        case UserBanned():
            return replace(member, banned=True)
        case UserUnbanned():
            return replace(member, banned=False)
        case BotBlocked():
            return replace(member, blocked=True)
        case BotUnblocked():
            return replace(member, blocked=False)
    return member


RELEVANT = (
    PremiumGranted,
    PremiumRevoked,
    AutoSignalGranted,
    AutoSignalMuted,
    AutoSignalUnmuted,
    UserBanned,
    UserUnbanned,
    BotBlocked,
    BotUnblocked,
)
RELEVANT_TYPES = frozenset(cls.__name__ for cls in RELEVANT)  # lets a follower skip decoding the rest


def evolve_many(state: Recipients, events: Iterable[tuple[int, str, Event]]) -> Recipients:
    """Apply `(position, stream, event)` triples; events at or before `state.position` are skipped.

    At most one copy of the member table per batch (not per event), and none for a batch with
    nothing relevant (most of the log: credits, signals, deliveries), so following stays cheap.
    """
    members: dict[int, Member] | None = None
    position = state.position
    for pos, stream, event in events:
        if pos <= position:
            continue
        position = pos
        chat_id = user_of(stream)
        if chat_id is None or not isinstance(event, RELEVANT):
            continue
        if members is None:
            members = dict(state.members)
        members[chat_id] = _member(members.get(chat_id, Member()), event)
    return Recipients(members=state.members if members is None else members, position=position)


def evolve(state: Recipients, position: int, stream: str, event: Event) -> Recipients:
    return evolve_many(state, [(position, stream, event)])


def recipients(state: Recipients, admins: Iterable[int], now: int) -> list[int]:
    """Chat ids owed an autosignal at time `now` (ms UTC), sorted so the event is deterministic."""
    chosen = {chat_id for chat_id, member in state.members.items() if member.entitled(now)}
    chosen.update(admins)
    default = Member()
    return sorted(c for c in chosen if not state.members.get(c, default).excluded())
