## Bahasa Indonesia, menyapa pengguna dengan "kamu". Istilah trading (entry, stop loss, take profit,
## order block, long/short, TP1, R) tetap dalam bahasa Inggris seperti yang dipakai trader.

## --- help, start, language ------------------------------------------------------------------

help =
    <b>Perintah</b>
    /start – daftar (100 kredit gratis)
    /analyze SYMBOL – setup 1h untuk satu pair, mis. /analyze BTC (20 kredit)
    /futures SYMBOL [TF] – setup di 1m 5m 15m 30m 1h 4h 1d (20 kredit)
    /signals – scan 10 pair USDT paling ramai (60 kredit)
    /credits – saldo, paket, dan status autosignal
    /history – 10 sinyal terakhirmu, biaya, dan hasilnya
    /winrate [7d|30d|90d|all] – performa sinyal: hit rate, rata-rata R setelah fee
    /autosignal on|off – bisukan atau aktifkan lagi sinyal otomatis
    /followups on|off – pesan saat sinyalmu kena target, stop, atau kedaluwarsa
    /chart SYMBOL [TF] – chart analisis terkini, tanpa level trading (gratis)
    /charts on|off – sinyal sebagai chart beserta teksnya, atau teks saja
    /language en|id – bahasa bot (English, Bahasa Indonesia)
    /buy – kredit atau premium dengan Telegram Stars · /paysupport – bantuan pembayaran · /terms
    Kredit hanya dipotong kalau sinyal terkirim.
help-admin =
    <b>Admin</b>
    /grant_credits ID N · /set_premium ID 30d|90d|lifetime · /revoke_premium ID
    /grant_autosignal ID 30d · /ban ID · /unban ID · /audit ID · /refund USER_ID CHARGE_ID
    /signal_on · /signal_off · /signal_status · /signal_tick · /cooldown_clear SYMBOL SIDE
    /winrate SYMBOL [7d|30d|90d|all] – track record satu pair (/winrate saja menambah tabel per pair)
welcome = Selamat datang, { $name }! Kamu punya { $credits } kredit gratis.
welcome-back = Selamat datang kembali, { $name }!
trader = trader
start-privately = Untuk memakai bot ini, buka chat pribadi dengan saya dan kirim /start di sana (100 kredit gratis); lalu tanya lagi di sini.
private-only = /{ $command } saya jawab di chat pribadi supaya saldomu tidak dilihat orang lain: buka chat pribadi dengan saya dan kirim /start dulu di sana.
not-registered = Kirim /start dulu untuk mendaftar (kamu dapat 100 kredit gratis).
unknown-command = Saya tidak mengerti. Lihat /help untuk daftar perintah.
suspended = Akunmu sedang ditangguhkan. Hubungi admin.
something-wrong = Ada yang salah; tidak ada kredit yang dipotong. Silakan coba lagi.
late = Prosesnya terlalu lama; silakan coba lagi. Kredit tidak dipotong kecuali sinyalnya datang.
not-allowed = Tidak diizinkan.
language-now = Bot berbicara dalam { $language } denganmu. Ganti dengan /language { $available }.
language-changed = Beres: bot sekarang memakai Bahasa Indonesia.
language-unknown = Bahasa "{ $given }" tidak tersedia. Pilihan: { $available } (mis. /language en).
language-en = English
language-id = Bahasa Indonesia

## --- the Telegram command menu --------------------------------------------------------------

menu-analyze = setup 1h untuk satu pair (20 kredit)
menu-futures = setup di timeframe pilihan (20 kredit)
menu-signals = scan 10 pair teratas (60 kredit)
menu-credits = saldo, paket, autosignal
menu-history = sinyal terakhirmu dan hasilnya
menu-winrate = track record: hit rate, rata-rata R setelah fee
menu-followups = on|off: pesan saat sinyalmu kena TP atau stop
menu-chart = chart analisis terkini satu pair (gratis)
menu-charts = on|off: sinyal sebagai chart atau teks saja
menu-language = en|id: bahasa bot
menu-buy = beli kredit atau premium dengan Telegram Stars
menu-paysupport = bantuan pembayaran
menu-terms = syarat pembelian
menu-help = semua perintah

