"""Turn a chat text into a command name and arguments (shared by Telegram and the console)."""

from __future__ import annotations

AUTOSIGNAL_ADMIN = frozenset({"signal_on", "signal_off", "signal_status", "signal_tick", "cooldown_clear"})
MAX_ARGS = 8


def parse(text: str | None) -> tuple[str, tuple[str, ...]]:
    """`/Analyze@bot btc` -> ("analyze", ("btc",)); plain text -> ("", ())."""
    if not text or not text.startswith("/"):
        return "", ()
    head, *args = text.split()
    name = head[1:].split("@", 1)[0].lower()
    return name, tuple(args[:MAX_ARGS])
