"""Stars payments in the pure parts: packs, signed payloads, pre-checkout rules, the decider, verify."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import invariants, ledger
from domain import user as rules
from domain.events import (
    CreditsGranted,
    CreditsRevoked,
    PremiumGranted,
    PremiumShortened,
    RefundRequested,
    StarsPaymentReceived,
    StarsRefunded,
)
from domain.payments import Order, PaymentSecret, checkout_refusal, pack_of, parse_packs
from tests.fakes.records import Rec

DAY = rules.DAY_MS
NOW = 1_732_000_000_000
SECRET = PaymentSecret("test-secret-0123456789")
CATALOGUE = parse_packs("100cr:50,500cr:200,premium30d:500")


def test_packs_parse_from_one_table_and_bad_values_name_the_problem():
    assert [(p.name, p.stars, p.credits, p.days) for p in CATALOGUE.packs] == [
        ("100cr", 50, 100, 0), ("500cr", 200, 500, 0), ("premium30d", 500, 0, 30)]
    for bad, why in (("100cr", "NAME:STARS"), ("gold:5", "not a pack name"), ("100cr:0", "NAME:STARS"),
                     ("100cr:5,100cr:6", "twice")):
        with pytest.raises(ValueError, match=why):
            parse_packs(bad)


def test_a_payload_verifies_only_as_signed():
    order = Order(42, "premium30d", 500, "0123456789abcdef")
    payload = SECRET.sign(order)
    assert len(payload.encode()) <= 128 and SECRET.verify(payload) == order
    altered = payload.replace(":500:", ":5:")
    assert SECRET.verify(altered) is None
    assert SECRET.verify(payload.replace("42:", "43:", 1)) is None
    assert PaymentSecret("another-secret-0123456").verify(payload) is None
    assert SECRET.verify("") is None and SECRET.verify("42:100cr:50:ab") is None
    assert "test-secret" not in repr(SECRET)
    with pytest.raises(ValueError, match="cannot be carried"):
        SECRET.sign(Order(42, "100cr", 50, "not-hex"))


def test_pre_checkout_rules():
    order = Order(42, "100cr", 50, "ab")

    def refusal(**kw: Any) -> str | None:
        args = {"order": order, "catalogue": CATALOGUE, "payer": 42, "currency": "XTR", "total": 50,
                "banned": False, **kw}
        return checkout_refusal(**args)

    assert refusal() is None
    assert refusal(order=None) == "bad_payload"
    assert refusal(total=49) == "price_changed"
    assert refusal(currency="USD") == "price_changed"
    assert refusal(catalogue=parse_packs("100cr:60")) == "price_changed"  # the pack's price changed since
    assert refusal(catalogue=parse_packs("500cr:200")) == "no_pack"
    assert refusal(payer=43) == "other_user"
    assert refusal(banned=True) == "banned"


def fold(state: rules.UserState, command: Any, now: int = NOW) -> tuple[rules.UserState, Any]:
    out = rules.decide(state, command, now)
    if not isinstance(out, rules.Rejection):
        for event in out:
            state = rules.evolve(state, event)
    return state, out


def pay(charge: str, pack: str, stars: int = 50) -> rules.ReceivePayment:
    return rules.ReceivePayment(charge, stars, "XTR", pack_of(pack, stars), "ord")


def test_a_purchase_grants_once_per_charge_and_a_refund_takes_back_at_most_the_balance():
    state = rules.UserState(42, registered=True, credits=30)
    state, out = fold(state, pay("c1", "100cr"))
    assert out == [StarsPaymentReceived("c1", 50, "XTR", "100cr", "ord", at=NOW),
                   CreditsGranted(100, "purchase", charge_id="c1")]
    assert state.credits == 130 and fold(state, pay("c1", "100cr"))[1] == []
    state = replace_credits(state, 40)  # 90 of the 100 bought were spent
    state, out = fold(state, rules.RequestRefund(7, 1, "c1"))
    assert out == [RefundRequested("c1", 50, "admin", 1)] and rules.unrecoverable(state, "c1") == 60
    assert fold(state, rules.RequestRefund(8, 1, "c1"))[1] == []  # already pending
    state, out = fold(state, rules.SettleRefund("c1", True))
    assert out == [StarsRefunded("c1", 50), CreditsRevoked(40, "stars_refund", "c1", 60)]
    assert state.credits == 0 and fold(state, rules.SettleRefund("c1", True))[1] == []
    assert isinstance(fold(state, rules.RequestRefund(9, 1, "nope"))[1], rules.Rejection)


def replace_credits(state: rules.UserState, credits: int) -> rules.UserState:
    from dataclasses import replace

    return replace(state, credits=credits)


def test_premium_extends_from_the_later_end_and_a_refund_removes_only_its_days():
    state = rules.UserState(42, registered=True, premium_until=NOW + 10 * DAY)
    state, out = fold(state, pay("p1", "premium30d", 500))
    assert out[1] == PremiumGranted(NOW + 40 * DAY, charge_id="p1")
    state, _ = fold(state, rules.SetPremium(5, 1, "90d"))  # an admin grant on top
    assert state.premium_until == NOW + 130 * DAY
    state, _ = fold(state, rules.RequestRefund(6, 1, "p1"))
    state, out = fold(state, rules.SettleRefund("p1", True))
    assert out == [StarsRefunded("p1", 500), PremiumShortened(30 * DAY, "p1")]
    assert state.premium_until == NOW + 100 * DAY  # the admin's 90 days and the 10 before stay
    expired = rules.UserState(42, registered=True, premium_until=NOW - DAY)
    assert fold(expired, pay("p2", "premium30d", 500))[0].premium_until == NOW + 30 * DAY
    lifetime = rules.UserState(42, registered=True, lifetime=True)
    lifetime, _ = fold(lifetime, pay("p3", "premium30d", 500))
    lifetime, _ = fold(lifetime, rules.RequestRefund(6, 1, "p3"))
    assert fold(lifetime, rules.SettleRefund("p3", True))[0].lifetime


def test_a_banned_or_unverified_payment_is_recorded_and_refunded_not_granted():
    banned = rules.UserState(42, registered=True, banned=True, credits=5)
    state, out = fold(banned, pay("b1", "100cr"))
    assert out == [StarsPaymentReceived("b1", 50, "XTR", "100cr", "ord", at=NOW), RefundRequested("b1", 50, "banned")]
    state, out = fold(state, rules.SettleRefund("b1", True))
    assert out == [StarsRefunded("b1", 50)] and state.credits == 5
    _, out = fold(rules.UserState(42, registered=True), rules.ReceivePayment("u1", 50, "XTR", None, None))
    assert out[1] == RefundRequested("u1", 50, "unverified")
    failed, out = fold(fold(banned, pay("b2", "100cr"))[0], rules.SettleRefund("b2", False, "CHARGE_NOT_FOUND"))
    assert failed.star_refunds["b2"] == "failed" and failed.credits == 5


def test_the_snapshot_keeps_purchases_and_refunds():
    state, _ = fold(rules.UserState(42, registered=True), pay("c1", "100cr"))
    state, _ = fold(state, rules.RequestRefund(3, 1, "c1"))
    assert rules.UserState.from_dict(state.to_dict()) == state
    import orjson

    assert rules.UserState.from_dict(orjson.loads(orjson.dumps(state.to_dict()))) == state


STEPS = st.lists(st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 5), st.sampled_from(["100cr", "500cr", "premium30d"])),
    st.tuples(st.just("refund"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("charge"), st.sampled_from(["analyze", "signals"]), st.booleans()),
    st.tuples(st.just("ban"), st.booleans(), st.just(0)),
), max_size=40)


@settings(max_examples=150, deadline=None)
@given(STEPS)
def test_random_purchases_refunds_and_charges_keep_the_balance_non_negative_and_equal_to_the_fold(steps):
    state = rules.UserState(42)
    log: list[Any] = []
    now = NOW

    def run(command: Any) -> None:
        nonlocal state
        out = rules.decide(state, command, now)
        if isinstance(out, rules.Rejection):
            return
        for event in out:
            log.append(event)
            state = rules.evolve(state, event)

    run(rules.Register(1, 42))
    for n, (kind, a, b) in enumerate(steps, start=2):
        now += DAY
        if kind == "pay":
            run(pay(f"c{a}", b, 7))
        elif kind == "refund":
            run(rules.RequestRefund(n, 1, f"c{a}"))
            run(rules.SettleRefund(f"c{a}", b, "" if b else "refused"))
        elif kind == "charge":
            run(rules.IssueSignal(n, a, {"symbol": "BTCUSDT"}) if b else rules.Touch(n))
        else:
            run(rules.Ban(n, 1) if a else rules.Unban(n, 1))
        assert state.credits >= 0
    for charge in [c for c, status in state.star_refunds.items() if status == "pending"]:  # banned payers'
        run(rules.SettleRefund(charge, True))
    records = [Rec(i, "user-42", e.type, e.payload()) for i, e in enumerate(log, start=1)]
    replayed = rules.UserState(42)
    for event in log:
        replayed = rules.evolve(replayed, event)
    assert replayed == state
    balances = [e.balance for e in ledger.entries(records)]
    assert (balances[-1] if balances else 0) == state.credits
    report = invariants.check(records)
    assert report.ok, report.violation
    assert report.payments.refunds_pending == 0


def violation(*events: tuple[str, dict[str, Any]]) -> str | None:
    records = [Rec(i, "user-42", kind, data) for i, (kind, data) in enumerate(events, start=1)]
    return invariants.check(records).violation


PAID = ("StarsPaymentReceived", {"charge_id": "c1", "amount": 50, "currency": "XTR", "pack": "100cr", "order_id": "o"})
GRANT = ("CreditsGranted", {"amount": 100, "reason": "purchase", "charge_id": "c1"})
ASKED = ("RefundRequested", {"charge_id": "c1", "amount": 50, "reason": "admin"})
REFUNDED = ("StarsRefunded", {"charge_id": "c1", "amount": 50})
REVOKED = ("CreditsRevoked", {"amount": 100, "reason": "stars_refund", "charge_id": "c1"})


def test_verify_finds_every_payment_granted_or_refunded_once():
    assert violation(PAID, GRANT, ASKED, REFUNDED, REVOKED) is None
    assert violation(PAID, ("RefundRequested", {**ASKED[1], "reason": "banned"}), REFUNDED) is None
    assert "not followed by exactly one grant" in violation(PAID)
    assert "not followed by exactly one grant" in violation(PAID, ("UserBanned", {}), GRANT)
    assert "without its StarsPaymentReceived" in violation(PAID, GRANT, GRANT)
    assert "received a second time" in violation(PAID, GRANT, PAID, GRANT)
    assert "without a pending RefundRequested" in violation(PAID, GRANT, REFUNDED)
    assert "requested twice" in violation(PAID, GRANT, ASKED, ASKED)
    assert "without its StarsRefunded" in violation(PAID, GRANT, ASKED, REFUNDED, REVOKED, REVOKED)
    assert "never paid" in violation(ASKED)
    overdrawn = ("CreditsRevoked", {**REVOKED[1], "amount": 101})
    assert "balance went negative" in violation(PAID, GRANT, ASKED, REFUNDED, overdrawn)