## --- balance --------------------------------------------------------------------------------

balance =
    Saldo: { $credits } kredit
    Paket: { $tier }
    Autosignal: { $autosignals }
balance-buy = Tambah kredit atau premium: /buy
tier-free = gratis
tier-premium = premium sampai { $until }
tier-lifetime = premium seumur hidup
autosignals-on = aktif
autosignals-until = aktif sampai { $until }
autosignals-muted = dibisukan (/autosignal on)
autosignals-not-included = tidak termasuk

## --- signal requests ------------------------------------------------------------------------

usage-analyze = Cara pakai: /analyze SYMBOL, mis. /analyze BTC
usage-futures = Cara pakai: /futures SYMBOL [TF], TF salah satu dari { $intervals }
usage-chart = Cara pakai: /chart SYMBOL [TF], TF salah satu dari { $intervals }
usage-signals = Cara pakai: /signals (tanpa argumen)
bad-symbol = Simbol terdiri dari 2-20 huruf atau angka, mis. BTC atau ETHUSDT.
bad-timeframe = /{ $command } tidak melayani timeframe { $given }. Timeframe membedakan huruf besar dan kecil seperti di Binance (1m itu menit, 1M itu bulan); pilih salah satu dari { $served }.
rate-limited = Maksimal { $limit } permintaan sinyal per menit; coba lagi dalam { $seconds } detik.
insufficient-credits = /{ $command } butuh { $cost } kredit, sedangkan saldomu { $balance }. Kredit gratis diisi ulang sampai 100 setiap 7 hari; paket premium tanpa biaya per sinyal ({ $payments ->
        [on] /buy kredit atau premium
       *[off] minta ke admin
    }).
market-unavailable = Data market sedang tidak tersedia. Tidak ada kredit yang dipotong.
unknown-symbol = { $symbol } tidak diperdagangkan di exchange. Tidak ada kredit yang dipotong.
not-ready = Data market { $symbol } masih dimuat; coba lagi sebentar lagi. Tidak ada kredit yang dipotong.
capacity = Bot sedang mengikuti pair sebanyak yang ia mampu, jadi { $symbol } belum bisa ditambahkan; coba pair besar seperti BTC, atau nanti lagi. Tidak ada kredit yang dipotong.
short-history = Riwayat { $interval } untuk { $symbol } belum cukup. Tidak ada kredit yang dipotong.
analysis-failed = Analisis { $symbol } gagal karena kendala di sistem kami; coba lagi nanti. Tidak ada kredit yang dipotong.

## --- signals --------------------------------------------------------------------------------

