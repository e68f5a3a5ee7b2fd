"""A whole System in this process (SQLite log, feed on the simulator, sessions, AutoSignal, the real aiogram
bot on the fake Bot API) with its metrics server on a free loopback port, and helpers to read it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from actors.clock import Clock
from app.config import load_settings
from app.system import System
from marketsim.server import MarketSim
from tests.fakes.bot_api import FakeBotAPI

ADMIN = 99
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def start_system(folder: Path, sim: MarketSim, fake: FakeBotAPI, health_clock: Clock | None = None,
                 **env: str) -> System:
    """Every setting a test does not give is the one-minute, two-symbol market of `sim`."""
    base = {
        "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url, "ADMIN_IDS": str(ADMIN),
        "DB_PATH": str(folder / "events.db"), "BINANCE_WS_URL": sim.urls["ws"], "BINANCE_REST_URL": sim.urls["rest"],
        "WATCHLIST": ",".join(SYMBOLS), "AUTOSIGNAL_INTERVAL": "1m", "AUTOSIGNAL_MIN_CONFIDENCE": "0",
        "AUTOSIGNAL_ENABLED": "true", "ANALYZER_WORKERS": "1", "SYNCHRONOUS": "NORMAL", "METRICS_ADDR": "127.0.0.1:0",
        "CANDLE_BUFFER": "300",
    }
    settings = load_settings({**base, **env}, dotenv=None)
    system = System(settings, health_clock=health_clock)
    try:
        return system.start(new_log=True)
    except BaseException:
        system.stop()
        raise


def get(system: System, path: str) -> tuple[int, str]:
    """(status, body) of GET `path` on the system's metrics server."""
    try:
        with urllib.request.urlopen(f"http://{system.ops.address}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(system: System) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    status, text = get(system, "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def readiness(system: System) -> tuple[int, dict[str, Any]]:
    status, body = get(system, "/readyz")
    return status, json.loads(body)
