"""Filters checked on the loop.

aiogram awaits an async filter, but runs any other callable, a magic filter (`F.…`) included, in a
thread (`asyncio.to_thread`): a thread hop and a loop wake-up for every update, to test one attribute.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from magic_filter import MagicFilter


class OnLoop(Filter):
    """`OnLoop(F.content_type.in_(...))`: the same test as the magic filter, without the thread."""

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: Any) -> bool:
        return bool(self.magic.resolve(event))
