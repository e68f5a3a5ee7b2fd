"""The languages the bot speaks, and which one each user reads, as far as the log says.

The code is data (stored in `UserRegistered.language` and `LanguageChanged`); what the
bot says in it is decided at the edge, in `telegram_adapter.catalogue`.
"""

from __future__ import annotations

from typing import Any

from domain.events import LoggedEvent, user_of

LANGUAGES = ("en", "id")
DEFAULT = "en"


def from_telegram(code: str | None) -> str:
    """Telegram's `language_code` (an IETF tag such as `id`, `id-ID`, `en-GB`) -> `id` or the default."""
    return "id" if (code or "").lower().split("-")[0] == "id" else DEFAULT


class Languages:
    """A projection: each user's language, folded from UserRegistered and LanguageChanged."""

    def __init__(self) -> None:
        self.of: dict[int, str] = {}

    def apply(self, rec: LoggedEvent) -> None:
        if rec.type in ("UserRegistered", "LanguageChanged") and (user := user_of(rec.stream)) is not None:
            self.of[user] = _known(rec.data.get("language"))

    def get(self, chat_id: int, unknown: str = DEFAULT) -> str:
        """A chat's language: its user's; `unknown` for a group or a user the log does not know."""
        return self.of.get(chat_id, unknown)


def _known(code: Any) -> str:
    return code if code in LANGUAGES else DEFAULT
