"""A supervised actor that dies of an unhandled failure is restarted; a stopped one stays stopped."""

from __future__ import annotations

import time

import pykka
import pytest

from actors.supervisor import Supervisor

pytestmark = pytest.mark.timeout(30)


class Fragile(pykka.ThreadingActor):
    def on_receive(self, message):
        if message == "boom":
            raise RuntimeError("a bug the actor did not handle")
        return f"ok {message}"


def test_a_dead_actor_is_restarted_and_answers_again():
    supervisor = Supervisor("fragile", Fragile.start, check_every_s=0.02)
    try:
        first = supervisor.ref
        supervisor.tell("boom")
        deadline = time.monotonic() + 5
        while supervisor.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert supervisor.restarts == 1 and not first.is_alive()
        assert supervisor.ask("ping", timeout=5) == "ok ping"
    finally:
        supervisor.stop()
    time.sleep(0.1)
    assert not supervisor.ref.is_alive() and supervisor.restarts == 1
    pykka.ActorRegistry.stop_all()
