"""Event store throughput, side by side with the `eventsourcing` library's SQLite recorder.

    python bench/eventstore_bench.py [--events 1000000] [--threads 100] [--per-thread 100]

Prints events/s for one writer committing one event at a time, for many writer threads
appending at once (group commit), and for replaying the log into a fold; then the same
concurrent-append and replay workloads on eventsourcing, and the ratios. synchronous=FULL.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson

from eventstore import EventStore, NewEvent

PAYLOAD = {"symbol": "BTCUSDT", "side": "LONG", "entry": 97123.45, "stop": 96010.0, "tp1": 98800.5,
           "tp2": 100500.25, "confidence": 78, "reasons": ["order block 0.8% below", "EMA21 aligned"],
           "user": 123456789, "pad": "x" * 96}
EVENT_BYTES = len(orjson.dumps(PAYLOAD))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_threads(threads: int, target) -> float:
    barrier = threading.Barrier(threads + 1)
    workers = [threading.Thread(target=lambda i=i: (barrier.wait(), target(i))) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    return time.perf_counter() - start


# --- this project's store --------------------------------------------------------------


def ours_single(folder: Path, n: int) -> float:
    with EventStore.open(folder / "single.db") as store:
        return n / timed(lambda: [store.append("one", k, [NewEvent("Tick", PAYLOAD)]) for k in range(n)])


def ours_concurrent(folder: Path, threads: int, per_thread: int) -> tuple[float, object]:
    with EventStore.open(folder / "concurrent.db") as store:

        def writer(i: int) -> None:
            for k in range(per_thread):
                store.append(f"w{i}", k, [NewEvent("Tick", PAYLOAD)])

        seconds = run_threads(threads, writer)
        return threads * per_thread / seconds, store.stats()


def ours_replay(folder: Path, n: int) -> float:
    path = folder / "replay.db"
    with EventStore.open(path, synchronous="OFF") as store:
        for start in range(0, n, 10_000):
            store.append(f"r{start}", 0, [NewEvent("Tick", PAYLOAD)] * min(10_000, n - start))
    with EventStore.open(path) as store:
        total = [0, 0.0]

        def fold() -> None:
            for record in store.read_all():
                total[0] += 1
                total[1] += record.data["entry"]

        seconds = timed(fold)
    assert total[0] == n
    return n / seconds


# --- eventsourcing's SQLite recorder -----------------------------------------------------


def es_recorder(path: Path):
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    datastore = SQLiteDatastore(str(path), pool_size=10, max_overflow=120, pool_timeout=120)
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    return datastore, recorder


def es_event(originator, version: int):
    from eventsourcing.persistence import StoredEvent

    return StoredEvent(originator, version, "bench:Tick", orjson.dumps(PAYLOAD))


def es_concurrent(folder: Path, threads: int, per_thread: int) -> float:
    datastore, recorder = es_recorder(folder / "es-concurrent.db")
    ids = [uuid.uuid4() for _ in range(threads)]

    def writer(i: int) -> None:
        for k in range(per_thread):
            recorder.insert_events([es_event(ids[i], k + 1)])

    seconds = run_threads(threads, writer)
    datastore.close()
    return threads * per_thread / seconds


def es_replay(folder: Path, n: int) -> float:
    datastore, recorder = es_recorder(folder / "es-replay.db")
    for start in range(0, n, 10_000):
        originator = uuid.uuid4()
        recorder.insert_events([es_event(originator, v + 1) for v in range(min(10_000, n - start))])
    total = [0, 0.0]

    def fold() -> None:
        start = 1
        while True:
            page = recorder.select_notifications(start, 2000)
            for notification in page:
                total[0] += 1
                total[1] += orjson.loads(notification.state)["entry"]
            if len(page) < 2000:
                return
            start = page[-1].id + 1

    seconds = timed(fold)
    datastore.close()
    assert total[0] == n
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to replay")
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--per-thread", type=int, default=100)
    parser.add_argument("--single", type=int, default=3000, help="one-at-a-time appends")
    args = parser.parse_args()
    print(f"payload ~{EVENT_BYTES} bytes of data per event; synchronous=FULL")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        single = ours_single(folder, args.single)
        print(f"ours   one writer, one event per commit : {single:>10,.0f} events/s")
        concurrent, stats = ours_concurrent(folder, args.threads, args.per_thread)
        print(f"ours   {args.threads} writer threads (group commit) : {concurrent:>10,.0f} events/s  "
              f"({stats.commits} commits for {stats.appends} appends, largest batch {stats.largest_batch})")
        es_conc = es_concurrent(folder, args.threads, args.per_thread)
        print(f"eventsourcing {args.threads} writer threads          : {es_conc:>10,.0f} events/s")
        replay = ours_replay(folder, args.events)
        print(f"ours   replay {args.events:,} events into a fold : {replay:>10,.0f} events/s")
        es_rep = es_replay(folder, args.events)
        print(f"eventsourcing replay {args.events:,} events       : {es_rep:>10,.0f} events/s")
    print(f"ratio concurrent / one writer (ours)      : {concurrent / single:6.1f}x   (goal >= 3x)")
    print(f"ratio concurrent ours / eventsourcing     : {concurrent / es_conc:6.1f}x   (goal >= 30,000 ev/s)")
    print(f"ratio replay ours / eventsourcing         : {replay / es_rep:6.1f}x   (goal >= 300,000 ev/s)")


if __name__ == "__main__":
    main()