subject = <b>{ $symbol }</b> { $interval } · <b>{ $side }</b>
bullet = • { $item }
smc = <b>SMC</b> { $summary }
smc-rsi = RSI { $rsi }
smc-item = { $name }: { $value }
signal-entry = Entry (market): <code>{ $price }</code>
signal-stop = Stop loss: <code>{ $price }</code>
signal-tp1 = TP1: <code>{ $price }</code> ({ $r }R)
signal-tp2 = TP2: <code>{ $price }</code> ({ $r }R)
signal-confidence = Confidence: { $confidence }% (peluang TP1 tercapai sebelum stop, dikalibrasi dari data historis)
signal-record = Setup serupa: { $pct }% mencapai TP1 lebih dulu, rata-rata { $r }R setelah fee (n = { $n }, backtest { $period })
signal-live = Live: { $pct }% mencapai TP1 lebih dulu, rata-rata { $r }R setelah fee (n = { $n } sinyal { $what } yang sudah ditutup)
signal-why = <b>Alasan</b>
signal-candle = Candle: { $when }
signal-since = Setup aktif sejak { $time } UTC
signal-since-day = Setup aktif sejak { $time } UTC tanggal { $date }
footer = <i>Bukan saran keuangan: risiko trading ditanggung sendiri.</i>
chart-title = chart analisis terkini
chart-levels = Entry, stop loss, dan target: /futures { $symbol } { $interval }
no-setup-title = tidak ada setup
no-setup-why = Alasan: { $reason }
no-setup-bias = Bias: { $bias }
no-setup-default = tidak ada setup yang memenuhi syarat
no-credits-charged = Tidak ada kredit yang dipotong.
scan-title = <b>Scan { $count } pair USDT teratas</b> ({ $interval })
scan-quiet = Tanpa setup: { $symbols }
scan-nothing = Tidak ada setup di pair mana pun: tidak ada kredit yang dipotong.
direction-bullish = bullish
direction-bearish = bearish
direction-neutral = netral
reason-order-block = Order block { $direction ->
        [bullish] bullish
       *[bearish] bearish
    } { $bottom }–{ $top } { $where ->
        [around] yang sedang diuji harga
        [below] berjarak { $distance_pct }% di bawah harga
       *[above] berjarak { $distance_pct }% di atas harga
    } (candle { $bars_ago } bar yang lalu)
reason-fvg = Close { $price } masih di dalam fair value gap { $direction ->
        [bullish] bullish
       *[bearish] bearish
    } yang belum terisi ({ $bottom }–{ $top })
reason-break = { $kind } { $direction ->
        [bullish] bullish
       *[bearish] bearish
    } menembus { $level } ({ $bars_ago ->
        [0] di candle terakhir
       *[other] { $bars_ago } bar yang lalu
    }), close { $direction ->
        [bullish] di atas
       *[bearish] di bawah
    } EMA50 { $ema50 } (searah trend)
reason-ema21 = Close { $price } { $where ->
        [above] di atas
       *[below] di bawah
    } EMA21 { $ema21 }
reason-ema-stack = { $direction ->
        [bullish] Susunan EMA bullish: EMA21 { $ema21 } &gt; EMA50 { $ema50 } &gt; EMA200 { $ema200 }
       *[bearish] Susunan EMA bearish: EMA21 { $ema21 } &lt; EMA50 { $ema50 } &lt; EMA200 { $ema200 }
    }
reason-volume = Volume { $ratio }x rata-rata { $bars } bar terakhir
reason-rsi = RSI(14) { $rsi }: { $side ->
        [LONG] { $stretched ->
            [yes] sudah overbought
           *[no] belum overbought
        } untuk LONG (overbought di { $limit } ke atas)
       *[SHORT] { $stretched ->
            [yes] sudah oversold
           *[no] belum oversold
        } untuk SHORT (oversold di { $limit } ke bawah)
    }
no-setup-no-trigger = tidak ada order block yang belum termitigasi dalam jarak { $within_pct }% dari { $price }, tidak ada fair value gap yang belum terisi di sekitarnya, dan tidak ada BOS atau CHOCH searah trend dalam { $bars } bar terakhir
no-setup-conflicting = sinyalnya saling bertentangan: { $votes }
no-setup-no-atr = ATR belum ada (bar belum cukup untuk ATR { $bars } bar)
no-setup-stop-rounds-to-zero = jarak stop loss jadi nol setelah dibulatkan ke presisi harga ini
no-setup-fees-too-high = Setup { $side } dibatalkan: stop loss di { $stop } hanya berjarak { $distance_pct }%, jadi fee buka-tutup posisi ({ $fee_pct }% dari harga) akan memakan { $share_pct }% dari risiko (maksimal { $max_share_pct }%)
no-setup-no-room = Setup { $side } ditolak: { $zone ->
        [order_block] order block
       *[fvg] fair value gap
    } lawan di { $edge } hanya menyisakan reward { $reward_r }R untuk risiko { $risk }
