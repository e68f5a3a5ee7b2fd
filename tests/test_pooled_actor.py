"""PooledActor: pykka's actor semantics on a shared pool of threads (actors.pooled)."""

from __future__ import annotations

import threading

import pykka
import pytest

from actors.pooled import POOL_THREADS, TURN, PooledActor

pytestmark = pytest.mark.timeout(30)


class Recorder(PooledActor):
    """Keeps what it received and on which thread; `gate` (if set) blocks the message "wait"."""

    stops = 0  # on_stop calls, all recorders

    def __init__(self, gate: threading.Event | None = None, fail_start: bool = False) -> None:
        super().__init__()
        self.gate, self.fail_start = gate, fail_start
        self.seen: list[int] = []
        self.threads: set[str] = set()
        self.stopped = False

    def on_start(self) -> None:
        if self.fail_start:
            raise RuntimeError("cannot start")

    def on_receive(self, message):
        if message == "wait":
            return self.gate.wait(10)
        if message == "report":
            return list(self.seen), set(self.threads)
        self.seen.append(message)
        self.threads.add(threading.current_thread().name)
        return None

    def on_stop(self) -> None:
        self.stopped = True
        Recorder.stops += 1


@pytest.fixture(autouse=True)
def _stop_all():
    yield
    pykka.ActorRegistry.stop_all()


def test_many_actors_keep_their_message_order_on_a_bounded_set_of_threads():
    refs = [Recorder.start() for _ in range(300)]
    for n in range(20):
        for ref in refs:
            ref.tell(n)
    reports = [ref.ask("report", timeout=10) for ref in refs]
    assert all(seen == list(range(20)) for seen, _ in reports)
    threads = set().union(*(used for _, used in reports))
    assert threads and all(name.startswith("pooled-actor") for name in threads)
    assert len(threads) <= POOL_THREADS
    assert threading.active_count() < 300  # not a thread per actor


def test_an_actor_blocked_in_a_message_holds_one_thread_not_the_others():
    gate = threading.Event()
    blocked = Recorder.start(gate)
    waiting = blocked.ask("wait", block=False)
    others = [Recorder.start() for _ in range(50)]
    for ref in others:
        ref.tell(1)
    assert all(ref.ask("report", timeout=10)[0] == [1] for ref in others)
    blocked.tell(7)  # queued behind the blocked message
    gate.set()
    assert waiting.get(timeout=10) is True
    assert blocked.ask("report", timeout=10)[0] == [7]


def test_stop_runs_on_stop_and_a_stopped_actor_takes_no_messages():
    ref = Recorder.start()
    ref.tell(1)
    seen, _ = ref.ask("report", timeout=10)
    assert ref.proxy().stopped.get(timeout=10) is False
    before = Recorder.stops
    ref.stop(timeout=10)  # blocks until on_stop has run
    assert seen == [1] and Recorder.stops == before + 1 and not ref.is_alive()
    with pytest.raises(pykka.ActorDeadError):
        ref.tell(2)


def test_an_actor_whose_start_fails_is_dead_and_its_asks_fail_instead_of_hanging():
    ref = Recorder.start(fail_start=True)
    answer = ref.ask("report", block=False)
    with pytest.raises(pykka.ActorDeadError):
        answer.get(timeout=10)
    assert not ref.is_alive()


class Looper(PooledActor):
    """Tells itself the next message until `halt` is set: its inbox is never empty."""

    def __init__(self, halt: threading.Event) -> None:
        super().__init__()
        self.halt = halt

    def on_receive(self, message):
        if not self.halt.is_set():
            self.actor_ref.tell(message)


def test_actors_that_never_run_out_of_messages_still_let_another_actor_run():
    halt = threading.Event()
    try:
        for _ in range(POOL_THREADS):
            Looper.start(halt).tell("spin")
        assert Recorder.start().ask("report", timeout=10) == ([], set())  # a thread came free after a turn
    finally:
        halt.set()



class HeldAtStart(PooledActor):
    """Starts only once `gate` is set, so that a test can queue its messages first."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def on_start(self) -> None:
        self.gate.wait(10)

    def on_receive(self, message):
        return message


def test_a_stop_that_ends_a_turn_still_fails_the_asks_queued_behind_it():
    gate = threading.Event()
    ref = HeldAtStart.start(gate)
    for n in range(TURN - 1):
        ref.tell(n)
    ref.stop(block=False)  # the turn's last message
    waiting = ref.ask("after", block=False)
    gate.set()
    with pytest.raises(pykka.ActorDeadError):
        waiting.get(timeout=10)
