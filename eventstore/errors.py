"""Typed errors: callers can tell a lost race from a corrupt file from a closed store."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error the store raises itself."""


class ConcurrencyError(EventStoreError):
    """An append's expected_version is not the stream's current version: a second writer lost the race."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream!r}: expected version {expected}, actual version {actual}")
        self.stream = stream
        self.expected = expected
        self.actual = actual


class CorruptLogError(EventStoreError):
    """The log file is damaged or was tampered with; `position` says where, when known."""

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"corrupt event log{where}: {message}")
        self.position = position


class NotALogError(EventStoreError):
    """The file is empty or holds no event log, and the caller did not ask to create one."""


class StoreClosedError(EventStoreError):
    """The store was closed; nothing more can be appended or read."""
