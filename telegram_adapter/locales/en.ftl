## English. Telegram HTML: only <b>, <i>, <code>. Parameters arrive escaped.

## --- help, start, language ------------------------------------------------------------------

help =
    <b>Commands</b>
    /start – register (100 free credits)
    /analyze SYMBOL – 1h setup for a pair, e.g. /analyze BTC (20 credits)
    /futures SYMBOL [TF] – setup on 1m 5m 15m 30m 1h 4h 1d (20 credits)
    /signals – scan the 10 most traded USDT pairs (60 credits)
    /credits – balance, tier and autosignal status
    /history – your last 10 signals, charges and outcomes
    /winrate [7d|30d|90d|all] – how the signals did: hit rates, average R after fees
    /autosignal on|off – mute or unmute pushed signals
    /followups on|off – messages when your signals hit a target, the stop or expire
    /chart SYMBOL [TF] – a chart of the current analysis, no trade levels (free)
    /charts on|off – signals as a chart with the text, or as text only
    /language en|id – the bot's language (English, Bahasa Indonesia)
    /buy – credits or premium with Telegram Stars · /paysupport – help with a payment · /terms
    You are charged only when a signal is delivered.
help-admin =
    <b>Admin</b>
    /grant_credits ID N · /set_premium ID 30d|90d|lifetime · /revoke_premium ID
    /grant_autosignal ID 30d · /ban ID · /unban ID · /audit ID · /refund USER_ID CHARGE_ID
    /signal_on · /signal_off · /signal_status · /signal_tick · /cooldown_clear SYMBOL SIDE
    /winrate SYMBOL [7d|30d|90d|all] – one pair's track record (a plain /winrate adds a table per pair)
welcome = Welcome, { $name }! You have { $credits } free credits.
welcome-back = Welcome back, { $name }!
trader = trader
start-privately = To use me, open a private chat with me and send /start there (100 free credits); then ask here again.
private-only = I answer /{ $command } in a private chat, so your balance stays yours: open a private chat with me and send /start there first.
not-registered = Send /start first to register (you get 100 free credits).
unknown-command = I did not understand that. See /help for the commands.
suspended = Your account is suspended. Contact an admin.
something-wrong = Something went wrong; nothing was charged. Please try again.
late = That took too long; please try again. Nothing was charged unless a signal arrives.
not-allowed = Not allowed.
language-now = The bot speaks { $language } to you. Change it with /language { $available }.
language-changed = Done: the bot speaks English to you now.
language-unknown = There is no language "{ $given }". Available: { $available } (e.g. /language id).
language-en = English
language-id = Bahasa Indonesia

## --- the Telegram command menu --------------------------------------------------------------

menu-analyze = 1h setup for a pair (20 credits)
menu-futures = setup on a timeframe (20 credits)
menu-signals = scan the top 10 pairs (60 credits)
menu-credits = balance, tier, autosignals
menu-history = your last signals and their outcomes
menu-winrate = track record: hit rates, average R after fees
menu-followups = on|off: messages when your signals hit TP or stop
menu-chart = chart of a pair's current analysis (free)
menu-charts = on|off: signals as a chart or as text only
menu-language = en|id: the bot's language
menu-buy = buy credits or premium with Telegram Stars
menu-paysupport = help with a payment
menu-terms = terms of purchase
menu-help = all commands

## --- balance --------------------------------------------------------------------------------

balance =
    Balance: { $credits ->
        [one] { $credits } credit
       *[other] { $credits } credits
    }
    Tier: { $tier }
    Autosignals: { $autosignals }
balance-buy = More credits or premium: /buy
tier-free = free
tier-premium = premium until { $until }
tier-lifetime = lifetime premium
autosignals-on = on
autosignals-until = on until { $until }
autosignals-muted = muted (/autosignal on)
autosignals-not-included = not included

## --- signal requests ------------------------------------------------------------------------

