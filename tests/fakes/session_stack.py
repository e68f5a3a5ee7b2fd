"""A real session stack for tests: SQLite log, Sessions router, candle feed and rule analyzer."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from actors.clock import ManualClock
from actors.messages import Command, InspectSession, Reply, SessionInfo
from actors.outcomes import OutcomeTracker
from actors.user_session import Services, Sessions
from domain.events import upcast
from domain.outcomes import Rules
from eventstore import EventStore
from telegram_adapter.commands import parse
from telegram_adapter.render import render
from tests.fakes.market import CandleFeed, RuleAnalyzer

T0 = 1_732_000_000_000
ADMIN = 1


@dataclass(frozen=True)
class Worded:
    """A session's Reply with the text the adapter makes of it (`text`; None: nothing is sent)."""

    reply: Reply
    text: str | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reply, name)


def worded(reply: Reply) -> Worded:
    return Worded(reply, render(reply))


@dataclass
class Stack:
    store: EventStore
    clock: ManualClock
    sessions: Any
    last_update_id: int = 0
    feed: Any = None
    outcomes: Any = None  # the OutcomeTracker, when started

    def send_async(self, user: int, text: str, update_id: int | None = None, language: str = "en") -> Future:
        """The Reply worded, as a future; `language` is the user's Telegram language_code."""
        name, args = parse(text)
        reply: Future = Future()
        said: Future = Future()
        reply.add_done_callback(lambda done: said.set_result(worded(done.result())))
        key = self.last_update_id + 1 if update_id is None else update_id
        self.last_update_id = max(self.last_update_id, key)
        self.sessions.tell(Command(key, user, user, name, args, f"user{user}", language, reply))
        return said

    def send(self, user: int, text: str, update_id: int | None = None, language: str = "en") -> Worded:
        return self.send_async(user, text, update_id, language).result(timeout=20)

    def info(self, user: int) -> SessionInfo:
        reply: Future = Future()
        self.sessions.tell(InspectSession(user, reply))
        return reply.result(timeout=20)

    def types(self, user: int) -> list[str]:
        return [r.type for r in self.store.read_stream(f"user-{user}")]


def start_stack(tmp: Path, market: dict, *, quiet: frozenset[str] = frozenset(),
                not_ready: frozenset[str] = frozenset(), full: frozenset[str] = frozenset(), analyzer: Any = None,
                admins: frozenset[int] = frozenset({ADMIN}), outcomes: Rules | None = None,
                **sessions_kw: Any) -> Stack:
    """`analyzer` defaults to the rule stand-in (with `quiet` symbols giving no setup); with `outcomes`
    rules an OutcomeTracker follows the log and the feed."""
    clock = ManualClock(T0)
    store = EventStore.open(tmp / "events.db", upcast=upcast, clock=clock.now_ms)
    feed = CandleFeed.start(market, not_ready, full)
    analyzer = analyzer or RuleAnalyzer.start(quiet)
    tracker = OutcomeTracker.start(store, feed, rules=outcomes, clock=clock) if outcomes else None
    services = Services(store, clock, feed, analyzer, ask_timeout=10.0, outcomes=tracker)
    sessions_kw.setdefault("sweep_every_s", None)
    sessions = Sessions.start(services, admins, **sessions_kw)
    return Stack(store, clock, sessions, feed=feed, outcomes=tracker)


def stop_stack(stack: Stack) -> None:
    pykka.ActorRegistry.stop_all()
    stack.store.close()
