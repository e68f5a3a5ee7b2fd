"""The simulator's REST side: klines, exchangeInfo, ticker/24hr, ping, time (spot and USD-M paths)."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import orjson
from aiohttp import web

from marketsim import protocol
from marketsim.market import Market, SimClock, format_decimal, partial_candle

_QUOTES = ("USDT", "FDUSD", "USDC", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_WEIGHTS = {"klines": 2, "exchangeInfo": 20, "ticker/24hr": 2, "time": 1, "ping": 1}
_DAY_MS = 86_400_000


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def split_symbol(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-4], symbol[-4:]


class RestApi:
    """Handlers bound to one market and clock; tracks the request weight of the last minute."""

    def __init__(self, market: Market, clock: SimClock, stats) -> None:
        self.market = market
        self.clock = clock
        self.stats = stats
        self._weights: deque[tuple[float, int]] = deque()

    def add_routes(self, app: web.Application) -> None:
        for prefix, limit in (("/api/v3", 1000), ("/fapi/v1", 1500)):
            app.router.add_get(prefix + "/klines", self._klines_handler(limit))
            app.router.add_get(prefix + "/exchangeInfo", self.exchange_info)
            app.router.add_get(prefix + "/ticker/24hr", self.ticker_24hr)
            app.router.add_get(prefix + "/ping", self.ping)
            app.router.add_get(prefix + "/time", self.time)

    @web.middleware
    async def weight_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        endpoint = request.path.split("/", 3)[-1]
        if endpoint in _WEIGHTS:
            weight = _WEIGHTS[endpoint] * (40 if endpoint == "ticker/24hr" and "symbol" not in request.query else 1)
            now = time.monotonic()
            self._weights.append((now, weight))
            while self._weights[0][0] <= now - 60:
                self._weights.popleft()
            response.headers["X-MBX-USED-WEIGHT-1M"] = str(sum(w for _, w in self._weights))
        return response

    async def ping(self, request: web.Request) -> web.Response:
        return _json({})

    async def time(self, request: web.Request) -> web.Response:
        return _json({"serverTime": self.clock.now_ms()})

    def _klines_handler(self, max_limit: int):
        async def handler(request: web.Request) -> web.Response:
            return self.klines(request, max_limit)

        return handler

    def klines(self, request: web.Request, max_limit: int) -> web.Response:
        q = request.query
        symbol, interval = q.get("symbol", ""), q.get("interval", "")
        if not symbol:
            return _json(protocol.mandatory("symbol"), 400)
        if not interval:
            return _json(protocol.mandatory("interval"), 400)
        if not self.market.has(symbol):
            return _json(protocol.ERR_INVALID_SYMBOL, 400)
        if interval not in self.market.intervals():
            return _json(protocol.ERR_INVALID_INTERVAL, 400)
        try:
            limit = min(max(int(q.get("limit", 500)), 1), max_limit)
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            return _json({"code": -1100, "msg": "Illegal characters found in a parameter."}, 400)
        series = self.market.series(symbol, interval)
        now = self.clock.now_ms()
        visible = int(np.searchsorted(series.open_time, now, side="right"))
        hi = visible if end is None else min(visible, int(np.searchsorted(series.open_time, end, side="right")))
        if start is not None:
            lo = int(np.searchsorted(series.open_time, start, side="left"))
            hi = min(hi, lo + limit)
        else:
            lo = max(0, hi - limit)
        rows = []
        for i in range(lo, hi):
            in_progress = int(series.open_time[i]) + series.step_ms > now
            rows.append(protocol.rest_row(series, i, partial_candle(series, i, now) if in_progress else None))
        return _json(rows)

    def _symbols_param(self, request: web.Request) -> tuple[str, ...] | web.Response:
        q = request.query
        if "symbol" in q:
            wanted: tuple[str, ...] = (q["symbol"],)
        elif "symbols" in q:
            try:
                wanted = tuple(orjson.loads(q["symbols"]))
            except orjson.JSONDecodeError:
                return _json({"code": -1100, "msg": "Illegal characters found in parameter 'symbols'."}, 400)
        else:
            return self.market.symbols
        if not all(isinstance(s, str) and self.market.has(s) for s in wanted):
            return _json(protocol.ERR_INVALID_SYMBOL, 400)
        return wanted

    async def exchange_info(self, request: web.Request) -> web.Response:
        symbols = self._symbols_param(request)
        if isinstance(symbols, web.Response):
            return symbols
        entries = []
        for symbol in symbols:
            base, quote = split_symbol(symbol)
            tick = self.market.tick_sizes[symbol]
            entries.append(
                {
                    "symbol": symbol,
                    "status": "TRADING",
                    "baseAsset": base,
                    "quoteAsset": quote,
                    "contractType": "PERPETUAL",
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": format_decimal(tick),
                            "maxPrice": "1000000.00000000",
                            "tickSize": format_decimal(tick),
                        },
                        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                         "stepSize": "0.00001000"},
                    ],
                }
            )
        return _json(
            {
                "timezone": "UTC",
                "serverTime": self.clock.now_ms(),
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
                ],
                "exchangeFilters": [],
                "symbols": entries,
            }
        )

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        symbols = self._symbols_param(request)
        if isinstance(symbols, web.Response):
            return symbols
        now = self.clock.now_ms()
        tickers = [self._ticker(symbol, now) for symbol in symbols]
        return _json(tickers[0] if "symbol" in request.query else tickers)

    def _ticker(self, symbol: str, now: int) -> dict:
        """Rolling 24 h statistics over the closed candles of the data interval."""
        series = self.market.series(symbol, self.market.base_interval)
        hi = series.closed_count(now)
        lo = int(np.searchsorted(series.open_time, now - _DAY_MS, side="left"))
        lo = min(lo, max(hi - 1, 0))
        if hi == 0:
            return {"symbol": symbol, "lastPrice": "0", "volume": "0", "quoteVolume": "0", "count": 0}
        window = slice(lo, hi)
        volume = float(series.volume[window].sum())
        quote = float((series.volume[window] * series.close[window]).sum())
        open_price, last = float(series.open[lo]), float(series.close[hi - 1])
        return {
            "symbol": symbol,
            "priceChange": format_decimal(last - open_price),
            "priceChangePercent": f"{(last / open_price - 1) * 100:.3f}",
            "weightedAvgPrice": format_decimal(quote / volume if volume else last),
            "lastPrice": format_decimal(last),
            "openPrice": format_decimal(open_price),
            "highPrice": format_decimal(float(series.high[window].max())),
            "lowPrice": format_decimal(float(series.low[window].min())),
            "volume": format_decimal(volume),
            "quoteVolume": format_decimal(quote),
            "openTime": int(series.open_time[lo]),
            "closeTime": now,
            "count": int(hi - lo),
        }
