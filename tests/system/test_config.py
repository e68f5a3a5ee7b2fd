"""Settings: defaults, validation naming the setting, .env, and a token that never shows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings, settings_help

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_defaults_are_the_documented_ones():
    s = load_settings({}, None)
    assert s.db_path == "data/events.db" and s.market == "spot" and s.watchlist == 25
    assert (s.autosignal_enabled, s.autosignal_interval, s.autosignal_cooldown_min) == (False, "1h", None)
    assert s.autosignal_min_confidence is None and s.telegram_rate == 25 and s.token == ""  # the strategy file's
    assert s.ws_url.startswith("wss://") and s.rest_url.startswith("https://")
    assert (s.chart_theme, s.chart_workers, s.chart_folder) == ("dark", 1, Path("data/charts"))


def test_chart_cache_sits_beside_the_log_unless_set():
    assert load_settings({"DB_PATH": "/var/lib/bot/events.db"}, None).chart_folder == Path("/var/lib/bot/charts")
    assert load_settings({"CHART_CACHE_DIR": "/tmp/c"}, None).chart_folder == Path("/tmp/c")
    # derived when used: a later override of the log (the demo's, --db) takes the charts along
    assert replace(load_settings({}, None), db_path="/tmp/demo/events.db").chart_folder == Path("/tmp/demo/charts")
    assert replace(load_settings({"CHART_CACHE_DIR": "/tmp/c"}, None), db_path="/x/e.db").chart_folder == Path("/tmp/c")
    assert load_settings({"CHART_THEME": "LIGHT"}, None).chart_theme == "light"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOSIGNAL_MIN_CONFIDENCE", "abc"),
        ("AUTOSIGNAL_MIN_CONFIDENCE", "101"),
        ("MARKET", "coinbase"),
        ("WATCHLIST", "BTC-USD"),
        ("WATCHLIST", "top0"),
        ("AUTOSIGNAL_INTERVAL", "7m"),
        ("ADMIN_IDS", "alice"),
        ("AUTOSIGNAL_ENABLED", "maybe"),
        ("BINANCE_WS_URL", "not a url"),
        ("TELEGRAM_RATE", "0"),
        ("TELEGRAM_API_URL", "ftp://127.0.0.1:8081"),
        ("TELEGRAM_API_URL", "127.0.0.1:8081"),
        ("WATCHLIST", "top101"),
        ("WATCHLIST", "top9999999"),
        ("CHART_THEME", "pink"),
        ("CHART_WORKERS", "0"),
        ("METRICS_ADDR", "9464"),
        ("METRICS_ADDR", "127.0.0.1:99999"),
        ("TELEGRAM_MODE", "push"),
        ("WEBHOOK_URL", "bot.example/tg"),
        ("WEBHOOK_LISTEN", "localhost"),
        ("WEBHOOK_SECRET", "has spaces"),
    ],
)
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, None)


def test_the_largest_watchlist_the_feed_serves_is_accepted():
    assert load_settings({"WATCHLIST": "top100"}, None).watchlist == 100
    assert load_settings({"TELEGRAM_API_URL": "http://127.0.0.1:8081/"}, None).telegram_api_url == (
        "http://127.0.0.1:8081")


def test_token_is_never_shown():
    with pytest.raises(ConfigError) as info:
        load_settings({"TELEGRAM_BOT_TOKEN": "oops-not-a-token-but-secret"}, None)
    assert "oops" not in str(info.value)
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}, None)
    assert settings.token == TOKEN and TOKEN not in repr(settings) and TOKEN not in str(settings)


def test_dotenv_is_read_and_environment_wins(tmp_path):
    env = tmp_path / ".env"
    env.write_text("# comment\nADMIN_IDS=1,2\nexport WATCHLIST='btcusdt,ethusdt'\nMARKET=usdm\n")
    s = load_settings({"MARKET": "spot"}, env)
    assert s.admin_ids == (1, 2) and s.watchlist == ("BTCUSDT", "ETHUSDT") and s.market == "spot"
    env.write_text("NOT A SETTING LINE\n")
    with pytest.raises(ConfigError, match=":1"):
        load_settings({}, env)


def test_help_documents_every_setting():
    text = settings_help()
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "ADMIN_IDS", "DB_PATH", "MARKET", "BINANCE_WS_URL",
                 "BINANCE_REST_URL", "WATCHLIST", "AUTOSIGNAL_ENABLED", "AUTOSIGNAL_INTERVAL",
                 "AUTOSIGNAL_COOLDOWN_MIN", "AUTOSIGNAL_MIN_CONFIDENCE", "TELEGRAM_RATE", "ANALYZER_WORKERS",
                 "SESSION_CAP", "SESSION_IDLE_MIN", "CANDLE_BUFFER", "CHART_THEME", "CHART_WORKERS",
                 "CHART_CACHE_DIR", "METRICS_ADDR", "TELEGRAM_MODE", "WEBHOOK_URL", "WEBHOOK_LISTEN",
                 "WEBHOOK_SECRET"):
        assert name in text


def test_metrics_are_off_by_default_and_webhook_mode_needs_its_settings():
    assert load_settings({}, None).metrics_addr is None and load_settings({}, None).telegram_mode == "polling"
    assert load_settings({"METRICS_ADDR": "0.0.0.0:9464"}, None).metrics_addr == ("0.0.0.0", 9464)
    webhook = {"TELEGRAM_MODE": "webhook", "WEBHOOK_URL": "http://127.0.0.1:8443/tg", "WEBHOOK_SECRET": "s3cret-Token"}
    settings = load_settings(webhook, None)
    assert settings.webhook_listen == ("127.0.0.1", 8443) and "s3cret-Token" not in repr(settings)
    for missing in ("WEBHOOK_URL", "WEBHOOK_SECRET"):
        with pytest.raises(ConfigError, match=f"^{missing} is required when TELEGRAM_MODE=webhook"):
            load_settings({k: v for k, v in webhook.items() if k != missing}, None)
    with pytest.raises(ConfigError) as info:
        load_settings({**webhook, "WEBHOOK_SECRET": "leaked secret"}, None)
    assert "leaked" not in str(info.value)
