#!/usr/bin/env python3
"""Turns the runs recorded by scripts/bench.sh (one JSON object per line) into a Markdown report,
a JSON summary and, when gnuplot is installed, a PNG chart. Standard library only.

Every ratio is computed inside one round (same machine conditions), then the median over rounds is
reported with its range, as DESIGN.md §8 asks.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

# `sluice-log` is Sluice with an access log (Envoy's default format, to a file): measured only
# when scripts/bench.sh is asked for it (PROXIES), to show what logging costs per request.
PROXIES = ["sluice", "sluice-log", "nginx", "haproxy"]
OPTIONAL = {"sluice-log"}
PAIRS = [
    ("sluice", "nginx"),
    ("sluice", "haproxy"),
    ("haproxy", "nginx"),
    ("sluice-log", "sluice"),
    ("sluice-log", "nginx"),
]
# (key, label, lower is better)
METRICS = [
    ("sat_req_s", "saturated req/s (wrk)", False),
    ("sat_p50_us", "saturated p50 (us)", True),
    ("sat_p99_us", "saturated p99 (us)", True),
    ("sat_cpu_us", "CPU us/request at saturation", True),
    ("fixed_cpu_us", "CPU us/request at fixed rate", True),
    ("fixed_p50_us", "p50 at fixed rate (us)", True),
    ("fixed_p99_us", "p99 at fixed rate (us)", True),
    ("fixed_p999_us", "p99.9 at fixed rate (us)", True),
]
LOAD_BOUND = 0.75


def cpu_us_per_request(run):
    if run["target"] == "direct" or run["requests"] <= 0:
        return None
    return run["proxy_ticks"] / run["clk_tck"] * 1e6 / run["requests"]


def core_us_per_request(run):
    if run["target"] == "direct" or run["requests"] <= 0:
        return None
    return run["proxy_core_busy_ticks"] / run["clk_tck"] * 1e6 / run["requests"]


def positive(value):
    return value if value is not None and value >= 0 else None


def collect(runs):
    """{(scenario, conns): {round: {target: {metric: value}}}} plus per-run flags."""
    table = defaultdict(lambda: defaultdict(dict))
    for run in runs:
        cell = table[(run["scenario"], run["conns"])][run["round"]].setdefault(run["target"], {})
        if run["kind"] == "sat":
            cell["sat_req_s"] = run["req_s"]
            cell["sat_p50_us"] = positive(run["p50_us"])
            cell["sat_p99_us"] = positive(run["p99_us"])
            cell["sat_cpu_us"] = cpu_us_per_request(run)
            cell["sat_core_us"] = core_us_per_request(run)
            cell["sat_errors"] = run["errors"]
        else:
            cell["fixed_req_s"] = run["req_s"]
            cell["fixed_target_rate"] = run["target_rate"]
            cell["fixed_cpu_us"] = cpu_us_per_request(run)
            cell["fixed_core_us"] = core_us_per_request(run)
            cell["fixed_p50_us"] = positive(run["p50_us"])
            cell["fixed_p99_us"] = positive(run["p99_us"])
            cell["fixed_p999_us"] = positive(run["p999_us"])
            cell["fixed_errors"] = run["errors"]
        cell.setdefault("noisy", []).append(run["is_noisy"])
        cell.setdefault("attempts", []).append(run["attempts"])
    return table


def median_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(table):
    summary = {}
    for (scenario, conns), rounds in sorted(table.items()):
        order = ["direct"] + PROXIES
        targets = sorted({t for r in rounds.values() for t in r}, key=lambda t: (order.index(t) if t in order else 99, t))
        per_target = {}
        for target in targets:
            cells = [r[target] for r in rounds.values() if target in r]
            entry = {}
            for key in [m[0] for m in METRICS] + ["sat_core_us", "fixed_core_us", "fixed_req_s"]:
                entry[key] = median_range([c.get(key) for c in cells])
            # Load-bound: the proxy got within 75 % of what the client and upstream do alone.
            fractions = [
                r[target]["sat_req_s"] / r["direct"]["sat_req_s"]
                for r in rounds.values()
                if target != "direct" and target in r and "direct" in r
                and r[target].get("sat_req_s") and r["direct"].get("sat_req_s")
            ]
            entry["of_direct"] = median_range(fractions)
            entry["is_load_bound"] = bool(fractions) and statistics.median(fractions) > LOAD_BOUND
            entry["noisy_runs"] = sum(sum(c.get("noisy", [])) for c in cells)
            entry["runs"] = sum(len(c.get("noisy", [])) for c in cells)
            entry["retries"] = sum(sum(a - 1 for a in c.get("attempts", [])) for c in cells)
            entry["errors"] = sum((c.get("sat_errors") or 0) + (c.get("fixed_errors") or 0) for c in cells)
            unsustained = [
                c for c in cells
                if c.get("fixed_target_rate") and c.get("fixed_req_s", 0) < 0.95 * c["fixed_target_rate"]
            ]
            entry["fixed_rate_not_sustained"] = len(unsustained)
            per_target[target] = entry
        ratios = {}
        for a, b in PAIRS:
            for key, _, _ in METRICS:
                values = [
                    r[a][key] / r[b][key]
                    for r in rounds.values()
                    if a in r and b in r and r[a].get(key) and r[b].get(key)
                ]
                if values:
                    ratios.setdefault(f"{a}/{b}", {})[key] = median_range(values)
        summary[f"{scenario}/c{conns}"] = {
            "scenario": scenario,
            "conns": conns,
            "targets": per_target,
            "ratios": ratios,
        }
    return summary


def fmt(value, digits=1):
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def fmt_range(entry, digits=1):
    if entry is None:
        return "-"
    if entry["n"] == 1:
        return fmt(entry["median"], digits)
    return f"{fmt(entry['median'], digits)} ({fmt(entry['min'], digits)}-{fmt(entry['max'], digits)})"


def markdown(meta, summary, table, runs):
    lines = [f"# Benchmark: {meta['title']}", ""]
    lines += [
        "Generated by `scripts/bench.sh` (do not edit by hand). Layout: upstream (`sluice-upstream`, io_uring)",
        f"and load generator on CPU {meta['load_cpu']}, proxy under test alone on CPU {meta['proxy_cpu']};",
        "all traffic on 127.0.0.1. Medians over rounds, range in brackets. CPU us/request is the proxy's",
        "utime+stime (all its processes) divided by completed requests; `core` is the whole proxy core's busy",
        "time per request (includes anything else that ran there). Differences under 10 % are not resolvable",
        "on this machine.",
        "",
        f"- machine: {meta['machine']}",
        f"- kernel: {meta['kernel']}",
        f"- commit: {meta['commit']}",
        f"- date: {meta['date']}",
        f"- tools: {meta['versions']}",
        f"- settings: {meta['settings']}",
        f"- raw runs: `{meta['run_dir']}`",
        "",
    ]
    noisy = sum(1 for r in runs if r["is_noisy"])
    if noisy * 2 > len(runs):
        lines += [
            f"**Warning: {noisy} of {len(runs)} runs were noisy** (other processes or steal above the budget"
            " even after retries): absolute numbers are depressed and spread; treat ratios as indicative only.",
            "",
        ]
    missing = [
        p for p in PROXIES if p not in OPTIONAL and not any(r["target"] == p for r in runs)
    ]
    if missing:
        lines += [f"**Not measured:** {', '.join(missing)} (skipped: not built, or did not start/proxy).", ""]
    for name, group in summary.items():
        lines += [f"## {group['scenario']}, {group['conns']} connections", ""]
        lines += [
            "| target | req/s (sat) | of direct | p50 us (sat) | p99 us (sat) | CPU us/req (sat) "
            "| CPU us/req (fixed) | core us/req (fixed) | req/s (fixed) | p50 / p99 / p99.9 us (fixed) | noisy runs | retries | errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for target, e in group["targets"].items():
            of_direct = "" if target == "direct" else fmt_range(e["of_direct"], 2)
            if e["is_load_bound"]:
                of_direct += " **load-bound**"
            latency = " / ".join(
                fmt(e[k]["median"], 0) if e[k] else "-" for k in ("fixed_p50_us", "fixed_p99_us", "fixed_p999_us")
            )
            fixed_rate = fmt_range(e["fixed_req_s"], 0)
            if e["fixed_rate_not_sustained"]:
                fixed_rate += f" (not sustained in {e['fixed_rate_not_sustained']})"
            lines.append(
                f"| {target} | {fmt_range(e['sat_req_s'], 0)} | {of_direct} | {fmt_range(e['sat_p50_us'], 0)} "
                f"| {fmt_range(e['sat_p99_us'], 0)} | {fmt_range(e['sat_cpu_us'])} | {fmt_range(e['fixed_cpu_us'])} "
                f"| {fmt_range(e['fixed_core_us'])} | {fixed_rate} | {latency} "
                f"| {e['noisy_runs']}/{e['runs']} | {e['retries']} | {e['errors']} |"
            )
        lines.append("")
        if group["ratios"]:
            pairs = list(group["ratios"])
            lines += ["Ratios from the same round (median, range); below 1 is better for the first except req/s:", ""]
            lines += ["| metric | " + " | ".join(pairs) + " |", "|---" * (len(pairs) + 1) + "|"]
            for key, label, _ in METRICS:
                cells = [fmt_range(group["ratios"][p].get(key), 2) for p in pairs]
                if any(c != "-" for c in cells):
                    lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += ["## Raw runs", ""]
    lines += [
        "| round | scenario | conns | target | kind | req/s | p50 us | p99 us | p99.9 us | requests | CPU us/req "
        "| core us/req | kthreads CPU % | other CPU % | steal % | noisy | attempts | errors |",
        "|---" * 18 + "|",
    ]
    for r in sorted(runs, key=lambda r: (r["scenario"], r["conns"], r["round"], r["target"] != "direct", r["target"], r["kind"])):
        pct = lambda ticks: fmt(100 * ticks / r["clk_tck"] / r["elapsed_s"]) if r["elapsed_s"] > 0 else "-"
        lines.append(
            f"| {r['round']} | {r['scenario']} | {r['conns']} | {r['target']} | {r['kind']} | {fmt(r['req_s'], 0)} "
            f"| {fmt(positive(r['p50_us']), 0)} | {fmt(positive(r['p99_us']), 0)} | {fmt(positive(r.get('p999_us')), 0)} "
            f"| {r['requests']} | {fmt(cpu_us_per_request(r))} | {fmt(core_us_per_request(r))} | {pct(r.get('kthread_ticks', 0))} | {pct(r['other_ticks'])} "
            f"| {pct(r['steal_ticks'])} | {'yes' if r['is_noisy'] else ''} | {r['attempts']} | {r['errors']} |"
        )
    lines.append("")
    return "\n".join(lines)


def chart(summary, png):
    """Two bar charts side by side: CPU us/request at the fixed rate and saturated req/s."""
    if not shutil.which("gnuplot"):
        return False
    groups = list(summary)
    targets = [t for t in ["direct"] + PROXIES if any(t in summary[g]["targets"] for g in groups)]
    proxies = [t for t in targets if t != "direct"]
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        data = f.name
        f.write("group " + " ".join(f"cpu_{t} req_{t}" for t in targets) + "\n")
        for g in groups:
            row = [g.replace(" ", "_")]
            for t in targets:
                e = summary[g]["targets"].get(t, {})
                cpu = (e.get("fixed_cpu_us") or {}).get("median")
                req = (e.get("sat_req_s") or {}).get("median")
                row += [f"{cpu:.3f}" if cpu else "NaN", f"{req:.0f}" if req else "NaN"]
            f.write(" ".join(row) + "\n")
    cpu_cols = ", ".join(
        f"'{data}' using {2 + 2 * targets.index(t)}:xtic(1) title '{t}'" for t in proxies
    )
    req_cols = ", ".join(f"'{data}' using {3 + 2 * targets.index(t)}:xtic(1) title '{t}'" for t in targets)
    script = f"""
