"""The credit and tier rules, as a pure decider: no actors, threads or database."""

from __future__ import annotations

from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import user as rules
from domain.events import (
    AutoSignalGranted,
    CreditsGranted,
    ManualSignalIssued,
    UserBanned,
    UserRegistered,
    upcast,
)
from domain.user import DAY_MS, Rejection, UserState, decide, evolve

T0 = 1_732_000_000_000
SIGNAL = {"symbol": "BTCUSDT", "interval": "1h", "side": "LONG", "entry": 1.0}


def apply(state: UserState, command, now: int = T0) -> UserState:
    out = decide(state, command, now)
    assert not isinstance(out, Rejection), out
    key = getattr(command, "update_id", None)
    return reduce(lambda s, e: evolve(s, e, key), out, state)


def registered(now: int = T0) -> UserState:
    return apply(UserState(42), rules.Register(1, 42, "ann", "en"), now)


def test_start_registers_once_with_100_welcome_credits():
    out = decide(UserState(42), rules.Register(1, 42, "ann", "en"), T0)
    assert out == [UserRegistered(42, "ann", "en"), CreditsGranted(100, "welcome", at=T0)]
    state = registered()
    assert state.credits == 100 and state.last_topup_ms == T0
    assert decide(state, rules.Register(2, 42, "ann", "en"), T0) == []


def test_repeated_update_changes_nothing():
    state = apply(registered(), rules.IssueSignal(5, "analyze", SIGNAL))
    assert state.credits == 80
    assert decide(state, rules.IssueSignal(5, "analyze", SIGNAL), T0) == []
    assert decide(state, rules.IssueSignal(4, "analyze", SIGNAL), T0) == []


def test_signal_costs_and_id():
    out = decide(registered(), rules.IssueSignal(7, "futures", SIGNAL, chat_id=42), T0)
    assert out == [ManualSignalIssued("m:42:7", 7, 20, SIGNAL, 42, at=T0)]
    assert apply(registered(), rules.IssueSignal(7, "signals", SIGNAL)).credits == 40


def test_too_few_credits_names_cost_balance_and_remedy_and_changes_nothing():
    state = registered()
    for update_id in range(2, 7):
        state = apply(state, rules.IssueSignal(update_id, "analyze", SIGNAL))
    assert state.credits == 0
    out = decide(state, rules.IssueSignal(9, "analyze", SIGNAL), T0)
    assert out == Rejection("insufficient_credits", command="analyze", cost=20, balance=0)
    assert rules.affordable(state, "signals", T0) is not None


def test_premium_and_lifetime_pay_nothing_until_expiry():
    admin = 7
    state = apply(registered(), rules.SetPremium(2, admin, "30d"))
    assert state.premium_until == T0 + 30 * DAY_MS and state.tier(T0) == "premium"
    out = decide(state, rules.IssueSignal(3, "signals", SIGNAL), T0)
    assert out[-1].cost == 0
    later = T0 + 31 * DAY_MS
    assert decide(state, rules.IssueSignal(3, "analyze", SIGNAL), later)[-1].cost == 20
    extended = apply(state, rules.SetPremium(3, admin, "90d"), T0 + DAY_MS)
    assert extended.premium_until == T0 + 120 * DAY_MS
    lifetime = apply(registered(), rules.SetPremium(2, admin, "lifetime"))
    assert lifetime.tier(T0 + 10_000 * DAY_MS) == "lifetime"
    assert apply(lifetime, rules.RevokePremium(3, admin)).tier(T0) == "free"
    assert isinstance(decide(registered(), rules.RevokePremium(3, admin), T0), Rejection)
    assert isinstance(decide(registered(), rules.SetPremium(3, admin, "7d"), T0), Rejection)


def test_weekly_topup_is_lazy_and_only_after_seven_days():
    state = apply(registered(), rules.IssueSignal(2, "signals", SIGNAL))
    assert state.credits == 40
    assert decide(state, rules.Touch(3), T0 + 7 * DAY_MS) == []
    later = T0 + 7 * DAY_MS + 1
    assert decide(state, rules.Touch(3), later) == [CreditsGranted(60, "weekly", at=later)]
    topped = apply(state, rules.Touch(3), later)
    assert topped.credits == 100 and topped.last_topup_ms == later
    spent = apply(topped, rules.IssueSignal(4, "analyze", SIGNAL), later)
    assert decide(spent, rules.Touch(5), later + 6 * DAY_MS) == []


