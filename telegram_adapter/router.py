"""aiogram Router: each message becomes one `Command` for Sessions (or an autosignal admin
command for the AutoSignal actor), and its answer becomes exactly one reply via the Sender.

When polling, the handler only `tell`s and returns, so with sequential update handling the commands
reach Sessions in update_id order (which the sessions' idempotency relies on); in webhook mode
(`settle`) it returns only once the session has answered, after committing the command's events, so
Telegram's POST is acknowledged only then. An update
Telegram delivers again while the process runs gets no second answer, whatever the command
(the sessions' log-based idempotency covers charging commands across a crash).

Only what a person writes reaches the handler: service messages (members joining, a new title,
a group's migration, a pin) are never answered. In a group the bot acts only on commands without
a suffix or addressed to its own username, answers as a reply to the command's message, and
sends personal answers (and admin ones) to the sender's private chat instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, ContentType
from aiogram.methods import SendMessage
from aiogram.types import Message, ReplyParameters, Update

from actors.messages import AutoSignalCommand, ChartData, Command, Reply
from actors.user_session import ADMIN_COMMANDS, SERVED
from domain.language import from_telegram
from domain.outbox import AutoDelivered
from telegram_adapter.catalogue import text
from telegram_adapter.commands import AUTOSIGNAL_ADMIN, addressed_to, parse
from telegram_adapter.formatting import split_text
from telegram_adapter.loop_filter import OnLoop
from telegram_adapter.render import render
from telegram_adapter.send_errors import describe

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 120.0
IN_ANSWER_WITHIN_S = 10.0  # a reply ready later goes through the Sender: Telegram may have given up on the POST
SEEN_UPDATES = 100_000  # update_ids remembered (a few MB) to drop redeliveries
KNOWN = SERVED | ADMIN_COMMANDS | AUTOSIGNAL_ADMIN  # command labels in metrics; anything else is "other"
OnCommand = Callable[[str, str], None]  # (command name, result: served, silent, or the rejection code)
Draw = Callable[[ChartData], Awaitable[bytes | None]]  # a /chart answer's PNG, or None (sent as text)
GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
WRITTEN = frozenset({  # what a person writes or sends; every other content type is a service message
    ContentType.TEXT, ContentType.ANIMATION, ContentType.AUDIO, ContentType.DOCUMENT, ContentType.LIVE_PHOTO,
    ContentType.PAID_MEDIA, ContentType.PHOTO, ContentType.STICKER, ContentType.STORY, ContentType.VIDEO,
    ContentType.VIDEO_NOTE, ContentType.VOICE, ContentType.CHECKLIST, ContentType.CONTACT, ContentType.DICE,
    ContentType.GAME, ContentType.POLL, ContentType.VENUE, ContentType.LOCATION,
})


@dataclass(frozen=True)
class Origin:
    """Where a command was written, so that its answer goes back there (or privately)."""

    chat_id: int
    user_id: int
    group_message_id: int | None = None  # set in a group: the answer replies to this message
    admin: bool = False  # an admin command: answered privately even when asked in a group

    def target(self, answer: Any) -> tuple[int, int | None]:
        """(chat, message to reply to) for this answer."""
        if self.group_message_id is None:
            return self.chat_id, None
        if self.admin or (isinstance(answer, Reply) and answer.private):
            return self.user_id, None
        return self.chat_id, self.group_message_id


def route(
    update_id: int,
    user_id: int,
    chat_id: int,
    text: str | None,
    sessions: Any,
    admin_ids: frozenset[int],
    autosignal: Any = None,
    username: str | None = None,
    language: str | None = None,
    group_message_id: int | None = None,
    autosignals: tuple[AutoDelivered, ...] = (),
) -> Future:
    """Send one update's command to its actor; the returned future gets the Reply. `autosignals`: those
    delivered to the user, for a /history."""
    name, args = parse(text)
    reply: Future = Future()
    if name in AUTOSIGNAL_ADMIN:
        if user_id not in admin_ids:
            log.warning("user %s tried /%s: not allowed", user_id, name)
            reply.set_result(Reply("not_allowed", language=from_telegram(language), refused=True))
        elif autosignal is None:
            reply.set_result(Reply("autosignals_not_running", language=from_telegram(language), refused=True))
        else:
            autosignal.tell(AutoSignalCommand(update_id, user_id, name, args, reply))
        return reply
    sessions.tell(Command(update_id, user_id, chat_id, name, args, username, language, reply,
                          group=group_message_id is not None, message_id=group_message_id,
                          autosignals=autosignals if name == "history" else ()))
    return reply


def reply_text(answer: Reply, payments: bool = False) -> str | None:
    """The worded reply (None: nothing to send); an offer of packs, for an adapter that cannot show invoices.
    `payments`: whether /buy sells, so that a reply may point to it."""
    return text(answer.language, "payments-unavailable") if answer.offer else render(answer, payments)


class SeenUpdates:
    """The update_ids already taken by this process, the oldest forgotten past `limit`."""

    def __init__(self, limit: int = SEEN_UPDATES) -> None:
        self.limit = limit
        self._ids: set[int] = set()
        self._order: deque[int] = deque()

    def first_time(self, update_id: int) -> bool:
        """True the first time `update_id` is seen, False for a redelivery."""
        if update_id in self._ids:
            return False
        self._ids.add(update_id)
        self._order.append(update_id)
        if len(self._order) > self.limit:
            self._ids.discard(self._order.popleft())
        return True


def build_router(sender: Any, sessions: Any, admin_ids: frozenset[int], autosignal: Any = None,
                 bot_username: str | None = None, payments: Any = None, on_command: OnCommand | None = None,
                 settle: bool = False, draw: Draw | None = None) -> Router:
    """The message handler; `bot_username` (from getMe) tells which group commands are ours; `payments`
    (a `payments.PaymentsConfig`) answers /paysupport, /terms and /buy while payments are off; `draw` turns a
    /chart answer into its picture (without it, /chart answers as text). With `settle`
    (webhook mode) the handler returns only once the session has answered, which it does after committing
    the command's events; otherwise it only hands the command on (polling keeps update_id order)."""
    router = Router(name="signalbot")
    waiting: set[asyncio.Task] = set()
    seen = SeenUpdates()
    settling: dict[int, Future] = {}  # settle mode: update_id -> its reply, while the first POST waits for it
    resent: set[int] = set()  # settle mode: updates Telegram sent again while the first POST waited

    @router.message(OnLoop(F.content_type.in_(WRITTEN)))
    async def on_message(message: Message, event_update: Update, bot: Bot) -> SendMessage | None:
        user = message.from_user
        if user is None or user.is_bot:
            return
        if not seen.first_time(event_update.update_id):
            log.info("update %s delivered again: already answered", event_update.update_id)
            if (first := settling.get(event_update.update_id)) is not None:  # answer it no sooner than the first
                resent.add(event_update.update_id)  # Telegram gave up on the first POST: its answer goes unread
                await asyncio.wait([asyncio.wrap_future(first)], timeout=REPLY_TIMEOUT_S)
            return
        group = message.chat.type in GROUPS
        if group and not addressed_to(message.text, bot_username):
            return  # chatter, or a command for another bot
        name, _ = parse(message.text)
        origin = Origin(message.chat.id, user.id, message.message_id if group else None,
                        admin=name in ADMIN_COMMANDS or name in AUTOSIGNAL_ADMIN)
        language = sender.language_of(user.id, from_telegram(user.language_code))
        if payments is not None and (local := payments.local_reply(name, language)):
            chat_id, reply_to = origin.target(None)
            sender.reply(chat_id, local, reply_to)
            count(on_command, name, None, True)
            return
        reply = route(event_update.update_id, user.id, origin.chat_id, message.text, sessions, admin_ids,
                      autosignal, user.username, user.language_code, origin.group_message_id,
                      sender.outbox.autosignals_of(user.id))
        offer = _Offer(bot, payments) if payments is not None else None
        answering = _answer(sender, origin, reply, name, on_command, offer, draw, in_post=settle)
        if settle:
            settling[event_update.update_id] = reply
            received = asyncio.get_running_loop().time()
            try:
                method = await answering
            finally:
                del settling[event_update.update_id]
            late = asyncio.get_running_loop().time() - received > IN_ANSWER_WITHIN_S
            if method is not None and (late or event_update.update_id in resent):
                send_instead(sender, method)  # the POST's answer may never be read
                method = None
            resent.discard(event_update.update_id)
            return method
        task = asyncio.get_running_loop().create_task(answering)
        waiting.add(task)
        task.add_done_callback(waiting.discard)

    return router


