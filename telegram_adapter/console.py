"""The same commands over stdin/stdout (for `make demo` and local use), through the same
Sessions and the same Sender/Outbox path as Telegram, with a transport that prints."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, TextIO

from actors.clock import Clock
from eventstore import EventStore
from telegram_adapter.formatting import plain
from telegram_adapter.router import reply_text, route
from telegram_adapter.sender import Sender

DELIVERY_WAIT_S = 30.0


class ConsoleTransport:
    """Prints each message as plain text; never refuses."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._ids = itertools.count(1)

    async def send(self, chat_id: int, text: str) -> int:
        self.out.write(plain(text) + "\n\n")
        self.out.flush()
        return next(self._ids)


async def run_console(
    sessions: Any,
    store: EventStore,
    clock: Clock,
    inp: TextIO,
    out: TextIO,
    user_id: int = 1,
    admin_ids: frozenset[int] = frozenset({1}),
    autosignal: Any = None,
) -> None:
    """Read commands until EOF; each gets its reply (or its signal) before the next is read.

    Update ids come from the clock (ms x 1000 + a counter), so they keep increasing across runs
    and a session's idempotency mark never swallows a new command.
    """
    sender = Sender(ConsoleTransport(out), store, clock, sessions, rate=1000.0, per_chat_interval=0.0)
    await sender.start()
    counter = itertools.count()
    try:
        while line := await asyncio.to_thread(inp.readline):
            text = line.strip()
            if not text:
                continue
            update_id = clock.now_ms() * 1000 + next(counter) % 1000
            answer = await asyncio.wrap_future(route(update_id, user_id, user_id, text, sessions, admin_ids,
                                                     autosignal, "console", "en"))
            if shown := reply_text(answer):
                sender.reply(user_id, shown)
            await _settled(sender, store)
    finally:
        await sender.stop()


async def _settled(sender: Sender, store: EventStore) -> None:
    """Wait (bounded) until the Sender has seen the log so far and has nothing left to print."""
    loop = asyncio.get_running_loop()
    target = await asyncio.to_thread(store.last_position)
    deadline = loop.time() + DELIVERY_WAIT_S
    while loop.time() < deadline:
        if sender.outbox.position >= target and sender.idle() and not sender.pending_count():
            return
        await asyncio.sleep(0.01)
