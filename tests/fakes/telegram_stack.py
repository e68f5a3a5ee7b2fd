"""The whole user path for tests: fake Bot API + real aiogram bot + Sender + Sessions + SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from eventstore import NewEvent
from telegram_adapter.bot import TelegramBot, TelegramConfig, build_bot
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.session_stack import ADMIN, Stack, start_stack, stop_stack


def start_bot(stack: Stack, fake: FakeBotAPI, config: dict[str, Any] | None = None, charts: Any = None,
              **sender_options: Any) -> TelegramBot:
    """`config` overrides TelegramConfig's fields (the webhook mode's, say); `charts` (CHART_* settings) turns
    charts on, drawn from the stack's feed."""
    config = replace(TelegramConfig(fake.token, fake.base_url, frozenset({ADMIN}), rate=25.0, polling_timeout=1),
                     **(config or {}))
    if charts is not None:
        sender_options.update(chart_settings=charts, feed=stack.feed)
    sender_options.setdefault("per_chat_interval", 0.2)
    return build_bot(stack.sessions, stack.store, stack.clock, config=config, **sender_options).start()


@contextmanager
def telegram_world(tmp: Path, market: dict, fake_options: dict | None = None, bot_options: dict | None = None,
                   **stack_options: Any) -> Iterator[tuple[FakeBotAPI, Stack, TelegramBot]]:
    """The fake Bot API, a session stack (`start_stack` options) and the real bot polling it; stopped after."""
    fake = FakeBotAPI(**{"per_chat_rate": 5.0, **(fake_options or {})}).start()
    stack = start_stack(tmp, market, **stack_options)
    bot = start_bot(stack, fake, **(bot_options or {}))
    try:
        yield fake, stack, bot
    finally:
        bot.stop()
        stop_stack(stack)
        fake.stop()


def wait_until(probe: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def broadcast(stack: Stack, signal: dict[str, Any], recipients: list[int]) -> str:
    """Log an AutoSignalIssued as the AutoSignal actor would (the log is the interface)."""
    signal_id = f"a:{signal['symbol']}:{signal['interval']}:{signal['open_time']}:{signal['side']}"
    version = stack.store.stream_version("autosignal")
    stack.store.append("autosignal", version, [NewEvent(
        "AutoSignalIssued", {"signal_id": signal_id, "signal": signal, "recipients": recipients}, {"schema": 1})])
    return signal_id


def outcomes(stack: Stack) -> dict[tuple[str, int], list[str]]:
    """(signal_id, chat) -> the outbox events recorded for it, in order."""
    seen: dict[tuple[str, int], list[str]] = {}
    for rec in stack.store.read_stream("outbox"):
        seen.setdefault((rec.data["signal_id"], rec.data["chat_id"]), []).append(
            rec.type if rec.type != "DeliveryFailed" else f"DeliveryFailed:{rec.data['reason']}")
    return seen


SIGNAL = {"symbol": "ETHUSDT", "interval": "15m", "open_time": 1732712400000, "close_time": 1732713299999,
          "side": "LONG", "entry": 3567.125, "stop": 3540.5, "tp1": 3600.0, "tp2": 3650.0, "rr1": 1.2,
          "rr2": 3.1, "confidence": 78, "reasons": ["bullish <BOS> & FVG"], "smc": {"trend": "up"},
          "precision": 2}
