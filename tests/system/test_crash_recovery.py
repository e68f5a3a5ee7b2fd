"""kill -9 the real bot at random moments while users talk to it, and restart it, 20 times.

`main.py run` runs as a subprocess against the market simulator (real 1h candles, one per
second) and the fake Bot API server. After every kill the log verifies; after every restart
a user's /credits equals the balance the log adds up to; at the end every issued signal has
exactly one outcome, each delivery is a message Telegram accepted, and the only extra
messages are attempts in flight at a kill, counted from the log. The outcomes tracked across
the kills are those `domain.outcomes` gives on the simulator's candles: none lost, none twice.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from app import ops, strategy_file
from domain import ledger, outcomes
from domain.events import decode
from eventstore import EventStore
from marketsim import market_from_files
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcd"
ADMIN = 1
USERS = (101, 102, 103, 104)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
ROUNDS = 20
COMMANDS = ("/analyze BTC", "/futures ETH 1h", "/analyze SOL", "/credits", "/futures XRP 4h", "/history",
            "/analyze BNB", "/signals")

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


LIMIT = 4000


def data_files() -> list[Path]:
    return [klines_dir() / "azmath606961__hawk-crypto-bot" / "data" / f"{s}_1h.csv" for s in SYMBOLS]


@pytest.fixture
def simulator():
    proc = subprocess.Popen(
        [sys.executable, "-m", "marketsim", "--data", *map(str, data_files()), "--symbols", ",".join(SYMBOLS),
         "--speed", "3600", "--limit", str(LIMIT)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    urls = orjson.loads(proc.stdout.readline())
    yield urls
    proc.terminate()
    proc.wait(timeout=10)


class Bot:
    """`main.py run` as a child process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path, self.proc = env, log_path, None

    def start(self, telegram: FakeBotAPI) -> None:
        polls = len(telegram.calls_of("getMe"))  # the adapter's first call at start
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "main.py", "run"], cwd=ROOT, env=self.env,
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_until(lambda: len(telegram.calls_of("getMe")) > polls or self.proc.poll() is not None,
                   60, "the bot to poll Telegram")
        assert self.proc.poll() is None, self.log_path.read_text()[-3000:]

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def close(self) -> None:
        """Never leave a bot running after the test, whatever happened."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def bots():
    made: list[Bot] = []
    yield lambda env, log_path: made.append(Bot(env, log_path)) or made[-1]
    for bot in made:
        bot.close()


def balance_in_log(db: Path, user: int) -> int:
    with EventStore.open(db) as store:
        return sum(e.amount for e in ledger.entries(store.read_stream(f"user-{user}")))


def credits_reply(telegram: FakeBotAPI, user: int) -> int:
    before = len(telegram.messages_to(user))
    telegram.push_text(user, "/credits")

    def answered() -> bool:
        return any("Balance:" in m for m in telegram.messages_to(user)[before:])

    wait_until(answered, 60, f"/credits reply to {user}")
    text = next(m for m in telegram.messages_to(user)[before:] if "Balance:" in m)
    return int(re.search(r"Balance: (\d+) credits", text).group(1))


def test_kill9_at_random_moments_loses_and_doubles_nothing(tmp_path, simulator, bots):
    rng = random.Random(2026)
    db = tmp_path / "events.db"
    with FakeBotAPI(token=TOKEN) as telegram:
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": telegram.base_url,
               "ADMIN_IDS": str(ADMIN), "DB_PATH": str(db), "BINANCE_WS_URL": simulator["ws"],
               "BINANCE_REST_URL": simulator["rest"], "WATCHLIST": ",".join(SYMBOLS), "AUTOSIGNAL_INTERVAL": "1h",
               "AUTOSIGNAL_ENABLED": "true",
               "AUTOSIGNAL_MIN_CONFIDENCE": "40",
               "AUTOSIGNAL_COOLDOWN_MIN": "240", "TELEGRAM_RATE": "25", "ANALYZER_WORKERS": "1",
               "LOG_LEVEL": "WARNING"}
        bot = bots(env, tmp_path / "bot.log")
        bot.start(telegram)
        for user in USERS:
            telegram.push_text(user, "/start", username=f"u{user}")
        telegram.push_text(ADMIN, f"/set_premium {USERS[0]} lifetime")
        telegram.push_text(ADMIN, f"/grant_autosignal {USERS[1]} 30d")
        wait_until(lambda: all(telegram.messages_to(u) for u in USERS), 60, "welcome messages")
        for round_ in range(ROUNDS):
            for _ in range(rng.randint(2, 6)):
                telegram.push_text(rng.choice(USERS), rng.choice(COMMANDS))
            if rng.random() < 0.3:
                telegram.push_text(ADMIN, f"/grant_credits {rng.choice(USERS)} {rng.randint(1, 50)}")
            time.sleep(rng.uniform(0.05, 1.5))
            bot.kill()
            with ops.open_log(db) as store:
                ok, lines = ops.verify(store)
            assert ok, f"round {round_}: " + "; ".join(lines)
            bot.start(telegram)
            quiet = rng.choice(USERS)
            assert credits_reply(telegram, quiet) == balance_in_log(db, quiet), f"round {round_}, user {quiet}"

        def settled() -> bool:
            with ops.open_log(db) as store:
                return not ops.replay(store, progress=None).outbox.pending
        wait_until(settled, 120, "every owed delivery to settle")
        second = subprocess.run([sys.executable, "main.py", "run"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert second.returncode == 1 and "already running" in second.stderr
        assert bot.terminate() == 0, (tmp_path / "bot.log").read_text()[-3000:]
        sent = list(telegram.sent)
    assert TOKEN not in (tmp_path / "bot.log").read_text() + second.stderr

    verify = subprocess.run([sys.executable, "main.py", "verify", "--db", str(db)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with ops.open_log(db) as store:
        records = list(store.read_all())
    manual = [r.data for r in records if r.type == "ManualSignalIssued"]
    assert len({m["signal_id"] for m in manual}) == len(manual), "a signal was issued (charged) twice"
    loaded = [r.data for r in records if r.stream == "strategy"]  # many restarts with one file: one record
    assert [d["version"] for d in loaded] == [strategy_file.load().version]
    assert all(s["signal"]["strategy_version"] == strategy_file.load().calibration.version  # file@its last model
               for s in manual if "side" in s["signal"])
    assert len({(r.stream, m["update_id"]) for r, m in zip(
        [r for r in records if r.type == "ManualSignalIssued"], manual, strict=True)}) == len(manual)
    delivered = {(r.data["chat_id"], r.data["message_id"]) for r in records if r.type == "SignalDelivered"}
    accepted = {(m["chat_id"], m["message_id"]) for m in sent}
    assert delivered <= accepted, "a delivery was recorded for a message Telegram never accepted"
    attempts = sum(r.type == "DeliveryAttempted" for r in records)
    outcomes = sum(r.type in ("SignalDelivered", "DeliveryFailed") for r in records)
    # a /signals scan that finds nothing is a free reply that also carries the footer: not a delivery
    extra = [m for m in sent if "Not financial advice" in m["text"] and "No setup in any pair" not in m["text"]
             and (m["chat_id"], m["message_id"]) not in delivered]
    assert len(extra) <= attempts - outcomes, "a signal was sent twice outside a crash's in-flight attempts"
    assert manual, "the scenario issued no manual signal"
    tracked = assert_outcomes_follow_the_candles(records)
    print(f"\ncrash suite: {ROUNDS} kills, {len(records)} events, {len(manual)} manual signals, "
          f"{len(delivered)} deliveries, {attempts - outcomes} attempts in flight at kills, {len(extra)} resent, "
          f"{tracked} outcome events")


def assert_outcomes_follow_the_candles(records: list) -> int:
    """Per tracked setup, the logged outcome events are the decider's on the simulator's candles, in order
    (a prefix while it is still open): a candle missed or applied twice across a kill would show."""
    market = market_from_files(data_files(), list(SYMBOLS), limit=LIMIT)
    logged: dict[str, list[tuple[str, dict]]] = {}
    for r in records:
        if r.stream == outcomes.STREAM:
            logged.setdefault(r.data["signal_id"], []).append((r.type, r.data))
    state = outcomes.fold(decode(r.type, r.data) for r in records
                          if r.type in ("ManualSignalIssued", "AutoSignalIssued"))
    assert state.open, "no signal was tracked"
    for trade_id, trade in state.open.items():
        series = market.series(trade.symbol, trade.interval)
        one = outcomes.OutcomeState({trade_id: trade})
        want: list[tuple[str, dict]] = []
        for i in range(int(np.searchsorted(series.open_time, trade.open_time, side="right")), len(series.open_time)):
            if not one.open:
                break  # closed
            candle = outcomes.Candle(trade.symbol, trade.interval, int(series.open_time[i]), float(series.open[i]),
                                     float(series.high[i]), float(series.low[i]), float(series.close[i]))
            events = outcomes.decide(one, candle)
            one = outcomes.fold(events, one)
            want += [(e.type, e.payload()) for e in events]
        got = logged.get(trade_id, [])
        assert got == want[: len(got)], f"{trade_id}: outcomes differ from the decider on the same candles"
    entered = sum(t == "SignalEntered" for events in logged.values() for t, _ in events)
    assert entered, "no signal was entered across the run"
    return sum(len(events) for events in logged.values())
