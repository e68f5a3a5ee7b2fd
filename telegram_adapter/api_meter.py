"""Every Bot API call counted by method and result, through aiogram's request middleware.

The result label is bounded: `ok`, `rate_limited` (a 429), the error's class in a few words, or
`in_webhook_answer` for a method answered in a webhook POST (whose result Telegram does not report). The last
call's result feeds readiness (`/readyz`): Telegram is reachable while its last call succeeded or was
only rate-limited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

Record = Callable[[str, str, float | None], None]  # (method, result, retry_after seconds or None)
HEALTHY = frozenset({"ok", "rate_limited"})


def result_of(exc: BaseException) -> str:
    """A bounded label for a failed call."""
    match exc:
        case TelegramRetryAfter():
            return "rate_limited"
        case TelegramForbiddenError():
            return "forbidden"
        case TelegramUnauthorizedError():
            return "unauthorized"
        case TelegramBadRequest():
            return "bad_request"
        case TelegramServerError():
            return "server_error"
        case TelegramNetworkError() | OSError() | TimeoutError():
            return "network"
    return "error"


class CallMeter(BaseRequestMiddleware):
    """Hands each call's (method, result, retry_after) to `record` and keeps the last result."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.last: str | None = None  # None until the first call

    @property
    def healthy(self) -> bool:
        return self.last is None or self.last in HEALTHY

    async def __call__(self, make_request: Any, bot: Any, method: Any) -> Any:
        name = method.__api_method__
        try:
            response = await make_request(bot, method)
        except Exception as exc:
            self._done(name, result_of(exc), getattr(exc, "retry_after", None))
            raise
        self._done(name, "ok", None)
        return response

    def unconfirmed(self, method: str) -> None:
        """A method put in a webhook POST's answer: Telegram runs it but reports no result, so it is counted
        as `in_webhook_answer` and leaves readiness as it was."""
        self.record(method, "in_webhook_answer", None)

    def _done(self, method: str, result: str, retry_after: float | None) -> None:
        self.last = result
        self.record(method, result, retry_after)