smc-trend = trend { $trend }
smc-break = { $kind } { $direction } di { $level }
smc-zone = { $label } { $direction } { $bottom }–{ $top }
followup = <b>{ $subject }</b> (candle { $when }): { $what }
followup-tp1 = TP1 tercapai, sejauh ini { $r }R
followup-tp2 = TP2 tercapai, ditutup di { $r }R
followup-target = target (TP1) tercapai, ditutup di { $r }R
followup-stop = kena stop loss, ditutup di { $r }R
followup-tp1-then-stop = kena stop loss setelah TP1, ditutup di { $r }R
followup-expired = kedaluwarsa setelah { $bars } bar, ditutup di { $r }R

## --- history, track record, audit -------------------------------------------------------------

history-title = <b>Sinyal terakhirmu</b>
history-empty = Belum ada sinyal. Coba /analyze BTC.
history-signal = { $what } · -{ $credits } kredit
history-autosignal = { $what } · autosignal
history-revoked = pembelian dikembalikan dalam Stars · -{ $credits } kredit
history-bought = dibeli dengan Stars · +{ $credits } kredit
history-refunded = { $signal } tidak terkirim, dikembalikan · +{ $credits } kredit
outcome-open = masih berjalan
outcome-tp1 = TP1 tercapai, masih berjalan
outcome-tp2 = TP2
outcome-target = target (TP1) tercapai
outcome-stop = kena stop
outcome-tp1-then-stop = TP1, lalu kena stop
outcome-expired = kedaluwarsa
winrate-usage = Cara pakai: /winrate [7d|30d|90d|all]
winrate-usage-admin = Cara pakai: /winrate [7d|30d|90d|all] atau /winrate SYMBOL [PERIODE]
winrate-no-signals = Belum ada sinyal untuk { $symbol } di track record.
winrate-unavailable = Track record sedang tidak tersedia; coba lagi sebentar lagi.
winrate-title-all = <b>Track record</b> · semua sinyal
winrate-title-days = <b>Track record</b> · ditutup dalam { $days } hari terakhir
winrate-auto = <b>Autosignal</b>: { $closed } ditutup, { $open } berjalan
winrate-manual = <b>Sinyal manual</b>: { $closed } ditutup, { $open } berjalan
winrate-rates = TP1 sebelum stop { $tp1 } · TP2 { $tp2 } · kena stop { $stopped } · kedaluwarsa { $expired }
winrate-figures = Rata-rata { $r }R · profit factor { $pf } · max drawdown { $dd }R
winrate-no-loss = - (tanpa rugi)
winrate-by-symbol = <b>Per simbol</b> (ditutup · TP1 dulu · rata-rata R · profit factor · max DD)
winrate-note = R: hasil dalam satuan risiko sinyal (jarak entry ke stop), setelah fee; entry di harga market.
audit-title = <b>Catatan saldo { $user }</b>
audit-empty = (kosong)

## --- admin ----------------------------------------------------------------------------------

admin-usage = Cara pakai: { $usage }
admin-done = Beres: /{ $command } { $user }.
cannot-ban-admin = Admin tidak bisa diblokir, termasuk dirimu sendiri (hapus dulu id-nya dari ADMIN_IDS).
not-registered-user = Pengguna { $user } belum terdaftar (dia perlu mengirim /start).
amount-out-of-range = Jumlahnya harus antara 1 dan { $max }.
unknown-period = Periodenya salah satu dari 30d, 90d, lifetime.
days-out-of-range = Periodenya harus antara 1 dan { $max } hari.
bad-days = Periode ditulis seperti 30d (1 sampai { $max } hari).
no-premium = Pengguna { $user } tidak punya premium untuk dicabut.
no-such-payment = Pengguna { $user } tidak punya pembayaran Stars { $charge }.
refund-requested = Refund { $charge } untuk pengguna { $user } sudah diajukan.
refund-already-requested = Refund { $charge } untuk pengguna { $user } sudah pernah diajukan.
refund-unrecoverable = { $credits } kredit darinya sudah terpakai dan tidak bisa ditarik kembali.

