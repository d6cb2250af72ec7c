#!/usr/bin/env python3
"""Turn bench/run's raw measurements into bench/results/RESULTS.md and PNG charts.

    report.py RAW_DIR OUT_DIR

Reads RAW_DIR/results.tsv, contenders.tsv, workloads.tsv and meta.txt (written by
bench/run). Every figure is a median over rounds; every ratio is the median over rounds of
(contender / floor of the same round). Standard library only; charts need gnuplot.
"""
import csv
import os
import shutil
import statistics
import subprocess
import sys


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def fnum(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def fmt_rate(v, unit):
    if v is None:
        return "–"
    if unit == "MiB/s":
        return f"{v:,.1f}"
    return f"{v:,.0f}"


def fmt(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def fmt_cpu(v):
    """CPU µs per request: one decimal, three under 1 µs (pub/sub deliveries cost ~0.1)."""
    return fmt(v, 1 if v is None or v >= 1 else 3)


def fmt_sys(v):
    """Syscalls per request: two decimals, three under 0.1 (pub/sub: ~0.01 per delivery)."""
    return fmt(v, 2 if v is None or v >= 0.1 else 3)


# Groups whose first contender is not a floor of bench/floor-*.c say what it is instead.
GROUP_NOTES = {
    "proxy-ping": "The contenders are proxies (one worker thread each, on CPU 1) in front of "
    "one redis-server, pinned with the client on CPU 0. **direct** is the client talking to a "
    "redis-server of its own on CPU 1, no proxy: the ratios in parentheses are to it. CPU per "
    "request is the proxy's own (perf attached to the proxy process); for direct, redis-server's.",
    "proxy-echo": "The contenders are proxies (one worker thread each, on CPU 1) in front of "
    "one `floor-echo`, pinned with the client on CPU 0. **direct** is the client talking to a "
    "`floor-echo` of its own on CPU 1, no proxy: the ratios in parentheses are to it. CPU per "
    "request (one 64 KiB message there and back) is the proxy's own; for direct, floor-echo's.",
    "pubsub": "The ratios in parentheses are to **redis** (redis-server, one thread). The "
    "server process is pinned to CPU 1 (evio's 2 loops share it), the load client to CPU 0. "
    "CPU per request is the server's CPU per message delivered to one subscriber.",
    "xsend": "One server process (its loop and its 2 producer threads) pinned to CPU 1, the "
    "reading client on CPU 0. The ratio in parentheses is to the native engine. CPU per "
    "request is the whole server process's (producers included) per message.",
}


def is_peer(name):
    return not name.startswith("evio") and name not in ("floor", "direct")


def main():
    raw, out = sys.argv[1], sys.argv[2]
    meta = {}
    with open(os.path.join(raw, "meta.txt")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    rows = read_tsv(os.path.join(raw, "results.tsv"))
    status = read_tsv(os.path.join(raw, "contenders.tsv"))
    workloads = []  # (group, id, label)
    with open(os.path.join(raw, "workloads.tsv")) as f:
        for line in f:
            g, w, label = line.rstrip("\n").split("\t")
            workloads.append((g, w, label))

    groups = []
    contenders = {}  # group -> [names], floor first
    floor = {}
    cstatus = {}
    for s in status:
        g = s["group"]
        if g not in contenders:
            groups.append(g)
            contenders[g] = []
            floor[g] = s["contender"]
        contenders[g].append(s["contender"])
        cstatus[(g, s["contender"])] = s
    wgroup = {w: g for g, w, _ in workloads}

    # measurements[(w, c)] = {round: row}
    meas, fails = {}, {}
    for r in rows:
        key = (r["workload"], r["contender"])
        if r["status"] == "ok":
            meas.setdefault(key, {})[r["round"]] = r
        else:
            fails.setdefault(key, []).append(r["note"])

    def stats(w, c):
        m = meas.get((w, c), {})
        g = wgroup.get(w)
        fl = meas.get((w, floor.get(g)), {})
        rates = [fnum(x["rate"]) for x in m.values() if fnum(x["rate"]) is not None]
        ratios = []
        for rnd, x in m.items():
            # the floor runs first in every round and once more after the last round: a
            # round's ratio is taken to the mean of the floor runs before and after it
            fr = [fnum(fl[k]["rate"]) for k in (rnd, str(int(rnd) + 1)) if k in fl and fnum(fl[k]["rate"])]
            if fr and fnum(x["rate"]) is not None:
                ratios.append(fnum(x["rate"]) / (sum(fr) / len(fr)))
        per = {"cpu": [], "sys": [], "ectl": []}
        for x in m.values():
            req = fnum(x["requests"])
            if not req:
                continue
            for k, col, scale in (("cpu", "cpu_ms", 1000.0), ("sys", "syscalls", 1.0), ("ectl", "epoll_ctl", 1.0)):
                v = fnum(x[col])
                if v is not None:
                    per[k].append(v * scale / req)
        rss_i = [fnum(x["rss_idle_kib"]) for x in m.values() if fnum(x["rss_idle_kib"])]
        rss_b = [fnum(x["rss_base_kib"]) for x in m.values() if fnum(x["rss_base_kib"])]
        unit = next(iter(m.values()))["unit"] if m else ""
        med = lambda a: statistics.median(a) if a else None
        return {
            "n": len(rates), "rate": med(rates), "unit": unit, "ratio": med(ratios),
            "cpu": med(per["cpu"]), "sys": med(per["sys"]), "ectl": med(per["ectl"]),
            "rss_idle": med(rss_i), "rss_base": med(rss_b),
        }

    def versus(w, a, b):
        """Medians over rounds of rate(a)/rate(b) and cpu(a)/cpu(b), same round."""
        ma, mb = meas.get((w, a), {}), meas.get((w, b), {})
        rates, cpus = [], []
        for rnd in set(ma) & set(mb):
            ra, rb = fnum(ma[rnd]["rate"]), fnum(mb[rnd]["rate"])
            if ra is not None and rb:
                rates.append(ra / rb)
            qa, qb = fnum(ma[rnd]["requests"]), fnum(mb[rnd]["requests"])
            ca, cb = fnum(ma[rnd]["cpu_ms"]), fnum(mb[rnd]["cpu_ms"])
            if qa and qb and ca is not None and cb:
                cpus.append((ca / qa) / (cb / qb))
        med = lambda v: statistics.median(v) if v else None
        return med(rates), med(cpus)

    def cell(w, c, g):
        st = cstatus.get((g, c))
        if st and st["status"] != "ok":
            return "missing¹"
        s = stats(w, c)
        if s["rate"] is None:
            return "failed²" if (w, c) in fails else "–"
        ratio = "" if c == floor[g] else f" ({s['ratio']:.2f})" if s["ratio"] is not None else " (–)"
        return fmt_rate(s["rate"], s["unit"]) + ratio

    L = []
    L.append("# evio benchmark results\n")
    L.append(f"- **Date**: {meta.get('date')} — **machine**: {meta.get('machine')}")
    L.append(f"- **Command**: `{meta.get('command', '').strip()}` ({meta.get('mode')} mode: "
             f"{meta.get('rounds')} round(s), {meta.get('duration')} s per measurement; "
             f"took {meta.get('elapsed')} s)")
    L.append(f"- **Peers**: {meta.get('versions')}")
    L.append("- Servers pinned to CPU 1 (`taskset -c 1`, one loop/thread, Go with `GOMAXPROCS=1`), "
             "clients to CPU 0; loopback only. The machine is shared: absolute numbers drift by "
             "tens of percent between runs, **compare the ratios**.")
    if meta.get("perf_note"):
        L.append(f"- Note: {meta['perf_note']}")
    if meta.get("perf_events"):
        L.append(f"- `perf stat -e {meta['perf_events']} -p PID` was attached to the server during "
                 "every measurement (all contenders alike).")
    L.append("")
    L.append("## Throughput\n")
    L.append("Median over rounds; in parentheses the median over rounds of the ratio to the "
             "floor **of the same round** (the floor is the least C code serving the workload "
             "over epoll: `bench/floor-*.c`, or the first contender of a group that says so; it "
             "runs first in every round and once more after the last, and a round's ratio is "
             "taken to the mean of the floor runs before and after it). Higher is better.\n")
    for g in groups:
        cs = contenders[g]
        ws = [(w, label) for gg, w, label in workloads if gg == g and any(
            (w, c) in meas or (w, c) in fails for c in cs)]
        if not ws:
            continue
        L.append(f"### {g}\n")
        if g in GROUP_NOTES:
            L.append(GROUP_NOTES[g] + "\n")
        L.append("| workload | " + " | ".join(cs) + " |")
        L.append("|---|" + "---:|" * len(cs))
        for w, label in ws:
            L.append(f"| **{w}** — {label} | " + " | ".join(cell(w, c, g) for c in cs) + " |")
        L.append("")

    any_perf = any(fnum(r.get("cpu_ms")) is not None for r in rows if r["status"] == "ok")
    if any_perf:
        L.append("## Server cost per request\n")
        L.append("Server-side CPU time (µs, `task-clock`) / syscalls (`raw_syscalls:sys_enter`) / "
                 "`epoll_ctl` calls, each divided by the requests (or round trips) of the run; "
                 "medians over rounds. Lower is better. A syscall costs ~1.5 µs on these VMs.\n")
        for g in groups:
            cs = contenders[g]
            ws = [w for gg, w, _ in workloads if gg == g and any((w, c) in meas for c in cs)]
            if not ws:
                continue
            L.append(f"### {g}: CPU µs / syscalls / epoll_ctl per request\n")
            L.append("| workload | " + " | ".join(cs) + " |")
            L.append("|---|" + "---:|" * len(cs))
            for w in ws:
                cells = []
                for c in cs:
                    s = stats(w, c)
                    if s["rate"] is None:
                        cells.append("–")
                    else:
                        cells.append(f"{fmt_cpu(s['cpu'])} / {fmt_sys(s['sys'])} / {fmt(s['ectl'], 3)}")
                L.append(f"| {w} | " + " | ".join(cells) + " |")
            L.append("")

    vs_rows = []
    for g in groups:
        for w in [w for gg, w, _ in workloads if gg == g]:
            for p in [c for c in contenders[g] if is_peer(c)]:
                for e in [c for c in contenders[g] if c == "evio"]:
                    r, c = versus(w, e, p)
                    if r is not None:
                        vs_rows.append((w, e, p, r, c))
    if vs_rows:
        L.append("## evio against each peer\n")
        L.append("Medians over rounds of evio's figure divided by the peer's **in the same "
                 "round**: throughput (higher is better for evio) and CPU µs per request "
                 "(lower is better for evio).\n")
        L.append("| workload | evio | peer | throughput ratio | CPU per request ratio |")
        L.append("|---|---|---|---:|---:|")
        for w, e, p, r, c in vs_rows:
            L.append(f"| {w} | {e} | {p} | {fmt(r, 2)} | {fmt(c, 2)} |")
        L.append("")

    rss_rows = []
    for g, w, label in workloads:
        for c in contenders.get(g, []):
            s = stats(w, c)
            if s["rss_idle"] and w.startswith("conns-10k"):
                conns = 10000
                per = (s["rss_idle"] - (s["rss_base"] or 0)) / conns
                rss_rows.append((c, s["rss_base"], s["rss_idle"], per))
    if rss_rows:
        L.append("## Memory: idle connections\n")
        L.append("Server RSS (VmRSS) of a fresh process before the client connects, and with "
                 "10,000 connections open and idle (each did one 16-byte round trip). Kernel "
                 "socket memory is not included. Lower is better.\n")
        L.append("| contender | RSS before (MiB) | RSS at 10k idle (MiB) | KiB per connection |")
        L.append("|---|---:|---:|---:|")
        for c, b, i, per in rss_rows:
            L.append(f"| {c} | {fmt((b or 0) / 1024)} | {fmt(i / 1024)} | {fmt(per, 2)} |")
        L.append("")

    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    missing = [s for s in status if s["status"] != "ok"]
    if missing or fails:
        L.append("## Missing and failed\n")
        for s in missing:
            L.append(f"- ¹ **{s['group']}/{s['contender']}** missing: {s['why'].replace(root + '/', '')}")
        for (w, c), notes in sorted(fails.items()):
            L.append(f"- ² **{c}** on **{w}** failed: {notes[0]}" + (f" (×{len(notes)})" if len(notes) > 1 else ""))
        L.append("")

    L.append("## Contenders\n")
    L.append("| group | name | command |")
    L.append("|---|---|---|")
    for s in status:
        cmd = s["command"].replace("|", "\\|").replace(root + "/", "")
        L.append(f"| {s['group']} | {s['contender']} | `{cmd}` |")
    L.append("")

    charts = make_charts(out, groups, contenders, workloads, stats, floor, rss_rows, any_perf)
    if charts:
        L.append("## Charts\n")
        for title, name in charts:
            L.append(f"![{title}]({name})\n")
    elif not shutil.which("gnuplot"):
        L.append("_No charts: gnuplot is not installed._\n")

    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("\n".join(L))
    return 0


def make_charts(out, groups, contenders, workloads, stats, floor, rss_rows, any_perf):
    gp = shutil.which("gnuplot")
    if not gp:
        return []
    term = "pngcairo size 1100,480 font 'sans,10'"
    try:
        t = subprocess.run([gp, "-e", "set terminal"], capture_output=True, text=True, timeout=20)
        if "pngcairo" not in (t.stdout + t.stderr):
            term = "png size 1100,480"
    except Exception:
        term = "png size 1100,480"
    made = []
    datdir = os.path.join(out, "raw")
    os.makedirs(datdir, exist_ok=True)

    def histogram(name, title, ylabel, cols, rowsdata):
        dat = os.path.join(datdir, name + ".dat")
        with open(dat, "w") as f:
            f.write("x " + " ".join('"%s"' % c for c in cols) + "\n")
            for label, vals in rowsdata:
                f.write('"%s" ' % label + " ".join("?" if v is None else "%.6g" % v for v in vals) + "\n")
        plots = ", ".join(
            ("'%s' using %d:xtic(1) title columnheader(%d)" % (dat, i + 2, i + 2)) if i == 0
            else ("'' using %d title columnheader(%d)" % (i + 2, i + 2)) for i in range(len(cols)))
        script = f"""
set terminal {term}
set output '{os.path.join(out, name + '.png')}'
set title "{title}"
set ylabel "{ylabel}"
set datafile missing '?'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set key outside right top
set xtics nomirror
plot {plots}
"""
        r = subprocess.run([gp], input=script, capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            made.append((title, name + ".png"))
        else:
            sys.stderr.write("gnuplot failed for %s: %s\n" % (name, r.stderr[-300:]))

    for g in groups:
        cs = contenders[g]
        ws = [w for gg, w, _ in workloads if gg == g]
        data = []
        for w in ws:
            vals = []
            for c in cs:
                s = stats(w, c)
                vals.append(1.0 if (c == floor[g] and s["rate"]) else s["ratio"])
            if any(v is not None for v in vals):
                data.append((w, vals))
        if data:
            histogram("ratio-" + g, f"{g}: throughput relative to {floor[g]} (median of same-round ratios)",
                      "x floor (higher is better)", cs, data)
        if any_perf:
            data = []
            for w in ws:
                vals = [stats(w, c)["cpu"] for c in cs]
                if any(v is not None for v in vals):
                    data.append((w, vals))
            if data:
                histogram("cpu-" + g, f"{g}: server CPU per request", "µs per request (lower is better)", cs, data)
    if rss_rows:
        histogram("rss-10k", "server RSS with 10,000 idle connections", "MiB (lower is better)",
                  ["RSS at 10k idle"], [(c, [i / 1024]) for c, b, i, per in rss_rows])
    return made


if __name__ == "__main__":
    sys.exit(main())
