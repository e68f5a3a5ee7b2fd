"""Signals as charts end to end: real aiogram polling the fake Bot API, Sessions, the Sender, SQLite and the
chart process pool drawing real PNGs. The kill -9 case is in test_autosignal_broadcast_kill.py."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from PIL import Image

from actors.clock import ManualClock
from app.metrics import Metrics
from tests.conftest import klines_dir
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.market import load_market
from tests.fakes.telegram_stack import broadcast, outcomes, telegram_world, wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One world for the module: the chart worker's start (matplotlib) is paid once."""
    folder = tmp_path_factory.mktemp("charts")
    charts = SimpleNamespace(chart_workers=1, chart_theme="dark", chart_folder=folder / "charts")
    metrics = Metrics(ManualClock(0))
    with telegram_world(folder, load_market(klines_dir()), {"global_per_s": 100, "per_chat_rate": 20.0},
                        {"charts": charts, "metrics": metrics, "per_chat_interval": 0.05}) as world:
        yield world


def setup(world, bars_back: int, reasons: int = 2) -> dict:
    """A LONG on the BTCUSDT 1h candle `bars_back` before the feed's last, with `reasons` lines of why."""
    candles = world[1].feed.proxy().market.get()["BTCUSDT"]
    k = len(candles) - bars_back
    close = float(candles.close[k])
    return {"symbol": "BTCUSDT", "interval": "1h", "open_time": int(candles.open_time[k]),
            "close_time": int(candles.open_time[k]) + 3_599_999, "side": "LONG", "entry": close,
            "stop": close * 0.99, "tp1": close * 1.01, "tp2": close * 1.02, "rr1": 1.0, "rr2": 2.0,
            "confidence": 70, "precision": 2,
            "reasons": [f"reason {n}: the order block & the gap line up <here>" for n in range(reasons)]}


def sent_to(fake: FakeBotAPI, chat: int, count: int) -> list[dict]:
    return wait_until(lambda: len(m := [s for s in list(fake.sent) if s["chat_id"] == chat]) >= count and m,
                      what=f"{count} messages to {chat}")


def delivered(world, signal_id: str, chats: int = 1) -> dict[int, int]:
    """chat -> message_id of each SignalDelivered of this signal, once there are `chats` of them."""
    def found() -> dict[int, int]:
        return {r.data["chat_id"]: r.data["message_id"] for r in world[1].store.read_stream("outbox")
                if r.type == "SignalDelivered" and r.data["signal_id"] == signal_id}
    return wait_until(lambda: len(seen := found()) >= chats and seen, what=f"{chats} deliveries of {signal_id}")


def test_a_manual_signal_arrives_as_its_chart_with_the_text_as_caption(world):
    fake, stack, _ = world
    fake.push_text(300, "/start")
    fake.push_text(300, "/analyze btc")
    _, photo = sent_to(fake, 300, 2)
    assert photo["method"] == "sendPhoto" and "<b>BTCUSDT</b> 1h" in photo["text"]
    assert "&lt;b&gt;tags&lt;/b&gt;" in photo["text"]  # the caption is the signal text, escaped
    image = Image.open(io.BytesIO(fake.uploads[photo["photo"]]))
    assert image.format == "PNG" and image.size == (1280, 720)
    [signal_id] = {k for k, _ in outcomes(stack) if k.startswith("m:300:")}
    assert delivered(world, signal_id) == {300: photo["message_id"]}


def test_a_text_too_long_for_a_caption_follows_the_photo_in_the_same_delivery(world):
    fake, stack, _ = world
    signal_id = broadcast(stack, setup(world, 2, reasons=30), [301])
    photo, text = sent_to(fake, 301, 2)
    assert photo["method"] == "sendPhoto" and photo["text"] == ""
    assert text["method"] == "sendMessage" and "reason 29" in text["text"]
    assert delivered(world, signal_id) == {301: photo["message_id"]}
    assert outcomes(stack)[(signal_id, 301)] == ["DeliveryAttempted", "SignalDelivered"]


def test_a_chart_that_cannot_be_drawn_leaves_the_signal_as_text(world):
    fake, stack, bot = world
    def counted() -> float:
        return bot.metrics.registry.get_sample_value("signalbot_chart_failures_total", {"reason": "render"}) or 0

    failed = counted()
    later = setup(world, 1) | {"open_time": setup(world, 1)["open_time"] + 3_600_000}  # a candle the feed lacks
    signal_id = broadcast(stack, later, [302])
    [text] = sent_to(fake, 302, 1)
    assert text["method"] == "sendMessage" and "<b>BTCUSDT</b>" in text["text"]
    delivered(world, signal_id)
    assert outcomes(stack)[(signal_id, 302)] == ["DeliveryAttempted", "SignalDelivered"]
    assert counted() == failed + 1


def test_charts_off_gets_text_and_on_gets_charts_again(world):
    fake, stack, _ = world
    fake.push_text(303, "/start")
    fake.push_text(303, "/charts maybe")
    fake.push_text(303, "/charts off")
    _, usage, off = sent_to(fake, 303, 3)
    assert usage["text"] == "Usage: /charts on|off" and off["text"].startswith("Charts are off")
    assert stack.types(303)[-1] == "ChartsToggled"
    broadcast(stack, setup(world, 3), [303])
    assert sent_to(fake, 303, 4)[3]["method"] == "sendMessage"
    fake.push_text(303, "/charts on")
    sent_to(fake, 303, 5)
    broadcast(stack, setup(world, 4), [303])
    assert sent_to(fake, 303, 6)[5]["method"] == "sendPhoto"


def test_chart_command_is_free_has_no_trade_levels_and_counts_in_the_rate_limit(world):
    fake, stack, _ = world
    fake.push_text(304, "/start")
    fake.push_text(304, "/chart")
    fake.push_text(304, "/chart btc 2h")
    _, usage, timeframe = sent_to(fake, 304, 3)
    assert usage["text"].startswith("Usage: /chart SYMBOL [TF]") and "/chart does not serve" in timeframe["text"]
    fake.push_text(304, "/analyze eth")  # one served signal request ...
    for _ in range(4):  # ... and four charts make five in the minute
        fake.push_text(304, "/chart BTC")
    sent = sent_to(fake, 304, 8)
    charts = [m for m in sent[4:] if "chart of the current analysis" in m["text"]]
    assert len(charts) == 4 and {m["method"] for m in charts} == {"sendPhoto"}
    assert "Entry (market)" not in charts[0]["text"] and "/futures BTCUSDT 1h" in charts[0]["text"]
    fake.push_text(304, "/chart BTC")
    assert sent_to(fake, 304, 9)[8]["text"].startswith("At most 5 signal requests a minute")
    fake.push_text(304, "/credits")
    assert sent_to(fake, 304, 10)[9]["text"].startswith("Balance: 80 credits")  # the /analyze only
    assert stack.types(304).count("ChartRequested") == 4


def test_a_broadcast_uploads_the_chart_once_then_sends_its_file_id(world):
    fake, stack, _ = world
    recipients = list(range(400, 420))
    signal_id = broadcast(stack, setup(world, 5), recipients)
    delivered(world, signal_id, len(recipients))
    photos = [m for m in list(fake.sent) if m["chat_id"] in recipients]
    assert len(photos) == len(recipients) and {m["method"] for m in photos} == {"sendPhoto"}
    [file_id] = {m["photo"] for m in photos}
    uploads = [c for c in fake.calls_of("sendPhoto") if int(c.params.get("chat_id")) in recipients
               and isinstance(c.params.get("photo"), bytes)]
    assert len(uploads) == 1 and file_id in fake.uploads
