"""The sweeps scripts/hitrate runs, each a list of bench.run_once calls, and their report."""
import os
import shutil
import sys
import time

from testbed_lib import Testbed
from . import bench, report, trace as T

PORT_CAIRN, PORT_UNBOUND = 5420, 5421
FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4)
POLICIES = ("s3fifo", "sieve", "lru")
TTL_CAPS = (30, 60, 120, 300, 900, 3600, 86400)
CLIENTS = (1, 2, 5, 10, 25, 50, 100)
FLOODS = (0.1, 0.5, 0.9)
MIN_SIZE = 64 * 1024
RETRY_LOST = 0.02      # a run losing more than this share of its queries is run again once


def ttl_mix(text):
    if text == "mix":
        return T.TTL_MIX
    if text.isdigit():
        return [(int(text), 1.0)]
    return T.parse_mix(text, int)


def make_trace(a, **over):
    kw = dict(names=a.names, alpha=a.alpha, clients=a.clients, rate=a.rate,
              duration=a.duration, ttl_mix=ttl_mix(a.ttl), nx_share=a.nx_share,
              type_mix=T.parse_mix(a.types), local_share=a.local_share,
              flood_share=a.flood_share, seed=a.seed, max_queries=a.max_queries,
              local_names=a.local_names, once_share=a.once_share)
    kw.update(over)
    return T.synth(**kw)


def parse_size(s):
    s = str(s).strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:], 1)
    return int(float(s.rstrip("KMG")) * mult)


QUICK = dict(names=5000, rate=10.0, duration=1200.0, clients=10, compress=300.0)


class Session:
    def __init__(self, a, argv):
        self.a, self.argv = a, argv
        self.rows = []
        self.t0 = time.monotonic()
        self.tb = Testbed(a.testbed_name, os.path.join(a.workdir, "testbed"))
        self.ttls = set()

    def __enter__(self):
        self.tb.up(log=lambda *x: None)
        try:
            os.sched_setaffinity(0, {int(c) for c in self.a.client_cpu.split(",")})
        except (OSError, ValueError):
            pass
        return self

    def __exit__(self, *exc):
        self.tb.down(log=lambda *x: None)
        shutil.rmtree(self.a.workdir, ignore_errors=True)

    def zone_for(self, tr):
        need = T.trace_ttls(tr) | {300}
        if not need <= self.ttls:
            self.ttls |= need
            bench.install_zone(self.tb, self.ttls)

    def run(self, tr, who, label, compress=None, **cfg):
        self.zone_for(tr)
        c = dict(size=cfg.get("size", 256 << 20), max_ttl=cfg.get("max_ttl", self.a.max_ttl),
                 policy=cfg.get("policy", self.a.policy),
                 predict_shift=getattr(self.a, "predict_shift", None))
        port = PORT_CAIRN if who == "cairn" else PORT_UNBOUND
        r = bench.run_once(self.a, self.tb, tr, who, c, compress or self.a.compress, label,
                           port)
        if r["lost"] > RETRY_LOST * r["queries"]:
            # a busy machine (other processes) starved the resolver: run it once more and
            # keep the run that lost fewer queries
            print("%-34s %-7s lost %d of %d queries: once more" % (label, who, r["lost"],
                                                                   r["queries"]), flush=True)
            r2 = bench.run_once(self.a, self.tb, tr, who, c, compress or self.a.compress,
                                label, port)
            r = r2 if r2["lost"] < r["lost"] else r
        r.update({k: v for k, v in cfg.items() if k not in c})
        self.rows.append(r)
        flag = "" if r["exact"] else "  COUNTS DIFFER: %s" % [k for k, v in r["checks"].items()
                                                             if not v]
        print("%-34s %-7s hit %.4f (tool %.4f) up/q %.3f lost %d (%s before cairn) %.1fs%s"
              % (label, who, r["hit_rate"], r["tool_hit_rate"], r["upstream_per_query"],
                 r["lost"], r.get("not_received", "-"), r["wall"], flag), flush=True)
        return r


def sizes_for(ws):
    return [max(MIN_SIZE, int(ws * f)) for f in FRACTIONS]