def test_topup_comes_with_the_charge_that_needs_it():
    state = registered()
    for update_id in range(2, 7):
        state = apply(state, rules.IssueSignal(update_id, "analyze", SIGNAL))
    later = T0 + 8 * DAY_MS
    assert rules.affordable(state, "analyze", later) is None
    out = decide(state, rules.IssueSignal(10, "analyze", SIGNAL), later)
    assert [type(e) for e in out] == [CreditsGranted, ManualSignalIssued]
    assert out[0].amount == 100 and out[1].cost == 20


def test_no_topup_for_premium_or_full_balance():
    premium = apply(registered(), rules.SetPremium(2, 7, "lifetime"))
    assert rules.topup_due(premium, T0 + 30 * DAY_MS) == 0
    assert rules.topup_due(registered(), T0 + 30 * DAY_MS) == 0


def test_admin_changes():
    state = registered()
    assert decide(state, rules.GrantCredits(2, 7, 50), T0) == [CreditsGranted(50, "admin", 7)]
    for amount in (0, -5, rules.MAX_ADMIN_GRANT + 1):
        assert isinstance(decide(state, rules.GrantCredits(2, 7, amount), T0), Rejection)
    assert decide(state, rules.GrantAutoSignal(2, 7, 30), T0) == [AutoSignalGranted(T0 + 30 * DAY_MS, 7)]
    banned = apply(state, rules.Ban(2, 7))
    assert banned.banned and decide(banned, rules.Ban(3, 7), T0) == []
    assert decide(state, rules.Ban(2, 7), T0) == [UserBanned(7)]
    assert not apply(banned, rules.Unban(3, 7)).banned
    assert isinstance(decide(UserState(9), rules.GrantCredits(2, 7, 50), T0), Rejection)


def test_autosignal_status_and_mute():
    granted = apply(registered(), rules.GrantAutoSignal(2, 7, 30))
    assert granted.receives_autosignals(T0)
    muted = apply(granted, rules.SetMute(3, True))
    assert not muted.receives_autosignals(T0)
    assert decide(muted, rules.SetMute(4, True), T0) == []
    assert apply(muted, rules.SetMute(4, False)).receives_autosignals(T0)
    assert not granted.receives_autosignals(T0 + 31 * DAY_MS)


def test_blocked_and_unblocked():
    state = registered()
    assert decide(state, rules.Contact(), T0) == []
    blocked = apply(state, rules.MarkBlocked())
    assert blocked.blocked and decide(blocked, rules.MarkBlocked(), T0) == []
    assert not apply(blocked, rules.Contact()).blocked


def test_symbols():
    for text in ("btc", "BTC", "BTCUSDT", "btcUSDT"):
        assert rules.normalize_symbol(text) == "BTCUSDT"
    assert rules.normalize_symbol("1000PEPE") == "1000PEPEUSDT"
    for bad in ("", "b", "BTC/USDT", "<b>", "x" * 21, "бтк", "BTC USDT"):
        assert isinstance(rules.normalize_symbol(bad), Rejection)
    assert rules.parse_days("30d") == 30
    for bad in ("0d", "30", "d", "99999d", "-3d"):
        assert isinstance(rules.parse_days(bad), Rejection)


def test_snapshot_round_trip():
    state = apply(registered(), rules.SetPremium(2, 7, "30d"))
    assert UserState.from_dict(state.to_dict()) == state
    assert UserState.from_dict({**state.to_dict(), "schema": 0}) is None
    assert UserState.from_dict({**state.to_dict(), "retired_field": 1}) == state
    assert UserState.from_dict({"schema": rules.SNAPSHOT_SCHEMA}) is None


# --- properties over random command sequences from many users -----------------------------

USERS = (1, 2, 3)
commands = st.one_of(
    st.builds(lambda u: ("register", u), st.sampled_from(USERS)),
    st.builds(lambda u, k: ("signal", u, k), st.sampled_from(USERS), st.sampled_from(sorted(rules.COSTS))),
    st.builds(lambda u: ("touch", u), st.sampled_from(USERS)),
    st.builds(lambda u, n: ("grant", u, n), st.sampled_from(USERS), st.integers(-5, 300)),
    st.builds(lambda u, p: ("premium", u, p), st.sampled_from(USERS), st.sampled_from(["30d", "lifetime", "x"])),
    st.builds(lambda u: ("revoke", u), st.sampled_from(USERS)),
    st.builds(lambda d: ("wait", d), st.integers(0, 10 * DAY_MS)),
    st.builds(lambda u: ("repeat", u), st.sampled_from(USERS)),
)


