"""Telegram's limits on a worded message: 4,096 characters a message, 1,024 a caption; and HTML as plain text.

The words themselves come from `catalogue` (via `render` and `signal_text`).
"""

from __future__ import annotations

import html
import re

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """The HTML reply as plain text (for the console)."""
    return html.unescape(_TAG.sub("", text))


def caption_length(text: str) -> int:
    """Length of an HTML caption as Telegram limits it: after entity parsing (tags dropped, entities
    decoded), in UTF-16 code units, the unit of Telegram's entity offsets (an emoji may count 2)."""
    return len(plain(text).encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line ends (a longer line is cut hard)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            candidate = line
        current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces
