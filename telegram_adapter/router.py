"""aiogram Router: each message becomes one `Command` for Sessions (or an autosignal admin
command for the AutoSignal actor), and its answer becomes exactly one reply via the Sender.

The handler only `tell`s and returns, so with sequential update handling the commands
reach Sessions in update_id order (which the sessions' idempotency relies on).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import Any

from aiogram import Router
from aiogram.types import Message, Update

from actors.messages import AutoSignalCommand, Command, Reply
from telegram_adapter.commands import AUTOSIGNAL_ADMIN, parse
from telegram_adapter.formatting import esc

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 120.0
LATE = "That took too long; please try again. Nothing was charged unless a signal arrives."


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
) -> Future:
    """Send one update's command to its actor; the returned future gets the Reply (or text)."""
    name, args = parse(text)
    reply: Future = Future()
    if name in AUTOSIGNAL_ADMIN:
        if user_id not in admin_ids:
            log.warning("user %s tried /%s: not allowed", user_id, name)
            reply.set_result(Reply("Not allowed."))
        elif autosignal is None:
            reply.set_result(Reply("Autosignals are not running."))
        else:
            autosignal.tell(AutoSignalCommand(update_id, user_id, name, args, reply))
        return reply
    sessions.tell(Command(update_id, user_id, chat_id, name, args, username, language, reply))
    return reply


def reply_text(answer: Any) -> str | None:
    """The text to send for a Reply, or for a plain string answer (the AutoSignal actor's)."""
    if isinstance(answer, Reply):
        return answer.text
    return esc(answer) if answer else None


def build_router(sender: Any, sessions: Any, admin_ids: frozenset[int], autosignal: Any = None) -> Router:
    router = Router(name="signalbot")
    waiting: set[asyncio.Task] = set()

    @router.message()
    async def on_message(message: Message, event_update: Update) -> None:
        user = message.from_user
        if user is None or user.is_bot:
            return
        chat_id = message.chat.id
        reply = route(event_update.update_id, user.id, chat_id, message.text, sessions, admin_ids, autosignal,
                      user.username, user.language_code)
        task = asyncio.get_running_loop().create_task(_answer(sender, chat_id, reply))
        waiting.add(task)
        task.add_done_callback(waiting.discard)

    return router


async def _answer(sender: Any, chat_id: int, reply: Future) -> None:
    try:
        answer = await asyncio.wait_for(asyncio.wrap_future(reply), REPLY_TIMEOUT_S)
    except TimeoutError:
        answer = Reply(LATE)
    text = reply_text(answer)
    if text:
        sender.reply(chat_id, text)
