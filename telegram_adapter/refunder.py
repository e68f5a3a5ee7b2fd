"""The refund worker: calls `refundStarPayment` for every Stars refund the log says is owed.

Like the Sender it never writes a user stream: it folds `PaymentsView` from the log (catching up
at start, so refunds requested before a crash are resumed), calls Telegram with bounded retries
(timeouts, 5xx, 429 with `retry_after`), takes `CHARGE_ALREADY_REFUNDED` as done, and tells
Sessions the outcome, whose UserSession records `StarsRefunded` or `RefundFailed` once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from actors.messages import RefundSettled
from domain.payments import OwedStarRefund, PaymentsView
from eventstore import EventStore
from telegram_adapter.follow import catch_up, on_loop
from telegram_adapter.send_errors import Retry, describe, outcome

log = logging.getLogger(__name__)

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


class RefundWorker:
    """Owns the PaymentsView projection (bans and pending refunds) on the adapter's loop."""

    def __init__(self, bot: Any, store: EventStore, sessions: Any, max_attempts: int = 6,
                 backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.bot = bot
        self.store = store
        self.sessions = sessions
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.view = PaymentsView()
        self._started: set[str] = set()  # charges being refunded now (a new RefundRequested after a failure
        # starts again)
        self._tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscription: Any = None

    async def start(self) -> None:
        """Fold the log, follow new events, and call for every refund still owed."""
        self._loop = asyncio.get_running_loop()
        await catch_up(self.store, self.view.apply, lambda: self.view.position)
        self._subscription = self.store.subscribe(on_loop(self._loop, self._apply), self.view.position)
        for owed in list(self.view.pending.values()):
            self._launch(owed)

    async def stop(self, grace: float = 2.0) -> None:
        if self._subscription is not None:
            self.store.unsubscribe(self._subscription)
            self._subscription = None
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in list(self._tasks):
            task.cancel()

    def _apply(self, records: list[Any]) -> None:
        for rec in records:
            for owed in self.view.apply(rec):
                self._launch(owed)

    def _launch(self, owed: OwedStarRefund) -> None:
        if owed.charge_id in self._started or self._loop is None:
            return
        self._started.add(owed.charge_id)
        task = self._loop.create_task(self._refund(owed))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, owed.charge_id))

    def _finished(self, task: asyncio.Task, charge_id: str) -> None:
        self._tasks.discard(task)
        self._started.discard(charge_id)

    async def _refund(self, owed: OwedStarRefund) -> None:
        ok, reason = await self._call(owed)
        log.info("refund of %s to user %s: %s", owed.charge_id, owed.user_id, "done" if ok else reason)
        self.sessions.tell(RefundSettled(owed.user_id, owed.charge_id, ok, reason))

    async def _call(self, owed: OwedStarRefund) -> tuple[bool, str]:
        """(True, "") once Telegram refunded (now or before), else (False, why) after bounded retries."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self.bot.refund_star_payment(user_id=owed.user_id, telegram_payment_charge_id=owed.charge_id)
                return True, ""
            except Exception as exc:
                if ALREADY_REFUNDED in str(exc):
                    return True, ""
                decided = outcome(exc)
                if not isinstance(decided, Retry):
                    return False, describe(exc)
                if attempt == self.max_attempts:
                    return False, f"{decided.reason}: {describe(exc)}"
                wait = decided.wait if decided.wait is not None else self.backoff * 2 ** (attempt - 1)
                log.warning("refund of %s failed (%s); retrying in %.1f s", owed.charge_id, describe(exc), wait)
                await asyncio.sleep(min(wait, self.max_backoff))
        return False, "no attempt"
