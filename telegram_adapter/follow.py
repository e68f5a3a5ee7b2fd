"""Following the log from an asyncio loop: catch up in batches off the loop, then take new events on it.

The Sender and the refund worker fold their projections this way: a journal callback runs on the
journal's thread and must hand the records over and return at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from eventstore import EventStore

CATCH_UP_BATCH = 10_000


async def catch_up(store: EventStore, apply: Callable[[Any], None], position: Callable[[], int]) -> None:
    """Fold every event after `position()` with `apply`, reading batches in a thread."""
    while True:
        batch = await asyncio.to_thread(lambda: list(store.read_all(position(), CATCH_UP_BATCH)))
        for rec in batch:
            apply(rec)
        if len(batch) < CATCH_UP_BATCH:
            return


def on_loop(loop: asyncio.AbstractEventLoop, apply: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
    """A journal callback that hands the records to `apply` on `loop` and returns at once."""

    def hand_over(records: list[Any]) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(apply, records)

    return hand_over