## --- autosignals ----------------------------------------------------------------------------

autosignal-usage = Cara pakai: /autosignal on|off
autosignal-muted = Autosignal dibisukan. Kirim /autosignal on untuk mengaktifkannya lagi.
autosignal-on = Autosignal aktif.
autosignal-not-included = Autosignal tidak lagi dibisukan, tapi paketmu belum termasuk autosignal (lifetime atau pemberian admin).
charts-usage = Cara pakai: /charts on|off
charts-on = Chart aktif: setiap sinyal dikirim sebagai chart beserta teksnya.
charts-off = Chart nonaktif: sinyal dikirim sebagai teks. Kirim /charts on untuk mendapatkannya lagi.
language-usage = Cara pakai: /language en|id
bad-side = Sisi harus LONG atau SHORT, bukan { $side }.
not-a-paid-signal = { $signal } bukan sinyal berbayar milik pengguna { $user }.
followups-usage = Cara pakai: /followups on|off
followups-on = Follow-up aktif: satu baris saat sinyal yang terkirim kena TP1, TP2, stop, atau kedaluwarsa.
followups-off = Follow-up nonaktif. Kirim /followups on untuk mendapatkannya lagi.
autosignals-not-running = Autosignal sedang tidak berjalan.
autosignal-admin-usage = Perintah autosignal: /signal_on, /signal_off, /signal_status, /signal_tick, /cooldown_clear SYMBOL [LONG|SHORT]
signals-enabled = Autosignal aktif.
signals-enabled-idle = Autosignal aktif. Tapi tidak ada autosignal di { $interval }: { $why }.
signals-already-enabled-idle = Autosignal memang sudah aktif. Tapi tidak ada autosignal di { $interval }: { $why }.
status-policy-off = Interval: { $interval }: tanpa autosignal ({ $why })
decision-policy-off = tidak ada autosignal di { $interval }: { $why }
signals-disabled = Autosignal nonaktif.
signals-already-enabled = Autosignal memang sudah aktif.
signals-already-disabled = Autosignal memang sudah nonaktif.
cooldown-usage = Cara pakai: /cooldown_clear SYMBOL [LONG|SHORT]
cooldown-bad-symbol = Cara pakai: /cooldown_clear SYMBOL [LONG|SHORT] (SYMBOL: 2-20 huruf atau angka)
cooldown-bad-side = Cara pakai: /cooldown_clear SYMBOL [LONG|SHORT] (sisi harus LONG atau SHORT)
cooldown-cleared = Cooldown dihapus: { $symbol } { $side }.
cooldown-cleared-both = Cooldown dihapus: { $symbol } (kedua sisi).
no-cooldown = { $side ->
        [LONG] Tidak ada cooldown aktif untuk { $symbol } LONG.
        [SHORT] Tidak ada cooldown aktif untuk { $symbol } SHORT.
       *[other] Tidak ada cooldown aktif untuk { $symbol }.
    }
watchlist-empty = Watchlist masih kosong: belum ada candle yang masuk.
tick-title = Tick pada candle terakhir yang sudah ditutup:
status-enabled = Autosignal: { $on ->
        [yes] aktif
       *[no] nonaktif
    }
