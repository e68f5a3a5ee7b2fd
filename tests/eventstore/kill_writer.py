"""Child process for the kill -9 test: appends forever, acknowledging each append only after it returns."""

from __future__ import annotations

import sys
import threading

from eventstore import EventStore, NewEvent


def main(path: str, writers: int) -> None:
    store = EventStore.open(path)
    out_lock = threading.Lock()

    def writer(i: int) -> None:
        stream = f"k{i}"
        version = store.stream_version(stream)
        while True:
            positions = store.append(stream, version, [NewEvent("Tick", {"v": version + 1, "pad": "x" * 200})])
            version += 1
            with out_lock:
                sys.stdout.write(f"{stream} {version} {positions[0]}\n")
                sys.stdout.flush()

    for i in range(writers):
        threading.Thread(target=writer, args=(i,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
