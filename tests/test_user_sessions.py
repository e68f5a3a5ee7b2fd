"""UserSession and Sessions against a real SQLite log, real candles and the injected clock."""

from __future__ import annotations

import time
from concurrent.futures import Future

import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.analyzer import AnalyzerPool
from actors.clock import ManualClock
from actors.messages import AnalysisFailed, Command, PassivateIdle, SessionStats, UserBlocked, answer
from actors.user_session import CANDLES_WANTED, Services, Sessions
from analysis.strategy import analyze
from domain import user as rules
from domain.events import decode, upcast
from eventstore import EventStore, NewEvent
from telegram_adapter import catalogue
from telegram_adapter.signal_text import reason_text
from tests.conftest import klines_dir
from tests.fakes.market import load_market
from tests.fakes.session_stack import ADMIN, T0, start_stack, stop_stack

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def market():
    return load_market(klines_dir())


@pytest.fixture
def stack(tmp_path, market):
    s = start_stack(tmp_path, market, quiet=frozenset({"XRPUSDT"}), not_ready=frozenset({"SOLUSDT"}))
    yield s
    stop_stack(s)


def balance(stack, user: int) -> int:
    return stack.info(user).state["credits"]


def charges(stack, user: int) -> list[int]:
    return [r.data["cost"] for r in stack.store.read_stream(f"user-{user}") if r.type == "ManualSignalIssued"]


def test_start_analyze_and_credits(stack):
    assert "Send /start" in stack.send(42, "/analyze BTC").text
    welcome = stack.send(42, "/start")
    assert "100 free credits" in welcome.text
    assert "Welcome back" in stack.send(42, "/start").text
    reply = stack.send(42, "/analyze btc", update_id=1000)
    assert reply.text is None and reply.signal_id == "m:42:1000"
    issued = stack.store.read_stream("user-42")[-1]
    assert issued.type == "ManualSignalIssued" and issued.data["signal"]["symbol"] == "BTCUSDT"
    assert issued.meta["update_id"] == 1000 and issued.data["chat_id"] == 42
    assert stack.send(42, "/credits").text.startswith("Balance: 80 credits\nTier: free")
    assert stack.send(42, "/futures ETH 1h").signal_id is not None
    assert "BTCUSDT 1h" in stack.send(42, "/history").text
    assert charges(stack, 42) == [20, 20]


def test_with_the_real_analyzer_pool_the_charge_follows_the_strategy(tmp_path, market):
    pool = AnalyzerPool.start(workers=1)
    stack = start_stack(tmp_path, market, analyzer=pool)
    try:
        stack.send(16, "/start")
        for symbol in market:
            expected = analyze(market[symbol][-CANDLES_WANTED:]).to_dict()
            reply = stack.send(16, f"/analyze {symbol}")
            if "side" in expected:
                assert reply.signal_id and stack.store.read_stream("user-16")[-1].data["signal"] == expected
            else:
                assert reason_text(expected["reason"], "en") in reply.text and "no setup" in reply.text
        signals = sum("side" in analyze(c[-CANDLES_WANTED:]).to_dict() for c in market.values())
        assert charges(stack, 16) == [20] * signals
    finally:
        pool.stop()
        stop_stack(stack)


def test_no_setup_unknown_symbol_and_unready_feed_are_free(stack):
    stack.send(7, "/start")
    quiet = stack.send(7, "/analyze XRP")
    assert "no setup" in quiet.text and "No credits were charged" in quiet.text
    assert "DOGEUSDT is not traded" in stack.send(7, "/analyze doge").text
    assert "still loading" in stack.send(7, "/analyze SOLUSDT").text
    assert "still loading" in stack.send(7, "/futures BTC 4h").text
    assert "does not serve the timeframe 2h" in stack.send(7, "/futures BTC 2h").text
    for month_or_typo in ("1M", "1H", "4H"):  # 1M is a month on Binance; 1H is no Binance interval
        reply = stack.send(7, f"/futures BTC {month_or_typo}").text
        assert f"does not serve the timeframe {month_or_typo}" in reply and "1m 5m 15m 30m 1h 4h 1d" in reply
    assert "Usage: /analyze" in stack.send(7, "/analyze").text
    assert balance(stack, 7) == 100 and charges(stack, 7) == []


