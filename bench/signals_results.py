"""The signal-quality tables of bench/RESULTS-signals.md: `main.py backtest` runs, in sample then out of sample.

`python bench/signals_results.py --out DIR` runs every backtest of RUNS (each its own `main.py backtest --json
--db DIR/NAME.db` with the product's defaults unless the row says otherwise; a run whose DIR/NAME.json exists is
not run again) and prints the markdown: per run the autosignals and every setup (n, % TP1 before the stop,
average R after fees with its 95% week-bootstrap interval, both baselines), the zero counts, and the calibration
per 10-point band of each group of runs pooled (n-weighted, from the documents' bands). Heavy: a few minutes of
CPU per group (the backtest uses a process per series, up to the cores), so run it alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from glob import glob
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
K = "../shared/data/klines"
BENICIO = f"{K}/Benicio1007__Bot_trading/data/dataset"
IN_SAMPLE = {
    "is-15m": [f"{BENICIO}/202{y}/*_5m.csv" for y in (1, 2, 3)] + ["--interval", "15m"],
    "is-30m": [f"{BENICIO}/202{y}/*_5m.csv" for y in (1, 2, 3)] + ["--interval", "30m"],
    "is-1h": [f"{K}/misrori__binance_startegy/data/*.csv"],
    "is-4h": [f"{K}/misrori__binance_startegy/data/*.csv", "--interval", "4h"],
    "is-1d": [f"{K}/misrori__binance_startegy/data/*.csv", "--interval", "1d"],
}
OUT_OF_SAMPLE = {
    "oos-15m": [f"{K}/privet1x__crypto-trading-bot/data/BTCUSDT_15m.csv"]
               + [f"{BENICIO}/202{y}/*_5m.csv" for y in (4, 5)] + ["--interval", "15m"],
    "oos-30m": [f"{BENICIO}/202{y}/*_5m.csv" for y in (4, 5)] + ["--interval", "30m"],
    "oos-1h": [f"{K}/azmath606961__hawk-crypto-bot/data/*.csv"],
    "oos-4h": [f"{K}/azmath606961__hawk-crypto-bot/data/*.csv", "--interval", "4h"],
    "oos-1d": [f"{K}/azmath606961__hawk-crypto-bot/data/*.csv", "--interval", "1d"],
}
REFERENCE = {"oos-1h-at-40": [f"{K}/azmath606961__hawk-crypto-bot/data/*.csv", "--min-confidence", "40"]}


def command(args: list[str]) -> list[str]:
    """`main.py backtest --data FILES... [options]`, the globs expanded from the worktree."""
    files = [f for a in args if a.endswith(".csv") for f in sorted(glob(a, root_dir=ROOT))]
    return ["main.py", "backtest", "--data", *files, *[a for a in args if not a.endswith(".csv")]]


def run(name: str, args: list[str], out: Path) -> dict[str, Any]:
    """The run's document, from DIR/NAME.json when it exists, else by running it."""
    doc_path = out / f"{name}.json"
    if not doc_path.exists():
        done = subprocess.run([sys.executable, *command(args), "--json", "--db", str(out / f"{name}.db")],
                              cwd=ROOT, capture_output=True, check=True)
        doc_path.write_bytes(done.stdout)
    return orjson.loads(doc_path.read_bytes())


def _ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def rows(name: str, doc: dict[str, Any]) -> list[str]:
    out = []
    for group in ("autosignal", "every_setup"):
        s, b, t = doc[group]["overall"], doc["baselines"][group], doc[group]
        if not s["closed"]:
            out.append(f"| {name} | {group} | 0 | | | | | {t['repeats']} | {t['repeated_setups']} | "
                       f"{t['fees_over_max_share']} | {t['equal_targets']} |")
            continue
        vs = " | ".join(f"{b[k]['difference']:+.3f} {_ci(b[k]['ci95'])}" for k in ("random_side", "trend_side"))
        out.append(f"| {name} | {group} | {s['closed']:,} | {s['tp1_first_pct']:.1f}% | {s['avg_r']:+.3f} "
                   f"{_ci(b['strategy_ci95'])} | {vs} | {t['repeats']:,} | {t['repeated_setups']:,} | "
                   f"{t['fees_over_max_share']} | {t['equal_targets']} |")
    return out


