"""Long polling that one bad update cannot stop.

aiogram's own polling validates a `getUpdates` answer as one list: a single update its schema
refuses (say a `message` whose `from` has no `first_name`) fails the whole batch on every fetch,
forever, and no user is answered. Here the batch is fetched as raw JSON and each update is
validated and handled on its own: one that cannot be parsed or handled is logged, counted and
acknowledged (the offset moves past it), and the rest go on, in update_id order.
"""

from __future__ import annotations

import logging
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
    """Fetch and handle updates until cancelled; fetch errors are retried with backoff."""
    request = RawGetUpdates(timeout=timeout, allowed_updates=dispatcher.resolve_used_update_types())
    request_timeout = int(bot.session.timeout + timeout)  # the long poll must not time out the HTTP request
    backoff = Backoff(BACKOFF)
    while True:
        try:
            raws = await bot(request, request_timeout=request_timeout)
        except Exception as exc:
            log.warning("fetching updates failed (%s); retrying in %.1f s", describe(exc), backoff.next_delay)
            await backoff.asleep()
            continue
        backoff.reset()
        for raw in raws:
            counters.received += 1
            update_id = update_id_of(raw)
            if update_id is not None:
                request.offset = max(request.offset or 0, update_id + 1)  # acknowledged, whatever happens next
            await handle_update(bot, dispatcher, raw, counters)


async def handle_update(bot: Bot, dispatcher: Dispatcher, raw: Any, counters: PollCounters) -> None:
    """Validate and handle one raw update; one that does not parse or fails is logged and counted (polling
    and the webhook both)."""
    try:
        update = Update.model_validate(raw, context={"bot": bot})
    except ValidationError as exc:
        counters.unparsable += 1
        where = ", ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors()[:3])
        log.warning("update %s skipped: it does not parse (%s)", update_id_of(raw), where)
        return
    try:
        await dispatcher.feed_update(bot, update)
    except Exception:
        counters.failed += 1
        log.exception("update %s skipped: handling it failed", update.update_id)


def update_id_of(raw: Any) -> int | None:
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    return update_id if isinstance(update_id, int) else None
