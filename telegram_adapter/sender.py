"""The one outbound path: replies and Outbox deliveries, rate-limited, replies first.

The Outbox follows the log (`domain.outbox` folded from `read_all`, then `subscribe`), so
every issued signal ends with exactly one `SignalDelivered` or `DeliveryFailed` in the
`outbox` stream, and a restart resumes what is still owed. Refunds follow the same log
(`domain.refunds`): each paid manual signal that ends in `DeliveryFailed` is told to Sessions,
whose UserSession writes the refund (the Sender never writes a user stream); refunds owed at
start (a crash between the failure and its refund) are told again. Per delivery: `DeliveryAttempted`
is committed before the send and the outcome after it; appends run in a thread
(`asyncio.to_thread`) and are batched, so the loop never blocks on SQLite.

Limits: a global token bucket (`rate` messages/s), at least `per_chat_interval` seconds
between messages to one private chat and `per_group_interval` to one group (Telegram allows a
group about 20 a minute), a 429 pauses the whole Sender for `retry_after`. What follows a
failed send is decided per error class in `send_errors`: bounded retries (then `DeliveryFailed`
with a reason), a re-address once when a group became a supergroup (`DeliveryRedirected`), or
failed at once; nothing is retried without end.

Charts (`charts`, a SignalCharts): a signal's chart is started when the Sender learns of the signal; each
delivery to a user who has not turned charts off goes as one photo with the text as caption when the
caption fits, else the photo then the text, between one `DeliveryAttempted` and one `SignalDelivered`
(its message_id is the photo's), like any message in pieces. Without a chart it goes as text.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram.types import BufferedInputFile, ReplyParameters

from actors.clock import Clock
from actors.messages import RefundOwed, UserBlocked
from analysis.candles import INTERVAL_MS
from domain.events import DeliveryAttempted, DeliveryFailed, DeliveryRedirected, Event, SignalDelivered
from domain.language import DEFAULT
from domain.outbox import MANUAL, Delivery, Outbox
from domain.refunds import OwedRefund, Refunds
from eventstore import ConcurrencyError, EventStore, NewEvent
from telegram_adapter import send_errors
from telegram_adapter.follow import catch_up, on_loop
from telegram_adapter.formatting import CAPTION_LIMIT, caption_length, split_text
from telegram_adapter.signal_charts import SignalCharts
from telegram_adapter.signal_text import signal_text

log = logging.getLogger(__name__)

REPLY = MANUAL  # replies and manual signals share the first lane; autosignals come after
WORDED_KEPT = 512  # (signal, language) texts kept: a broadcast is worded once per language, not per recipient
OUTBOX_STREAM = "outbox"


class Transport(Protocol):
    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        """Send one HTML message (as a reply to message `reply_to`, if given) and return its message_id.

        Raises aiogram's Telegram errors.
        """
        ...


class BotTransport:
    """Telegram through an aiogram Bot."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        replying = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        message = await self.bot.send_message(chat_id, text, parse_mode="HTML", reply_parameters=replying)
        return message.message_id

    async def send_photo(self, chat_id: int, photo: bytes | str, caption: str | None, reply_to: int | None,
                         name: str) -> tuple[int, str | None]:
        """Upload PNG bytes (multipart) or send a file_id; returns the message_id and the largest size's file_id."""
        replying = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        file = BufferedInputFile(photo, filename=name) if isinstance(photo, bytes) else photo
        message = await self.bot.send_photo(chat_id, file, caption=caption, parse_mode="HTML" if caption else None,
                                            reply_parameters=replying)
        return message.message_id, message.photo[-1].file_id if message.photo else None


