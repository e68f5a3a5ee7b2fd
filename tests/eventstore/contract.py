"""The event store contract: one suite any backend must pass unchanged.

A backend's test module subclasses `EventStoreContract` and provides an `open_store`
fixture: a function `open_store(**options) -> store` reopening the same log each call.
"""

from __future__ import annotations

import threading

import pytest

from eventstore import ConcurrencyError, NewEvent, StoreClosedError


def ev(n: int, type_: str = "Counted") -> NewEvent:
    return NewEvent(type_, {"n": n}, {"schema": 1})


def run_threads(count: int, target) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a writer thread hung"


class EventStoreContract:
    @pytest.fixture
    def store(self, open_store):
        store = open_store()
        yield store
        store.close()

    def test_append_returns_positions_and_reads_back(self, store):
        assert store.append("s", 0, [ev(1), ev(2)]) == [1, 2]
        assert store.append("t", 0, [ev(3)]) == [3]
        got = store.read_stream("s")
        assert [(r.position, r.stream, r.version, r.type, r.data, r.meta) for r in got] == [
            (1, "s", 1, "Counted", {"n": 1}, {"schema": 1}),
            (2, "s", 2, "Counted", {"n": 2}, {"schema": 1}),
        ]
        assert [r.version for r in store.read_stream("s", after_version=1)] == [2]
        assert store.stream_version("s") == 2
        assert store.stream_version("missing") == 0
        assert store.last_position() == 3
        assert all(isinstance(r.recorded_at, int) and r.recorded_at > 0 for r in got)

    def test_duplicate_version_rejected(self, store):
        store.append("s", 0, [ev(1)])
        with pytest.raises(ConcurrencyError) as info:
            store.append("s", 0, [ev(2)])
        assert (info.value.stream, info.value.expected, info.value.actual) == ("s", 0, 1)
        assert "'s'" in str(info.value) and "expected version 0" in str(info.value)
        with pytest.raises(ConcurrencyError):
            store.append("s", 5, [ev(2)])
        assert [r.data["n"] for r in store.read_stream("s")] == [1]

    def test_conflicting_batch_inserts_nothing(self, store):
        store.append("s", 0, [ev(1)])
        with pytest.raises(ConcurrencyError):
            store.append("s", 0, [ev(2), ev(3), ev(4)])
        assert store.stream_version("s") == 1
        assert store.last_position() == 1

    def test_a_losing_racer_does_not_fail_the_others_in_its_group_commit(self, store):
        outcomes: dict[int, object] = {}

        def writer(i: int) -> None:
            stream = "shared" if i % 2 == 0 else f"own-{i}"
            try:
                outcomes[i] = store.append(stream, 0, [ev(i)])
            except ConcurrencyError as exc:
                outcomes[i] = exc

        run_threads(40, writer)
        shared_winners = [i for i in range(0, 40, 2) if isinstance(outcomes[i], list)]
        assert len(shared_winners) == 1
        assert all(isinstance(outcomes[i], list) for i in range(1, 40, 2))
        assert store.last_position() == 21

    def test_bad_payload_fails_only_its_caller(self, store):
        with pytest.raises(TypeError, match="not JSON-serialisable"):
            store.append("s", 0, [ev(1), NewEvent("Bad", {"x": object()})])
        with pytest.raises(TypeError):
            store.append("s", 0, [NewEvent("Bad", ["not", "a", "dict"])])  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            store.append("s", 0, [])
        assert store.append("s", 0, [ev(1)]) == [1]

    def test_writers_on_their_own_streams_lose_and_duplicate_nothing(self, store):
        def writer(i: int) -> None:
            for k in range(200):
                store.append(f"w{i}", k, [ev(k)])

        run_threads(8, writer)
        for i in range(8):
            assert [r.data["n"] for r in store.read_stream(f"w{i}")] == list(range(200))
        positions = [r.position for r in store.read_all()]
        assert positions == list(range(1, 1601))
        stats = store.stats()
        assert stats.events == 1600 and stats.appends == 1600
        assert stats.commits <= 1600

    def test_many_threads_share_commits(self, store):
        barrier = threading.Barrier(100)

        def writer(i: int) -> None:
            barrier.wait()
            for k in range(5):
                store.append(f"g{i}", k, [ev(k)])

        run_threads(100, writer)
        stats = store.stats()
        assert stats.events == 500
        assert stats.commits < 500 and stats.largest_batch > 1

    def test_racing_batches_get_contiguous_positions(self, store):
        def writer(i: int) -> None:
            for k in range(20):
                store.append(f"b{i}", k * 50, [ev(j) for j in range(50)])

        run_threads(2, writer)
        for i in range(2):
            records = store.read_stream(f"b{i}")
            for start in range(0, len(records), 50):
                chunk = [r.position for r in records[start : start + 50]]
                assert chunk == list(range(chunk[0], chunk[0] + 50))

    def test_subscriber_catches_up_then_follows_live_without_gaps(self, store):
        for k in range(30):
            store.append("early", k, [ev(k)])
        seen: list[int] = []
        batches: list[list[int]] = []

        def on_events(events):
            batches.append([e.position for e in events])
            seen.extend(e.position for e in events)

        def writer(i: int) -> None:
            for k in range(100):
                store.append(f"live{i}", k, [ev(k)])

        subscription = store.subscribe(on_events, after_position=10)
        run_threads(4, writer)
        assert seen == list(range(11, 431))
        assert all(batch == sorted(batch) for batch in batches)
        store.unsubscribe(subscription)
        store.append("after", 0, [ev(0)])
        assert seen[-1] == 430

    def test_subscribe_from_now_sees_only_new_events(self, store):
        store.append("old", 0, [ev(0)])
        seen: list[str] = []
        store.subscribe(lambda events: seen.extend(e.stream for e in events))
        store.append("new", 0, [ev(1)])
        assert seen == ["new"]

    def test_a_failing_subscriber_does_not_stop_the_log(self, store):
        seen: list[int] = []

        def broken(events):
            raise RuntimeError("subscriber bug")

        store.subscribe(broken, after_position=0)
        store.subscribe(lambda events: seen.extend(e.position for e in events), after_position=0)
        store.append("s", 0, [ev(1)])
        store.append("s", 1, [ev(2)])
        assert seen == [1, 2]

    def test_tailing_read_all_never_skips(self, store):
        done = threading.Event()
        seen: list[int] = []

        def writer(i: int) -> None:
            for k in range(150):
                store.append(f"t{i}", k, [ev(k)])

        def tail() -> None:
            last = 0
            while not done.is_set() or last < store.last_position():
                for record in store.read_all(after_position=last, limit=64):
                    seen.append(record.position)
                    last = record.position

        reader = threading.Thread(target=tail)
        reader.start()
        run_threads(4, writer)
        done.set()
        reader.join(timeout=30)
        assert seen == list(range(1, 601))

    def test_read_all_pages_and_limits(self, store):
        for k in range(5):
            store.append("big", k * 500, [ev(j) for j in range(500)])
        store.append("x", 0, [ev(0)])
        everything = list(store.read_all())
        assert [r.position for r in everything] == list(range(1, 2502))
        assert [r.position for r in store.read_all(after_position=3, limit=2)] == [4, 5]

    def test_snapshot_plus_tail_equals_full_replay(self, store):
        total = 0
        for k in range(1, 41):
            store.append("acct", k - 1, [ev(k)])
            total += k
            if k == 25:
                store.save_snapshot("acct", 25, {"total": total})
        snap = store.load_snapshot("acct")
        assert snap is not None and snap.version == 25
        tail = store.read_stream("acct", after_version=snap.version)
        from_snapshot = snap.state["total"] + sum(r.data["n"] for r in tail)
        full = sum(r.data["n"] for r in store.read_stream("acct"))
        assert from_snapshot == full == total
        assert store.load_snapshot("nothing") is None

    def test_reopen_keeps_everything(self, open_store):
        with open_store() as first:
            first.append("s", 0, [ev(1), ev(2)])
        with open_store() as second:
            assert [r.version for r in second.read_stream("s")] == [1, 2]
            assert second.append("s", 2, [ev(3)]) == [3]
            assert second.verify().ok

    def test_upcast_applies_at_read_time(self, open_store):
        with open_store() as plain:
            plain.append("u", 0, [NewEvent("Renamed", {"old": 1}, {"schema": 1})])

        def upcast(type_, schema, data):
            return {"new": data["old"], "from_schema": schema} if type_ == "Renamed" else data

        with open_store(upcast=upcast) as lifted:
            assert lifted.read_stream("u")[0].data == {"new": 1, "from_schema": 1}
            assert next(lifted.read_all()).data == {"new": 1, "from_schema": 1}
        with open_store() as plain:
            assert plain.read_stream("u")[0].data == {"old": 1}

    def test_closed_store_refuses_work(self, open_store):
        store = open_store()
        store.close()
        store.close()
        with pytest.raises(StoreClosedError):
            store.append("s", 0, [ev(1)])
        with pytest.raises(StoreClosedError):
            store.read_stream("s")
