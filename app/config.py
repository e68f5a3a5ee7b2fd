"""Settings from the environment (and an optional .env file), validated at start.

One table drives parsing, defaults and `--help`, so a setting cannot be documented in one
place and read differently in another. A bad value stops the process with a message that
names the setting; the bot token is never echoed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from analysis.candles import INTERVAL_MS
from domain.payments import DEFAULT_PACKS, Catalogue, parse_packs

MARKETS = {
    "spot": ("wss://data-stream.binance.vision", "https://data-api.binance.vision"),
    "usdm": ("wss://fstream.binance.com/market", "https://fapi.binance.com"),
}


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


def _number(kind: Callable[[str], Any], what: str, low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"must be {what} between {low} and {high}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _int(low: int, high: int) -> Callable[[str], int]:
    return _number(int, "a whole number", low, high)


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse`, or None for an empty value (the setting is not set: its owner's default applies)."""
    return lambda text: None if not text.strip() else parse(text)


def _float(low: float, high: float) -> Callable[[str], float]:
    return _number(float, "a number", low, high)


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _ids(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(re.fullmatch(r"-?\d{1,20}", p) for p in parts):
        raise ValueError("must be comma-separated Telegram user ids (numbers)")
    return tuple(int(p) for p in parts)


# Every watched pair is backfilled over REST at start and after each reconnect (about two klines
# requests of up to 1,000 candles at the default CANDLE_BUFFER; weight 5 each on USD-M, whose budget is
# 2,400 a minute). 100 pairs keep a full re-backfill within half a minute's budget, leaving the rest for
# users' on-demand /futures streams and retries; past the top 100 the 24 h volume is thin anyway.
MAX_WATCHLIST = 100


def _watchlist(text: str) -> tuple[str, ...] | int:
    value = text.strip().upper()
    if match := re.fullmatch(r"TOP(\d+)", value):
        count = int(match.group(1))
        if not 1 <= count <= MAX_WATCHLIST:
            raise ValueError(f"topN needs N between 1 and {MAX_WATCHLIST} (the pairs the feed can keep backfilled)")
        return count
    symbols = tuple(s.strip() for s in value.split(",") if s.strip())
    if not symbols or not all(re.fullmatch(r"[A-Z0-9]{2,20}", s) for s in symbols):
        raise ValueError("must be comma-separated symbols such as BTCUSDT,ETHUSDT, or topN such as top25")
    if len(set(symbols)) > MAX_WATCHLIST:
        raise ValueError(f"lists at most {MAX_WATCHLIST} symbols (the pairs the feed can keep backfilled)")
    return symbols


def _interval(text: str) -> str:
    if text not in INTERVAL_MS:
        raise ValueError(f"must be a Binance interval: {', '.join(INTERVAL_MS)}")
    return text


def _url(text: str) -> str:
    if not text:
        return ""  # unset: the market's default applies
    if not re.match(r"^(wss?|https?)://[^\s/]+", text):
        raise ValueError("must be a URL such as ws://127.0.0.1:9000 or https://api.binance.com")
    return text.rstrip("/")


def _text(text: str) -> str:
    return text


def _http_url(text: str) -> str:
    if text and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:8081")
    return text.rstrip("/")


def _payment_secret(text: str) -> str:
    if text and len(text) < 16:
        raise ValueError("must be at least 16 characters (a random string; keep it secret)")
    return text


def _secret(text: str) -> str:
    if text and not re.fullmatch(r"\d{3,20}:[A-Za-z0-9_-]{20,}", text):
        raise ValueError("does not look like a Bot API token (digits:letters, from @BotFather)")
    return text


def _listen(text: str) -> tuple[str, int] | None:
    if not text:
        return None  # off
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError("must be host:port such as 127.0.0.1:9464, or empty for off")
    return host.strip("[]"), int(port)


def _webhook_url(text: str) -> str:
    if text and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise ValueError("must be the public http(s):// URL Telegram posts updates to, e.g. https://bot.example/tg")
    return text


def _webhook_secret(text: str) -> str:
    if text and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", text):
        raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's secret_token)")
    return text


@dataclass(frozen=True)
class Setting:
    name: str
    field: str
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("TELEGRAM_BOT_TOKEN", "token", "", _secret,
            "bot token from @BotFather; without it the console adapter runs", secret=True),
    Setting("TELEGRAM_API_URL", "telegram_api_url", "", _http_url, "Bot API server base URL (a local one, or a fake)"),
    Setting("ADMIN_IDS", "admin_ids", "", _ids, "comma-separated Telegram ids allowed to run admin commands"),
    Setting("DB_PATH", "db_path", "data/events.db", _text, "the event log (SQLite file)"),
    Setting("MARKET", "market", "spot", _choice(*MARKETS), "Binance market: spot or usdm (USD-M futures)"),
    Setting("BINANCE_WS_URL", "ws_url", "", _url, "WebSocket base URL (default: the market's public stream)"),
    Setting("BINANCE_REST_URL", "rest_url", "", _url, "REST base URL (default: the market's public API)"),
    Setting("WATCHLIST", "watchlist", "top25", _watchlist, "symbols to stream: BTCUSDT,ETHUSDT or topN (top25)"),
    Setting("AUTOSIGNAL_ENABLED", "autosignal_enabled", "false", _bool,
            "autosignals on in a fresh log (later only /signal_on and /signal_off change it); off by default: "
            "in the 2021-2023 backtests no interval's autosignals paid their fees with an interval above 0"),
    Setting("AUTOSIGNAL_INTERVAL", "autosignal_interval", "1h", _interval,
            "candle interval that triggers autosignals"),
    Setting("AUTOSIGNAL_COOLDOWN_MIN", "autosignal_cooldown_min", "", _optional(_int(0, 10_080)),
            "minutes (market time) before the same symbol and side may signal again (empty: the strategy file's "
            "policy for the interval)"),
    Setting("AUTOSIGNAL_MIN_CONFIDENCE", "autosignal_min_confidence", "", _optional(_int(0, 100)),
            "lowest calibrated confidence (% chance of TP1 before the stop) an autosignal may have (empty: the "
            "strategy file's policy for the interval; set, it also turns on an interval the file disables)"),
    Setting("OUTCOME_HORIZON_BARS", "outcome_horizon_bars", "48", _int(1, 10_000),
            "bars after which a signal still open is closed at that bar's close (expired)"),
    Setting("FEE_RATE", "fee_rate", "0.0004", _float(0, 0.0099),
            "fee per side as a fraction of notional, counted in every outcome's R (0.0004: Binance USD-M taker)"),
    Setting("MAX_FEE_SHARE", "max_fee_share", "0.10", _float(0.001, 1),
            "largest share of a signal's risk |entry - stop| its round-trip fees may take; tighter setups are dropped"),
    Setting("STRATEGY_PATH", "strategy_path", "", _text,
            "strategy parameter file (main.py calibrate writes one; empty: the shipped analysis/params/strategy.json)"),
    Setting("TELEGRAM_MODE", "telegram_mode", "polling", _choice("polling", "webhook"),
            "how updates arrive: polling (getUpdates) or webhook (Telegram POSTs them to WEBHOOK_URL)"),
    Setting("WEBHOOK_URL", "webhook_url", "", _webhook_url,
            "webhook mode: the URL registered with setWebhook; its path is served (TLS is the proxy's job)"),
    Setting("WEBHOOK_LISTEN", "webhook_listen", "127.0.0.1:8443", _listen,
            "webhook mode: host:port the webhook handler listens on (behind the reverse proxy)"),
    Setting("WEBHOOK_SECRET", "webhook_secret", "", _webhook_secret,
            "webhook mode (required): the secret_token Telegram sends in X-Telegram-Bot-Api-Secret-Token",
            secret=True),
    Setting("METRICS_ADDR", "metrics_addr", "", _listen,
            "host:port serving /metrics, /healthz and /readyz (empty: off; demo picks a free port)"),
    Setting("TELEGRAM_RATE", "telegram_rate", "25", _int(1, 1000), "outbound messages per second, whole bot"),
    Setting("ANALYZER_WORKERS", "analyzer_workers", str(os.cpu_count() or 1), _int(1, 64),
            "analyzer pool size: one is a thread, more run as processes (the fastest measured)"),
    Setting("SESSION_CAP", "session_cap", "2000", _int(1, 100_000), "most user sessions kept live at once"),
    Setting("SESSION_IDLE_MIN", "session_idle_min", "10", _int(1, 1440), "minutes before an idle session passivates"),
    Setting("CANDLE_BUFFER", "candle_buffer", "1000", _int(200, 5000), "closed candles kept per symbol and interval"),
    Setting("SYNCHRONOUS", "synchronous", "FULL", _choice("full", "normal", "extra"), "SQLite durability of commits"),
    Setting("LOG_LEVEL", "log_level", "INFO", _choice("debug", "info", "warning", "error"), "stderr log level"),
    Setting("CHART_THEME", "chart_theme", "dark", _choice("dark", "light"), "signal chart colours: dark or light"),
    Setting("CHART_WORKERS", "chart_workers", "1", _int(1, 16), "chart rendering processes"),
    Setting("CHART_CACHE_DIR", "chart_cache_dir", "", _text,
            "folder of rendered charts by signal id (default: charts/ beside DB_PATH)"),
    Setting("PAYMENT_SECRET", "payment_secret", "", _payment_secret,
            "signs invoice payloads; Telegram Stars payments (/buy) are on only when it is set", secret=True),
    Setting("PACKS", "packs", DEFAULT_PACKS, parse_packs,
            "packs sold for Stars: NAME:STARS, NAME is <N>cr (credits) or premium<N>d (days of premium)"),
    Setting("PAYSUPPORT_CONTACT", "paysupport_contact", "", _text, "who /paysupport sends users to (e.g. @ops)"),
)