status-watchlist = Watchlist ({ $count }): { $symbols }
status-policy = Interval: { $interval }; confidence minimal { $confidence }; cooldown { $minutes } menit
status-cooldowns = Cooldown aktif ({ $count }):
status-cooldown = { $symbol } { $side } sampai { $until }
status-today = Sinyal hari ini: { $count }
status-recipients = Penerima saat ini: { $count }
status-pending = Pengiriman tertunda: { $count }
status-market = Waktu market: { $when }
decision-issued = { $signal } dikirim ke { $recipients } penerima
decision-no-setup = tidak ada setup: { $reason }
decision-disabled = autosignal nonaktif
decision-uncalibrated = confidence belum dikalibrasi (dianalisis tanpa file strategi)
decision-low-confidence = confidence { $confidence } di bawah { $min }
decision-previous-bar = { $side } sudah dikirim otomatis di bar sebelumnya
decision-repeated-setup = setup sudah pernah dikirim ({ $triggers })
decision-cooldown = { $side } dalam cooldown sampai { $until }
decision-already-decided = candle ini sudah diputuskan
decision-shutting-down = tidak dikirim: bot sedang dimatikan
decision-timeout = gagal: tidak ada jawaban dalam { $seconds } detik
decision-feed-error = gagal: feed menjawab { $reason }
decision-no-candles = gagal: feed tidak mengirim candle
decision-missing-candle = gagal: feed tidak punya candle pada { $when }
decision-analysis-failed = gagal: analisis gagal ({ $reason })
decision-bad-answer = gagal: jawaban tak terduga ({ $answer })
decision-unavailable = gagal: { $actor } tidak tersedia ({ $error })
decision-error = gagal: { $error }
decision-concurrent-write = tidak tersimpan: stream autosignal berubah dari luar; sudah dimuat ulang, coba lagi
decision-not-persisted = tidak tersimpan: { $error }

## --- payments -------------------------------------------------------------------------------

payments-unavailable = Pembayaran sedang tidak tersedia. Tidak ada yang ditagih.
lifetime-buys-nothing = Kamu punya premium seumur hidup: semua analisis gratis dan autosignal sudah termasuk. Tidak ada yang perlu kamu beli.
buy-choose =
    <b>Beli dengan Telegram Stars</b>
    Pilih paket; Telegram akan meminta kamu mengonfirmasi pembayaran.
    /terms · /paysupport
payment-not-recorded = Pembayaranmu sudah kami terima tapi belum bisa dicatat. Hubungi /paysupport dengan menyebutkan tanggalnya: tidak ada yang hilang.
pack-unknown = Paket itu sudah tidak dijual. Kirim /buy untuk melihat paket yang tersedia.
terms =
    <b>Ketentuan</b>
    Kredit dan premium adalah barang digital untuk bot ini, dibayar dengan Telegram Stars. Kredit dipakai untuk analisis; premium membuat semua analisis gratis sampai masanya habis. Sinyal adalah informasi, bukan saran keuangan. Pembelian yang tidak bisa diberikan akan di-refund dalam Stars; untuk pertanyaan lain soal pembayaran, pakai /paysupport.
checkout-bad-payload = Invoice ini tidak valid. Kirim /buy dan pilih paket lagi.
checkout-no-pack = Paket ini sudah tidak dijual. Kirim /buy untuk melihat paket yang tersedia.
checkout-price-changed = Harga paket ini sudah berubah. Kirim /buy untuk mendapatkan invoice baru.
checkout-other-user = Invoice ini dibuat untuk pengguna lain. Kirim /buy sendiri, ya.
checkout-banned = Akunmu sedang ditangguhkan, jadi tidak bisa membeli apa pun. Hubungi /paysupport.
pack-credits = { $credits } kredit · { $stars } ⭐
pack-premium = Premium { $days } hari · { $stars } ⭐
invoice-credits = { $credits } kredit
invoice-premium = Premium { $days } hari
invoice-credits-about = { $credits } kredit untuk analisis signalbot (satu /analyze 20 kredit). Tidak ada masa berlakunya.
invoice-premium-about = Premium { $days } hari: semua analisis gratis. Memperpanjang premium yang sudah kamu punya.
paysupport = <b>Bantuan pembayaran</b>
    Untuk pertanyaan soal pembayaran atau refund, hubungi { $contact }. Sertakan tanggal dan paketnya.
paysupport-admin = admin bot ini
receipt =
    ✅ Pembayaran diterima: { $pack }.
    Saldo: { $credits } kredit
    Paket: { $tier }
receipt-refunded = Terima kasih. Pembayaran ini tidak bisa diproses, jadi Stars-mu sedang di-refund. /paysupport
