"""CandleBook: whatever the stream does (drop, repeat, reorder) and whenever REST answers,
the accepted candles are exactly the exchange's closed candles, in order, once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.messages import Kline
from marketdata.candle_book import CandleBook, Offer

STEP = 60_000


def closed(i: int) -> Kline:
    return Kline(i * STEP, i * STEP + STEP - 1, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 10.0 + i)


def in_progress(i: int) -> Kline:
    return Kline(i * STEP, i * STEP + STEP - 1, 100.0 + i, 100.2 + i, 99.9 + i, 100.1 + i, 1.0)


def rest_answer(present: list[bool], start: int, server_now: int) -> list[Kline]:
    """What /klines returns from `start`: closed rows, then the row still in progress (if any)."""
    rows = []
    for i, exists in enumerate(present):
        if exists and i * STEP >= start and i * STEP <= server_now:
            rows.append(closed(i) if (i + 1) * STEP <= server_now else in_progress(i))
    return rows


def test_in_order_duplicates_and_gaps():
    book = CandleBook("BTCUSDT", "1m", 10)
    assert book.offer(closed(0), hold=False) is Offer.HELD  # nothing is known before the first REST answer
    assert [k.open_time for k, _ in book.merge([closed(0), in_progress(1)], server_now=STEP + 5)] == [0]
    assert book.live == in_progress(1)
    assert book.offer(closed(1), hold=False) is Offer.ACCEPTED
    assert book.offer(closed(1), hold=False) is Offer.DUPLICATE
    assert book.offer(closed(3), hold=False) is Offer.GAP
    assert book.offer(closed(5), hold=True) is Offer.HELD
    merged = book.merge([closed(2), closed(3)], server_now=4 * STEP + 1)
    assert [(k.open_time // STEP, rest) for k, rest in merged] == [(2, True), (3, False)]
    assert book.pending == {5 * STEP: closed(5)}  # 4 closed after that REST answer: 5 must wait
    merged = book.merge([closed(4), closed(5)], server_now=6 * STEP)
    assert [(k.open_time // STEP, rest) for k, rest in merged] == [(4, True), (5, False)]
    assert list(book.buffer.snapshot().open_time // STEP) == [0, 1, 2, 3, 4, 5]


def test_a_real_outage_is_accepted_once_rest_confirms_it():
    book = CandleBook("BTCUSDT", "1m", 10)
    book.merge([closed(0)], server_now=STEP)
    assert book.offer(closed(5), hold=False) is Offer.GAP
    assert [k.open_time // STEP for k, _ in book.merge([closed(5)], server_now=6 * STEP)] == [5]
    assert book.offer(closed(6), hold=False) is Offer.ACCEPTED
    assert book.offer_live(in_progress(9)) is True  # 7 and 8 should have closed by now
    assert book.offer_live(in_progress(7)) is False


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_stream_and_rest_timing_yields_exactly_the_closed_candles(data):
    n = data.draw(st.integers(3, 40), label="candles")
    present = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any), label="exists")
    fate = st.sampled_from(["ok", "ok", "ok", "drop", "twice", "late"])
    fates = data.draw(st.lists(fate, min_size=n, max_size=n), label="fates")
    answer_delay = st.integers(0, 3)
    start = data.draw(st.integers(0, n - 1), label="history")

    book = CandleBook("BTCUSDT", "1m", 100)
    accepted: list[Kline] = []
    due: int | None = start  # the initial REST load happens at the start
    late: list[Kline] = []

    def answer(step_index: int) -> None:
        nonlocal due
        server_now = (step_index + 1) * STEP
        begin = 0 if book.last_open is None else book.last_open + STEP
        accepted.extend(k for k, _ in book.merge(rest_answer(present, begin, server_now), server_now))
        due = step_index + 1 if book.pending else None

    for i in range(start, n):
        frames = list(late)
        late.clear()
        if present[i]:
            match fates[i]:
                case "ok":
                    frames.append(closed(i))
                case "twice":
                    frames += [closed(i), closed(i)]
                case "late":
                    late.append(closed(i))
        for k in frames:
            verdict = book.offer(k, hold=due is not None)
            if verdict is Offer.ACCEPTED:
                accepted.append(k)
            elif verdict is Offer.GAP and due is None:
                due = i + data.draw(answer_delay, label="answer delay")
        if data.draw(st.booleans(), label="reconnect") and due is None:
            due = i  # a reconnect backfills
        if due is not None and due <= i:
            answer(i)
    answer(n)  # later on, a reconnect (or the next candle's gap) asks REST once more
    for extra in range(n + 1, n + 5):
        if not book.pending:
            break
        answer(extra)

    assert accepted == [closed(i) for i in range(n) if present[i]]  # all, in order, once, never partial
    assert not book.pending