@dataclass(frozen=True)
class Settings:
    token: str
    telegram_api_url: str
    admin_ids: tuple[int, ...]
    db_path: str
    market: str
    ws_url: str
    rest_url: str
    watchlist: tuple[str, ...] | int
    autosignal_enabled: bool
    autosignal_interval: str
    autosignal_cooldown_min: int | None  # None: the strategy file's policy
    autosignal_min_confidence: int | None  # None: the strategy file's policy
    outcome_horizon_bars: int
    fee_rate: float
    max_fee_share: float
    strategy_path: str
    telegram_mode: str
    webhook_url: str
    webhook_listen: tuple[str, int] | None
    webhook_secret: str
    metrics_addr: tuple[str, int] | None
    telegram_rate: int
    analyzer_workers: int
    session_cap: int
    session_idle_min: int
    candle_buffer: int
    synchronous: str
    log_level: str
    chart_theme: str
    chart_workers: int
    chart_cache_dir: str
    payment_secret: str
    packs: Catalogue
    paysupport_contact: str

    @property
    def chart_folder(self) -> Path:
        """CHART_CACHE_DIR, else charts/ beside the log in use: derived when read, so an override of DB_PATH
        (the demo's folder, --db) takes its charts along instead of sharing the default log's."""
        return Path(self.chart_cache_dir) if self.chart_cache_dir else Path(self.db_path).parent / "charts"

    def __repr__(self) -> str:  # the token must never reach a log line or a traceback
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["token"] = "***" if self.token else ""
        shown["payment_secret"] = "***" if self.payment_secret else ""
        shown["webhook_secret"] = "***" if self.webhook_secret else ""
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments ignored; optional quotes stripped."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _merged(environ: Mapping[str, str] | None, dotenv: Path | None) -> dict[str, str]:
    merged = dict(read_dotenv(dotenv) if dotenv else {})
    merged.update(os.environ if environ is None else environ)
    return merged


