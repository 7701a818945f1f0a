"""One replay run against cairn or Unbound on the testbed, and the figures it yields.

The testbed (scripts/testbed_lib) serves hr.test. (trace.zone_text) from pool-1 and pool-2,
delegated from .test. Each run starts a fresh resolver (cold cache) with its wall clock sped
up by the compression factor through libfaketime (the monotonic clock left alone: DESIGN.md
"Time"), replays the trace open loop, then reads the resolver's own counters and the NSD
query counts.
"""
import os
import signal
import subprocess
import threading
import time

from testbed_lib import core as tbcore
import peers
from . import convert as C
from . import replay as R
from . import trace as T

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
HR_SERVERS = (("pool-1", "ns1.hr.test.", "127.3.1.1"), ("pool-2", "ns2.hr.test.", "127.3.2.1"))


class BenchError(Exception):
    pass


def install_zone(tb, ttls):
    """Serve hr.test with a wildcard per TTL in ttls; (re)load it and delegate it once."""
    st = tb.load()
    text = T.zone_text(ttls or [300], serial=int(time.time()) % 2000000000)
    first = "hr.test." not in st.get("delegated", {})
    for sname, _, _ in HR_SERVERS:
        s = st["servers"][sname]
        with open(os.path.join(s["dir"], "zones", "hr.test.zone"), "w") as f:
            f.write(text)
        if first:
            r = subprocess.run([tbcore.NSD_CONTROL, "-c", s["conf"], "addzone", "hr.test",
                                "leaf"], capture_output=True, text=True, timeout=20)
            if r.returncode != 0 and "already" not in r.stdout + r.stderr:
                raise BenchError("addzone hr.test on %s: %s%s" % (sname, r.stdout, r.stderr))
        tbcore.nsd_control(s, "reload", "hr.test")
    if first:
        tb.delegate("hr.test.", [(n, a) for _, n, a in HR_SERVERS])
    probe = "x.t%d.hr.test." % sorted(ttls or [300])[0]
    deadline = time.monotonic() + 10
    for _, _, a in HR_SERVERS:
        tbcore.wait_for(lambda: tbcore.query(a, probe, "A", timeout=0.5).answer, deadline,
                        "%s to serve hr.test" % a)


def faketime_env(rate):
    """libfaketime: the wall clock runs `rate` times faster from the process start; the
    monotonic clock (timers, RTTs) is real."""
    if rate == 1:
        return {}
    if not os.path.exists(LIBFAKETIME):
        raise BenchError("compression needs libfaketime (%s; Debian package faketime)"
                         % LIBFAKETIME)
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": "+0 x%g" % rate,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


