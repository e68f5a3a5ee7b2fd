"""The append-only event log. Knows nothing about credits or signals."""

from .errors import ConcurrencyError, CorruptLogError, EventStoreError, NotALogError, StoreClosedError
from .journal import Subscription
from .records import NewEvent, Recorded, Snapshot, StoreStats, VerifyReport
from .store import EventStore

__all__ = [
    "ConcurrencyError",
    "CorruptLogError",
    "EventStore",
    "EventStoreError",
    "NewEvent",
    "NotALogError",
    "Recorded",
    "Snapshot",
    "StoreClosedError",
    "StoreStats",
    "Subscription",
    "VerifyReport",
]
