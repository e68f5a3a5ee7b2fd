"""Property: folding a stream read back from the log equals the state kept live while appending."""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import EventStore, NewEvent


@dataclass(frozen=True)
class Account:
    balance: int = 0
    deposits: int = 0
    refused: int = 0


def decide(state: Account, command: tuple[str, int]) -> list[NewEvent]:
    kind, amount = command
    if kind == "deposit":
        return [NewEvent("Deposited", {"amount": amount})]
    if amount > state.balance:
        return [NewEvent("WithdrawalRefused", {"amount": amount})]
    return [NewEvent("Withdrawn", {"amount": amount}), NewEvent("FeeCharged", {"amount": 1})] if amount > 50 else [
        NewEvent("Withdrawn", {"amount": amount})
    ]


def evolve(state: Account, type_: str, data: dict) -> Account:
    match type_:
        case "Deposited":
            return replace(state, balance=state.balance + data["amount"], deposits=state.deposits + 1)
        case "Withdrawn" | "FeeCharged":
            return replace(state, balance=state.balance - data["amount"])
        case "WithdrawalRefused":
            return replace(state, refused=state.refused + 1)
    return state


commands = st.lists(
    st.tuples(st.sampled_from(["s1", "s2", "s3"]), st.sampled_from(["deposit", "withdraw"]), st.integers(1, 120)),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(commands)
def test_replay_equals_live_state(tmp_path_factory, script):
    path = tmp_path_factory.mktemp("fold") / "events.db"
    live: dict[str, Account] = {}
    versions: dict[str, int] = {}
    with EventStore.open(path, synchronous="OFF") as store:
        for stream, kind, amount in script:
            state = live.get(stream, Account())
            events = decide(state, (kind, amount))
            store.append(stream, versions.get(stream, 0), events)
            versions[stream] = versions.get(stream, 0) + len(events)
            for event in events:
                state = evolve(state, event.type, event.data)
            live[stream] = state
        for stream, state in live.items():
            replayed = Account()
            for record in store.read_stream(stream):
                replayed = evolve(replayed, record.type, record.data)
            assert replayed == state
            assert store.stream_version(stream) == versions[stream]