usage-analyze = Usage: /analyze SYMBOL, e.g. /analyze BTC
usage-futures = Usage: /futures SYMBOL [TF], TF one of { $intervals }
usage-chart = Usage: /chart SYMBOL [TF], TF one of { $intervals }
usage-signals = Usage: /signals (no arguments)
bad-symbol = A symbol is 2-20 letters or digits, e.g. BTC or ETHUSDT.
bad-timeframe = /{ $command } does not serve the timeframe { $given }. Timeframes are case-sensitive as on Binance (1m is a minute, 1M a month); choose one of { $served }.
rate-limited = At most { $limit } signal requests a minute; retry in { $seconds } s.
insufficient-credits = /{ $command } costs { $cost } credits and your balance is { $balance }. Free credits are topped up to 100 every 7 days; premium plans have no per-signal cost ({ $payments ->
        [on] /buy credits or premium
       *[off] ask an admin
    }).
market-unavailable = Market data is not available right now. Nothing was charged.
unknown-symbol = { $symbol } is not traded on the exchange. Nothing was charged.
not-ready = Market data for { $symbol } is still loading; try again in a minute. Nothing was charged.
capacity = The bot follows as many pairs as it can right now, so { $symbol } cannot be added; try a major pair such as BTC, or again later. Nothing was charged.
short-history = Not enough { $interval } history for { $symbol } yet. Nothing was charged.
analysis-failed = The analysis of { $symbol } failed on our side; please try again later. Nothing was charged.

## --- signals --------------------------------------------------------------------------------

subject = <b>{ $symbol }</b> { $interval } · <b>{ $side }</b>
bullet = • { $item }
smc = <b>SMC</b> { $summary }
smc-rsi = RSI { $rsi }
smc-item = { $name }: { $value }
signal-entry = Entry (market): <code>{ $price }</code>
signal-stop = Stop: <code>{ $price }</code>
signal-tp1 = TP1: <code>{ $price }</code> ({ $r }R)
signal-tp2 = TP2: <code>{ $price }</code> ({ $r }R)
signal-confidence = Confidence: { $confidence }% (chance of TP1 before the stop, calibrated on history)
signal-record = Setups like this: { $pct }% reached TP1 first, { $r }R after fees on average (n = { $n }, backtest { $period })
signal-live = Live: { $pct }% reached TP1 first, { $r }R after fees on average (n = { $n } closed { $what } signals)
signal-why = <b>Why</b>
signal-candle = Candle: { $when }
signal-since = Setup active since { $time } UTC
signal-since-day = Setup active since { $time } UTC on { $date }
footer = <i>Not financial advice: trade at your own risk.</i>
chart-title = chart of the current analysis
chart-levels = Entry, stop and targets: /futures { $symbol } { $interval }
no-setup-title = no setup
no-setup-why = Why: { $reason }
no-setup-bias = Bias: { $bias }
no-setup-default = no qualifying setup
no-credits-charged = No credits were charged.
scan-title = <b>Scan of the top { $count } USDT pairs</b> ({ $interval })
scan-quiet = No setup: { $symbols }
scan-nothing = No setup in any pair: no credits were charged.
direction-bullish = bullish
direction-bearish = bearish
direction-neutral = neutral
reason-order-block = { $direction ->
        [bullish] Bullish
       *[bearish] Bearish
    } order block { $bottom }–{ $top } { $where ->
        [around] with the price inside it
        [below] { $distance_pct }% below the price
       *[above] { $distance_pct }% above the price
    } (candle { $bars_ago ->
        [one] { $bars_ago } bar
       *[other] { $bars_ago } bars
    } ago)
reason-fvg = Close { $price } is inside an unfilled { $direction ->
        [bullish] bullish
       *[bearish] bearish
    } fair value gap { $bottom }–{ $top }