def send_instead(sender: Any, method: SendMessage) -> None:
    """Queue with the Sender a reply that was to ride in a webhook answer nobody may read (Telegram resent
    the update, the POST took long, or its connection closed): the Sender sends it and sees the result."""
    reply_to = method.reply_parameters.message_id if method.reply_parameters else None
    sender.reply(method.chat_id, method.text, reply_to)


@dataclass(frozen=True)
class _Offer:
    """Sends the packs on sale as an inline keyboard (a /buy the session allowed)."""

    bot: Bot
    payments: Any

    async def send(self, chat_id: int, lang: str) -> None:
        try:
            await self.bot.send_message(chat_id, text(lang, "buy-choose"), parse_mode="HTML",
                                        reply_markup=self.payments.keyboard(lang))
        except Exception as exc:
            log.warning("the /buy packs could not be sent to %s: %s", chat_id, describe(exc))


async def _answer(sender: Any, origin: Origin, reply: Future, name: str, on_command: OnCommand | None,
                  offer: _Offer | None = None, draw: Draw | None = None, in_post: bool = False) -> SendMessage | None:
    """Word the session's answer and send it. With `in_post` (webhook mode) a one-message text reply to the chat
    the command came from, when the Sender lets that chat have a message now, is returned instead, as the
    `sendMessage` to put in the POST's answer: Telegram's documented way to call a method while answering a
    webhook (no request of our own; its result is not reported, so a reply sent privately for a group command,
    where the user may have blocked the bot, is not). Anything else goes through the Sender, which waits its
    turn, retries and records a blocked user."""
    try:
        answer = await asyncio.wait_for(asyncio.wrap_future(reply), REPLY_TIMEOUT_S)
    except TimeoutError:
        answer = Reply("late", language=sender.language_of(origin.user_id), refused=True)
    offered = offer is not None and answer.offer
    worded = None if offered else reply_text(answer, offer is not None and offer.payments.on)
    count(on_command, name, answer, offered or worded is not None)
    if offered:
        await offer.send(origin.target(answer)[0], answer.language)
        return None
    if not worded:
        return None
    chat_id, reply_to = origin.target(answer)
    chart = answer.chart if draw is not None else None
    photo = await draw(chart) if chart is not None else None
    if in_post and chat_id == origin.chat_id and photo is None and len(split_text(worded)) == 1 \
            and sender.claim(chat_id):
        replying = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        return SendMessage(chat_id=chat_id, text=worded, parse_mode="HTML", reply_parameters=replying)
    sender.reply(chat_id, worded, reply_to, photo=photo)
    return None


def count(on_command: OnCommand | None, name: str, answer: Reply | None, said: bool) -> None:
    """Count one command as every adapter does (Telegram and the console): under its name (a known command,
    else "other") and its result; `answer` None for one the adapter answered itself, `said` when a reply went out."""
    if on_command is not None:
        on_command(name if name in KNOWN else "other", "served" if answer is None else _result(answer, said))


def _result(answer: Reply, said: bool) -> str:
    """The bounded `result` label of a command's answer: the rejection code, served, or silent (a repeat)."""
    if answer.refused and answer.kind is not None:
        return answer.kind
    return "served" if said or answer.signal_id else "silent"