def test_signals_scan_costs_60_once(stack):
    stack.send(8, "/start")
    reply = stack.send(8, "/signals")
    assert reply.signal_id is not None
    scan = stack.store.read_stream("user-8")[-1].data["signal"]
    assert scan["kind"] == "scan" and len(scan["symbols"]) == 5
    assert {s["symbol"] for s in scan["signals"]} == {"BTCUSDT", "ETHUSDT", "BNBUSDT"}
    assert [r["symbol"] for r in scan["no_setup"]] == ["XRPUSDT"]
    assert balance(stack, 8) == 40
    assert "costs 60 credits and your balance is 40" in stack.send(8, "/signals").text
    assert balance(stack, 8) == 40


def test_redelivered_update_is_not_charged_twice(stack):
    stack.send(9, "/start")
    first = stack.send(9, "/analyze BTC", update_id=500)
    again = stack.send(9, "/analyze BTC", update_id=500)
    assert first.signal_id and again.text is None and again.signal_id is None
    assert charges(stack, 9) == [20]


def test_rate_limit_counts_served_requests_only(stack):
    stack.send(10, "/start")
    stack.send(10, "/grant_credits 10 500")  # not an admin: refused
    assert balance(stack, 10) == 100
    for text in ("/analyze", "/analyze doge", "/analyze SOL"):
        stack.send(10, text)
    served = [stack.send(10, t) for t in ("/analyze BTC", "/analyze XRP", "/analyze ETH", "/analyze BNB",
                                          "/analyze BTC")]
    assert all(r.signal_id or "no setup" in r.text for r in served)
    limited = stack.send(10, "/analyze BTC")
    assert "retry in 60 s" in limited.text
    stack.clock.advance(60_000)
    assert stack.send(10, "/analyze BTC").signal_id
    assert len(charges(stack, 10)) == 5


def test_rate_limit_survives_passivation_and_restart(tmp_path, market):
    """SESSION_CAP=1: another user's command passivates the session between requests; then a restart."""
    quiet = frozenset({"XRPUSDT"})
    stack = start_stack(tmp_path, market, max_live=1, quiet=quiet)
    try:
        for user in (20, 21):
            stack.send(user, "/start")
        for text in ("/analyze BTC", "/analyze XRP", "/analyze ETH"):
            reply = stack.send(20, text)
            assert reply.signal_id or "no setup" in reply.text
            stack.send(21, "/credits")
        assert _stats(stack).passivated >= 4
        last_update_id = stack.last_update_id
    finally:
        stop_stack(stack)
    stack = start_stack(tmp_path, market, max_live=1, quiet=quiet)  # the restart, within the same minute
    stack.last_update_id = last_update_id
    try:
        for text in ("/analyze BNB", "/analyze XRP"):
            reply = stack.send(20, text)
            assert reply.signal_id or "no setup" in reply.text
            stack.send(21, "/credits")
        assert "At most 5 signal requests a minute; retry in 60 s" in stack.send(20, "/analyze BTC").text
        stack.clock.advance(60_000)
        assert stack.send(20, "/analyze BTC").signal_id
        assert charges(stack, 20) == [20] * 4
    finally:
        stop_stack(stack)


def test_admin_commands_through_sessions(stack):
    stack.send(42, "/start")
    assert stack.send(42, "/grant_credits 42 50").text == "Not allowed."
    assert balance(stack, 42) == 100
    assert "Balance: 150 credits" in stack.send(ADMIN, "/grant_credits 42 50").text
    assert "Usage: /grant_credits" in stack.send(ADMIN, "/grant_credits 42 lots").text
    assert "Usage: /ban" in stack.send(ADMIN, "/ban someone").text
    assert "Usage: /grant_credits" in stack.send(ADMIN, "/grant_credits ² 5").text
    assert "Usage: /grant_credits" in stack.send(ADMIN, "/grant_credits 42 ²").text
    assert "Usage: /audit" in stack.send(ADMIN, "/audit").text
    assert "not registered" in stack.send(ADMIN, "/grant_credits 77 50").text
    assert "premium until" in stack.send(ADMIN, "/set_premium 42 30d").text
    assert stack.send(42, "/analyze BTC").signal_id
    assert charges(stack, 42) == [0]
    assert "Tier: free" in stack.send(ADMIN, "/revoke_premium 42").text
    assert "Autosignals: on until" in stack.send(ADMIN, "/grant_autosignal 42 30d").text
    assert "muted" in stack.send(42, "/autosignal off").text
    audit = stack.send(ADMIN, "/audit 42").text
    assert "+100 welcome = 100" in audit and f"+50 admin by {ADMIN} = 150" in audit and "-0 m:42:" in audit
    stack.send(ADMIN, "/ban 42")
    assert "suspended" in stack.send(42, "/analyze BTC").text
    stack.send(ADMIN, "/unban 42")
    assert stack.send(42, "/analyze BTC").signal_id
    assert charges(stack, 42) == [0, 20]