reason-break = { $direction ->
        [bullish] Bullish
       *[bearish] Bearish
    } { $kind } through { $level } ({ $bars_ago ->
        [0] on the last candle
        [one] { $bars_ago } bar ago
       *[other] { $bars_ago } bars ago
    }), close { $direction ->
        [bullish] above
       *[bearish] below
    } EMA50 { $ema50 } (with the trend)
reason-ema21 = Close { $price } is { $where ->
        [above] above
       *[below] below
    } EMA21 { $ema21 }
reason-ema-stack = { $direction ->
        [bullish] EMAs stacked bullish: EMA21 { $ema21 } &gt; EMA50 { $ema50 } &gt; EMA200 { $ema200 }
       *[bearish] EMAs stacked bearish: EMA21 { $ema21 } &lt; EMA50 { $ema50 } &lt; EMA200 { $ema200 }
    }
reason-volume = Volume is { $ratio }x its { $bars }-bar average
reason-rsi = RSI(14) { $rsi }: { $side ->
        [LONG] { $stretched ->
            [yes] overbought
           *[no] not overbought
        } for a LONG (overbought at { $limit } or above)
       *[SHORT] { $stretched ->
            [yes] oversold
           *[no] not oversold
        } for a SHORT (oversold at { $limit } or below)
    }
no-setup-no-trigger = no unfilled order block within { $within_pct }% of { $price }, no unfilled fair value gap around it and no BOS or CHOCH with the trend in the last { $bars } bars
no-setup-conflicting = conflicting evidence: { $votes }
no-setup-no-atr = no ATR yet (too few bars for a { $bars }-bar average true range)
no-setup-stop-rounds-to-zero = the stop distance rounds to zero at this price precision
no-setup-fees-too-high = { $side } setup dropped: its stop { $stop } is { $distance_pct }% away, so the round-trip fees ({ $fee_pct }% of price) would be { $share_pct }% of the risk (at most { $max_share_pct }%)
no-setup-no-room = { $side } setup rejected: the opposing { $zone ->
        [order_block] order block
       *[fvg] fair value gap
    } at { $edge } leaves { $reward_r }R of reward for { $risk } of risk
smc-trend = trend { $trend }
smc-break = { $kind } { $direction } at { $level }
smc-zone = { $label } { $direction } { $bottom }–{ $top }
followup = <b>{ $subject }</b> (candle { $when }): { $what }
followup-tp1 = TP1 hit, { $r }R so far
followup-tp2 = TP2 hit, closed at { $r }R
followup-target = target (TP1) hit, closed at { $r }R
followup-stop = stopped, closed at { $r }R
followup-tp1-then-stop = stopped after TP1, closed at { $r }R
followup-expired = expired after { $bars ->
        [one] { $bars } bar
       *[other] { $bars } bars
    }, closed at { $r }R

## --- history, track record, audit -------------------------------------------------------------

history-title = <b>Your last signals</b>
history-empty = No signals yet. Try /analyze BTC.
history-signal = { $what } · -{ $credits } credits
history-autosignal = { $what } · autosignal
history-revoked = purchase refunded in Stars · -{ $credits } credits
history-bought = bought with Stars · +{ $credits } credits
history-refunded = { $signal } not delivered, refunded · +{ $credits } credits
outcome-open = open
outcome-tp1 = TP1 hit, open
outcome-tp2 = TP2
outcome-target = target (TP1) hit
outcome-stop = stopped
outcome-tp1-then-stop = TP1, then stopped
outcome-expired = expired
winrate-usage = Usage: /winrate [7d|30d|90d|all]
winrate-usage-admin = Usage: /winrate [7d|30d|90d|all] or /winrate SYMBOL [PERIOD]
winrate-no-signals = No signals for { $symbol } in the track record.
winrate-unavailable = The track record is not available right now; try again in a minute.
winrate-title-all = <b>Track record</b> · all signals
winrate-title-days = <b>Track record</b> · closed in the last { $days } days
winrate-auto = <b>Autosignals</b>: { $closed } closed, { $open } open
winrate-manual = <b>Manual signals</b>: { $closed } closed, { $open } open
winrate-rates = TP1 before stop { $tp1 } · TP2 { $tp2 } · stopped { $stopped } · expired { $expired }
winrate-figures = Average { $r }R · profit factor { $pf } · max drawdown { $dd }R
winrate-no-loss = - (no loss)
winrate-by-symbol = <b>By symbol</b> (closed · TP1 first · avg R · profit factor · max DD)
winrate-note = R: the result in units of the signal's risk (entry to stop), after fees; entries at market.
audit-title = <b>Ledger of { $user }</b>
audit-empty = (empty)

