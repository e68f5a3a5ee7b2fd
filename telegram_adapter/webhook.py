"""Webhook mode: Telegram POSTs each update to WEBHOOK_URL; the same guarantees as polling.

aiogram's `SimpleRequestHandler` checks the secret token, but in its default mode answers before
handling (an acknowledged update is lost in a crash), and without it an update its schema refuses
fails the POST, which Telegram resends forever. So `handle` here answers only after the update was
handled (the router's `settle` mode waits until the session has committed the command's events and
answered), counts and logs a refused secret (401, nothing processed) and answers an update that does
not parse with 200 after logging and counting it, exactly as polling skips one. A short text reply goes
back in the POST's answer when the Sender's rate limits let it go at once (Telegram runs a method given in
the answer: no request of our own, which is most of an update's cost; its result is not reported, so
anything that must be confirmed, like a signal, is sent by the Sender, and so is a reply whose POST
Telegram may have given up on: resent, answered late, or its connection closed). A redelivered update
is dropped by the router's seen-updates set and the sessions' log-based idempotency. Each POST is
handled on its own, so a `pre_checkout_query` is answered at once whatever else is in flight, and a
`successful_payment` POST is answered once the session has appended the payment (`payments`).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.methods import SendMessage
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from telegram_adapter.api_meter import CallMeter
from telegram_adapter.polling import PollCounters, handle_update
from telegram_adapter.router import send_instead

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SHUTDOWN_GRACE_S = 15.0  # in-flight updates get this long to finish once the listener has closed


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler for one bot, answering each POST once its update is handled."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, secret: str, counters: PollCounters, meter: CallMeter,
                 sender: Any) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret)
        self.counters, self.meter, self.sender = counters, meter, sender

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            self.counters.refused += 1
            log.warning("webhook POST from %s refused: missing or wrong secret token", request.remote)
            return web.Response(status=401, text="Unauthorized")
        try:
            raw = await request.json()
        except ValueError:
            self.counters.received += 1
            self.counters.unparsable += 1
            log.warning("webhook update skipped: its body is not JSON")
            return web.json_response({})
        self.counters.received += 1
        result = await handle_update(self.bot, self.dispatcher, raw, self.counters)
        if isinstance(result, SendMessage):
            if request.transport is None or request.transport.is_closing():
                send_instead(self.sender, result)  # Telegram hung up: nobody would read the answer
                return web.json_response({})
            self.meter.unconfirmed(result.__api_method__)
            return web.Response(text=self._method_json(result), content_type="application/json")
        return web.json_response({})

    def _method_json(self, method: SendMessage) -> str:
        """The method as a JSON answer, its values prepared as aiogram sends them (defaults resolved, nothing
        empty). JSON, not aiogram's multipart form: a fifth of the CPU, and one write."""
        return self.bot.session.prepare_value({"method": method.__api_method__, **method.model_dump(warnings=False)},
                                              bot=self.bot, files={})


class Webhook:
    """The webhook's HTTP listener on the bot's loop: `await start()`, then `await stop(delete)`."""

    def __init__(self, bot: Bot, dispatcher: Dispatcher, url: str, listen: tuple[str, int], secret: str,
                 counters: PollCounters, meter: CallMeter, sender: Any) -> None:
        self.bot, self.dispatcher, self.url, self.listen, self.secret = bot, dispatcher, url, listen, secret
        self.handler = WebhookHandler(dispatcher, bot, secret, counters, meter, sender)
        self.runner: web.AppRunner | None = None
        self.port = listen[1]

    async def start(self) -> None:
        """Listen first, then register the URL, so Telegram's first POST finds us."""
        app = web.Application()
        # not `handler.register`: its shutdown hook closes the bot's session, which the Sender still needs
        app.router.add_post(urlsplit(self.url).path or "/", self.handler.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
        await self.runner.setup()
        await web.TCPSite(self.runner, *self.listen).start()
        self.port = self.runner.addresses[0][1]
        allowed = self.dispatcher.resolve_used_update_types()
        await self.bot.set_webhook(self.url, secret_token=self.secret, allowed_updates=allowed)
        log.info("webhook: Telegram posts %s to %s (listening on %s:%s)", ", ".join(allowed), self.url,
                 self.listen[0], self.port)

    async def stop(self, delete: bool) -> None:
        """Stop accepting, let in-flight updates finish; remove the webhook only when asked."""
        if self.runner is not None:
            await self.runner.cleanup()
        if delete:
            try:
                await self.bot.delete_webhook()
                log.info("webhook deleted")
            except Exception as exc:
                log.warning("deleteWebhook failed: %r", exc)