def _parse(setting: Setting, merged: Mapping[str, str]) -> Any:
    raw = merged.get(setting.name, setting.default)
    try:
        return setting.parse(raw)
    except ValueError as exc:
        shown = "" if setting.secret else f" (got {raw!r})"
        raise ConfigError(f"{setting.name} {exc}{shown}") from None


def load_settings(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    """Environment over .env over defaults; raises ConfigError naming the first bad setting."""
    merged = _merged(environ, dotenv)
    values: dict[str, Any] = {setting.field: _parse(setting, merged) for setting in SETTINGS}
    ws_default, rest_default = MARKETS[values["market"]]
    values["ws_url"] = values["ws_url"] or ws_default
    values["rest_url"] = values["rest_url"] or rest_default
    values["synchronous"] = values["synchronous"].upper()
    values["log_level"] = values["log_level"].upper()
    if values["telegram_mode"] == "webhook":
        for name in ("WEBHOOK_URL", "WEBHOOK_LISTEN", "WEBHOOK_SECRET"):
            if not values[name.lower()]:
                raise ConfigError(f"{name} is required when TELEGRAM_MODE=webhook")
    return Settings(**values)


def settings_help() -> str:
    """The settings table for --help."""
    width = max(len(s.name) for s in SETTINGS)
    lines = ["settings (environment variables, or KEY=VALUE lines in ./.env):"]
    for s in SETTINGS:
        default = f" [default: {s.default}]" if s.default and not s.secret else ""
        lines.append(f"  {s.name:<{width}}  {s.help}{default}")
    return "\n".join(lines)




def setting(name: str, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Any:
    """One setting parsed as `load_settings` does (environment over .env over the default), for commands
    that need a few settings rather than a whole bot's (the backtest). ConfigError names it."""
    return _parse(next(s for s in SETTINGS if s.name == name), _merged(environ, dotenv))
