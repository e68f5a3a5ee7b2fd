"""Binance REST and WebSocket plumbing for the market feed: endpoints, rate limits, backoff.

The REST client honours `Retry-After` on 429/418 (every request waits out the ban), tracks
`X-MBX-USED-WEIGHT-1M`, retries transient failures with jittered backoff, and turns HTTP 451
(restricted location) into `LocationRestricted`, which the feed treats as fatal.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import aiohttp
import orjson

from actors.messages import Kline
from marketdata.kline_payloads import MalformedPayload, parse_rest_row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    """Per-market URLs and limits (spot or USD-M futures)."""

    ws_base: str
    rest_base: str
    stream_path: str  # appended to ws_base: the combined-stream endpoint
    rest_prefix: str
    kline_limit: int
    message_limit: int  # incoming control messages per second per connection


DEFAULT_URLS = {
    "spot": ("wss://data-stream.binance.vision", "https://data-api.binance.vision"),
    "usdm": ("wss://fstream.binance.com", "https://fapi.binance.com"),
}


def endpoints(market: str, ws_url: str | None = None, rest_url: str | None = None) -> Endpoints:
    if market not in DEFAULT_URLS:
        raise ValueError(f"market must be 'spot' or 'usdm', got {market!r}")
    ws_default, rest_default = DEFAULT_URLS[market]
    ws_base = (ws_url or ws_default).rstrip("/")
    rest_base = (rest_url or rest_default).rstrip("/")
    if market == "spot":
        return Endpoints(ws_base, rest_base, "/stream", "/api/v3", 1000, 5)
    return Endpoints(ws_base, rest_base, "/market/stream", "/fapi/v1", 1500, 10)


class LocationRestricted(Exception):
    """HTTP 451: Binance refuses this location. Retrying cannot help."""


class BinanceError(Exception):
    """A definite refusal (4xx other than rate limits), e.g. -1121 Invalid symbol."""

    def __init__(self, status: int, code: int | None, msg: str) -> None:
        super().__init__(f"HTTP {status} code {code}: {msg}")
        self.status, self.code, self.msg = status, code, msg


class Unavailable(Exception):
    """Binance could not be reached or kept failing (5xx, timeouts) after several tries."""


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(cap, base * 2 ** min(attempt, 30)))


class BinanceRest:
    """Rate-limit-aware GET client for the public market-data endpoints."""

    def __init__(
        self,
        ep: Endpoints,
        *,
        timeout_s: float = 10.0,
        attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 60.0,
    ) -> None:
        self.ep = ep
        self.used_weight = 0
        self.rate_limited = 0
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._backoff = (backoff_base_s, backoff_cap_s)
        self._blocked_until = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, endpoint: str, params: dict[str, object] | None = None) -> object:
        """GET `rest_prefix/endpoint` and decode JSON, waiting out rate limits and retrying transients."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = f"{self.ep.rest_base}{self.ep.rest_prefix}/{endpoint}"
        failures = 0
        while True:
            wait = self._blocked_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with self._session.get(url, params=params) as resp:
                    body = await resp.read()
                    self._note_weight(resp.headers)
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures = await self._retry_or_raise(failures, f"{endpoint}: {exc!r}")
                continue
            if status == 200:
                try:
                    return orjson.loads(body)
                except orjson.JSONDecodeError:
                    failures = await self._retry_or_raise(failures, f"{endpoint}: answer is not JSON")
                    continue
            if status in (429, 418):
                self.rate_limited += 1
                delay = _seconds(retry_after, default=60.0)
                self._blocked_until = max(self._blocked_until, time.monotonic() + delay)
                log.warning("Binance HTTP %s on %s: waiting %.1fs (Retry-After)", status, endpoint, delay)
                continue
            if status == 451:
                raise LocationRestricted(
                    f"Binance answered HTTP 451 (restricted location) at {self.ep.rest_base}: "
                    "this machine's location may not use that endpoint. Point BINANCE_REST_URL / "
                    "BINANCE_WS_URL at an endpoint you may use (e.g. data-api.binance.vision for spot "
                    "market data) or run from an eligible location. The feed stopped; it will not retry."
                )
            if 400 <= status < 500:
                code, msg = _error_fields(body)
                raise BinanceError(status, code, msg)
            failures = await self._retry_or_raise(failures, f"{endpoint}: HTTP {status}")

    async def _retry_or_raise(self, failures: int, what: str) -> int:
        if failures + 1 >= self._attempts:
            raise Unavailable(f"Binance REST unavailable after {failures + 1} tries ({what})")
        await asyncio.sleep(full_jitter(failures, *self._backoff))
        return failures + 1

    def _note_weight(self, headers) -> None:
        weight = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        if weight and weight.isdigit():
            self.used_weight = int(weight)

    async def server_time(self) -> int:
        body = await self.get("time")
        if not isinstance(body, dict) or not isinstance(body.get("serverTime"), int):
            raise Unavailable(f"unexpected /time answer: {body!r:.80}")
        return body["serverTime"]

    async def klines(
        self, symbol: str, interval: str, *, start: int | None = None, end: int | None = None, limit: int
    ) -> list[Kline]:
        params: dict[str, object] = {"symbol": symbol, "interval": interval, "limit": min(limit, self.ep.kline_limit)}
        if start is not None:
            params["startTime"] = start
        if end is not None:
            params["endTime"] = end
        body = await self.get("klines", params)
        if not isinstance(body, list):
            raise Unavailable(f"unexpected klines answer: {body!r:.80}")
        rows = []
        for row in body:
            try:
                rows.append(parse_rest_row(row))
            except MalformedPayload as exc:
                log.warning("skipping malformed REST kline row for %s %s: %s", symbol, interval, exc)
        return rows


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def _error_fields(body: bytes) -> tuple[int | None, str]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, body[:200].decode(errors="replace")
    if isinstance(obj, dict):
        return obj.get("code"), str(obj.get("msg", ""))
    return None, str(obj)[:200]


class Pacer:
    """Spaces control messages on one connection to stay under Binance's per-second limit.

    One sender at a time, spaced from the moment the previous one actually went out, so a
    loop that was held up cannot release a burst of overdue messages together.
    """

    def __init__(self, per_second: float) -> None:
        self._gap = 1.0 / per_second
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            delay = self._last + self._gap - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._last = time.monotonic()
