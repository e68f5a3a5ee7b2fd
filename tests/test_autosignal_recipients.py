"""The recipients projection: who is owed an autosignal, from user-stream events."""

from __future__ import annotations

from domain.events import (
    AutoSignalGranted,
    AutoSignalMuted,
    AutoSignalUnmuted,
    BotBlocked,
    BotUnblocked,
    CreditsGranted,
    PremiumGranted,
    PremiumRevoked,
    UserBanned,
    UserRegistered,
    UserUnbanned,
    user_of,
)
from domain.recipients import Recipients, evolve, evolve_many, recipients

NOW = 1_732_712_400_000
DAY = 86_400_000


def project(*events):
    return evolve_many(Recipients(), [(i + 1, s, e) for i, (s, e) in enumerate(events)])


def test_lifetime_premium_receives_timed_premium_does_not():
    state = project(
        ("user-1", UserRegistered(chat_id=1)),
        ("user-1", PremiumGranted(until=None, lifetime=True)),
        ("user-2", PremiumGranted(until=NOW + DAY)),
        ("user-3", CreditsGranted(amount=100, reason="welcome")),
    )
    assert recipients(state, admins=(), now=NOW) == [1]


def test_autosignal_grant_expires_on_now():
    state = project(("user-5", AutoSignalGranted(until=NOW + DAY)))
    assert recipients(state, (), NOW) == [5]
    assert recipients(state, (), NOW + DAY) == []


def test_admins_receive_without_any_event_and_are_not_duplicated():
    state = project(("user-9", PremiumGranted(until=None, lifetime=True)))
    assert recipients(state, admins=(9, 4), now=NOW) == [4, 9]


def test_banned_blocked_and_muted_are_excluded_even_admins_and_can_return():
    streams = [("user-1", PremiumGranted(until=None, lifetime=True)), ("user-2", AutoSignalGranted(NOW + DAY))]
    state = project(
        *streams,
        ("user-1", UserBanned(by=4)),
        ("user-2", BotBlocked()),
        ("user-4", AutoSignalMuted()),
    )
    assert recipients(state, admins=(4,), now=NOW) == []
    state = evolve_many(
        state,
        [(10, "user-1", UserUnbanned(by=4)), (11, "user-2", BotUnblocked()), (12, "user-4", AutoSignalUnmuted())],
    )
    assert recipients(state, admins=(4,), now=NOW) == [1, 2, 4]


def test_a_later_timed_grant_keeps_lifetime():
    state = project(("user-1", PremiumGranted(until=None, lifetime=True)), ("user-1", PremiumGranted(until=NOW)))
    assert recipients(state, (), NOW + DAY) == [1]


def test_revoked_lifetime_stops_receiving():
    state = project(("user-1", PremiumGranted(until=None, lifetime=True)), ("user-1", PremiumRevoked()))
    assert recipients(state, (), NOW) == []


def test_positions_already_read_are_skipped_and_other_streams_ignored():
    state = evolve(Recipients(), 5, "user-1", PremiumGranted(until=None, lifetime=True))
    assert state.position == 5
    again = evolve(state, 5, "user-1", UserBanned())
    assert recipients(again, (), NOW) == [1]
    other = evolve(state, 6, "autosignal", UserBanned())
    assert recipients(other, (), NOW) == [1] and other.position == 6


def test_projection_is_pure():
    state = project(("user-1", PremiumGranted(until=None, lifetime=True)))
    evolve(state, 9, "user-1", UserBanned())
    assert recipients(state, (), NOW) == [1]


def test_user_id_parsing():
    assert user_of("user-42") == 42
    assert user_of("user-x") is None
    assert user_of("outbox") is None
