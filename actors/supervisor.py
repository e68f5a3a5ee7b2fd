"""A stable reference to an actor that is restarted from the log if an unhandled failure stops it.

pykka stops an actor whose `tell` handling raises. Actors catch what they can handle; for
anything else the owner holds a `Supervisor` instead of the bare ActorRef: it forwards
`tell`/`ask`, notices the death, and starts a fresh actor, which rebuilds its state from the
log like any restart does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pykka

log = logging.getLogger("supervisor")


class Supervisor:
    def __init__(self, name: str, start: Callable[[], pykka.ActorRef], check_every_s: float = 0.5) -> None:
        self.name = name
        self._start = start
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ref = start()
        self.restarts = 0
        self._watcher = threading.Thread(target=self._watch, args=(check_every_s,), name=f"supervise-{name}",
                                         daemon=True)
        self._watcher.start()

    @property
    def ref(self) -> pykka.ActorRef:
        """The live actor, restarting it first if it died."""
        with self._lock:
            if not self._ref.is_alive() and not self._stopping.is_set():
                log.error("%s stopped after an unhandled failure; restarting it from the log", self.name)
                self._ref = self._start()
                self.restarts += 1
            return self._ref

    def tell(self, message: Any) -> None:
        try:
            self.ref.tell(message)
        except pykka.ActorDeadError:
            self.ref.tell(message)  # it died between the check and the tell: once more, to the new one

    def ask(self, message: Any, block: bool = True, timeout: float | None = None) -> Any:
        return self.ref.ask(message, block=block, timeout=timeout)

    def proxy(self) -> Any:
        return self.ref.proxy()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self._ref.stop(timeout=timeout)

    def _watch(self, every_s: float) -> None:
        while not self._stopping.wait(every_s):
            try:
                self.ref  # noqa: B018 - the property restarts a dead actor
            except Exception:
                log.exception("restarting %s failed; trying again", self.name)
