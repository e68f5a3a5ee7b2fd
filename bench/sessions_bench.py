"""User sessions: commands/s through Sessions -> UserSession -> decider -> event store, and memory.

    python bench/sessions_bench.py [--users 1000] [--rounds 10] [--rate 5000] [--registered 100000] [--live 2000]

Throughput: every user has one command in flight at a time; each round sends one command per
user and waits for all replies (no Telegram). The mix is /autosignal off, /credits, /autosignal
on, /start (already registered): about half of them append an event (synchronous=FULL).
Latency: an open loop offers `--rate` commands/s to random users for 3 s (with all 1,000 in
flight at once, latency is only queueing: in-flight / throughput).
Memory: `--registered` users are written to the log (via the store, in parallel, so the set-up
is quick), then commands touch `--live` of them and as many more, so Sessions keeps `--live`
sessions and passivates the least recently used; peak RSS is reported.
Goals: >= 5,000 commands/s, p99 <= 20 ms, <= 400 MB.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pykka

from actors.clock import SystemClock
from actors.messages import Command, SessionCounters, SessionStats
from actors.user_session import Services, Sessions
from domain.events import CreditsGranted, UserRegistered, upcast
from eventstore import EventStore, NewEvent

MIX = [("autosignal", ("off",)), ("credits", ()), ("autosignal", ("on",)), ("start", ())]


class Client:
    """Sends commands with increasing update ids and records each one's latency."""

    def __init__(self, sessions) -> None:
        self.sessions = sessions
        self.update_id = 0
        self.latencies: list[float] = []

    def send(self, user: int, name: str, args: tuple[str, ...] = ()) -> Future:
        self.update_id += 1
        reply: Future = Future()
        sent = time.perf_counter()
        reply.add_done_callback(lambda _: self.latencies.append(time.perf_counter() - sent))
        self.sessions.tell(Command(self.update_id, user, user, name, args, None, "en", reply))
        return reply

    def round(self, users, name: str, args: tuple[str, ...] = ()) -> None:
        futures = [self.send(user, name, args) for user in users]
        _, pending = wait(futures, timeout=120)
        if pending:
            raise RuntimeError(f"{len(pending)} commands got no reply")


def counters(sessions) -> SessionCounters:
    reply: Future = Future()
    sessions.tell(SessionStats(reply))
    return reply.result(timeout=30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def paced(client: Client, users: int, rate: int, seconds: float) -> None:
    """Open loop: `rate` commands/s to random users, in 2 ms ticks, whatever the replies do."""
    rng = random.Random(7)
    tick, per_tick = 0.002, max(1, round(rate * 0.002))
    futures = []
    due = time.perf_counter()
    for n in range(int(seconds / tick)):
        for k in range(per_tick):
            name, args = MIX[(n + k) % len(MIX)]
            futures.append(client.send(rng.randint(1, users), name, args))
        due += tick
        time.sleep(max(0.0, due - time.perf_counter()))
    _, pending = wait(futures, timeout=120)
    if pending:
        raise RuntimeError(f"{len(pending)} commands got no reply")


def throughput(folder: Path, users: int, rounds: int, rate: int) -> None:
    store = EventStore.open(folder / "throughput.db", upcast=upcast)
    sessions = Sessions.start(Services(store, SystemClock()), max_live=users, sweep_every_s=None)
    client = Client(sessions)
    try:
        population = range(1, users + 1)
        client.round(population, "start")
        start = time.perf_counter()
        for r in range(rounds):
            name, args = MIX[r % len(MIX)]
            client.round(population, name, args)
        elapsed = time.perf_counter() - start
        count = users * rounds
        stats = store.stats()
        print(f"throughput: {users} users, all with a command in flight: {count} commands in {elapsed:.2f} s "
              f"-> {count / elapsed:,.0f} commands/s (goal >= 5,000)")
        print(f"store: {stats.events} events in {stats.commits} commits (largest batch {stats.largest_batch})")
        client.latencies.clear()
        start = time.perf_counter()
        paced(client, users, rate, 3.0)
        elapsed = time.perf_counter() - start
        lat = client.latencies
        print(f"latency at {rate:,} commands/s offered to {users} users ({len(lat)} commands, "
              f"{len(lat) / elapsed:,.0f}/s served): p50 {percentile(lat, 0.5):.1f} ms, "
              f"p99 {percentile(lat, 0.99):.1f} ms (goal p99 <= 20 ms)")
    finally:
        pykka.ActorRegistry.stop_all()
        store.close()


def preload(store: EventStore, registered: int, threads: int = 16) -> None:
    """Register users straight into the log as their sessions would (welcome grant included)."""
    now = SystemClock().now_ms()

    def register(first: int) -> None:
        for user in range(first, registered + 1, threads):
            events = [UserRegistered(user, f"u{user}", "en"), CreditsGranted(100, "welcome", at=now)]
            store.append(f"user-{user}", 0, [NewEvent(e.type, e.payload(), {"schema": 1}) for e in events])

    workers = [threading.Thread(target=register, args=(i + 1,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def memory(folder: Path, registered: int, live: int) -> None:
    store = EventStore.open(folder / "memory.db", synchronous="NORMAL", upcast=upcast)
    start = time.perf_counter()
    preload(store, registered)
    print(f"preload: {registered:,} registered users in {time.perf_counter() - start:.1f} s")
    sessions = Sessions.start(Services(store, SystemClock()), max_live=live, sweep_every_s=None)
    client = Client(sessions)
    try:
        start = time.perf_counter()
        step = max(1, registered // (2 * live))
        touched = list(range(1, registered + 1, step))[: 2 * live]
        for chunk in range(0, len(touched), live // 4 or 1):
            client.round(touched[chunk: chunk + (live // 4 or 1)], "credits")
        elapsed = time.perf_counter() - start
        stats = counters(sessions)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"sessions: {len(touched):,} users touched in {elapsed:.1f} s, live {stats.live}, "
              f"started {stats.started}, passivated {stats.passivated}")
        print(f"memory: peak RSS {rss_mb:.0f} MB with {registered:,} registered users and {stats.live} live "
              f"sessions (goal <= 400 MB)")
    finally:
        pykka.ActorRegistry.stop_all()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--registered", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=5000, help="offered commands/s for the latency run")
    args = parser.parse_args()
    threading.stack_size(256 * 1024)  # actor threads need little stack; keeps 2,000 of them cheap
    with tempfile.TemporaryDirectory() as folder:
        throughput(Path(folder), args.users, args.rounds, args.rate)
        memory(Path(folder), args.registered, args.live)


if __name__ == "__main__":
    main()
