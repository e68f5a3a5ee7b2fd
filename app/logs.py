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


def setup_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiogram.event", "websockets", "aiohttp.access", "numba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