def test_credits_tells_an_admin_autosignals_are_included_as_the_recipients_rule_sends_them(stack):
    """An admin receives every autosignal on the free tier: /credits says on, then muted, then on again."""
    stack.send(ADMIN, "/start")
    assert "Autosignals: on" in stack.send(ADMIN, "/credits").text
    stack.send(ADMIN, "/autosignal off")
    assert "Autosignals: muted" in stack.send(ADMIN, "/credits").text
    assert stack.send(ADMIN, "/autosignal on").text == catalogue.text("en", "autosignal-on")
    assert stack.send(ADMIN, "/credits").text.endswith("Autosignals: on")
    stack.send(42, "/start")
    assert "Autosignals: not included" in stack.send(42, "/credits").text


def test_no_admin_can_be_banned_and_a_banned_admin_runs_no_admin_command(tmp_path, market):
    other = 2  # banned before they were made an admin (ADMIN_IDS changed between runs)
    stack = start_stack(tmp_path, market, admins=frozenset({ADMIN, other}))
    try:
        history = [("UserRegistered", {"chat_id": other}), ("UserBanned", {"by": 5})]
        stack.store.append(f"user-{other}", 0, [NewEvent(t, data, {"schema": 1}) for t, data in history])
        stack.send(42, "/start")
        assert stack.send(ADMIN, f"/ban {ADMIN}").text == catalogue.text("en", "cannot-ban-admin")
        assert stack.send(ADMIN, f"/ban {other}").text == catalogue.text("en", "cannot-ban-admin")
        assert stack.types(ADMIN) == []
        for text in ("/grant_credits 42 500", "/ban 42", f"/unban {other}", "/audit 42"):
            assert stack.send(other, text).text == catalogue.text("en", "suspended")
        assert balance(stack, 42) == 100 and stack.types(42) == ["UserRegistered", "CreditsGranted"]
        assert stack.send(ADMIN, f"/unban {other}").text.startswith(f"Done: /unban {other}.")
        assert "Balance: 150 credits" in stack.send(other, "/grant_credits 42 50").text
    finally:
        stop_stack(stack)


def test_blocked_user_is_unblocked_by_their_next_message(stack):
    stack.send(11, "/start")
    stack.sessions.tell(UserBlocked(11))
    assert stack.info(11).state["blocked"]
    stack.send(11, "/credits")
    assert stack.types(11)[-2:] == ["BotBlocked", "BotUnblocked"]


def test_weekly_topup_on_the_injected_clock(stack):
    stack.send(12, "/start")
    stack.send(12, "/signals")
    stack.clock.advance(7 * rules.DAY_MS + 1)
    assert stack.send(12, "/credits").text.startswith("Balance: 100 credits")
    grant = stack.store.read_stream("user-12")[-1]
    assert grant.type == "CreditsGranted" and grant.data["reason"] == "weekly" and grant.data["amount"] == 60


def test_idle_passivation_snapshots_and_rehydrates_from_the_tail(stack):
    stack.send(13, "/start")
    stack.send(13, "/analyze BTC")
    before = stack.info(13)
    assert before.replayed == 0 and before.version == 3
    stack.clock.advance(9 * 60_000)
    stack.sessions.tell(PassivateIdle())
    assert _stats(stack).live == 1
    stack.clock.advance(2 * 60_000)
    stack.sessions.tell(PassivateIdle())
    assert _stats(stack).live == 0 and _stats(stack).passivated == 1
    assert wait_for(lambda: stack.store.load_snapshot("user-13")).version == 3
    after = stack.info(13)
    assert (after.replayed, after.snapshot_version, after.state) == (0, 3, before.state)
    stack.send(13, "/analyze ETH")
    stack.clock.advance(11 * 60_000)
    stack.sessions.tell(PassivateIdle())
    assert wait_for(lambda: (stack.store.load_snapshot("user-13") or [0])[0] == 4)
    assert stack.info(13).replayed == 0 and stack.info(13).state["credits"] == 60


