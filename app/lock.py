"""One instance per log: an exclusive flock on the database file itself, held for the life of the process.

The lock belongs to the file's inode, not to the path that reached it: a hard link, a symlink
or another relative path to the same log meets the same lock, so a second writer is refused
(a lock on `<path>.lock` let two processes append to one file through two names and lose rows).
flock locks are independent of the POSIX record locks SQLite takes, so the two never interfere;
the descriptor stays open until `release()`, after the log is closed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(RuntimeError):
    """Another process holds the log."""


class InstanceLock:
    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(db_path)
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        """Lock the log file (creating an empty one when absent); raises AlreadyRunning if it is held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another signalbot is already running on {self.path} (the same file, by whatever path); "
                "stop it first, or set DB_PATH to another log"
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
