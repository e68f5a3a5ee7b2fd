"""Webhook mode: updates/s accepted through the webhook into sessions and the store, and the time to
answer Telegram's POST.

    python bench/webhook_bench.py [--users 2000] [--connections 40] [--synchronous FULL]

The real aiogram bot in webhook mode (the router waits for each update's events to commit before
answering), real Sessions and a SQLite log, replies sent to the fake Bot API. Telegram's side (the fake
Bot API the replies go to, and a client POSTing updates) runs in a child process, so the figures are
the bot process's: `--connections` POSTs in flight at once (Telegram's max_connections default is 40),
each user's /start then /credits (no analysis), each POST timed from send to answer, after an unmeasured
warm-up. A reply goes back in the POST's answer when its chat and the global rate allow a message at once
(Telegram runs it), else the Sender sends it; the bot's CPU counts until the last reply was sent.
Goals: >= 2,000 updates/s and p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pykka
from aiohttp import ClientSession, TCPConnector

from actors.clock import SystemClock
from actors.user_session import Services, Sessions
from domain.events import upcast
from eventstore import EventStore
from telegram_adapter.bot import TelegramBot, TelegramConfig
from tests.fakes.bot_api import FakeBotAPI

SECRET = "bench-secret"
TOKEN = "123456:BENCH"
WARM_UP = 100  # users (after the measured ones) whose /start and /credits go first, unmeasured
LIMITS = {"global_per_s": 1_000_000, "per_chat_rate": 1000.0, "per_chat_burst": 1000.0}


def update(update_id: int, user: int, text: str) -> dict:
    message = {"message_id": update_id, "date": int(time.time()), "text": text,
               "chat": {"id": user, "type": "private"}, "from": {"id": user, "is_bot": False, "first_name": "U"},
               "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
    return {"update_id": update_id, "message": message}


async def play_telegram(url: str, updates: list[dict], connections: int) -> tuple[float, list[float], int]:
    """POST the updates in order with `connections` in flight; (seconds, each POST's latency in seconds, how
    many answers carried the reply as a method, which Telegram would run)."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for u in updates:
        queue.put_nowait(u)
    latencies: list[float] = []
    in_answer = 0
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def connection(client: ClientSession) -> None:
        nonlocal in_answer
        while not queue.empty():
            body = queue.get_nowait()
            sent = time.perf_counter()
            async with client.post(url, json=body, headers=headers) as answer:
                said = await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"update {body['update_id']} answered {answer.status}")
                in_answer += b'"method"' in said
            latencies.append(time.perf_counter() - sent)

    async with ClientSession(connector=TCPConnector(limit=connections)) as client:
        started = time.perf_counter()
        await asyncio.gather(*(connection(client) for _ in range(connections)))
        return time.perf_counter() - started, latencies, in_answer


def telegram(pipe: Connection, connections: int, users: int) -> None:
    """The child process: the fake Bot API, then (once told the webhook URL) the client's run."""
    with FakeBotAPI(token=TOKEN, **LIMITS) as fake:
        pipe.send(fake.base_url)
        url = pipe.recv()
        starts = [update(i, u, "/start") for i, u in enumerate(range(1, users + 1), 1)]
        credits = [update(users + i, u, "/credits") for i, u in enumerate(range(1, users + 1), 1)]
        warm_up = [update(2 * users + 2 * i + k, users + i, text) for i in range(1, WARM_UP + 1)
                   for k, text in enumerate(("/start", "/credits"))]  # aiogram builds its models on first use
        in_answers = asyncio.run(play_telegram(url, warm_up, connections))[2]
        gc.collect()
        gc.disable()  # this client's own collections (160 ms each here) would be timed as the bot's answer
        phases = []
        for phase in (starts, credits):
            pipe.send("go")  # the bot process reads its CPU clock around each measured phase
            phases.append(asyncio.run(play_telegram(url, phase, connections)))
        in_answers += sum(p[2] for p in phases)
        deadline = time.monotonic() + 30
        while len(fake.sent) + in_answers < 2 * (users + WARM_UP) and time.monotonic() < deadline:
            time.sleep(0.05)  # the replies the Sender sends arrive before the fake stops
        pipe.send((phases, len(fake.sent)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--synchronous", default="FULL", choices=("NORMAL", "FULL"))
    args = parser.parse_args()
    pipe, child_pipe = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(target=telegram, args=(child_pipe, args.connections,
                                                                              args.users))
    child.start()
    api_url = pipe.recv()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.open(Path(tmp) / "events.db", synchronous=args.synchronous, upcast=upcast)
        sessions = Sessions.start(Services(store, SystemClock()), frozenset(), max_live=args.users,
                                  sweep_every_s=None)
        config = TelegramConfig(TOKEN, api_url, rate=100_000.0, mode="webhook",
                                webhook_url="http://127.0.0.1/hook", webhook_listen=("127.0.0.1", 0),
                                webhook_secret=SECRET)
        bot = TelegramBot(config, sessions, store, SystemClock(), per_chat_interval=0.0).start()
        gc.freeze()  # as `run` does once started (app/system.py)
        try:
            pipe.send(f"http://127.0.0.1:{bot.webhook.port}/hook")
            cpu = []
            while (said := pipe.recv()) == "go":
                cpu.append(time.process_time())
            cpu.append(time.process_time())  # after the Sender's last reply: every reply's cost is counted
            played, by_sender = said
            phases = [(seconds, latencies, cpu[i + 1] - cpu[i]) for i, (seconds, latencies, _) in enumerate(played)]
            in_answers = sum(p[2] for p in played)
            events = store.last_position()
            child.join(60)
        finally:
            bot.stop()
            pykka.ActorRegistry.stop_all()
            store.close()
    print(f"webhook: {args.users} users, each /start then /credits, over {args.connections} connections, "
          f"synchronous={args.synchronous}; {events} events appended")
    for name, (seconds, latencies, cpu) in zip(("/start", "/credits"), phases, strict=True):
        print(f"  {name:<9} " + figures(seconds, latencies, cpu))
    print("  both      " + figures(sum(p[0] for p in phases), [x for p in phases for x in p[1]],
                                   sum(p[2] for p in phases)))
    print(f"  replies: {in_answers} in the POST's answer, {by_sender} sent by the Sender (warm-up included)")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          "bot CPU = the bot process's CPU seconds (all its threads) per update")


def figures(seconds: float, latencies: list[float], cpu: float) -> str:
    """Updates/s, POST answer times against the goals, and the bot process's CPU time per update."""
    rate = len(latencies) / seconds
    cuts = statistics.quantiles(latencies, n=100)
    return (f"{rate:,.0f} updates/s (goal >= 2,000: {'met' if rate >= 2000 else 'NOT met'}); POST answered "
            f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms "
            f"(goal <= 50 ms: {'met' if cuts[98] <= 0.05 else 'NOT met'}); "
            f"bot CPU {cpu / len(latencies) * 1e6:,.0f} us/update")


if __name__ == "__main__":
    main()
