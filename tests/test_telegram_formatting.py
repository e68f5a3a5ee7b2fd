"""Message texts: escaping, precision, splitting, command parsing."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.messages import Reply
from analysis.candles import load_csv
from analysis.strategy import analyze
from domain.language import LANGUAGES
from domain.user import DAY_MS, UserState, account
from telegram_adapter import catalogue
from telegram_adapter import formatting as fmt
from telegram_adapter.commands import addressed_to, parse
from telegram_adapter.render import render
from telegram_adapter.signal_text import no_setup_text, reason_text, scan_text, signal_text
from tests.fakes.bot_api import html_error
from tests.fakes.telegram_stack import SIGNAL

hostile = st.text(max_size=80)


def test_signal_text_shows_every_part_at_the_symbol_precision():
    text = signal_text(SIGNAL, "en")
    for part in ["<b>ETHUSDT</b> 15m", "<b>LONG</b>", "Entry (market): <code>3,567.12</code>",
                 "Stop: <code>3,540.50</code>", "TP1: <code>3,600.00</code> (1.2R)",
                 "TP2: <code>3,650.00</code> (3.1R)",
                 "Confidence: 78% (chance of TP1 before the stop, calibrated on history)",
                 "bullish &lt;BOS&gt; &amp; FVG", "trend up", "Candle: Nov 27, 2024 13:00 UTC",
                 catalogue.text("en", "footer")]:
        assert part in text, part
    assert html_error(text) is None
    assert "0.00001234" in signal_text({**SIGNAL, "entry": 0.00001234, "precision": 8}, "en")
    assert "<code>0.1235</code>" in signal_text({**SIGNAL, "entry": 0.12345, "precision": 0.0001}, "en")


def test_one_target_when_tp2_is_null_and_the_entry_says_market():
    text = signal_text({**SIGNAL, "tp2": None, "rr2": None}, "en")
    assert "Entry (market): <code>3,567.12</code>" in text and "TP1: <code>3,600.00</code> (1.2R)" in text
    assert "TP2" not in text and text.count("<code>") == 3
    assert "Confidence" not in signal_text({**SIGNAL, "confidence": None}, "en")  # analyzed without a model


def test_a_signal_says_what_setups_like_it_did():
    record = {"band": "40-49", "n": 1204, "tp1_first_pct": 44.2, "avg_r": 0.081, "period": "2021–2023"}
    text = signal_text({**SIGNAL, "record": record}, "en")
    assert ("Setups like this: 44% reached TP1 first, +0.08R after fees on average (n = 1,204, backtest "
            "2021–2023)") in text
    assert "Setups like this" not in signal_text(SIGNAL, "en")


def test_a_signal_says_since_when_its_setup_is_active():
    same_day = {**SIGNAL, "setup": {"id": "LONG:OB:1", "triggers": ["LONG:OB:1"], "since": 1732698000000}}
    assert "Setup active since 09:00 UTC\n" in signal_text(same_day, "en")
    days_before = {**SIGNAL, "setup": {"since": 1732698000000 - 86_400_000}}
    assert "Setup active since 09:00 UTC on Nov 26, 2024" in signal_text(days_before, "en")
    assert "active since" not in signal_text(SIGNAL, "en")  # a signal logged before setups had an identity


@settings(max_examples=60, deadline=None)
@given(symbol=hostile, reason=hostile, key=hostile, value=hostile, username=hostile)
def test_market_and_user_strings_are_escaped(symbol, reason, key, value, username):
    signal = {**SIGNAL, "symbol": symbol, "reasons": [reason], "smc": {key: value}, "side": reason}
    read = {"symbol": symbol, "interval": reason, "reason": reason, "bias": value, "smc": {key: [value]}}
    texts = [signal_text(signal, "en"), no_setup_text(read, "en"),
             scan_text({"kind": "scan", "interval": "1h", "symbols": [symbol], "signals": [signal],
                        "no_setup": [read]}, "en"),
             render(Reply("welcome", {"name": username, "credits": 100}))]
    for text in texts:
        assert html_error(text) is None, text


def test_real_strategy_output_formats_cleanly_in_both_languages(shared_klines):
    """The analysis' reasons reach each reader in their language: an Indonesian signal and market read carry the
    id catalogue's words for every reason and no English sentence."""
    candles = load_csv(shared_klines / "azmath606961__hawk-crypto-bot" / "data" / "BTCUSDT_1h.csv",
                       symbol="BTCUSDT", interval="1h")
    found: dict[str, dict] = {}
    for end in range(500, len(candles), 37):
        result = analyze(candles[end - 500:end]).to_dict()
        found.setdefault("signal" if "side" in result else "none", result)
        if len(found) == 2:
            break
    digits = found["signal"]["precision"]
    for lang in LANGUAGES:
        signal, read = signal_text(found["signal"], lang), no_setup_text(found["none"], lang)
        for text in (signal, read):
            assert html_error(text) is None and "trend " in text
        assert catalogue.text(lang, "signal-why") in signal
        for reason in found["signal"]["reasons"]:
            assert catalogue.text(lang, "bullet", item=reason_text(reason, lang, digits)) in signal
        assert reason_text(found["none"]["reason"], lang) in read
    assert f"Entry (market): <code>{found['signal']['entry']:,.{digits}f}</code>" in signal_text(found["signal"], "en")
    indonesian = signal_text(found["signal"], "id") + no_setup_text(found["none"], "id")
    assert "Alasan" in indonesian and not ENGLISH.findall(indonesian)


