"""The values that cross the store's interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: its type, a flat JSON payload, and metadata (schema, key, causation, actor)."""

    type: str
    data: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


class Recorded(NamedTuple):
    """A committed event. A NamedTuple: immutable, and replay builds millions of them (188 ns each, a frozen
    dataclass 563 ns)."""

    position: int
    stream: str
    version: int
    type: str
    data: dict[str, Any]
    meta: dict[str, Any]
    recorded_at: int


class Snapshot(NamedTuple):
    version: int
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    events_checked: int
    first_bad_position: int | None = None
    reason: str | None = None
    head_hash: str | None = None  # hex hash of the newest event: record it to detect a later tail truncation


@dataclass(frozen=True, slots=True)
class StoreStats:
    appends: int
    commits: int
    events: int
    largest_batch: int