def test_least_recently_used_sessions_are_passivated_over_the_limit(tmp_path, market):
    stack = start_stack(tmp_path, market, max_live=3)
    try:
        for user in range(100, 108):
            stack.send(user, "/start")
        stats = _stats(stack)
        assert stats.live <= 3 and stats.started == 8
        assert all(balance(stack, user) == 100 for user in range(100, 108))
    finally:
        stop_stack(stack)


def test_messages_for_a_session_being_passivated_are_held_not_lost(tmp_path, market):
    stack = start_stack(tmp_path, market, max_live=1)
    try:
        stack.send(300, "/start")
        stack.send(301, "/start")
        pending = [stack.send_async(300 + i % 2, f"/autosignal {('on', 'off')[i // 2 % 2]}") for i in range(40)]
        replies = [p.result(timeout=20).text for p in pending]
        assert all(r.startswith("Autosignal") for r in replies), replies
        for user in (300, 301):
            versions = [r.version for r in stack.store.read_stream(f"user-{user}")]
            assert versions == list(range(1, len(versions) + 1))
            assert len(versions) == 2 + 19  # the first "on" changes nothing
        assert _stats(stack).passivated >= 2
    finally:
        stop_stack(stack)


def test_messages_for_a_session_still_starting_are_held_and_forwarded_in_order(stack):
    """A new user's burst reaches one session, in order, while its thread starts (see Sessions)."""
    texts = ["/start"] + [f"/autosignal {('off', 'on')[i % 2]}" for i in range(20)]
    pending = [stack.send_async(15, text) for text in texts]
    replies = [p.result(timeout=20).text for p in pending]
    assert all(r.startswith("Autosignal") for r in replies[1:]), replies
    records = stack.store.read_stream("user-15")
    assert [r.version for r in records] == list(range(1, len(records) + 1))
    assert [r.type for r in records][2:] == ["AutoSignalMuted", "AutoSignalUnmuted"] * 10
    assert _stats(stack).started == 1


def test_a_burst_of_new_users_each_gets_one_session(stack):
    pending = {user: stack.send_async(user, "/start") for user in range(500, 540)}
    assert all(p.result(timeout=20).text for p in pending.values())
    assert all(balance(stack, user) == 100 for user in pending)
    stats = _stats(stack)
    assert stats.started == stats.live == 40


def test_same_user_ten_commands_at_once_is_charged_for_what_they_got(stack):
    stack.send(14, "/start")
    replies = [stack.send_async(14, "/analyze BTC") for _ in range(10)]
    got = [r.result(timeout=30) for r in replies]
    delivered = [r for r in got if r.signal_id]
    assert len(delivered) == 5 and sum("retry in" in (r.text or "") for r in got) == 5
    assert charges(stack, 14) == [20] * 5 and balance(stack, 14) == 0


def test_many_users_at_once_and_replay_reproduces_every_session(stack):
    users = range(200, 220)
    for user in users:
        stack.send(user, "/start")
    pending = [stack.send_async(user, f"/analyze {sym}") for user in users for sym in ("BTC", "XRP", "ETH")]
    got = [p.result(timeout=30) for p in pending]
    assert sum(1 for r in got if r.signal_id) == 40
    for user in users:
        live = stack.info(user).state
        state = rules.UserState(user)
        for rec in stack.store.read_stream(f"user-{user}"):
            state = rules.evolve(state, decode(rec.type, rec.data), rec.meta.get("update_id"))
        assert state.to_dict() == live and live["credits"] == 60


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    st.text(max_size=50),
    st.text(min_size=3900, max_size=4000),
    st.builds(lambda c, a: f"/{c} {a}", st.sampled_from(["analyze", "futures", "signals", "autosignal",
                                                          "grant_credits", "audit", "nope", "credits"]),
              st.text(max_size=40)),
    st.sampled_from(["", "/", "/analyze <b>x</b>", "/analyze *BTC*", "/futures BTC 1h extra",
                     "/analyze 🚀", "/start@other_bot", "/AUTOSIGNAL maybe"]),
))
def test_bad_input_gets_a_reply_and_no_charge(stack, text):
    stack.send(15, "/start")
    reply = stack.send(15, text)
    assert reply.text or reply.signal_id
    states = stack.info(15).state
    assert states["credits"] + sum(charges(stack, 15)) == 100