## --- admin ----------------------------------------------------------------------------------

admin-usage = Usage: { $usage }
admin-done = Done: /{ $command } { $user }.
cannot-ban-admin = An admin cannot be banned, yourself included (remove the id from ADMIN_IDS first).
not-registered-user = User { $user } is not registered (they need to send /start).
amount-out-of-range = The amount must be between 1 and { $max }.
unknown-period = The period is one of 30d, 90d, lifetime.
days-out-of-range = The period must be between 1 and { $max } days.
bad-days = A period looks like 30d (1 to { $max } days).
no-premium = User { $user } has no premium to revoke.
no-such-payment = User { $user } made no Stars payment { $charge }.
refund-requested = Refund of { $charge } to user { $user } requested.
refund-already-requested = Refund of { $charge } to user { $user } was already requested.
refund-unrecoverable = { $credits } credits of it were already spent and cannot be taken back.

## --- autosignals ----------------------------------------------------------------------------

autosignal-usage = Usage: /autosignal on|off
autosignal-muted = Autosignals muted. /autosignal on to resume.
autosignal-on = Autosignals are on.
autosignal-not-included = Autosignals unmuted, but your plan does not include them (lifetime or an admin grant).
charts-usage = Usage: /charts on|off
charts-on = Charts are on: each signal comes as a chart with the text.
charts-off = Charts are off: signals come as text. /charts on to get them again.
language-usage = Usage: /language en|id
bad-side = The side is LONG or SHORT, not { $side }.
not-a-paid-signal = { $signal } is not a paid signal of user { $user }.
followups-usage = Usage: /followups on|off
followups-on = Follow-ups are on: a line when a delivered signal hits TP1, TP2, the stop or expires.
followups-off = Follow-ups are off. /followups on to get them again.
autosignals-not-running = Autosignals are not running.
autosignal-admin-usage = Autosignal commands: /signal_on, /signal_off, /signal_status, /signal_tick, /cooldown_clear SYMBOL [LONG|SHORT]
signals-enabled = Autosignals are on.
signals-enabled-idle = Autosignals are on. None on { $interval } though: { $why }.
signals-already-enabled-idle = Autosignals were already on. None on { $interval } though: { $why }.
status-policy-off = Interval: { $interval }: no autosignals ({ $why })
decision-policy-off = no autosignals on { $interval }: { $why }
signals-disabled = Autosignals are off.
signals-already-enabled = Autosignals were already on.
signals-already-disabled = Autosignals were already off.
cooldown-usage = Usage: /cooldown_clear SYMBOL [LONG|SHORT]
cooldown-bad-symbol = Usage: /cooldown_clear SYMBOL [LONG|SHORT] (SYMBOL: 2-20 letters or digits)
cooldown-bad-side = Usage: /cooldown_clear SYMBOL [LONG|SHORT] (side must be LONG or SHORT)
cooldown-cleared = Cooldown cleared: { $symbol } { $side }.
cooldown-cleared-both = Cooldown cleared: { $symbol } (both sides).
no-cooldown = { $side ->
        [LONG] No active cooldown for { $symbol } LONG.
        [SHORT] No active cooldown for { $symbol } SHORT.
       *[other] No active cooldown for { $symbol }.
    }
