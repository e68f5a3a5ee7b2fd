"""The Telegram side on its own loop thread: aiogram polling or the webhook, the router and the Sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import BotCommand

from actors.clock import Clock
from domain.language import DEFAULT, LANGUAGES
from eventstore import EventStore
from telegram_adapter.api_meter import CallMeter
from telegram_adapter.catalogue import text
from telegram_adapter.charts.service import ChartService
from telegram_adapter.payments import PaymentsConfig, build_payments_router
from telegram_adapter.polling import PollCounters, poll
from telegram_adapter.refunder import RefundWorker
from telegram_adapter.response_types import PinResponseTypes
from telegram_adapter.router import build_router
from telegram_adapter.send_errors import describe
from telegram_adapter.sender import BotTransport, Sender
from telegram_adapter.signal_charts import SignalCharts, feed_candles
from telegram_adapter.webhook import Webhook

log = logging.getLogger(__name__)

MENU = ("analyze", "futures", "signals", "credits", "history", "winrate", "followups", "chart", "charts", "language",
        "buy", "paysupport", "terms", "help")


def menu(lang: str) -> list[BotCommand]:
    """Telegram's command menu in one language (the descriptions are the catalogue's `menu-<command>`)."""
    return [BotCommand(command=name, description=text(lang, f"menu-{name}")) for name in MENU]


class TelegramStartError(RuntimeError):
    """The Bot API refused the token or could not be reached at start; the message names the setting."""


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    api_url: str | None = None
    admin_ids: frozenset[int] = frozenset()
    rate: float = 25.0
    polling_timeout: int = 10
    mode: str = "polling"  # or "webhook"
    webhook_url: str = ""
    webhook_listen: tuple[str, int] = ("127.0.0.1", 8443)
    webhook_secret: str = ""
    delete_webhook: bool = False  # at shutdown, in webhook mode
    payments: PaymentsConfig = field(default_factory=PaymentsConfig.off)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> TelegramConfig:
        """TELEGRAM_BOT_TOKEN (required), TELEGRAM_API_URL, ADMIN_IDS (comma separated), TELEGRAM_RATE."""
        env = dict(os.environ if env is None else env)
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        try:
            admins = frozenset(int(x) for x in env.get("ADMIN_IDS", "").replace(" ", "").split(",") if x)
        except ValueError:
            raise ValueError("ADMIN_IDS must be comma-separated Telegram user ids") from None
        return cls(token, env.get("TELEGRAM_API_URL") or None, admins, float(env.get("TELEGRAM_RATE") or 25.0))

    def __repr__(self) -> str:  # the token and the webhook secret never reach logs
        return (f"TelegramConfig(api_url={self.api_url!r}, admins={sorted(self.admin_ids)}, rate={self.rate}, "
                f"mode={self.mode}, webhook_url={self.webhook_url!r}, payments={'on' if self.payments.on else 'off'})")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The adapter's loop: uvloop's where it is installed (aiogram's recommendation; bench/webhook_bench.py
    measured +12 % updates/s and 50 us less CPU per update than asyncio's), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class TelegramBot:
    """Takes updates (long polling, or a webhook with `mode="webhook"`), routes them to Sessions, sends through
    the Sender, and counts every Bot API call (`calls`); `start()`/`stop()`."""

    def __init__(self, config: TelegramConfig, sessions: Any, store: EventStore, clock: Clock,
                 autosignal: Any = None, metrics: Any = None, chart_settings: Any = None, feed: Any = None,
                 **sender_options: Any) -> None:
        """`chart_settings` (app.config.Settings: CHART_*) and `feed` (the MarketFeed, for the candles): signals
        and /chart answers as charts; without them, text only."""
        self.config = config
        self.chart_settings, self.feed = chart_settings, feed
        self.charts: SignalCharts | None = None
        self.metrics = metrics  # app.metrics.Metrics, or None
        self.sessions = sessions
        self.store = store
        self.clock = clock
        self.autosignal = autosignal
        self.sender_options = sender_options
        self.loop = new_event_loop()
        self.sender: Sender | None = None
        self.refunds: RefundWorker | None = None
        self._thread = threading.Thread(target=self._run, name="telegram", daemon=True)
        self._ready = threading.Event()
        self._stopping = asyncio.Event()
        self._error: BaseException | None = None
        self._bot: Bot | None = None
        self.webhook: Webhook | None = None
        self.updates = PollCounters()
        self.calls = CallMeter(metrics.telegram_call if metrics else lambda *_: None)

    def start(self, timeout: float = 30.0) -> TelegramBot:
        """Raises TelegramStartError (one line naming the setting) when the Bot API refuses or is unreachable."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TelegramStartError(f"the Telegram adapter did not start within {timeout:.0f} s")
        if isinstance(self._error, TelegramStartError):
            raise self._error
        if self._error:
            raise RuntimeError(f"the Telegram adapter did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling, let the Sender finish what is in flight, close the HTTP session."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout)

    def pending_deliveries(self) -> int:
        return self.sender.pending_count() if self.sender else 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except TelegramStartError as exc:
            self._error = exc
        except BaseException as exc:
            self._error = exc
            log.exception("the Telegram adapter stopped")
        finally:
            self._ready.set()
            self.loop.close()

    async def _main(self) -> None:
        api = TelegramAPIServer.from_base(self.config.api_url) if self.config.api_url else None
        session = AiohttpSession(api=api) if api else AiohttpSession()
        session.middleware(self.calls)
        session.middleware(PinResponseTypes())
        self._bot = Bot(self.config.token, session=session)
        try:  # a wrong token or an unreachable API fails start() now, not silently inside polling later
            me = await self._bot.get_me()
        except Exception as exc:
            await self._bot.session.close()
            raise TelegramStartError(self._refusal(exc)) from None
        log.info("Telegram bot @%s (id %s)", me.username, me.id)
        if self.chart_settings is not None and self.feed is not None:
            self.charts = SignalCharts(ChartService.from_settings(self.chart_settings), feed_candles(self.feed),
                                       self._chart_failed)
            self.charts.start()
        self.sender = Sender(BotTransport(self._bot), self.store, self.clock, self.sessions,
                             rate=self.config.rate, charts=self.charts, **self.sender_options)
        await self.sender.start()
        self.refunds = RefundWorker(self._bot, self.store, self.sessions)
        await self.refunds.start()
        payments = self.config.payments
        dispatcher = Dispatcher(disable_fsm=True)  # no handler keeps FSM state: no lookup, no record per user
        on_command = self.metrics.command if self.metrics else None
        webhook = self.config.mode == "webhook"
        dispatcher.include_router(build_router(self.sender, self.sessions, self.config.admin_ids, self.autosignal,
                                               bot_username=me.username, payments=payments, on_command=on_command,
                                               settle=webhook, draw=self.charts.draw if self.charts else None))
        dispatcher.include_router(build_payments_router(payments, self.refunds.view, self.sessions, self.sender))
        await self._set_menus()
        try:
            if webhook:
                await self._serve_webhook(dispatcher)
            else:
                await self._poll(dispatcher)
        finally:
            await self.refunds.stop()
            await self.sender.stop()
            if self.charts is not None:
                await self.charts.close()
            await self._bot.session.close()

    async def _set_menus(self) -> None:
        """The menu for everyone (English, the default), then the Indonesian one for Telegram apps set to `id`."""
        for lang in LANGUAGES:
            try:
                await self._bot.set_my_commands(menu(lang), language_code=None if lang == DEFAULT else lang)
            except Exception as exc:  # the menu is a nicety
                log.warning("setMyCommands (%s) failed: %r", lang, exc)

    async def _poll(self, dispatcher: Dispatcher) -> None:
        polling = asyncio.create_task(poll(self._bot, dispatcher, self.config.polling_timeout, self.updates))
        self._ready.set()
        await self._stopping.wait()
        polling.cancel()  # updates are handled one at a time and only handed on, so any moment is safe
        with contextlib.suppress(asyncio.CancelledError):
            await polling

    async def _serve_webhook(self, dispatcher: Dispatcher) -> None:
        c = self.config
        self.webhook = Webhook(self._bot, dispatcher, c.webhook_url, c.webhook_listen, c.webhook_secret, self.updates,
                               self.calls, self.sender)
        try:
            await self.webhook.start()
        except OSError as exc:
            raise TelegramStartError(f"the Telegram adapter did not start: WEBHOOK_LISTEN {c.webhook_listen[0]}:"
                                     f"{c.webhook_listen[1]} cannot be listened on ({exc.strerror})") from None
        except Exception as exc:
            raise TelegramStartError(f"the Telegram adapter did not start: WEBHOOK_URL was refused by setWebhook "
                                     f"({describe(exc)})") from None
        self._ready.set()
        await self._stopping.wait()
        await self.webhook.stop(c.delete_webhook)  # stops accepting, then finishes what is in flight


    def _chart_failed(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.chart_failures.labels(reason).inc()

    def _refusal(self, exc: Exception) -> str:
        """Why getMe failed, naming the setting to fix (never the token itself)."""
        head = "the Telegram adapter did not start: "
        if isinstance(exc, TelegramUnauthorizedError):
            return head + f"TELEGRAM_BOT_TOKEN was refused by the Bot API ({describe(exc)}); check it with @BotFather"
        where = self.config.api_url or "https://api.telegram.org"
        return head + f"TELEGRAM_API_URL {where} did not answer getMe ({describe(exc)})"


def build_bot(sessions: Any, store: EventStore, clock: Clock, autosignal: Any = None,
              config: TelegramConfig | None = None, **sender_options: Any) -> TelegramBot:
    """The adapter from the environment (or `config`); call `.start()` then `.stop()` at shutdown."""
    return TelegramBot(config or TelegramConfig.from_env(), sessions, store, clock, autosignal, **sender_options)