def wait_for(probe, timeout: float = 5.0):
    """The probe's first truthy value (snapshots are saved as a passivated session stops)."""
    deadline = time.monotonic() + timeout
    while not (value := probe()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def _stats(stack):
    reply: Future = Future()
    stack.sessions.tell(SessionStats(reply))
    return reply.result(timeout=10)


def test_a_pair_beyond_the_feed_cap_gets_a_clear_reply_and_no_charge(tmp_path, market):
    stack = start_stack(tmp_path, market, full=frozenset({"BNBUSDT"}))
    try:
        stack.send(7, "/start")
        reply = stack.send(7, "/analyze BNB").text
        assert "follows as many pairs as it can" in reply and "BNBUSDT" in reply and "Nothing was charged" in reply
        assert balance(stack, 7) == 100 and charges(stack, 7) == []
    finally:
        stop_stack(stack)


class BrokenAnalyzer(pykka.ThreadingActor):
    """Every analysis fails with an operator's reason (the pool's own wording)."""

    def on_receive(self, message):
        return answer(message, AnalysisFailed("analyzer pool broken: BrokenProcessPool"))


def test_a_failed_analysis_tells_the_user_in_their_words_and_logs_the_reason(tmp_path, market, caplog):
    stack = start_stack(tmp_path, market, analyzer=BrokenAnalyzer.start())
    try:
        stack.send(42, "/start", language="id")
        assert stack.send(42, "/analyze BTC").text == catalogue.text("id", "analysis-failed", symbol="BTCUSDT")
        assert charges(stack, 42) == [] and "BrokenProcessPool" in caplog.text
    finally:
        stop_stack(stack)


def test_a_session_that_cannot_read_its_stream_answers_every_message_and_writes_nothing(stack, caplog):
    stack.store.append("user-77", 0, [NewEvent("CreditsGranted", {"not": "a grant"}, {"schema": 1})])
    for _ in range(2):  # the second message starts a fresh session, which fails the same way
        assert stack.send(77, "/credits").text.startswith("Something went wrong; nothing was charged")
    assert stack.types(77) == ["CreditsGranted"]
    assert "the session of 77 could not read its stream" in caplog.text



def command(update_id: int, user: int, text: str) -> Command:
    """A private command as the router builds it, its reply a future."""
    name, *args = text.lstrip("/").split()
    return Command(update_id, user, user, name, tuple(args), f"user{user}", "en", Future())


def test_a_broken_session_answers_a_message_that_arrives_while_it_is_being_replaced(stack):
    stack.store.append("user-78", 0, [NewEvent("CreditsGranted", {"not": "a grant"}, {"schema": 1})])
    first, second = command(1, 78, "/credits"), command(2, 78, "/credits")

    def user_sends_again(_: Future) -> None:  # runs inside the session's answer, before Sessions passivates it
        stack.sessions.tell(second)
        time.sleep(0.3)

    first.reply_to.add_done_callback(user_sends_again)
    stack.sessions.tell(first)
    assert first.reply_to.result(timeout=10).kind == "something_wrong"
    assert second.reply_to.result(timeout=10).kind == "something_wrong"  # answered, not dropped at a stop


class HungFeed(pykka.ThreadingActor):
    """A market feed that takes every request and answers none (an exchange outage, a stuck stream)."""

    def on_receive(self, message):
        return None


def test_users_waiting_on_a_hung_feed_do_not_stall_other_users(tmp_path):
    clock = ManualClock(T0)
    store = EventStore.open(tmp_path / "events.db", upcast=upcast, clock=clock.now_ms)
    feed = HungFeed.start()
    sessions = Sessions.start(Services(store, clock, feed, feed, ask_timeout=4.0), frozenset(), sweep_every_s=None)
    try:
        users = range(3000, 3100)
        starts = [command(1, user, "/start") for user in users]
        for c in starts:
            sessions.tell(c)
        assert all(c.reply_to.result(timeout=20).kind == "welcome" for c in starts)
        waiting = [command(2, user, "/analyze BTC") for user in users]
        for c in waiting:
            sessions.tell(c)
        time.sleep(0.5)  # 100 sessions now wait for the feed, each holding a pool thread
        newcomer = command(1, 4000, "/start")
        sessions.tell(newcomer)
        assert newcomer.reply_to.result(timeout=3).kind == "welcome"
        assert all(c.reply_to.result(timeout=10).kind == "market_unavailable" for c in waiting)
    finally:
        pykka.ActorRegistry.stop_all()
        store.close()
