"""Structured logs on stderr: one line per event with time, level and component; secrets redacted."""

from __future__ import annotations

import logging
import re
import sys

_TOKEN = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,}")


class RedactingFormatter(logging.Formatter):
    """Formats `time level component message key=value` and blanks anything shaped like a bot token."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        self._secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", " | ")
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _TOKEN.sub("***", text)


class PlainConflict(logging.Filter):
    """aiogram logs a Telegram 409 as a generic fetch failure; say plainly what it means."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple) and record.args[0] == "TelegramConflictError":
            record.msg = (
                "Telegram 409 Conflict: another process is polling this bot with the same token; "
                "stop the other instance (or its webhook) - this one keeps retrying"
            )
            record.args = ()
        return True


def setup_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiogram.dispatcher").addFilter(PlainConflict())
    for noisy in ("aiogram.event", "websockets", "aiohttp.access", "numba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
