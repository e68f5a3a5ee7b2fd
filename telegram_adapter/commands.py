"""Turn a chat text into a command name and arguments (shared by Telegram and the console)."""

from __future__ import annotations

AUTOSIGNAL_ADMIN = frozenset({"signal_on", "signal_off", "signal_status", "signal_tick", "cooldown_clear"})
MAX_ARGS = 8


def addressed_to(text: str | None, username: str | None) -> bool:
    """Whether a group message is a command for this bot: `/cmd` or `/cmd@our_username`, not `/cmd@other_bot`."""
    if not text or not text.startswith("/"):
        return False
    _, at, suffix = text.split(maxsplit=1)[0].partition("@")
    return not at or (username is not None and suffix.lower() == username.lower())


def parse(text: str | None) -> tuple[str, tuple[str, ...]]:
    """`/Analyze@bot btc` -> ("analyze", ("btc",)); plain text -> ("", ())."""
    if not text or not text.startswith("/"):
        return "", ()
    head, *args = text.split()
    name = head[1:].split("@", 1)[0].lower()
    return name, tuple(args[:MAX_ARGS])