class TokenBucket:
    """`rate` tokens per second with a small burst, so no 1 s window sees much more than `rate`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.tokens = self.burst
        self.at: float | None = None

    def try_take(self) -> bool:
        """Take a token if one is there now; never waits (on the loop)."""
        now = asyncio.get_running_loop().time()
        self.tokens = min(self.burst, self.tokens + (now - (self.at or now)) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def take(self) -> None:
        while not self.try_take():
            await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass(order=True)
class _Item:
    priority: int
    seq: int
    chat_id: int = field(compare=False)
    text: str | None = field(compare=False, default=None)  # a reply
    delivery: Delivery | None = field(compare=False, default=None)
    failures: int = field(compare=False, default=0)
    reply_to: int | None = field(compare=False, default=None)  # the command's message, in a group
    redirected: bool = field(compare=False, default=False)
    photo: bytes | None = field(compare=False, default=None)  # a reply's chart (/chart); the text its caption


class OutboxWriter:
    """The only writer of the `outbox` stream: batches appends made while one commits."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.version = 0
        self._waiting: list[tuple[Event, asyncio.Future]] = []
        self._flushing = False

    async def start(self) -> None:
        self.version = await asyncio.to_thread(self.store.stream_version, OUTBOX_STREAM)

    async def write(self, event: Event) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((event, done))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                events = [NewEvent(e.type, e.payload(), {"schema": e.schema, "actor": "Sender"}) for e, _ in batch]
                try:
                    await asyncio.to_thread(self.store.append, OUTBOX_STREAM, self.version, events)
                except Exception as exc:
                    if isinstance(exc, ConcurrencyError):
                        self.version = await asyncio.to_thread(self.store.stream_version, OUTBOX_STREAM)
                    for _, done in batch:
                        done.set_exception(exc)
                    continue
                self.version += len(events)
                for _, done in batch:
                    done.set_result(None)
        finally:
            self._flushing = False


