"""The same commands over stdin/stdout (for `make demo` and local use), through the same
Sessions and the same Sender/Outbox path as Telegram, with a transport that prints. Charts (with a
SignalCharts) are written as PNG files to the transport's folder and shown by their path."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any, TextIO

from actors.clock import Clock
from domain.language import from_telegram
from eventstore import EventStore
from telegram_adapter.commands import parse
from telegram_adapter.formatting import plain
from telegram_adapter.payments import PaymentsConfig
from telegram_adapter.router import OnCommand, count, reply_text, route
from telegram_adapter.sender import Sender
from telegram_adapter.signal_charts import SignalCharts

DELIVERY_WAIT_S = 30.0
CONSOLE_PAYMENTS = PaymentsConfig.off()  # the console takes no payments: /buy says so, /paysupport and /terms answer


class ConsoleTransport:
    """Prints each message as plain text, headed by its recipient when `names` is given; never refuses."""

    def __init__(self, out: TextIO, names: dict[int, str] | None = None, folder: Path | None = None) -> None:
        """`folder`: where photos are written (default: the working directory)."""
        self.out = out
        self.names = names
        self.folder = folder or Path.cwd()
        self._ids = itertools.count(1)
        self._photos = itertools.count(1)  # a numbered file per upload: two /chart answers never share one

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        head = f"  → {self.names.get(chat_id, chat_id)}\n" if self.names is not None else ""
        self.out.write(head + plain(text) + "\n\n")
        self.out.flush()
        return next(self._ids)

    async def send_photo(self, chat_id: int, photo: bytes | str, caption: str | None, reply_to: int | None,
                         name: str) -> tuple[int, str | None]:
        """Write the PNG (once: later sends pass its path back as the file_id) and print its path."""
        path = Path(photo) if isinstance(photo, str) else self.folder / f"{next(self._photos)}-{name}"
        if isinstance(photo, bytes):
            await asyncio.to_thread(path.write_bytes, photo)
        message_id = await self.send(chat_id, f"[chart: {path}]" + (f"\n{caption}" if caption else ""))
        return message_id, str(path)


class Console:
    """Commands from any user, each answered (reply or signal) before the next is taken.

    Update ids come from the clock (ms x 1000 + a counter), so they keep increasing across runs
    and a session's idempotency mark never swallows a new command.
    """

    def __init__(self, sessions: Any, store: EventStore, clock: Clock, out: TextIO,
                 admin_ids: frozenset[int], autosignal: Any = None, names: dict[int, str] | None = None,
                 charts: SignalCharts | None = None, folder: Path | None = None,
                 languages: dict[int, str] | None = None, on_command: OnCommand | None = None) -> None:
        """`charts`: signals and /chart answers as PNGs written to `folder`; without it, text only.
        `languages`: the language_code each user's (pretend) Telegram app sends; English otherwise.
        `on_command`: counts each command as the Telegram router does (`router.count`)."""
        self.on_command = on_command
        self.sessions, self.store, self.clock = sessions, store, clock
        self.languages = languages or {}
        self.admin_ids, self.autosignal, self.names, self.charts = admin_ids, autosignal, names, charts
        self.sender = Sender(ConsoleTransport(out, names, folder), store, clock, sessions, rate=1000.0,
                             per_chat_interval=0.0, charts=charts)
        self._counter = itertools.count()

    async def start(self) -> None:
        if self.charts is not None:
            self.charts.start()
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()
        if self.charts is not None:
            await self.charts.close()

    async def say(self, user_id: int, text: str) -> None:
        update_id = self.clock.now_ms() * 1000 + next(self._counter) % 1000
        username = (self.names or {}).get(user_id, "console")
        telegram_language = self.languages.get(user_id, "en")
        language = self.sender.language_of(user_id, from_telegram(telegram_language))
        name = parse(text)[0]
        if local := CONSOLE_PAYMENTS.local_reply(name, language):  # /paysupport, /terms; no Stars here
            self.sender.reply(user_id, local)
            count(self.on_command, name, None, True)
            await self.settled()
            return
        answer = await asyncio.wrap_future(route(update_id, user_id, user_id, text, self.sessions, self.admin_ids,
                                                 self.autosignal, username, telegram_language,
                                                 autosignals=self.sender.outbox.autosignals_of(user_id)))
        shown = reply_text(answer, CONSOLE_PAYMENTS.on)
        count(self.on_command, name, answer, shown is not None)
        if shown:
            chart = answer.chart if self.charts is not None else None
            png = await self.charts.draw(chart) if chart else None
            self.sender.reply(user_id, shown, photo=png)
        await self.settled()

    async def settled(self, wait_s: float = DELIVERY_WAIT_S) -> None:
        """Wait (bounded) until the Sender has seen the log so far and has nothing left to print."""
        loop = asyncio.get_running_loop()
        sender = self.sender
        target = await asyncio.to_thread(self.store.last_position)
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            if sender.outbox.position >= target and sender.idle() and not sender.pending_count():
                return
            await asyncio.sleep(0.01)


async def run_console(
    sessions: Any,
    store: EventStore,
    clock: Clock,
    inp: TextIO,
    out: TextIO,
    user_id: int = 1,
    admin_ids: frozenset[int] = frozenset({1}),
    autosignal: Any = None,
    charts: SignalCharts | None = None,
    folder: Path | None = None,
) -> None:
    """Read commands from `inp` until EOF, as `user_id`; with `charts`, PNGs are written to `folder`."""
    console = Console(sessions, store, clock, out, admin_ids, autosignal, charts=charts, folder=folder)
    await console.start()
    try:
        while line := await asyncio.to_thread(inp.readline):
            if text := line.strip():
                await console.say(user_id, text)
    finally:
        await console.stop()