watchlist-empty = The watchlist is empty: no candles seen yet.
tick-title = Tick on the last closed candles:
status-enabled = Autosignals: { $on ->
        [yes] on
       *[no] off
    }
status-watchlist = Watchlist ({ $count }): { $symbols }
status-policy = Interval: { $interval }; min confidence { $confidence }; cooldown { $minutes } min
status-cooldowns = Active cooldowns ({ $count }):
status-cooldown = { $symbol } { $side } until { $until }
status-today = Signals today: { $count }
status-recipients = Recipients now: { $count }
status-pending = Pending deliveries: { $count }
status-market = Market time: { $when }
decision-issued = issued { $signal } to { $recipients ->
        [one] { $recipients } recipient
       *[other] { $recipients } recipients
    }
decision-no-setup = no setup: { $reason }
decision-disabled = autosignals are off
decision-uncalibrated = no calibrated confidence (analyzed without a strategy file)
decision-low-confidence = confidence { $confidence } below { $min }
decision-previous-bar = { $side } was auto-issued on the previous bar
decision-repeated-setup = setup already issued ({ $triggers })
decision-cooldown = { $side } in cooldown until { $until }
decision-already-decided = already decided for this candle
decision-shutting-down = not issued: shutting down
decision-timeout = failed: no answer within { $seconds } s
decision-feed-error = failed: the feed said { $reason }
decision-no-candles = failed: the feed returned no candles
decision-missing-candle = failed: the feed has no candle at { $when }
decision-analysis-failed = failed: the analysis failed ({ $reason })
decision-bad-answer = failed: an unexpected answer ({ $answer })
decision-unavailable = failed: { $actor } is unavailable ({ $error })
decision-error = failed: { $error }
decision-concurrent-write = not persisted: the autosignal stream changed underneath; reloaded, try again
decision-not-persisted = not persisted: { $error }

## --- payments -------------------------------------------------------------------------------

payments-unavailable = Payments are not available right now. Nothing was charged.
lifetime-buys-nothing = You have lifetime premium: every analysis is free and autosignals are included. There is nothing you need to buy.
buy-choose =
    <b>Buy with Telegram Stars</b>
    Choose a pack; Telegram asks you to confirm the payment.
    /terms · /paysupport
payment-not-recorded = Your payment reached us but could not be recorded yet. Please contact /paysupport with the date: nothing is lost.
pack-unknown = That pack is no longer on sale. Send /buy to see the current packs.
terms =
    <b>Terms</b>
    Credits and premium are digital goods for this bot, paid in Telegram Stars. Credits pay for analyses; premium makes every analysis free until it ends. Signals are information, not financial advice. A purchase that cannot be delivered is refunded in Stars; for any other question about a payment use /paysupport.
checkout-bad-payload = This invoice is not valid. Please send /buy and choose a pack again.
checkout-no-pack = This pack is no longer on sale. Please send /buy to see the current packs.
checkout-price-changed = The price of this pack has changed. Please send /buy to get a new invoice.
checkout-other-user = This invoice was issued to another user. Please send /buy yourself.
checkout-banned = Your account is suspended, so it cannot buy anything. Contact /paysupport.
pack-credits = { $credits } credits · { $stars } ⭐
pack-premium = { $days } days premium · { $stars } ⭐
invoice-credits = { $credits } credits
invoice-premium = { $days } days of premium
invoice-credits-about = { $credits } credits for signalbot analyses (an /analyze costs 20). They never expire.
invoice-premium-about = { $days } days of premium: every analysis free. Extends any premium you already have.
paysupport = <b>Payment support</b>
    For a question about a payment or a refund, write to { $contact }. Please include the date and the pack.
paysupport-admin = an admin of this bot
receipt =
    ✅ Payment received: { $pack }.
    Balance: { $credits ->
        [one] { $credits } credit
       *[other] { $credits } credits
    }
    Tier: { $tier }
receipt-refunded = Thank you. This payment cannot be honoured, so your Stars are being refunded. /paysupport
