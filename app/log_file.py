"""Open the log a running bot writes: lock it, refuse a file that is not a log unless asked for a new one,
and turn every reason DB_PATH cannot serve into one line that names it (never a traceback).

An empty file where a log used to be must not be taken for a new log: every balance would silently
start again from nothing. A new log is made only when the file is absent or `run --new-log` asks.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from app.lock import InstanceLock
from domain.events import upcast
from eventstore import CorruptLogError, EventStore, NotALogError


class StartError(RuntimeError):
    """The system cannot start; the message says why and what to do."""


def open_for_run(db_path: str, synchronous: str, new_log: bool) -> tuple[InstanceLock, EventStore]:
    """Lock and open the log at DB_PATH; raises StartError (or AlreadyRunning) with a one-line reason."""
    path = Path(db_path)
    problem = _unusable(path)
    if problem:
        raise StartError(f"DB_PATH={db_path}: {problem}")
    absent = not path.exists()
    try:
        lock = InstanceLock(path).acquire()
    except OSError as exc:
        raise StartError(f"DB_PATH={db_path} cannot be opened: {exc.strerror or exc}") from None
    try:
        return lock, EventStore.open(path, synchronous=synchronous, upcast=upcast, create=new_log or absent)
    except NotALogError as exc:
        reason = (f"{exc}; refusing to start so that no balance is silently reset: restore the log from a "
                  "backup, or run `main.py run --new-log` to begin a new, empty log in this file")
    except CorruptLogError as exc:
        reason = f"{exc}; restore the last good backup (main.py backup) or run main.py verify"
    except sqlite3.Error as exc:
        reason = f"DB_PATH={db_path} cannot be opened as a log: {exc}"
    except BaseException:
        lock.release()
        raise
    lock.release()
    raise StartError(reason)


def _unusable(path: Path) -> str | None:
    """Why DB_PATH cannot hold the log (its folder is created when missing), or None."""
    if path.is_dir():
        return "is a directory; DB_PATH names the log file, e.g. data/events.db"
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"its folder {folder} cannot be created ({exc.strerror or exc})"
    if read_only := read_only_folder(path):
        return read_only
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return "the file is not readable and writable by this user"
    return None


def read_only_folder(path: Path) -> str | None:
    """Why the log's folder stops SQLite (even reading a WAL log needs its -shm file beside it), or None."""
    folder = path.parent
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    return f"its folder {folder} is read-only (the log writes its -wal and -shm files beside it)"
