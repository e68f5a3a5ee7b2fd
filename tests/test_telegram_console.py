"""The console adapter speaks the same commands through the same Sessions and Outbox."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest

from telegram_adapter.charts.cache import PNG_SIGNATURE
from telegram_adapter.console import Console, run_console
from tests.conftest import klines_dir
from tests.fakes.chart_jobs import stand_in_charts
from tests.fakes.market import load_market
from tests.fakes.session_stack import start_stack, stop_stack

pytestmark = pytest.mark.timeout(60)


def test_console_session(tmp_path):
    stack = start_stack(tmp_path, load_market(klines_dir()), quiet=frozenset({"XRPUSDT"}))
    out = io.StringIO()
    script = "/start\n/analyze BTC\n\n/credits\n/analyze XRP\n/bogus\n<b>hi</b>\n/buy\n/terms\n"
    try:
        asyncio.run(run_console(stack.sessions, stack.store, stack.clock, io.StringIO(script), out, user_id=5))
    finally:
        stop_stack(stack)
    text = out.getvalue()
    order = [text.index(part) for part in
             ["Welcome, console!", "BTCUSDT 1h", "Not financial advice", "Balance: 80 credits",
              "XRPUSDT 1h · no setup", "See /help", "Payments are not available", "Terms"]]
    assert order == sorted(order)
    assert "<code>" not in text and "&amp;" not in text and text.count("See /help") == 2
    assert "<b>tags</b> & symbols" in text  # the market's own string, shown as it is


def test_console_writes_charts_as_files_beside_the_log_and_prints_their_paths(tmp_path):
    stack = start_stack(tmp_path, load_market(klines_dir()))
    out = io.StringIO()
    charts = stand_in_charts(tmp_path / "charts", stack.feed)
    script = "/start\n/analyze BTC\n/chart ETH\n"
    try:
        asyncio.run(run_console(stack.sessions, stack.store, stack.clock, io.StringIO(script), out, user_id=5,
                                charts=charts, folder=tmp_path))
    finally:
        stop_stack(stack)
    paths = re.findall(r"\[chart: (.+)\]", out.getvalue())
    assert [Path(p).parent for p in paths] == [tmp_path, tmp_path]
    assert [Path(p).read_bytes()[:8] for p in paths] == [PNG_SIGNATURE] * 2
    assert "ETHUSDT 1h · chart of the current analysis" in out.getvalue()


def test_console_commands_are_counted_as_the_telegram_router_counts_them(tmp_path):
    stack = start_stack(tmp_path, {})
    counted: list[tuple[str, str]] = []

    async def script() -> None:
        console = Console(stack.sessions, stack.store, stack.clock, io.StringIO(), frozenset(),
                          on_command=lambda name, result: counted.append((name, result)))
        await console.start()
        try:
            for text in ("/start", "/credits", "/futures BTC 2h", "/terms", "/bogus", "/ban 5"):
                await console.say(5, text)
        finally:
            await console.stop()

    try:
        asyncio.run(script())
    finally:
        stop_stack(stack)
    assert counted == [("start", "served"), ("credits", "served"), ("futures", "bad_timeframe"),
                       ("terms", "served"), ("other", "unknown_command"), ("ban", "not_allowed")]