class Resolver:
    """who: "cairn" or "unbound"; cfg: dict(size=bytes, max_ttl=s, policy=name)."""

    def __init__(self, who, opts, tmp, hints, cfg, port):
        self.who, self.o, self.tmp, self.cfg, self.port = who, opts, tmp, cfg, port
        self.ctl = os.path.join(tmp, "%s.ctl" % who)
        if who == "cairn":
            self.conf = os.path.join(tmp, "cairn.yaml")
            with open(self.conf, "w") as f:
                f.write("cache:\n  size: %d\n  max_ttl: %d\n  policy: %s\n"
                        % (cfg["size"], cfg["max_ttl"], cfg["policy"]))
                if cfg.get("predict_shift") is not None:
                    f.write("  predict_shift: %d\n" % cfg["predict_shift"])
            self.qlog = os.path.join(tmp, "cairn-queries.log")
            self.cmd = [opts.cairn, "-c", self.conf, "-l", "127.0.0.1@%d" % port,
                        "--root-hints", hints, "--allow-loopback-upstream", "--workers", "1",
                        "--control", self.ctl, "--query-log", self.qlog, "-q"]
            # the testbed is unsigned: validation off (a cairn without the flag, an
            # older build given with --cairn, does not validate)
            self.cmd += no_dnssec_flag(opts.cairn)
        else:
            mb = max(2, (cfg["size"] + (1 << 20) - 1) >> 20)
            self.conf = peers.unbound_conf(tmp, hints, port, mb, threads=1, control=self.ctl)
            with open(self.conf) as f:
                text = f.read()
            self.qlog = os.path.join(tmp, "unbound-replies.log")
            text = text.replace("    verbosity: 0\n", "    verbosity: 0\n    cache-max-ttl: %d\n"
                                "    extended-statistics: yes\n    log-replies: yes\n"
                                % cfg["max_ttl"])
            text = text.replace('logfile: ""', 'logfile: "%s"' % self.qlog)
            with open(self.conf, "w") as f:
                f.write(text)
            self.cmd = [opts.unbound, "-d", "-c", self.conf]
        self.p = None

    def start(self, rate):
        if os.path.exists(self.ctl):
            os.unlink(self.ctl)
        env = dict(os.environ)
        env.update(faketime_env(rate))
        self.log = os.path.join(self.tmp, self.who + ".log")
        with open(self.log, "ab") as logf:
            self.p = subprocess.Popen(["taskset", "-c", self.o.cpu] + self.cmd, stdout=logf,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise BenchError("%s exited at start (%s):\n%s" % (self.who, self.p.returncode,
                                                                  tail(self.log)))
            if udp_bound(self.port) and os.path.exists(self.ctl):
                try:           # the socket file exists a moment before it accepts
                    self.stats()
                    return self
                except BenchError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise BenchError("%s did not come up on port %d" % (self.who, self.port))

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        rc = self.p.returncode if self.p else 0
        self.p = None
        return rc

    def stats(self):
        if self.who == "cairn":
            out = run([self.o.cairnctl, "-s", self.ctl, "stats"])
            kv = {}
            for ln in out.splitlines():
                k, _, v = ln.partition(" ")
                kv[k] = v.strip()
            return kv
        out = run([self.o.unbound_control, "-c", self.conf, "stats_noreset"])
        return dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)


_FLAGS = {}


def no_dnssec_flag(binary):
    """["--no-dnssec"] if this cairn has the flag (DNSSEC validation on by default: the
    testbed's hr.test is unsigned), else [] (a cairn that does not validate)."""
    if binary not in _FLAGS:
        try:
            r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
            _FLAGS[binary] = "--no-dnssec" in r.stdout + r.stderr
        except (OSError, subprocess.TimeoutExpired):
            _FLAGS[binary] = False
    return ["--no-dnssec"] if _FLAGS[binary] else []


