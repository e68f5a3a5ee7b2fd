"""A fake Telegram Bot API server (aiohttp on 127.0.0.1) that the real aiogram Bot talks to.

It answers the methods the bot uses, long-polls `getUpdates` honouring `offset` and `timeout`,
enforces Telegram's limits (about 1 message/s per chat with small bursts, 30/s overall:
429 with `retry_after`), answers 403 for chats marked blocked and 400 for malformed HTML or
over-long text, 400 with `migrate_to_chat_id` for a group upgraded to a supergroup, and records
every call. Groups get about 20 messages a minute. `sendPhoto` takes a multipart upload (a new file_id
per upload, kept in `uploads`) or a file_id it issued, and refuses a caption over 1,024 characters
after entity parsing (counted in UTF-16 code units). After `setWebhook` it POSTs each update to the
registered URL with the secret token header, as Telegram does (up to `webhook_connections` at once,
resending an update whose POST is not answered 200), and refuses `getUpdates` (409). Faults (429
storms, 5xx, slowness) are switched on by tests, which can also push group messages, service messages
and malformed updates. It runs
on its own loop thread, so tests and the bot's loop stay independent.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

JSON_PARAMS = frozenset({"reply_markup", "allowed_updates", "commands", "entities", "link_preview_options",
                         "reply_parameters", "caption_entities", "prices"})
SENDS = frozenset({"sendMessage", "sendPhoto", "editMessageText"})
ALLOWED_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                          "tg-spoiler", "span", "blockquote", "tg-emoji"})
_TOKEN = re.compile(r"<[^>]*>?|&[#\w]*;?")
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)(?:\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def html_error(text: str) -> str | None:
    """Why Telegram would refuse this HTML text, or None when it parses."""
    open_tags: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token.startswith("&"):
            if not _ENTITY.fullmatch(token):
                return f"can't parse entities: unsupported entity at byte offset {match.start()}"
            continue
        tag = _TAG.fullmatch(token)
        if not tag:
            return f"can't parse entities: unexpected '<' at byte offset {match.start()}"
        closing, name = tag.group(1), tag.group(2).lower()
        if name not in ALLOWED_TAGS:
            return f'can\'t parse entities: unsupported start tag "{name}" at byte offset {match.start()}'
        if not closing:
            open_tags.append(name)
        elif not open_tags or open_tags.pop() != name:
            return f'can\'t parse entities: unexpected end tag "{name}" at byte offset {match.start()}'
    if open_tags:
        return f'can\'t parse entities: can\'t find end tag corresponding to start tag "{open_tags[-1]}"'
    return None


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float


class _Refused(Exception):
    def __init__(self, status: int, description: str, **parameters: int) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


@dataclass
class _Limits:
    per_chat_rate: float = 1.0
    per_chat_burst: float = 3.0
    per_group_rate: float = 20 / 60
    per_group_burst: float = 3.0
    global_per_s: int = 30
    window: deque = field(default_factory=deque)
    buckets: dict[int, tuple[float, float]] = field(default_factory=dict)  # chat -> (tokens, at)

    def check(self, chat_id: int, now: float) -> None:
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) >= self.global_per_s:
            raise _Refused(429, "Too Many Requests: retry after 1", retry_after=1)
        rate, burst = (self.per_group_rate, self.per_group_burst) if chat_id < 0 else (
            self.per_chat_rate, self.per_chat_burst)
        tokens, at = self.buckets.get(chat_id, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens < 1:
            raise _Refused(429, "Too Many Requests: retry after 1", retry_after=1)
        self.buckets[chat_id] = (tokens - 1, now)
        self.window.append(now)


class FakeBotAPI:
    """Start with `FakeBotAPI(token).start()`; `base_url` goes to TelegramAPIServer.from_base."""

    def __init__(self, token: str = "123456:TEST", **limits: Any) -> None:
        self.token = token
        self.limits = _Limits(**limits)
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []  # messages Telegram accepted
        self.uploads: dict[str, bytes] = {}  # file_id -> the photo uploaded with it, in upload order
        self.blocked: set[int] = set()
        self.missing_chats: set[int] = set()  # 400 "chat not found"
        self.migrated: dict[int, int] = {}  # old group id -> its supergroup's id (400 with migrate_to_chat_id)
        self.pushed: dict[int, dict[str, Any]] = {}  # update_id -> the message pushed with it
        self.storm = 0  # the next n sends get 429
        self.storm_retry_after = 1
        self.server_errors = 0  # the next n sends get 502
        self.delay = 0.0  # seconds before answering a send
        self.invoices: list[dict[str, Any]] = []  # sendInvoice calls Telegram accepted
        self.checkouts: dict[str, dict[str, Any]] = {}  # pre_checkout_query id -> its answer and delay
        self.charges: dict[str, int] = {}  # telegram_payment_charge_id -> payer, for each pushed payment
        self.refunded: list[str] = []  # charges refunded, in order (a second refund of one is refused)
        self.refund_faults: list[str] = []  # next refundStarPayment answers: "429", "500", "400" or "refunded"
        self._checkout_pushed: dict[str, float] = {}
        self.webhook: dict[str, Any] | None = None  # setWebhook's parameters while a webhook is set
        self.webhook_posts: list[tuple[int | None, int]] = []  # (update_id, HTTP status) of every POST made
        self.webhook_answers: list[str] = []  # methods the bot put in a POST's answer, which were run
        self.webhook_connections = 40  # Telegram's default max_connections
        self._webhook_slots: asyncio.Semaphore | None = None
        self._client: ClientSession | None = None
        self._lock = threading.Lock()
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 1
        self._loop = asyncio.new_event_loop()
        self._new_update: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-bot-api", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeBotAPI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(timeout=10)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what tests do -------------------------------------------------------------------

    def push_text(self, user_id: int, text: str, username: str | None = None, language: str = "en",
                  chat_id: int | None = None, chat_type: str = "private", copies: int = 1) -> int:
        """A user writes `text` in their private chat (or in group `chat_id`); returns the update_id.

        `copies` > 1 delivers the same update that many times (Telegram delivers at least once)."""
        message: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self.push_message(user_id, message, username, language, chat_id, chat_type, copies)

    def push_message(self, user_id: int, fields: dict[str, Any], username: str | None = None,
                     language: str = "en", chat_id: int | None = None, chat_type: str = "private",
                     copies: int = 1) -> int:
        """A message from `user_id` with `fields` (text, or a service field such as new_chat_members)."""
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": language}
        if username:
            user["username"] = username
        chat: dict[str, Any] = {"id": chat_id or user_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "Traders"
        with self._lock:
            message_id = self._next_message
            self._next_message += 1
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": user, **fields}
        return self.push_update({"message": message}, copies)

    def push_update(self, body: dict[str, Any], copies: int = 1) -> int:
        """Queue any update body, even one Telegram's schema would not allow; returns its update_id."""
        with self._lock:
            update_id = self._next_update
            self._next_update += 1
            self.pushed[update_id] = body.get("message", {})
        self._loop.call_soon_threadsafe(self._add_update, {"update_id": update_id, **body}, copies)
        return update_id

    def push_callback(self, user_id: int, data: str) -> int:
        """The user presses an inline button carrying `data`."""
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        query = {"id": f"cb{self._next_update}", "from": user, "chat_instance": "1", "data": data,
                 "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": user_id, "type": "private"},
                             "text": "packs"}}
        return self.push_update({"callback_query": query})

    def push_pre_checkout(self, user_id: int, payload: str, total: int, currency: str = "XTR") -> str:
        """Telegram asks whether the user may pay `total` for the invoice with `payload`; returns the query id."""
        query_id = f"pcq{len(self._checkout_pushed) + 1}"
        self._checkout_pushed[query_id] = time.monotonic()
        self.push_update({"pre_checkout_query": {
            "id": query_id, "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "currency": currency, "total_amount": total, "invoice_payload": payload}})
        return query_id

    def push_payment(self, user_id: int, payload: str, total: int, charge_id: str, currency: str = "XTR",
                     copies: int = 1) -> int:
        """The user paid: a successful_payment message (delivered `copies` times)."""
        self.charges[charge_id] = user_id
        paid = {"currency": currency, "total_amount": total, "invoice_payload": payload,
                "telegram_payment_charge_id": charge_id, "provider_payment_charge_id": ""}
        return self.push_message(user_id, {"successful_payment": paid}, copies=copies)

    def post_webhook(self, body: Any, secret: str | None) -> int:
        """POST `body` (a dict, or raw bytes) to the registered webhook with `secret`; its HTTP status."""
        update_id = body.get("update_id") if isinstance(body, dict) else None
        post = self._post(update_id, body, secret)
        return asyncio.run_coroutine_threadsafe(post, self._loop).result(timeout=30)

    def messages_to(self, chat_id: int) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.sent if m["chat_id"] == chat_id]

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # --- the server ------------------------------------------------------------------------

    def _add_update(self, update: dict[str, Any], copies: int = 1) -> None:
        if self.webhook is not None:
            for _ in range(copies):
                self._loop.create_task(self._deliver(update))
            return
        self._updates.extend([update] * copies)
        assert self._new_update is not None
        self._new_update.set()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        try:
            if request.match_info["token"] != self.token:
                raise _Refused(401, "Unauthorized")
            result = await self._dispatch(method, params)
            status, body = 200, {"ok": True, "result": result}
        except _Refused as refused:
            status = refused.status
            body = {"ok": False, "error_code": status, "description": refused.description}
            if refused.parameters:
                body["parameters"] = refused.parameters
        with self._lock:
            self.calls.append(Call(method, params, status, time.monotonic()))
        return web.json_response(body, status=status)

    async def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            if self.webhook is not None:
                raise _Refused(409, "Conflict: can't use getUpdates method while webhook is active")
            return await self._get_updates(params)
        if method == "setWebhook":
            self.webhook = params
            return True
        if method == "deleteWebhook":
            self.webhook = None
            return True
        if method in SENDS:
            return await self._send(method, params)
        if method in PAYMENT_METHODS:
            return getattr(self, PAYMENT_METHODS[method])(params)
        simple = {"getMe": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "FakeBot",
                            "username": "fake_signal_bot"},
                  "sendChatAction": True, "answerCallbackQuery": True, "deleteWebhook": True,
                  "setMyCommands": True, "close": True, "logOut": True}
        if method not in simple:
            raise _Refused(404, "Not Found: method not found")
        return simple[method]

    async def _deliver(self, update: dict[str, Any], attempts: int = 5) -> None:
        """POST one update until it is answered 200 (Telegram resends on anything else), a few times."""
        if self._webhook_slots is None:
            self._webhook_slots = asyncio.Semaphore(self.webhook_connections)
        for _ in range(attempts):
            async with self._webhook_slots:
                webhook = self.webhook or {}
                if await self._post(update["update_id"], update, webhook.get("secret_token")) == 200:
                    return
            await asyncio.sleep(0.1)

    async def _post(self, update_id: int | None, body: Any, secret: str | None) -> int:
        if self._client is None:
            self._client = ClientSession()
        assert self.webhook is not None, "no webhook is set"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        kwargs = {"data": body, "headers": {**headers, "Content-Type": "application/json"}} \
            if isinstance(body, bytes) else {"json": body, "headers": headers}
        called = None
        try:
            async with self._client.post(self.webhook["url"], **kwargs) as answer:
                status = answer.status
                body = await answer.read()
                if status == 200 and answer.content_type == "application/json":
                    called = _answered_method(json.loads(body))
        except OSError:
            status = 0  # not answered
        with self._lock:
            self.webhook_posts.append((update_id, status))
        if called is not None:
            await self._answered(*called)
        return status

    async def _answered(self, method: str, params: dict[str, Any]) -> None:
        """Run a method the bot put in a webhook POST's answer, as Telegram does: its result goes nowhere."""
        try:
            await self._dispatch(method, params)
            status = 200
        except _Refused as refused:
            status = refused.status
        with self._lock:
            self.calls.append(Call(method, params, status, time.monotonic()))
            self.webhook_answers.append(method)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        assert self._new_update is not None
        while True:
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if self._updates or time.monotonic() >= deadline:
                return self._updates[:limit]
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                return []

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.delay:
            await asyncio.sleep(self.delay)
        chat_id = int(params.get("chat_id") or 0)
        if not chat_id:
            raise _Refused(400, "Bad Request: chat_id is empty")
        if self.server_errors:
            self.server_errors -= 1
            raise _Refused(502, "Bad Gateway")
        if self.storm:
            self.storm -= 1
            raise _Refused(429, f"Too Many Requests: retry after {self.storm_retry_after}",
                           retry_after=self.storm_retry_after)
        if chat_id in self.blocked:
            raise _Refused(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.missing_chats:
            raise _Refused(400, "Bad Request: chat not found")
        if chat_id in self.migrated:
            raise _Refused(400, "Bad Request: group chat was upgraded to a supergroup chat",
                           migrate_to_chat_id=self.migrated[chat_id])
        text = params.get("caption" if method == "sendPhoto" else "text") or ""
        _validate(method, text, params)
        photo = params.get("photo")
        if method == "sendPhoto" and isinstance(photo, str) and photo not in self.uploads:
            raise _Refused(400, "Bad Request: wrong file identifier/HTTP URL specified")
        self.limits.check(chat_id, time.monotonic())
        with self._lock:
            message_id = self._next_message
            self._next_message += 1
            file_id = photo if isinstance(photo, str) else f"photo{message_id}"
            if isinstance(photo, bytes):
                self.uploads[file_id] = photo
            self.sent.append({"chat_id": chat_id, "text": text, "message_id": message_id, "method": method,
                              "reply_to": (params.get("reply_parameters") or {}).get("message_id"),
                              "reply_markup": params.get("reply_markup"),
                              **({"photo": file_id} if method == "sendPhoto" else {})})
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()),
                                   "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}}
        if method == "sendPhoto":
            message["photo"] = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1280, "height": 720}]
            message["caption"] = text
        else:
            message["text"] = text
        return message


    # --- payments ------------------------------------------------------------------------

    def _send_invoice(self, params: dict[str, Any]) -> dict[str, Any]:
        prices = params.get("prices")
        if params.get("currency") != "XTR" or params.get("provider_token"):
            raise _Refused(400, "Bad Request: CURRENCY_INVALID")  # Stars: XTR and no provider token
        if not isinstance(prices, list) or len(prices) != 1 or int(prices[0].get("amount", 0)) < 1:
            raise _Refused(400, "Bad Request: STARS_INVOICE_INVALID")
        if not 1 <= len(params.get("title") or "") <= 32:
            raise _Refused(400, "Bad Request: INVOICE_TITLE_INVALID")
        if not 1 <= len(params.get("description") or "") <= 255:
            raise _Refused(400, "Bad Request: INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len((params.get("payload") or "").encode()) <= 128:
            raise _Refused(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
        chat_id = int(params["chat_id"])
        with self._lock:
            self.invoices.append({**params, "chat_id": chat_id, "amount": int(prices[0]["amount"])})
            message_id = self._next_message
            self._next_message += 1
        return {"message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
                "invoice": {"title": params["title"], "description": params["description"], "start_parameter": "",
                            "currency": "XTR", "total_amount": int(prices[0]["amount"])}}

    def _answer_checkout(self, params: dict[str, Any]) -> bool:
        query_id = params.get("pre_checkout_query_id")
        pushed = self._checkout_pushed.get(query_id)
        if pushed is None or query_id in self.checkouts:
            raise _Refused(400, "Bad Request: QUERY_ID_INVALID")
        ok = params.get("ok") in (True, "true", "True")
        if not ok and not params.get("error_message"):
            raise _Refused(400, "Bad Request: error_message is required when ok is false")
        with self._lock:
            self.checkouts[query_id] = {"ok": ok, "error_message": params.get("error_message"),
                                        "delay": time.monotonic() - pushed}
        return True

    def _refund(self, params: dict[str, Any]) -> bool:
        charge = params.get("telegram_payment_charge_id")
        fault = self.refund_faults.pop(0) if self.refund_faults else None
        if fault == "429":
            raise _Refused(429, "Too Many Requests: retry after 1", retry_after=1)
        if fault == "500":
            raise _Refused(500, "Internal Server Error")
        if fault == "400":
            raise _Refused(400, "Bad Request: CHARGE_NOT_FOUND")
        if self.charges.get(charge) != int(params.get("user_id") or 0):
            raise _Refused(400, "Bad Request: CHARGE_NOT_FOUND")
        if fault == "refunded" or charge in self.refunded:
            raise _Refused(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        with self._lock:
            self.refunded.append(charge)
        return True


PAYMENT_METHODS = {"sendInvoice": "_send_invoice", "answerPreCheckoutQuery": "_answer_checkout",
                   "refundStarPayment": "_refund"}


def _validate(method: str, text: str, params: dict[str, Any]) -> None:
    if method == "sendPhoto":
        if not params.get("photo"):
            raise _Refused(400, "Bad Request: there is no photo in the request")
        if params.get("parse_mode") == "HTML" and not html_error(text):
            shown = html.unescape(_TAG.sub("", text))
        else:
            shown = text
        if len(shown.encode("utf-16-le")) // 2 > 1024:
            raise _Refused(400, "Bad Request: message caption is too long")
    else:
        if not text.strip():
            raise _Refused(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _Refused(400, "Bad Request: message is too long")
    if params.get("parse_mode") == "HTML" and (problem := html_error(text)):
        raise _Refused(400, f"Bad Request: {problem}")


async def _params(request: web.Request) -> dict[str, Any]:
    """Form or JSON parameters; `attach://name` files are resolved to their uploaded bytes."""
    if request.content_type == "application/json":
        return dict(await request.json())
    form = await request.post() if request.can_read_body else request.query
    params: dict[str, Any] = {}
    for key, value in form.items():
        params[key] = value.file.read() if isinstance(value, web.FileField) else value
    return _decoded(params)


def _answered_method(answer: Any) -> tuple[str, dict[str, Any]] | None:
    """The method and parameters of a webhook's JSON answer, or None when it names none."""
    if not isinstance(answer, dict) or not isinstance(method := answer.pop("method", None), str):
        return None
    return method, _decoded(answer)


def _decoded(params: dict[str, Any]) -> dict[str, Any]:
    """Form values as the Bot API reads them: files attached by name, JSON-typed parameters parsed."""
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.pop(value.removeprefix("attach://"), None)
        elif key in JSON_PARAMS and isinstance(value, str):
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params
