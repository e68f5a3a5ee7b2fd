"""`PooledActor`: a pykka actor that runs on a shared pool of threads instead of a thread of its own.

A `ThreadingActor` starts an OS thread per actor: with one actor per user, a burst of new users
costs a thread start each (about a millisecond of scheduler and GIL time on this machine) and
thousands of idle threads. A pooled actor keeps pykka's semantics (one message at a time, in order,
`tell`/`ask`/`stop`, the registry, `on_start`/`on_stop`/`on_failure`), but its mailbox is scheduled on
`POOL` only while it has messages, and hands its thread back after `TURN` of them, the way Akka's
dispatchers run many actors on a few threads. An actor that blocks (a session waiting for the feed or an
analysis) holds one pool thread meanwhile, so the pool bounds how many actors block at once, not how
many exist; its threads are started only when every existing one is busy.

Built on pykka's extension points for actor types (`_create_actor_inbox`, `_create_future`,
`_start_actor_loop`) and its own receive loop, `Actor._actor_loop_running`, which takes each message
with `inbox.get()`: the pooled inbox raises `_Idle` there when it is empty, which hands the thread back.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pykka
from pykka import ThreadingFuture

log = logging.getLogger(__name__)

POOL_THREADS = 256  # actors running or blocked (a session waiting on the feed) at once; made only when needed
TURN = 50  # messages an actor handles before it hands its thread back to actors waiting for one
POOL = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="pooled-actor")


class _Idle(BaseException):
    """The inbox is empty: leave pykka's receive loop and give the thread back to the pool."""


class _TurnOver(BaseException):
    """`TURN` messages handled: leave pykka's receive loop and queue the actor behind the others."""


class _PooledInbox:
    """A mailbox that asks the pool to run its actor when a message arrives and the actor is not scheduled."""

    def __init__(self) -> None:
        self._envelopes: deque[Any] = deque()
        self._lock = threading.Lock()
        self._scheduled = True  # until `_start_actor_loop`: messages wait for on_start
        self.run_actor: Any = None  # the actor's `_run`, set when it starts
        self.turn_left: float = TURN

    def put(self, envelope: Any, /) -> None:
        with self._lock:
            self._envelopes.append(envelope)
            if self._scheduled:
                return
            self._scheduled = True
        POOL.submit(self.run_actor, False)

    def get(self) -> Any:
        if self.turn_left <= 0:
            raise _TurnOver
        try:
            envelope = self._envelopes.popleft()
        except IndexError:
            raise _Idle from None
        self.turn_left -= 1
        return envelope

    def empty(self) -> bool:
        return not self._envelopes

    def release(self) -> bool:
        """Unschedule the actor unless a message arrived meanwhile (then it keeps running: False)."""
        with self._lock:
            if self._envelopes:
                return False
            self._scheduled = False
            return True


class PooledActor(pykka.Actor):
    """A pykka actor whose messages are handled on `POOL`; subclass it like `pykka.ThreadingActor`."""

    @staticmethod
    def _create_actor_inbox() -> Any:
        return _PooledInbox()

    @staticmethod
    def _create_future() -> Any:
        return ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self.actor_inbox.run_actor = self._run
        POOL.submit(self._run, True)

    def _run(self, starting: bool) -> None:
        """One turn on a pool thread: (on_start first), then queued messages until idle, stopped or `TURN`."""
        inbox = self.actor_inbox
        inbox.turn_left = TURN
        try:
            if starting:
                self._actor_loop_setup()
            while True:
                try:
                    self._actor_loop_running()
                except _Idle:
                    if inbox.release():
                        return
                    continue
                except _TurnOver:
                    POOL.submit(self._run, False)  # still scheduled: behind whoever waits for a thread
                    return
                inbox.turn_left = math.inf  # teardown answers every message left, whatever is left of the turn
                self._actor_loop_teardown()  # stopped: stays scheduled, so nothing runs it again
                return
        except Exception:
            log.exception("%s failed outside its message handling", self)
