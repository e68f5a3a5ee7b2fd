"""What the Sender does after a failed send: every error aiogram can raise has a decided outcome.

Retry (with Telegram's `retry_after`, or the Sender's backoff) is always bounded by the Sender's
attempt limit and then settles as failed with the reason given here; a group that became a
supergroup is re-addressed once; what Telegram refuses for good fails at once with its reason.
Nothing is retried without end, unknown exceptions included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Retry:
    """Send again after `wait` seconds (None: the Sender's backoff); after the attempt limit, fail as `reason`."""

    wait: float | None
    reason: str


@dataclass(frozen=True)
class Readdress:
    """The chat is now `to_chat_id` (a group upgraded to a supergroup)."""

    to_chat_id: int


@dataclass(frozen=True)
class Blocked:
    """The user blocked the bot, or the bot was removed from the chat."""


@dataclass(frozen=True)
class Fail:
    """Telegram refuses this message for good."""

    reason: str
    detail: str


Outcome = Retry | Readdress | Blocked | Fail


def outcome(exc: BaseException) -> Outcome:
    """The decided outcome of one failed send (order matters: aiogram's classes inherit from each other)."""
    match exc:
        case TelegramRetryAfter():
            return Retry(float(exc.retry_after), "rate_limited")
        case TelegramMigrateToChat():
            return Readdress(exc.migrate_to_chat_id)
        case TelegramForbiddenError():
            return Blocked()
        case TelegramEntityTooLarge() | TelegramBadRequest() | TelegramNotFound() | TelegramConflictError():
            return Fail("bad_request", exc.message)
        case TelegramUnauthorizedError():  # the token was revoked: keep it owed a while, the operator may fix it
            return Retry(None, "unreachable")
        case TelegramServerError() | TelegramNetworkError() | ClientDecodeError() | OSError() | TimeoutError():
            return Retry(None, "unreachable")
    return Retry(None, "error")  # anything else, aiogram's or not: a few tries, then failed with its name


def describe(exc: BaseException) -> str:
    """A short, single-line account of an error for the log and the event's detail, without the token.

    HTTP client errors may quote the request URL, which holds the token (`/bot<id>:<secret>/`).
    """
    text = _TOKEN_IN_URL.sub("bot***", " ".join(str(exc).split()))
    return f"{type(exc).__name__}: {text}"[:300]
