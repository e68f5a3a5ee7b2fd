"""Long polling that one bad update cannot stop.

aiogram's own polling validates a `getUpdates` answer as one list: a single update its schema
refuses (say a `message` whose `from` has no `first_name`) fails the whole batch on every fetch,
forever, and no user is answered. Here the batch is fetched as raw JSON and each update is
validated and handled on its own: one that cannot be parsed or handled is logged, counted and
acknowledged (the offset moves past it), and the rest go on, in update_id order. Pre-checkout
queries do not wait in that order (see `poll`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from pydantic import ValidationError

from telegram_adapter.send_errors import describe

log = logging.getLogger(__name__)

BACKOFF = BackoffConfig(min_delay=1.0, max_delay=30.0, factor=1.5, jitter=0.1)
LANE_POLL_S = 0.25  # while the lane is behind, how often new updates (a pre-checkout) are fetched


class RawGetUpdates(GetUpdates):
    """getUpdates answered as plain JSON objects, so each update is validated separately."""

    __returning__ = list[Any]


@dataclass
class PollCounters:
    """Updates seen, and those skipped because they did not parse or their handling failed."""

    received: int = 0
    unparsable: int = 0
    failed: int = 0
    refused: int = 0  # webhook requests without the matching secret token (nothing processed)

    @property
    def skipped(self) -> int:
        return self.unparsable + self.failed


async def poll(bot: Bot, dispatcher: Dispatcher, timeout: int, counters: PollCounters) -> None:
    """Fetch and handle updates until cancelled; fetch errors are retried with backoff.

    Updates are handled one at a time, in order, by a lane of their own, while fetching goes on:
    a `pre_checkout_query` is answered in a task at once, so Telegram's 10 s limit never waits behind
    other updates. The offset confirms to Telegram only updates the lane has finished (or pre-checkouts),
    so an update taken but not yet handled at a stop is delivered again."""
    request = RawGetUpdates(timeout=timeout, allowed_updates=dispatcher.resolve_used_update_types())
    request_timeout = int(bot.session.timeout + timeout)  # the long poll must not time out the HTTP request
    backoff = Backoff(BACKOFF)
    lane = _Lane(lambda raw: handle_update(bot, dispatcher, raw, counters))
    checkouts: set[asyncio.Task] = set()
    taken = 0  # the highest update_id taken
    try:
        while True:
            if lane.busy:  # only what the lane has finished is confirmed; poll again soon, without a long wait
                await lane.progress(LANE_POLL_S)
            request.offset = lane.first_waiting() or (taken + 1 if taken else None)
            request.timeout = 0 if lane.busy else timeout
            try:
                raws = await bot(request, request_timeout=request_timeout)
            except Exception as exc:
                log.warning("fetching updates failed (%s); retrying in %.1f s", describe(exc), backoff.next_delay)
                await backoff.asleep()
                continue
            backoff.reset()
            for raw in raws:
                update_id = update_id_of(raw)
                if update_id is not None and update_id <= taken:
                    continue  # still waiting in the lane (fetched again because it is not confirmed yet)
                counters.received += 1
                taken = max(taken, update_id or 0)
                if isinstance(raw, dict) and "pre_checkout_query" in raw:
                    task = asyncio.create_task(handle_update(bot, dispatcher, raw, counters))
                    checkouts.add(task)
                    task.add_done_callback(checkouts.discard)
                else:
                    lane.put(update_id, raw)
    finally:
        lane.stop()


class _Lane:
    """Handles updates one at a time in the order taken, in a task of its own."""

    def __init__(self, handle: Callable[[Any], Awaitable[None]]) -> None:
        self._handle = handle
        self._waiting: deque[tuple[int | None, Any]] = deque()
        self._moved = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    def first_waiting(self) -> int | None:
        """The lowest update_id not handled yet (the offset that confirms only handled updates)."""
        return next((update_id for update_id, _ in self._waiting if update_id is not None), None)

    def put(self, update_id: int | None, raw: Any) -> None:
        self._waiting.append((update_id, raw))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def progress(self, at_most: float) -> None:
        """Wait until the lane finishes an update, or `at_most` seconds."""
        self._moved.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._moved.wait(), at_most)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while self._waiting:
            await self._handle(self._waiting[0][1])
            self._waiting.popleft()
            self._moved.set()


async def handle_update(bot: Bot, dispatcher: Dispatcher, raw: Any, counters: PollCounters) -> Any:
    """Validate and handle one raw update; one that does not parse or fails is logged and counted (polling
    and the webhook both). Returns what the handler returned (a method to answer a webhook POST with), else
    None."""
    try:
        update = Update.model_validate(raw, context={"bot": bot})
    except ValidationError as exc:
        counters.unparsable += 1
        where = ", ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors()[:3])
        log.warning("update %s skipped: it does not parse (%s)", update_id_of(raw), where)
        return None
    try:
        return await dispatcher.feed_update(bot, update)
    except Exception:
        counters.failed += 1
        log.exception("update %s skipped: handling it failed", update.update_id)
        return None


def update_id_of(raw: Any) -> int | None:
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    return update_id if isinstance(update_id, int) else None