ENGLISH = re.compile(r"\b(?:Why|is|the|of|and|with|price|above|below|inside|ago|bars|evidence|stacked|setup "
                     r"(?:dropped|rejected)|not (?:overbought|oversold)|its)\b")


def test_split_text_on_line_boundaries():
    lines = [f"line {i} " + "x" * (i % 70) for i in range(400)]
    pieces = fmt.split_text("\n".join(lines))
    assert len(pieces) > 1 and all(len(p) <= fmt.TEXT_LIMIT for p in pieces)
    assert "\n".join(pieces) == "\n".join(lines)
    assert fmt.split_text("short") == ["short"]
    long_line = fmt.split_text("y" * 9000)
    assert [len(p) for p in long_line] == [4096, 4096, 808]


def credits_text(state: UserState, now: int, lang: str = "en", payments: bool = True) -> str:
    return render(Reply("balance", account(state, now), lang), payments)


def test_credits_text_tiers():
    now = 1_732_000_000_000
    free = UserState(1, registered=True, credits=40)
    assert credits_text(free, now) == ("Balance: 40 credits\nTier: free\nAutosignals: not included\n"
                                       "More credits or premium: /buy")
    assert credits_text(free, now, payments=False).endswith("Autosignals: not included")
    premium = UserState(1, registered=True, credits=40, premium_until=now + DAY_MS, autosignal_until=now + DAY_MS)
    assert "Tier: premium until Nov 20, 2024" in credits_text(premium, now)
    assert "Autosignals: on until Nov 20, 2024" in credits_text(premium, now)
    lifetime = UserState(1, registered=True, lifetime=True, muted=True, credits=1)
    assert credits_text(lifetime, now).endswith("Balance: 1 credit\nTier: lifetime premium\n"
                                                "Autosignals: muted (/autosignal on)")
    rich = UserState(1, registered=True, credits=1_234_567, premium_until=now + DAY_MS)
    assert credits_text(rich, now, "id").startswith("Saldo: 1.234.567 kredit\nPaket: premium sampai 20 Nov 2024")


def test_indonesian_prices_keep_the_tick_precision_with_the_locale_separators():
    worded = signal_text(SIGNAL, "id")
    for part in ["Entry (market): <code>3.567,12</code>", "Stop loss: <code>3.540,50</code>",
                 "TP1: <code>3.600,00</code> (1,2R)", "Candle: 27 Nov 2024 13.00 UTC", "<b>Alasan</b>"]:
        assert part in worded, part
    assert "<code>0,00001234</code>" in signal_text({**SIGNAL, "entry": 0.00001234, "precision": 8}, "id")


def test_parse_commands():
    assert parse("/Analyze@fake_signal_bot btc") == ("analyze", ("btc",))
    assert parse("/futures  eth   4h") == ("futures", ("eth", "4h"))
    assert parse("hello /start") == ("", ())
    assert parse("") == ("", ()) and parse(None) == ("", ())
    assert parse("/x " + " ".join("a" * 20))[1] == ("a",) * 8


def test_a_group_command_is_ours_without_a_suffix_or_with_our_username():
    assert addressed_to("/analyze btc", "fake_signal_bot")
    assert addressed_to("/credits@Fake_Signal_Bot", "fake_signal_bot")
    assert not addressed_to("/analyze@some_other_bot btc", "fake_signal_bot")
    assert not addressed_to("hello /analyze", "fake_signal_bot") and not addressed_to(None, "fake_signal_bot")


def test_short_of_credits_points_to_buy_only_while_payments_are_on():
    short = Reply("insufficient_credits", {"command": "analyze", "cost": 20, "balance": 0}, refused=True)
    assert render(short, payments=True).endswith("no per-signal cost (/buy credits or premium).")
    assert render(short).endswith("no per-signal cost (ask an admin).")
    assert render(replace(short, language="id")).endswith("tanpa biaya per sinyal (minta ke admin).")
    assert render(replace(short, language="id"), payments=True).endswith("(/buy kredit atau premium).")
