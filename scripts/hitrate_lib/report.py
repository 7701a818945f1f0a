"""CSV, PNG plots (matplotlib, Agg) and a Markdown report for a list of run results."""
import csv
import json
import os
import shlex

COLS = ["label", "who", "sweep", "policy", "size", "frac", "ws", "max_ttl", "clients", "flood",
        "queries", "replies", "lost", "not_received", "late", "hit_rate", "tool_hit_rate",
        "class_source", "ttl_hits", "oracle", "legit_hit_rate", "lookup_hit_rate", "fresh",
        "negative", "stale", "local", "resolved", "servfail",
        "miss_first", "miss_expired", "miss_evicted", "miss_uncacheable",
        "upstream_per_query", "nsd_queries", "hit_p50_ms", "hit_p99_ms", "miss_p50_ms",
        "miss_p99_ms", "exact", "pred_x0.25", "pred_x0.5", "pred_x1", "pred_x2", "pred_x4",
        "cache_bytes", "compress", "wall_s"]


def flat(r):
    a, m = r.get("answers", {}), r.get("misses", {})
    p = r.get("predict", {})
    d = dict(r)
    d.update(fresh=a.get("cache.positive"), negative=a.get("cache.negative"),
             stale=a.get("cache.stale"), local=a.get("local"), resolved=a.get("resolved"),
             servfail=a.get("servfail"), miss_first=m.get("first"),
             miss_expired=m.get("expired"), miss_evicted=m.get("evicted"),
             miss_uncacheable=m.get("uncacheable"),
             hit_p50_ms=r["lat_hit"].get("p50"), hit_p99_ms=r["lat_hit"].get("p99"),
             miss_p50_ms=r["lat_miss"].get("p50"), miss_p99_ms=r["lat_miss"].get("p99"),
             wall_s=r["wall"], clients=r.get("nclients", r.get("clients")))
    for k in ("x0.25", "x0.5", "x1", "x2", "x4"):
        d["pred_" + k] = p.get(k)
    return {c: fmt(d.get(c)) for c in COLS}


def fmt(v):
    if isinstance(v, float):
        return "%.6g" % v
    return "" if v is None else v


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as p
    return p


def prediction_table(rows):
    """Each size-sweep run's predictions against the measured per-lookup hit rate of the run
    of the same policy at that size (when the sweep made one)."""
    runs = [r for r in rows if r["who"] == "cairn" and r.get("sweep") == "size" and
            r.get("frac")]
    by = {(r["policy"], round(r["frac"], 6)): r for r in runs}
    out = []
    for r in runs:
        for k, v in sorted(r.get("predict", {}).items(), key=lambda kv: float(kv[0][1:])):
            f = float(k[1:])
            if f == 1:
                continue
            m = by.get((r["policy"], round(r["frac"] * f, 6)))
            if m and m["lookup_hit_rate"] is not None:
                out.append((r["policy"], r["frac"], f, v, m["lookup_hit_rate"],
                            v - m["lookup_hit_rate"]))
    return out


def plot_timeline(rows, out):
    base = next((r for r in rows if r["who"] == "cairn" and r.get("frac") is None and
                 r["series_exact"]), None)
    if not base:
        return None
    p = plt()
    fig, ax = p.subplots(figsize=(7, 3.6))
    xs = [t for t, _ in base["series_tool"]]
    ax.plot(xs, [h for _, h in base["series_tool"]], label="per interval (tool's classes)")
    ex = base["series_exact"]
    cum = [(t * base["compress"], h / q) for t, q, h in ex if q]
    ax.plot([t for t, _ in cum], [h for _, h in cum], label="cumulative (cairn's counters)")
    ax.set_xlabel("trace seconds")
    ax.set_ylabel("hit rate")
    ax.set_ylim(0, 1)
    ax.set_title("Hit rate over time: %s" % base["label"])
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    path = os.path.join(out, "timeline.png")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    p.close(fig)
    return path


def plot_xy(rows, out, sweep, xkey, xlabel, name, ykey="hit_rate", group="policy",
            logx=False, title=None):
    sel = [r for r in rows if r.get("sweep") == sweep and r.get(xkey) is not None]
    if not sel:
        return None
    p = plt()
    fig, ax = p.subplots(figsize=(6, 3.8))
    groups = {}
    for r in sel:
        groups.setdefault(r.get(group) if r["who"] == "cairn" else r["policy"], []).append(r)
    for g, rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        rs.sort(key=lambda r: r[xkey])
        ax.plot([r[xkey] for r in rs], [r.get(ykey) for r in rs], marker="o", label=str(g))
    if logx:
        ax.set_xscale("log", base=2 if xkey == "frac" else 10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ykey.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or name)
    path = os.path.join(out, name + ".png")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    p.close(fig)
    return path


