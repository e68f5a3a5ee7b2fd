"""Keeps aiogram's `Response[T]` models alive for the life of the session.

aiogram validates every Bot API answer with `Response[method.__returning__]`, and pydantic caches
parametrised generic models only weakly: once a garbage collection finds no reference to
`Response[Message]`, the next sendMessage rebuilds the model (about 7 ms of the loop's time). In
bench/webhook_bench.py that happened about once every 20 replies; holding each one here makes it once.
"""

from __future__ import annotations

from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.methods.base import Response


class PinResponseTypes(BaseRequestMiddleware):
    """A request middleware holding `Response[T]` for each return type `T` of the methods called."""

    def __init__(self) -> None:
        self.pinned: dict[Any, type] = {}  # bounded by the Bot API's return types

    async def __call__(self, make_request: Any, bot: Any, method: Any) -> Any:
        returning = method.__returning__
        if returning not in self.pinned:
            self.pinned[returning] = Response[returning]
        return await make_request(bot, method)