def to_command(step, update_id: int, last: dict[int, int]):
    match step:
        case ("register", u):
            return u, rules.Register(update_id, u, f"user{u}", "en")
        case ("signal", u, kind):
            return u, rules.IssueSignal(update_id, kind, SIGNAL)
        case ("touch", u):
            return u, rules.Touch(update_id)
        case ("grant", u, n):
            return u, rules.GrantCredits(update_id, 99, n)
        case ("premium", u, period):
            return u, rules.SetPremium(update_id, 99, period)
        case ("revoke", u):
            return u, rules.RevokePremium(update_id, 99)
        case ("repeat", u):
            return u, rules.IssueSignal(last.get(u, 0), "analyze", SIGNAL)
    raise AssertionError(step)


@settings(max_examples=150, deadline=None)
@given(st.lists(commands, max_size=60))
def test_ledger_balances_and_replay_reproduces_state(steps):
    now, update_id = T0, 0
    live = {u: UserState(u) for u in USERS}
    logs: dict[int, list] = {u: [] for u in USERS}
    last: dict[int, int] = {}
    for step in steps:
        if step[0] == "wait":
            now += step[1]
            continue
        update_id += 1
        user, command = to_command(step, update_id, last)
        out = decide(live[user], command, now)
        if isinstance(out, Rejection):
            continue
        key = getattr(command, "update_id", None)
        for event in out:
            live[user] = evolve(live[user], event, key)
            logs[user].append((event, key))
        last[user] = update_id
        assert live[user].credits >= 0
    for user in USERS:
        events = [e for e, _ in logs[user]]
        granted = sum(e.amount for e in events if isinstance(e, CreditsGranted))
        charged = sum(e.cost for e in events if isinstance(e, ManualSignalIssued))
        welcome = [e for e in events if isinstance(e, CreditsGranted) and e.reason == "welcome"]
        assert len(welcome) == (1 if live[user].registered else 0)
        assert live[user].credits == granted - charged >= 0
        replayed = reduce(lambda s, ek: evolve(s, ek[0], ek[1]), logs[user], UserState(user))
        assert replayed == live[user]


def test_rate_limit_is_folded_from_served_requests():
    state = registered()
    for i in range(5):
        kind = rules.ServeNoSetup(10 + i, "analyze") if i % 2 else rules.IssueSignal(10 + i, "analyze", SIGNAL)
        [*_, served] = decide(state, kind, T0 + i * 1000)
        state = evolve(state, served, 10 + i)
        assert served.at == T0 + i * 1000
    assert rules.rate_wait_ms(state, T0 + 4000) == 56_000
    assert rules.rate_wait_ms(state, T0 + 59_999) == 1 and rules.rate_wait_ms(state, T0 + 60_000) == 0
    assert rules.UserState.from_dict(state.to_dict()) == state


def test_charts_toggle_once_and_a_served_chart_is_free_but_counts_in_the_rate_limit():
    state = registered()
    assert state.charts and decide(state, rules.SetCharts(2, True), T0) == []
    state = apply(state, rules.SetCharts(2, False))
    assert not state.charts and decide(state, rules.SetCharts(3, False), T0) == []
    for n in range(rules.RATE_LIMIT):
        state = apply(state, rules.ServeChart(10 + n, "BTCUSDT", "1h"), T0 + n)
    assert state.credits == 100 and rules.rate_wait_ms(state, T0 + 10) == rules.RATE_WINDOW_MS - 10
    assert decide(UserState(7), rules.ServeChart(1, "BTCUSDT", "1h"), T0) == Rejection("not_registered_user", user=7)


def test_language_from_telegram_at_start_changed_by_command_and_unknown_changes_nothing():
    state = apply(UserState(42), rules.Register(1, 42, "ann", "id-ID"))
    assert state.language == "id"
    assert apply(UserState(43), rules.Register(1, 43, "bob", "pt-BR")).language == "en"
    assert decide(state, rules.SetLanguage(2, "id"), T0) == []
    assert decide(state, rules.SetLanguage(2, "fr"), T0) == Rejection("language_unknown", given="fr",
                                                                      available=" | ".join(("en", "id")))
    state = apply(state, rules.SetLanguage(2, "en"))
    assert state.language == "en"


def test_an_old_registration_without_a_language_reads_as_english():
    assert upcast("UserRegistered", 1, {"chat_id": 5}) == {"chat_id": 5, "language": "en"}
    assert upcast("UserRegistered", 1, {"chat_id": 5, "language": "id"})["language"] == "id"
    assert upcast("UserRegistered", 2, {"chat_id": 5, "language": "id"})["language"] == "id"
