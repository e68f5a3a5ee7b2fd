"""The market feed's settings: which market and streams, and the timings of its connections and backfills."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.candles import INTERVAL_MS


@dataclass(frozen=True)
class FeedConfig:
    """How the feed connects. URLs default to Binance's public market-data endpoints of `market`.

    `ws_url` / `rest_url` are bases (scheme, host, port): the feed appends `/stream?streams=...`
    (spot) or `/market/stream?streams=...` (usdm), and `/api/v3/...` or `/fapi/v1/...`.
    An empty `watchlist` means the top `top_n` USDT pairs by 24 h quote volume, refreshed.
    """

    market: str = "spot"  # "spot" | "usdm"
    ws_url: str | None = None
    rest_url: str | None = None
    watchlist: tuple[str, ...] = ()
    top_n: int = 25
    intervals: tuple[str, ...] = ("15m",)
    buffer_size: int = 1000
    update_period_s: float = 2.0  # Binance pushes kline updates every 2 s (spot); silence = 2x this
    stale_after_s: float = 10.0  # event time this far behind the server clock forces a reconnect
    rotate_after_s: float = 23 * 3600.0  # make-before-break before Binance's 24 h cut
    rotation_overlap_s: float = 1.0  # old and new connection both deliver this long before the old closes
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    healthy_after_s: float = 60.0  # a connection that lived this long resets the backoff
    request_timeout_s: float = 10.0
    ensure_timeout_s: float = 30.0
    watchlist_refresh_s: float = 3600.0
    max_streams_per_connection: int = 1024
    max_on_demand_streams: int = 200  # streams beyond the watchlist (users' pairs, open signals' pairs)
    idle_stream_s: float = 600.0  # an on-demand stream no one holds or asked about this long is dropped
    control_rate: float | None = None  # SUBSCRIBE messages per second; default: Binance limit - 3

    def __post_init__(self) -> None:
        if self.market not in ("spot", "usdm"):
            raise ValueError(f"market must be 'spot' or 'usdm', got {self.market!r}")
        bad = [i for i in self.intervals if i not in INTERVAL_MS]
        if bad or not self.intervals:
            raise ValueError(f"intervals must be Binance intervals ({', '.join(INTERVAL_MS)}), got {bad}")
        if not 1 <= self.max_streams_per_connection <= 1024:
            raise ValueError("max_streams_per_connection must be within 1..1024")
        if self.buffer_size < 1 or self.top_n < 1 or self.max_on_demand_streams < 0 or self.idle_stream_s <= 0:
            raise ValueError("buffer_size, top_n and idle_stream_s must be positive, max_on_demand_streams >= 0")
        object.__setattr__(self, "watchlist", tuple(s.upper() for s in self.watchlist))