def write(rows, out, argv, elapsed):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, COLS)
        w.writeheader()
        for r in rows:
            w.writerow(flat(r))
    with open(os.path.join(out, "runs.json"), "w") as f:
        json.dump(rows, f, indent=1, default=str)
    pred = prediction_table(rows)
    with open(os.path.join(out, "predict.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["policy", "base_frac", "factor", "predicted", "measured", "error"])
        for row in pred:
            w.writerow([row[0]] + ["%.6g" % v for v in row[1:]])
    for r in rows:
        if r.get("sweep") == "clients":
            r["nclients_x"] = r.get("nclients")
    plots = [
        ("Hit rate over time", plot_timeline(rows, out)),
        ("Miss-ratio curve (hit rate vs cache size)",
         plot_xy(rows, out, "size", "frac", "cache size / working set", "size", logx=True,
                 title="hit rate vs cache size")),
        ("Hit rate vs TTL cap", plot_xy(rows, out, "ttl", "max_ttl", "cache.max_ttl (s)",
                                        "ttl", logx=True, title="hit rate vs TTL cap")),
        ("Hit rate vs clients", plot_xy(rows, out, "clients", "nclients_x",
                                        "clients sharing the cache", "clients", logx=True,
                                        title="hit rate vs clients")),
        ("Legitimate hit rate under a random-subdomain flood",
         plot_xy(rows, out, "flood", "flood", "flood share of queries", "flood",
                 ykey="legit_hit_rate", title="legitimate hit rate vs flood share")),
    ]
    md = markdown(rows, pred, plots, argv, elapsed)
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write(md)
    return path


def markdown(rows, pred, plots, argv, elapsed):
    L = ["# cairn hit-rate report", "",
         "Command: `scripts/hitrate %s` (%.0f s, %d runs)." % (
             " ".join(shlex.quote(x) for x in argv), elapsed, len(rows)), "",
         "Hit rate = (answer.cache.positive + answer.cache.negative) / queries, from the "
         "resolver's own counters (Unbound: total.num.cachehits / total.num.queries). "
         "`tool` = the replay's own count of hits: each reply classed by the resolver's own "
         "line for it (cairn's query_log outcome, Unbound's log-replies cached flag), "
         "or by its TTL where a line is missing (used for the latency split, the groups and "
         "the per-interval curve). `exact` = the resolver's counters equal the replay's count "
         "of replies (queries, rcodes, outcome sums, hits). `lost` = queries without a reply "
         "(for cairn: dropped by the kernel before cairn read them, a busy machine). "
         "`oracle` = the hit rate of an unbounded cache honouring every TTL exactly on the "
         "same trace (computed by the tool, no resolver): the ceiling a bounded cache "
         "approaches.",
         ""]
    for title, path in plots:
        if path:
            L += ["## " + title, "", "![%s](%s)" % (title, os.path.basename(path)), ""]
    for r in [x for x in rows if x.get("per_group")][:1] + \
            [x for x in rows if x.get("sweep") == "replay" and x.get("per_group")][1:]:
        L += per_group_table(r)
    L += ["## Runs", "",
          "| run | hit | tool | oracle | fresh | neg | stale | local | first | expired | "
          "evicted | uncach. | up/q | hit p50/p99 ms | miss p50/p99 ms | lost | exact |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, m = r.get("answers", {}), r.get("misses", {})
        L.append("| %s (%s) | %.4f | %.4f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.3f "
                 "| %s | %s | %d | %s |"
                 % (r["label"], r["who"], r["hit_rate"], r["tool_hit_rate"],
                    "%.4f" % r["oracle"] if r.get("oracle") is not None else "",
                    a.get("cache.positive", ""), a.get("cache.negative", ""),
                    a.get("cache.stale", ""), a.get("local", ""),
                    m.get("first", ""), m.get("expired", ""), m.get("evicted", ""),
                    m.get("uncacheable", ""), r["upstream_per_query"],
                    lat(r["lat_hit"]), lat(r["lat_miss"]), r["lost"],
                    "yes" if r["exact"] else "**no**"))
    if pred:
        L += ["", "## Predicted vs measured (per cache lookup)", "",
              "`cache.predict.xF` of the run at size S against the measured "
              "(cache.hits + cache.stale_hits) / cache.lookups of the run at F x S.", "",
              "| policy | run at (x ws) | factor | predicted | measured | error |",
              "|---|---|---|---|---|---|"]
        for pol, base, f, pv, mv, err in pred:
            L.append("| %s | %.4g | %g | %.4f | %.4f | %+.4f |" % (pol, base, f, pv, mv, err))
        worst = max(abs(e[-1]) for e in pred)
        L += ["", "Largest error: %.4f (target 0.02)." % worst]
    return "\n".join(L) + "\n"


def per_group_table(r):
    """Per client group (a trace client's /24 or /48, else the client itself): replies, hit
    rate, latency of hits and misses; the 12 busiest groups and the rest together."""
    gs = sorted(r["per_group"].items(), key=lambda kv: -kv[1]["replies"])
    L = ["## Per client group (%s, %s; classes from %s)" % (
             r["label"], r["who"], "its log" if r.get("class_source") == "log" else "TTLs"),
         "", "| group | clients | replies | hit rate | hit p50/p99 ms | miss p50/p99 ms |",
         "|---|---|---|---|---|---|"]
    for g, d in gs[:12]:
        L.append("| %s | %d | %d | %.4f | %s | %s |" % (g, d["clients"], d["replies"],
                                                       d["hit_rate"], lat(d["lat_hit"]),
                                                       lat(d["lat_miss"])))
    if len(gs) > 12:
        rest = [d for _, d in gs[12:]]
        n, h = sum(d["replies"] for d in rest), sum(d["hits"] for d in rest)
        L.append("| (%d more) | %d | %d | %.4f | | |" % (len(rest), sum(d["clients"] for d in
                                                                       rest), n, h / max(1, n)))
    return L + [""]


def lat(d):
    if not d:
        return ""
    return "%.2f / %.2f" % (d["p50"], d["p99"])