set terminal pngcairo size 1200,480 font ',10'
set output '{png}'
set multiplot layout 1,2
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set yrange [0:*]
set key top left
set title 'proxy CPU us/request at fixed rate (lower is better)'
plot {cpu_cols}
set title 'saturated req/s (higher is better)'
plot {req_cols}
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True, timeout=30)
    except (subprocess.SubprocessError, OSError) as error:
        print(f"report: gnuplot failed: {error}", file=sys.stderr)
        return False
    finally:
        os.unlink(data)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results")
    parser.add_argument("--out", required=True, help="path without extension for .md, .json and .png")
    for field in ("commit", "machine", "kernel", "versions", "settings", "run-dir"):
        parser.add_argument(f"--{field}", default="unknown")
    parser.add_argument("--title", default="HTTP/1.1 through one proxy core")
    args = parser.parse_args()
    with open(args.results) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    if not runs:
        sys.exit("report: no runs recorded")
    settings = dict(kv.split("=", 1) for kv in args.settings.split() if "=" in kv)
    meta = {
        "title": args.title,
        "machine": args.machine,
        "kernel": args.kernel,
        "commit": args.commit,
        "date": subprocess.run(["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True).stdout.strip(),
        "versions": args.versions,
        "settings": args.settings,
        "run_dir": args.run_dir,
        "proxy_cpu": settings.get("proxy_cpu", "?"),
        "load_cpu": settings.get("load_cpu", "?"),
    }
    table = collect(runs)
    summary = summarize(table)
    has_png = chart(summary, args.out + ".png")
    text = markdown(meta, summary, table, runs)
    if has_png:
        name = args.out.rsplit("/", 1)[-1]
        text = text.replace("\n## ", f"\n![chart]({name}.png)\n\n## ", 1)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    with open(args.out + ".json", "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