class Sender:
    """Owns the Outbox projection and the send queue; lives on one asyncio loop."""

    def __init__(
        self,
        transport: Transport,
        store: EventStore,
        clock: Clock,
        sessions: Any = None,
        rate: float = 25.0,
        per_chat_interval: float = 1.0,
        concurrency: int = 8,
        max_backoff: float = 30.0,
        per_group_interval: float = 3.0,
        max_attempts: int = 8,
        charts: SignalCharts | None = None,
    ) -> None:
        self.transport = transport
        self.charts = charts
        self.store = store
        self.clock = clock
        self.sessions = sessions
        self.per_chat_interval = per_chat_interval
        self.per_group_interval = per_group_interval
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.outbox = Outbox()
        self.refunds = Refunds()
        self.writer = OutboxWriter(store)
        self.bucket = TokenBucket(rate)
        self._slots = asyncio.Semaphore(concurrency)
        self._seq = itertools.count()
        self._chats: dict[int, list[_Item]] = {}
        self._ready: list[tuple[int, int, int]] = []
        self._busy: set[int] = set()
        self._queued: set[tuple[str, int]] = set()
        self._wake = asyncio.Event()
        self._paused_until = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._subscription: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatcher: asyncio.Task | None = None
        self._worded: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.wordings = 0  # signal texts worded (a broadcast to many users in two languages: two)

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Fold the log into the Outbox, queue what is owed, then follow new events."""
        self._loop = asyncio.get_running_loop()
        await self.writer.start()
        await catch_up(self.store, self._fold, lambda: self.outbox.position)
        self._subscription = self.store.subscribe(on_loop(self._loop, self._apply), self.outbox.position)
        for delivery in sorted(self.outbox.pending.values(), key=lambda d: d.position):
            self._enqueue_delivery(delivery)
        for owed in list(self.refunds.owed.values()):
            self._refund(owed)
        self._dispatcher = self._loop.create_task(self._dispatch())

    async def stop(self, grace: float = 5.0) -> None:
        if self._subscription is not None:
            self.store.unsubscribe(self._subscription)
            self._subscription = None
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in list(self._tasks):
            task.cancel()

    def language_of(self, chat_id: int, unknown: str = DEFAULT) -> str:
        """The language the log records for a user (`unknown` when it records none); on the Sender's loop."""
        return self.outbox.languages.get(chat_id, unknown)

    def idle(self) -> bool:
        """Nothing queued and nothing being sent."""
        return not self._tasks and not any(self._chats.values())

    def pending_count(self) -> int:
        """Deliveries owed and not yet settled (cheap; safe to call from any thread)."""
        return len(self.outbox.pending)

    def oldest_pending_ms(self) -> int | None:
        """When (ms UTC) the oldest owed delivery was issued, or None (safe to call from any thread: the
        values are copied in one C-level step under the GIL)."""
        return min((d.issued_ms for d in list(self.outbox.pending.values())), default=None)

    # --- input -----------------------------------------------------------------------

    def reply(self, chat_id: int, text: str, reply_to: int | None = None, photo: bytes | None = None) -> None:
        """Queue a command's reply (on the Sender's loop); in a group, as a reply to message `reply_to`;
        with `photo`, as that photo with the text as caption (or the photo, then the text)."""
        if photo is not None:
            self._push(_Item(REPLY, next(self._seq), chat_id, text=text, reply_to=reply_to, photo=photo))
            return
        for piece in split_text(text):
            self._push(_Item(REPLY, next(self._seq), chat_id, text=piece, reply_to=reply_to))

    def claim(self, chat_id: int) -> bool:
        """Take the chat's turn and a token of the global rate for one message sent outside the queue (a reply
        answered in the webhook's POST), only if the chat has nothing queued or in flight, sends are not paused
        after a 429 and a token is free now; the chat's interval then runs as after any send. False: send it
        with `reply` instead."""
        loop = asyncio.get_running_loop()
        if chat_id in self._busy or self._chats.get(chat_id) or loop.time() < self._paused_until \
                or not self.bucket.try_take():
            return False
        self._busy.add(chat_id)
        loop.call_later(self._interval(chat_id), self._release, chat_id)
        return True

    def _fold(self, rec: Any) -> None:
        """Catching up at start: fold without acting (what is owed is queued once the log is read)."""
        self.outbox.apply(rec)
        self.refunds.apply(rec)

    def _apply(self, records: list[Any]) -> None:
        for rec in records:
            for delivery in self.outbox.apply(rec):
                self._enqueue_delivery(delivery)
            for owed in self.refunds.apply(rec):
                self._refund(owed)

    def _refund(self, owed: OwedRefund) -> None:
        if self.sessions is not None:
            self.sessions.tell(RefundOwed(owed.user_id, owed.signal_id, owed.amount))

    def _enqueue_delivery(self, delivery: Delivery) -> None:
        if delivery.key in self._queued:
            return
        self._queued.add(delivery.key)
        if self.charts is not None and delivery.chat_id not in self.outbox.charts_off:
            self.charts.issued(delivery.signal_id, delivery.signal)  # drawn now, while it waits its turn
        self._push(_Item(delivery.priority, next(self._seq), delivery.chat_id, delivery=delivery))

    def _push(self, item: _Item) -> None:
        heapq.heappush(self._chats.setdefault(item.chat_id, []), item)
        self._mark_ready(item.chat_id)

    def _mark_ready(self, chat_id: int) -> None:
        queue = self._chats.get(chat_id)
        if queue and chat_id not in self._busy:
            heapq.heappush(self._ready, (queue[0].priority, queue[0].seq, chat_id))
            self._wake.set()

    # --- dispatch --------------------------------------------------------------------

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chat_id = self._next_chat()
            if chat_id is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if (pause := self._paused_until - loop.time()) > 0:
                await asyncio.sleep(pause)
            await self._slots.acquire()
            item = heapq.heappop(self._chats[chat_id])
            task = loop.create_task(self._run(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next_chat(self) -> int | None:
        while self._ready:
            priority, seq, chat_id = heapq.heappop(self._ready)
            queue = self._chats.get(chat_id)
            if chat_id in self._busy or not queue or (queue[0].priority, queue[0].seq) != (priority, seq):
                continue  # stale entry
            self._busy.add(chat_id)
            return chat_id
        return None

    def _interval(self, chat_id: int) -> float:
        """Seconds between two messages to one chat: groups (negative ids) allow about 20 a minute."""
        return self.per_group_interval if chat_id < 0 else self.per_chat_interval

    async def _run(self, item: _Item) -> None:
        delay = self._interval(item.chat_id)
        try:
            retry = await self._send(item)
            if retry is not None:
                heapq.heappush(self._chats[item.chat_id], item)
                delay = max(delay, retry)
        except Exception:  # the log could not be written: the message stays owed, as the log says
            log.exception("recording a send to chat %s failed; the message stays owed", item.chat_id)
            item.failures += 1
            heapq.heappush(self._chats[item.chat_id], item)
            delay = max(delay, self._backoff(item))
        finally:
            self._slots.release()
            asyncio.get_running_loop().call_later(delay, self._release, item.chat_id)

    def _release(self, chat_id: int) -> None:
        self._busy.discard(chat_id)
        if not self._chats.get(chat_id):
            self._chats.pop(chat_id, None)
        self._mark_ready(chat_id)

    def _backoff(self, item: _Item) -> float:
        return min(self.max_backoff, 0.5 * 2 ** min(item.failures, 10))

    async def _send(self, item: _Item) -> float | None:
        """Send one item; returns seconds to wait before retrying it, or None when it is settled."""
        delivery = item.delivery
        if delivery is not None:
            settled = await self._settle_without_sending(delivery)
            if settled:
                return None
            await self.writer.write(DeliveryAttempted(delivery.signal_id, delivery.chat_id))
        text = item.text if delivery is None else self._wording(delivery)
        reply_to = item.reply_to if delivery is None else delivery.reply_to
        png = item.photo if delivery is None else await self._chart(delivery)
        try:
            if png is None:
                message_id = await self._transmit(item.chat_id, split_text(text or ""), reply_to)
            else:
                message_id = await self._transmit_photo(item.chat_id, png, text or "", reply_to,
                                                        delivery.signal_id if delivery else None)
        except Exception as exc:
            return await self._after_error(item, exc)
        if delivery is not None:
            await self.writer.write(SignalDelivered(delivery.signal_id, delivery.chat_id, message_id))
            self._queued.discard(delivery.key)
        return None

    def _wording(self, delivery: Delivery) -> str:
        """The delivery's text in its recipient's language, worded once per signal and language."""
        key = (delivery.signal_id, self.outbox.language(delivery))
        worded = self._worded.get(key)
        if worded is None:
            worded = self._worded[key] = signal_text(delivery.signal, key[1])
            self.wordings += 1
            if len(self._worded) > WORDED_KEPT:
                self._worded.popitem(last=False)
        return worded

    async def _transmit(self, chat_id: int, pieces: list[str], reply_to: int | None) -> int:
        """Send the pieces of one message in order; returns the first piece's message_id."""
        first, *rest = pieces
        await self.bucket.take()
        message_id = await self.transport.send(chat_id, first, reply_to)
        await self._more(chat_id, rest, reply_to)
        return message_id

    async def _more(self, chat_id: int, pieces: list[str], reply_to: int | None) -> None:
        """The pieces after a message's first, each after the chat's interval."""
        for piece in pieces:
            await asyncio.sleep(self._interval(chat_id))
            await self.bucket.take()
            await self.transport.send(chat_id, piece, reply_to)

    async def _chart(self, delivery: Delivery) -> bytes | None:
        """The delivery's chart, or None: charts not running, turned off by the user, or no chart in time."""
        if self.charts is None or delivery.chat_id in self.outbox.charts_off:
            return None
        return await self.charts.png(delivery.signal_id)

    async def _transmit_photo(self, chat_id: int, png: bytes, text: str, reply_to: int | None,
                              signal_id: str | None) -> int:
        """The photo with `text` as caption when it fits Telegram's limit, else the photo then the text pieces;
        returns the photo's message_id. A signal's photo is uploaded once (SignalCharts.send)."""
        fits = caption_length(text) <= CAPTION_LIMIT
        caption, rest = (text, []) if fits else (None, split_text(text))
        await self.bucket.take()
        if signal_id is not None and self.charts is not None:
            message_id = await self.charts.send(self.transport, signal_id, png, chat_id, caption, reply_to)
        else:
            message_id, _ = await self.transport.send_photo(chat_id, png, caption, reply_to, "chart.png")
        await self._more(chat_id, rest, reply_to)
        return message_id

    async def _after_error(self, item: _Item, exc: Exception) -> float | None:
        """Apply the decided outcome of a failed send; returns the wait before a retry, or None when settled."""
        decided = send_errors.outcome(exc)
        delivery = item.delivery
        match decided:
            case send_errors.Blocked():
                await self._blocked(item)
            case send_errors.Fail(reason, detail):
                log.warning("Telegram refused a message to %s: %s", item.chat_id, detail)
                if delivery is not None:
                    await self._fail(delivery, reason, detail)
            case send_errors.Readdress(to_chat_id):
                await self._readdress(item, to_chat_id)
            case send_errors.Retry(wait, reason):
                item.failures += 1
                if item.failures >= self.max_attempts:
                    log.warning("giving up on a message to %s after %d attempts: %s",
                                item.chat_id, item.failures, send_errors.describe(exc))
                    if delivery is not None:
                        await self._fail(delivery, reason, send_errors.describe(exc))
                    return None
                if wait is not None:  # Telegram's flood control: the whole Sender waits
                    loop = asyncio.get_running_loop()
                    self._paused_until = max(self._paused_until, loop.time() + wait)
                    log.warning("Telegram asks to wait %s s; the Sender pauses", wait)
                    return wait
                log.warning("sending to %s failed (%s); retrying", item.chat_id, send_errors.describe(exc))
                return self._backoff(item)
        return None

    async def _readdress(self, item: _Item, to_chat_id: int) -> None:
        """A group became a supergroup: send to the new chat once; a second move settles it as failed."""
        delivery = item.delivery
        already = delivery.redirected if delivery is not None else item.redirected
        if already:
            log.warning("chat %s moved again (to %s); not following a second time", item.chat_id, to_chat_id)
            if delivery is not None:
                await self._fail(delivery, "migrated", f"chat moved again, to {to_chat_id}")
            return
        log.info("chat %s became supergroup %s; re-addressing", item.chat_id, to_chat_id)
        if delivery is None:
            self._push(_Item(item.priority, next(self._seq), to_chat_id, text=item.text, redirected=True,
                             photo=item.photo))
            return
        await self.writer.write(DeliveryRedirected(delivery.signal_id, delivery.chat_id, to_chat_id))
        self._queued.discard(delivery.key)  # the Outbox owes it to the new chat once it folds the redirect

    async def _settle_without_sending(self, delivery: Delivery) -> bool:
        if delivery.key not in self.outbox.pending:
            self._queued.discard(delivery.key)
            return True
        if delivery.chat_id in self.outbox.blocked:
            await self._fail(delivery, "blocked")
            return True
        interval = INTERVAL_MS.get(str(delivery.signal.get("interval")), INTERVAL_MS["1h"])
        if self.clock.now_ms() - delivery.issued_ms > interval:
            await self._fail(delivery, "expired")
            return True
        return False

    async def _blocked(self, item: _Item) -> None:
        user = item.chat_id > 0  # a group that removed the bot is not a user who blocked it
        if user:
            self.outbox.blocked.add(item.chat_id)
        if item.delivery is not None:
            await self._fail(item.delivery, "blocked")
        if user and self.sessions is not None:
            self.sessions.tell(UserBlocked(item.chat_id))

    async def _fail(self, delivery: Delivery, reason: str, detail: str | None = None) -> None:
        await self.writer.write(DeliveryFailed(delivery.signal_id, delivery.chat_id, reason, detail))
        self._queued.discard(delivery.key)