def working_set(s, tr, compress, sweep):
    """Replay with a cache far larger than the trace: the bytes the cache ends up holding are
    the working set; this run is also the unbounded-cache point."""
    r = s.run(tr, "cairn", "%s: unbounded (working set)" % sweep, compress=compress,
              sweep=sweep, frac=None)
    return r["entry_bytes"], r


def sweep_size(s, tr, compress, policies=POLICIES, fractions=FRACTIONS, sweep="size"):
    ws, _ = working_set(s, tr, compress, sweep)
    for pol in policies:
        for f in fractions:
            size = max(MIN_SIZE, int(ws * f))
            s.run(tr, "cairn", "%s: %s %.4gx ws" % (sweep, pol, f), compress=compress,
                  size=size, policy=pol, sweep=sweep, frac=f, ws=ws)
    return ws


def main(a, which, argv):
    with Session(a, argv) as s:
        if "quick" in which:
            quick(s)
        if "replay" in which:
            tr, mapping = T.map_names(T.read(a.trace), default_ttl=a.default_ttl)
            size = parse_size(a.cache_size) if a.cache_size else 256 << 20
            s.run(tr, "cairn", "replay %s" % os.path.basename(a.trace), size=size,
                  sweep="replay", frac=None)
            if a.with_unbound:
                s.run(tr, "unbound", "replay %s" % os.path.basename(a.trace), size=size,
                      sweep="replay", frac=None)
        tr = None
        if set(which) & {"size", "predict", "policy"}:
            tr = make_trace(a)
            pols = POLICIES if "policy" in which else (a.policy,)
            ws = sweep_size(s, tr, a.compress, policies=pols)
            if a.with_unbound:
                s.run(tr, "unbound", "size: unbound at ws", size=ws, sweep="size", frac=1)
        if "ttl" in which:
            tr = tr or make_trace(a)
            for cap in TTL_CAPS:
                s.run(tr, "cairn", "ttl: max_ttl %d" % cap, max_ttl=cap, sweep="ttl", frac=None)
        if "clients" in which:
            per = a.rate / max(CLIENTS)     # the largest group asks at the base rate
            for k in CLIENTS:
                t2 = make_trace(a, clients=k, rate=per * k)
                s.run(t2, "cairn", "clients: %d" % k, sweep="clients", frac=None, nclients=k)
        if "flood" in which:
            # the legitimate stream at a twentieth of the base rate, the flood on top of it
            legit = make_trace(a, rate=a.rate / 20)
            ws, _ = working_set(s, legit, a.compress, "flood")
            for share in FLOODS:
                t2 = make_trace(a, flood_share=share, rate=a.rate / 20 / (1 - share),
                                max_queries=int(len(legit.queries) / (1 - share)) + 1)
                for pol in POLICIES:
                    r = s.run(t2, "cairn", "flood: %d%% %s" % (share * 100, pol),
                              size=max(MIN_SIZE, ws // 4), policy=pol, sweep="flood",
                              frac=0.25, flood=share)
                    # a flood name is asked once: never a hit, so every cairn hit is
                    # legitimate; the denominator is the legitimate queries answered
                    r["legit_hit_rate"] = r["hits"] / max(1, r["legit_replies"])
        path = report.write(s.rows, a.out, argv, time.monotonic() - s.t0)
        bad = [r["label"] for r in s.rows if r["who"] == "cairn" and not r["exact"]]
        print("report: %s (%d runs, %.0fs)%s" % (path, len(s.rows), time.monotonic() - s.t0,
                                                "; counts differ in: %s" % bad if bad else ""))
        return 1 if bad else 0


def quick(s):
    """A small workload, compressed 300x: the working set, four cache sizes with the default
    policy (and its predictions), Unbound at the working set, two TTL caps."""
    a = s.a
    for k, v in QUICK.items():
        if k != "compress":
            setattr(a, k, v)
    c = QUICK["compress"]
    tr = make_trace(a)
    ws = sweep_size(s, tr, c, policies=(a.policy,), fractions=(1 / 16, 1 / 4, 1, 4),
                    sweep="size")
    s.run(tr, "unbound", "size: unbound at ws", compress=c, size=ws, sweep="size", frac=1)
    for cap in (60, 3600):
        s.run(tr, "cairn", "ttl: max_ttl %d" % cap, compress=c, max_ttl=cap, sweep="ttl",
              frac=None)
    if sys.stderr.isatty():
        sys.stderr.write("quick sweep done\n")
