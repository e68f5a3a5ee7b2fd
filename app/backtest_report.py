"""The backtest's document (app.backtest_stats.document) as text tables for a terminal."""

from __future__ import annotations

from typing import Any

from analysis.candles import format_time

HEAD = f"{'':<16}{'closed':>8}{'TP1 1st':>9}{'TP2':>7}{'stopped':>9}{'expired':>9}{'avg R':>8}{'PF':>6}{'max DD R':>10}"


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_row(label: str, s: dict[str, Any]) -> str:
    """One line of a track-record table (domain.track_record.Summary as a dict)."""
    return (f"{label:<16}{s['closed']:>8,}{_num(s['tp1_first_pct'], '.1f'):>8}%{_num(s['tp2_pct'], '.1f'):>6}%"
            f"{_num(s['stopped_pct'], '.1f'):>8}%{_num(s['expired_pct'], '.1f'):>8}%{_num(s['avg_r'], '+.3f'):>8}"
            f"{_num(s['profit_factor'], '.2f'):>6}{s['max_drawdown_r']:>10.1f}")


def _table(title: str, t: dict[str, Any]) -> list[str]:
    lines = [title, HEAD]
    lines += [summary_row(label, s) for label, s in t["by_symbol"].items()]
    lines.append(summary_row("overall", t["overall"]))
    lines.append(f"open at the end: {t['open_at_end']:,}; repeats (same symbol and side as the previous bar's): "
                 f"{t['repeats']:,}; repeated setups (a trigger signalled before): {t['repeated_setups']:,}")
    lines.append(f"signals with fees over the max share of risk: {t['fees_over_max_share']:,}; messages with equal "
                 f"targets: {t['equal_targets']:,}")
    return lines


def _ci(ci: list[float] | tuple[float, float] | None) -> str:
    return "[n/a]" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _baselines(name: str, b: dict[str, Any]) -> str:
    if not b.get("bars"):
        return f"{name:<16}{0:>7}"
    r, t = b["random_side"], b["trend_side"]
    return (f"{name:<16}{b['bars']:>7,}{b['strategy_avg_r']:>+10.3f} {_ci(b['strategy_ci95']):<18}{r['avg_r']:>+8.3f}"
            f"{r['difference']:>+8.3f} {_ci(r['ci95']):<18}{t['avg_r']:>+9.3f}{t['difference']:>+8.3f} "
            f"{_ci(t['ci95'])}")


def _calibration(name: str, c: dict[str, Any]) -> list[str]:
    lines = [f"calibration, {name}: band  n  stated  TP1 before stop  avg R"]
    lines += [f"  {b['band']:>7}{b['n']:>8,}{b['stated_pct']:>8.1f}%{b['tp1_first_pct']:>8.1f}%{b['avg_r']:>+9.3f}"
              for b in c["bands"]]
    lines.append(f"  Spearman rank correlation of confidence with R: {_num(c['spearman'], '+.3f')}; every band of "
                 f"n >= 100 within 5 points of its stated confidence: {'yes' if c['calibrated'] else 'no'}")
    return lines


def render(doc: dict[str, Any]) -> str:
    """The tables, baselines and calibration of one backtest, as printed by `main.py backtest`."""
    p, o = doc["policy"], doc["outcome_rules"]
    lines = [
        f"backtest: {len(doc['series'])} series, {doc['bars']:,} bars in {doc['seconds']:.1f} s "
        f"({_num(doc['bars_per_s'], ',')} bars/s); log: {doc['log']}",
        *(f"policy {interval}: " + (f"confidence >= {q['min_confidence']:g}, cooldown {q['cooldown_min']} min" if
                                     q["enabled"] else f"no autosignals ({q['why']})") for interval, q in p.items()),
        f"outcomes: market entry "
        f"at the next open, horizon {o['horizon_bars']} bars, fee {o['fee_rate'] * 100:g}% per side, round-trip "
        f"fees at most {o['max_fee_share'] * 100:g}% of the risk; strategy {doc['strategy_version']}; "
        f"window {doc['history']} candles (causal)",
    ]
    for s in doc["series"]:
        span = f"{format_time(s['first'])} .. {format_time(s['last'])}" if s["first"] is not None else "no bars"
        lines.append(f"  {s['symbol']} {s['interval']}: {s['bars']:,} bars, {span} ({len(s['files'])} file(s))")
    lines += ["", *_table("autosignals (the policy)", doc["autosignal"]), ""]
    lines += [*_table("every setup (what /analyze answered on each bar)", doc["every_setup"]), ""]
    lines += ["baselines: same bars, same stop and target distances, R after fees; diff = strategy - baseline, "
              "95% CI by block bootstrap over calendar weeks",
              f"{'':<16}{'bars':>7}{'strategy':>10} {'95% CI':<18}{'random':>8}{'diff':>8} {'95% CI':<18}{'trend':>9}"
              f"{'diff':>8} 95% CI",
              _baselines("autosignals", doc["baselines"]["autosignal"]),
              _baselines("every setup", doc["baselines"]["every_setup"]), ""]
    lines += [*_calibration("every setup", doc["calibration"]["every_setup"]),
              *_calibration("autosignals", doc["calibration"]["autosignal"])]
    return "\n".join(lines)