def read_reply_log(path):
    """The resolver's per-query lines (cairn's query_log, Unbound's log-replies), parsed by
    convert.parse_log_line, in file order."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                d = C.parse_log_line(line)
                if d is not None and (d.get("outcome") or d.get("cached") is not None):
                    out.append(d)
    except OSError:
        pass
    return out


def _qkey(addr, qname, qtype):
    try:
        code = T.type_code(qtype)
    except T.TraceError:
        code = qtype
    return (addr, T.norm_name(qname), code)


def match_log(tr, rp, lines):
    """Each answered query's line of the resolver's log: per (client address, qname, qtype)
    the lines in log order go to the answered queries in send order. Returns (list of the
    line dicts or None per query, lines left over)."""
    clients = tr.clients()
    queues = {}
    for d in lines:
        queues.setdefault(_qkey(d["client"], d["qname"], d["qtype"]), []).append(d)
    heads = {}
    order = sorted(range(len(tr.queries)), key=lambda i: rp.sent[i])
    got = [None] * len(tr.queries)
    for i in order:
        if rp.rcode[i] == R.LOST:
            continue
        t, c, n, ty = tr.queries[i]
        k = _qkey(R.client_addr(clients[c]), n, ty)
        q = queues.get(k)
        h = heads.get(k, 0)
        if q and h < len(q):
            got[i] = q[h]
            heads[k] = h + 1
    left = sum(len(q) - heads.get(k, 0) for k, q in queues.items())
    return got, left


def run(cmd, timeout=30):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise BenchError("%s -> %d: %s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout


def tail(path, n=3000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def udp_bound(port):
    for proto in ("udp", "udp6"):
        try:
            with open("/proc/net/%s" % proto) as f:
                next(f)
                for line in f:
                    if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except (OSError, StopIteration):
            pass
    return False


def ival(kv, k):
    try:
        return int(float(kv.get(k, 0)))
    except ValueError:
        return 0


class Capture:
    """tcpdump on lo (inside the testbed's namespace) of the traffic to and from the
    resolver's port, into `path`; bounded: stopped with the run (SIGTERM, then SIGKILL)."""

    def __init__(self, path, port):
        if not os.access("/usr/bin/tcpdump", os.X_OK):
            raise BenchError("--capture needs tcpdump (Debian package tcpdump)")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.path = path
        self.p = subprocess.Popen(["/usr/bin/tcpdump", "-i", "lo", "-U", "-n", "-B", "16384",
                                   "-w", path, "port %d" % port], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        line = b""
        while b"listening on" not in line and time.monotonic() < deadline:
            line = self.p.stderr.readline()
            if not line and self.p.poll() is not None:
                break
        if b"listening on" not in line:
            self.stop()
            raise BenchError("tcpdump did not start: %r" % line)

    def stop(self):
        if self.p.poll() is None:
            time.sleep(0.2)
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stderr.close()


class Sampler(threading.Thread):
    """cairn's counters every `period` real seconds during a replay (the exact hit rate
    over time)."""

    def __init__(self, res, period, t0):
        super().__init__(daemon=True)
        self.res, self.period, self.t0 = res, period, t0
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(self.period):
            try:
                kv = self.res.stats()
            except Exception:
                continue
            self.samples.append((time.monotonic() - self.t0, ival(kv, "queries"),
                                 ival(kv, "answer.cache.positive") +
                                 ival(kv, "answer.cache.negative")))


def run_once(opts, tb, tr, who, cfg, compress, label, port):
    """Replay tr against a fresh resolver; returns the result dict (see classify)."""
    tmp = os.path.join(opts.workdir, "run-%s-%d" % (who, int(time.monotonic() * 1000)))
    os.makedirs(tmp, exist_ok=True)
    res = Resolver(who, opts, tmp, tb.root_hints, cfg, port)
    nsd0 = tb.query_count()
    res.start(compress)
    cap = None
    try:
        if getattr(opts, "capture", None):
            cap = Capture(os.path.join(opts.capture, "%s-%s.pcap" % (
                "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in label), who)),
                port)
        idle = ival(res.stats(), "cache.bytes") if who == "cairn" else 0
        budget = R.compressed_seconds(tr, compress) * 1.5 + 30
        rp = R.Replay(tr, "127.0.0.1", port, compress=compress, timeout=opts.timeout,
                      max_seconds=budget, progress=R.Bar(label, opts.progress))
        samp = None
        if who == "cairn" and opts.sample_period > 0:
            samp = Sampler(res, opts.sample_period, time.monotonic())
            samp.start()
        rp.run()
        if samp:
            samp.halt.set()
            samp.join()
        time.sleep(0.2)      # replies still in flight are counted by the resolver already
        kv = res.stats()
    finally:
        if cap:
            cap.stop()
        rc = res.stop()
    if rc not in (0, None):
        raise BenchError("%s exited with status %s; log %s:\n%s" % (who, rc, res.log,
                                                                   tail(res.log)))
    upstream = tb.query_count() - nsd0
    logged, left = match_log(tr, rp, read_reply_log(res.qlog))
    out = classify(tr, rp, cfg, compress, logged, who)
    out["log_unmatched"] = left
    out["oracle"] = T.oracle(tr, max_ttl=cfg["max_ttl"])
    out.update(who=who, label=label, size=cfg["size"], max_ttl=cfg["max_ttl"],
               policy=cfg["policy"] if who == "cairn" else "lru(unbound)",
               clients=len(tr.clients()), compress=compress, nsd_queries=upstream,
               upstream_per_query=upstream / max(1, out["replies"]), stats=kv,
               series_exact=samp.samples if samp else [])
    out.update(resolver_figures(who, kv, out))
    # what the trace put in the cache: the bytes held at the end less the fixed overhead an
    # idle cache of this budget already reports (its index and the predictor)
    out["entry_bytes"] = out["cache_bytes"] - idle
    return out


def classify(tr, rp, cfg, compress, logged=None, who="cairn"):
    """The tool's own count of replies by rcode, and each reply classed hit or miss.

    The class comes from the resolver's own line for that query when every answered query
    has one (`logged`, from match_log): cairn's query_log outcome (cache.positive or
    cache.negative is a hit), Unbound's log-replies cached flag. Otherwise, and always as a
    cross-check (ttl_hits), from its TTL: the resolver answers a cache hit with the remaining
    TTL, a miss with the full one (the largest seen for that TTL class). Within one second
    of the resolver's clock (a 1/compress real second) a hit still shows the full TTL: such
    a reply counts as a hit when the same question got a full-TTL reply before it was sent,
    inside that second."""
    full = {}
    cls = []
    for (t, c, n, ty), ttl in zip(tr.queries, rp.ttl):
        k = T.synthetic_ttl(n) if T.is_synthetic(n) else None
        cl = k if k is not None else "nx"
        cls.append(cl)
        if ttl is not None:
            full[cl] = max(full.get(cl, 0), ttl)
    last_full = {}
    sec = 1.0 / compress
    hit = [False] * len(tr.queries)
    rcodes = {}
    lat_hit, lat_miss = [], []
    for i, (t, c, n, ty) in enumerate(tr.queries):
        rc = rp.rcode[i]
        rcodes[rc] = rcodes.get(rc, 0) + 1
        if rc == R.LOST:
            continue
        ttl = rp.ttl[i]
        key = (n, ty) if cls[i] != "nx" else (n,)
        if ttl is None:
            h = False
        elif ttl < full[cls[i]]:
            h = True
        else:
            prev = last_full.get(key)
            h = prev is not None and prev <= rp.sent[i] and rp.sent[i] - prev < sec
            if not h:
                last_full[key] = rp.recv[i]
        hit[i] = h
    ttl_hit = list(hit)
    answered = [i for i in range(len(tr.queries)) if rp.rcode[i] != R.LOST]
    from_log = bool(logged) and all(logged[i] is not None for i in answered)
    outcomes = {}
    if from_log:
        for i in answered:
            d = logged[i]
            if who == "cairn":
                hit[i] = d["outcome"] in ("cache.positive", "cache.negative")
                outcomes[d["outcome"]] = outcomes.get(d["outcome"], 0) + 1
            else:
                hit[i] = d["cached"]
    for i in answered:
        (lat_hit if hit[i] else lat_miss).append(rp.recv[i] - rp.sent[i])
    replies = len(tr.queries) - rcodes.get(R.LOST, 0)
    per_client, per_group = {}, {}
    for i, q in enumerate(tr.queries):
        if rp.rcode[i] != R.LOST:
            pc = per_client.setdefault(q[1], [0, 0])
            pc[0] += 1
            pc[1] += hit[i]
            g = per_group.setdefault(client_group(q[1]), dict(n=0, hits=0, clients=set(),
                                                               lh=[], lm=[]))
            g["n"] += 1
            g["hits"] += hit[i]
            g["clients"].add(q[1])
            (g["lh"] if hit[i] else g["lm"]).append(rp.recv[i] - rp.sent[i])
    groups = {k: dict(replies=g["n"], hits=g["hits"], clients=len(g["clients"]),
                      hit_rate=g["hits"] / max(1, g["n"]), lat_hit=pcts(g["lh"]),
                      lat_miss=pcts(g["lm"])) for k, g in per_group.items()}
    legit = sum(1 for i, q in enumerate(tr.queries)
                if rp.rcode[i] != R.LOST and ".victim." + T.ZONE not in q[2])
    return dict(queries=len(tr.queries), sent=rp.nsent, replies=replies, legit_replies=legit,
                lost=rcodes.get(R.LOST, 0), rcodes={str(k): v for k, v in rcodes.items()},
                late=rp.late, malformed=rp.malformed,
                tool_hits=sum(hit), tool_hit_rate=sum(hit) / max(1, replies),
                class_source="log" if from_log else "ttl", log_outcomes=outcomes,
                ttl_hits=sum(ttl_hit), per_client=per_client, per_group=groups,
                lat_hit=pcts(lat_hit), lat_miss=pcts(lat_miss),
                series_tool=series(tr, hit, rp), wall=time.monotonic() - rp.start)


def client_group(c):
    """The group a trace client belongs to: its /24 (IPv4) or /48 (IPv6) for an address
    (a LAN's subnets), else the token itself (a synthetic client)."""
    import ipaddress
    try:
        a = ipaddress.ip_address(c)
        return str(ipaddress.ip_network("%s/%d" % (a, 24 if a.version == 4 else 48),
                                        strict=False))
    except ValueError:
        return c


def pcts(xs):
    if not xs:
        return {}
    xs = sorted(xs)
    pick = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1e3   # noqa: E731
    return {"n": len(xs), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99)}


def series(tr, hit, rp, buckets=40):
    """[(trace seconds at bucket end, tool hit rate in the bucket)]."""
    qs = tr.queries
    if not qs:
        return []
    t0, span = qs[0][0], max(1e-9, tr.duration())
    agg = [[0, 0] for _ in range(buckets)]
    for i, q in enumerate(qs):
        if rp.rcode[i] == R.LOST:
            continue
        b = min(buckets - 1, int((q[0] - t0) / span * buckets))
        agg[b][0] += 1
        agg[b][1] += hit[i]
    return [((b + 1) * span / buckets, h / n if n else None) for b, (n, h) in enumerate(agg)]


def resolver_figures(who, kv, out):
    """Hit rate and split from the resolver's own counters; for cairn the exactness check
    against the tool's reply count."""
    if who == "cairn":
        g = lambda k: ival(kv, k)   # noqa: E731
        ans = {k: g("answer." + k) for k in ("cache.positive", "cache.negative", "cache.stale",
                                            "local", "resolved", "servfail", "refused",
                                            "formerr", "dropped")}
        miss = {k: g("miss." + k) for k in ("first", "expired", "evicted", "uncacheable")}
        q = g("queries")
        noerr_nx = out["rcodes"].get("0", 0) + out["rcodes"].get("3", 0)
        checks = {
            "answer.* sum == queries": sum(ans.values()) == q,
            "queries == tool replies": q == out["replies"],
            "positive+negative+stale+local+resolved == tool NOERROR+NXDOMAIN":
                ans["cache.positive"] + ans["cache.negative"] + ans["cache.stale"] +
                ans["local"] + ans["resolved"] == noerr_nx,
            "servfail == tool SERVFAIL": ans["servfail"] == out["rcodes"].get("2", 0),
            "miss.* sum == resolved+servfail": sum(miss.values()) == ans["resolved"] +
                ans["servfail"],
            # every reply's own query_log line, matched by client, qname and qtype
            "each reply has its query_log line": out["class_source"] == "log",
            "query_log outcomes == answer.*": all(
                out["log_outcomes"].get(k, 0) == v for k, v in ans.items()),
        }
        hits = ans["cache.positive"] + ans["cache.negative"]
        checks["tool hits (query_log) == positive+negative"] = out["tool_hits"] == hits
        lookups = g("cache.lookups")
        pred = {k[len("cache.predict."):]: float(v) for k, v in kv.items()
                if k.startswith("cache.predict.x")}
        # queries the tool sent that never reached cairn (the kernel dropped them at a full
        # socket buffer: the machine was busy) are not a counting error; they are reported
        return dict(hits=hits, hit_rate=hits / max(1, q), answers=ans, misses=miss,
                    checks=checks, exact=all(checks.values()),
                    not_received=out["sent"] - q,
                    lookup_hit_rate=(g("cache.hits") + g("cache.stale_hits")) / max(1, lookups),
                    predict=pred, cache_bytes=g("cache.bytes"), budget=g("cache.budget"),
                    upstream_sent=g("upstream.sent"))
    q = ival(kv, "total.num.queries")
    hits = ival(kv, "total.num.cachehits")
    checks = {"total.num.queries == tool replies": q == out["replies"],
              "each reply has its log-replies line": out["class_source"] == "log",
              "cached replies (log-replies) == total.num.cachehits": out["tool_hits"] == hits}
    return dict(hits=hits, hit_rate=hits / max(1, q), answers={}, misses={},
                checks=checks, exact=all(checks.values()), lookup_hit_rate=None, predict={},
                misses_unbound=dict(cachemiss=ival(kv, "total.num.cachemiss"),
                                    prefetch=ival(kv, "total.num.prefetch"),
                                    expired=ival(kv, "total.num.expired"),
                                    recursion_avg=kv.get("total.recursion.time.avg"),
                                    recursion_median=kv.get("total.recursion.time.median")),
                cache_bytes=ival(kv, "mem.cache.rrset") + ival(kv, "mem.cache.message"),
                budget=None, upstream_sent=None)