def pooled_bands(docs: list[dict[str, Any]], group: str) -> list[str]:
    bands: dict[str, list[float]] = {}
    for doc in docs:
        for b in doc["calibration"][group]["bands"]:
            acc = bands.setdefault(b["band"], [0, 0.0, 0.0, 0.0])
            acc[0] += b["n"]
            acc[1] += b["n"] * b["stated_pct"]
            acc[2] += b["n"] * b["tp1_first_pct"]
            acc[3] += b["n"] * b["avg_r"]
    out = []
    for band, (n, stated, tp1, r) in sorted(bands.items(), key=lambda kv: int(kv[0].split("-")[0])):
        checked = "yes" if abs(tp1 - stated) / n <= 5 else "**no**"
        out.append(f"| {group} | {band} | {n:,} | {stated / n:.1f} | {tp1 / n:.1f}% | {r / n:+.3f} | "
                   f"{checked if n >= 100 else '(n < 100)'} |")
    return out


def section(title: str, runs: dict[str, list[str]], out: Path) -> str:
    docs = {name: run(name, args, out) for name, args in runs.items()}
    lines = [f"### {title}", "", "Commands (from the worktree; `--json --db LOG` added):", ""]
    lines += [f"- `{name}`: `{' '.join(['python', *command(args)])}`" for name, args in runs.items()]
    applied = [f"{name} {iv}: " + (f"≥{p['min_confidence']:g}%, {p['cooldown_min']} min" if p["enabled"]
                                   else "no autosignals") for name, d in docs.items() for iv, p in d["policy"].items()]
    lines += ["", "Policy applied: " + "; ".join(applied), "",
              "| run | set | closed | TP1 first | avg R [95% CI] | vs random [95% CI] | vs trend [95% CI] | "
              "repeats | repeated setups | fees > 10% | equal targets |", "|---" * 11 + "|"]
    for name, doc in docs.items():
        lines += rows(name, doc)
    lines += ["", "Calibration, pooled over these runs (n-weighted): band, n, stated, realised TP1 first, avg R, "
              "within 5 points (n ≥ 100)", "", "| set | band | n | stated % | TP1 first | avg R | within 5 |",
              "|---|---|---|---|---|---|---|"]
    for group in ("autosignal", "every_setup"):
        lines += pooled_bands(list(docs.values()), group)
    return "\n".join(lines) + "\n"


def choice(path: Path) -> str:
    """The policy evidence `main.py calibrate` stored in the strategy file, as a table."""
    document = orjson.loads(path.read_bytes())
    fitted = document["fitted_on"]
    lines = [f"### Policy choice (`main.py calibrate`, walk-forward, {fitted['setups']:,} setups, "
             f"{fitted['rated_walk_forward']:,} rated by a model fitted before them)", "",
             f"Rule: {fitted['policy_rule']}.", "", "| interval | threshold | autosignals | avg R | 95% CI | policy |",
             "|---|---|---|---|---|---|"]
    for interval, policy in document["policies"].items():
        for e in policy["evidence"]:
            r = "" if e["avg_r"] is None else f"{e['avg_r']:+.3f}"
            lines.append(f"| {interval} | ≥{e['min_confidence']}% | {e['n']:,} | {r} | {_ci(e['ci95'])} | "
                         f"{'on' if policy['enabled'] else 'off'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the logs and JSON documents")
    parser.add_argument("--part", choices=("choice", "in", "out", "reference"), nargs="+",
                        default=["choice", "in", "out"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    parts = {"in": ("In sample, 2021–2023 (the fitting data)", IN_SAMPLE),
             "out": ("Out of sample, 2024–2026 (run once, nothing tuned on it)", OUT_OF_SAMPLE),
             "reference": ("Reference, not the default: 1h out of sample with an explicit threshold of 40", REFERENCE)}
    for part in args.part:
        print(choice(ROOT / "analysis/params/strategy.json") if part == "choice" else section(*parts[part], args.out))


if __name__ == "__main__":
    main()
