"""Every counter `cairnctl stats` prints can move (issue 10 item 2), driven from outside.

Each driver below is one scenario against its own cairn (real upstreams: NSD and the
scriptable hostile servers) and names the counters it must move. test_driver runs each and
checks them: a counter must grow, a gauge (sizes, rates) must end above zero, a setting must
hold its configured value. test_every_counter_has_a_driver compares the names a running cairn
prints with the names the drivers claim: a new counter without a driver here fails it, as
does a driver naming a counter that is no longer printed. (tests/unit/net/test_stats.c checks that
docs/cairnctl.md lists the same names.)
"""
import os
import secrets
import socket
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import pytest

import hostile as H
from test_dnssec import DNSSEC_COUNTERS
from helpers import (WallClock, control_path, ctl, ctl_stats, describe, logctx, make_query, rcode,
                     rdata_texts, resolve, start)

REAL = "192.0.2.55"
# values, not event counts: they must end above zero
GAUGES = {"cache.entries", "cache.bytes", "cache.failure_entries", "cache.failure_bytes",
          "cache.hit_rate", "cache.predict.bytes", "cache.predict.x0.25",
          "cache.predict.x0.5", "cache.predict.x1", "cache.predict.x2", "cache.predict.x4"}
# settings: checked against their configured value in test_settings_are_printed_as_set
SETTINGS = {"cache.budget", "cache.predict.sample_shift"}
SMALL_CACHE = 256 * 1024

DRIVERS = {}


def driver(*counters):
    def reg(fn):
        DRIVERS[fn.__name__] = (fn, counters)
        return fn
    return reg


class Env:
    """What a driver gets: the fixtures and a way to start its cairn with a control socket."""

    def __init__(self, tb, cairn, hz, hostile):
        self.tb, self.cairn, self.hz, self.hostile = tb, cairn, hz, hostile
        self.c = self.path = None

    def boot(self, *extra, config=None, env=None):
        self.path = control_path(self.cairn)
        self.c = start(self.cairn, self.tb, *extra, control=self.path, config=config,
                       env=env)
        return self.c

    def zone(self, label, body=(), handler=None, addrs=1, ttl=3600, parent_ttl=86400):
        """A fresh child zone of hz.test on its own hostile server(s), delegated for
        parent_ttl; returns (name, server, Zone)."""
        a = self.hz.alloc(addrs)
        z = self.hz.child("%s-%s" % (label, secrets.token_hex(3)), a, ttl=parent_ttl)
        zone = H.Zone(z, H.zone_text(z, addr=a[0], body=list(body), ttl=ttl))
        self.addrs = a
        return z, self.hostile(a, handler=handler, zone=zone), zone

    def stats(self):
        return ctl_stats(self.path)

    def ok(self, name, rdtype="A", want=(REAL,), **kw):
        r, _ = resolve(self.c, name, rdtype, **kw)
        assert rdata_texts(r.answer, rdtype) == list(want), describe(r) + logctx(self.c)
        return r

    def rc(self, name, want, rdtype="A", **kw):
        r, dt = resolve(self.c, name, rdtype, **kw)
        assert rcode(r) == want, name + describe(r) + logctx(self.c)
        return r, dt

    def blast(self, names, rdtype="A"):
        qs = [make_query(n, rdtype, qid=i) for i, n in enumerate(names)]
        got = H.blast(self.c.addr, self.c.port, qs, window=32, timeout=5.0, deadline=60)
        assert sum(1 for m, _ in got.values() if m is not None) >= 0.95 * len(names), \
            logctx(self.c)
        return got


def send_raw(c, wire, expect_reply=True):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(wire, (c.addr, c.port))
        if expect_reply:
            return s.recv(65535)
        try:
            return s.recv(65535)
        except socket.timeout:
            return None
    finally:
        s.close()


# ------------------------------------------------------------------ the drivers
@driver("queries", "answer.cache.positive", "answer.cache.negative", "answer.resolved",
        "answer.refused", "answer.formerr", "answer.dropped", "answer.local",
        "cache.hit_rate", "miss.first", "upstream.queries", "upstream.sent_udp",
        "upstream.replies", "cache.entries", "cache.bytes", "cache.lookups", "cache.hits",
        "cache.miss_first", "cache.insertions")
def basic(e):
    z, _, _ = e.zone("basic", ["www IN A " + REAL])
    e.boot()
    for _ in range(2):
        e.ok("www." + z)
        e.rc("nx-%s.%s" % ("x", z), "NXDOMAIN")
    r = dns.query.udp(make_query("rd0." + z, "A", rd=False), e.c.addr, port=e.c.port,
                        timeout=3)
    assert rcode(r) == "REFUSED", describe(r)          # RD=0 and not cached
    q = make_query("www." + z, "A")
    q.use_edns(edns=1, payload=1232)                    # EDNS version 1: BADVERS
    r = dns.message.from_wire(send_raw(e.c, q.to_wire()))
    assert r.rcode() == dns.rcode.BADVERS, describe(r)
    w = bytearray(make_query("www." + z, "A").to_wire())
    w[2] |= 0x80                                        # QR=1: never answered
    assert send_raw(e.c, bytes(w), expect_reply=False) is None
    e.ok("localhost.", want=("127.0.0.1",))             # RFC 6761 built-in local zone


@driver("answer.ready")
def ready(e):
    """The same query again and again from one socket (one worker): after the first answer
    from the cache, copies from the worker's ready-to-send table (resolver/hot.c)."""
    z, _, _ = e.zone("rdy", ["www IN A " + REAL])
    e.boot()
    e.ok("www." + z)              # resolved
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(5):
            r = dns.query.udp(make_query("www." + z, "A", qid=100 + i), e.c.addr,
                              port=e.c.port, timeout=3, sock=s)
            assert rdata_texts(r.answer, "A") == [REAL], describe(r)
    finally:
        s.close()


@driver("miss.expired", "cache.miss_expired", "cache.replacements", "cache.expirations")
def expiry(e):
    z, _, _ = e.zone("exp", ["short 10 IN A " + REAL])
    clock = WallClock(e.cairn.tmpdir)
    e.boot(env=clock.env)
    e.ok("short." + z)
    clock.advance(12)
    e.ok("short." + z)            # expired (inside the stale window): asked again, replaced
    clock.advance(3 * 86400)      # past the stale window: the dead entry is removed when met
    e.ok("short." + z)


@driver("prefetches")
def prefetch(e):
    z, srv, _ = e.zone("pf", ["pf 100 IN A " + REAL])
    clock = WallClock(e.cairn.tmpdir)
    e.boot(env=clock.env)
    e.ok("pf." + z)
    asked = srv.count(qname="pf." + z)
    clock.advance(95)             # the last 10% of the TTL
    e.ok("pf." + z)               # answered from cache, refreshed in the background
    end = time.monotonic() + 5
    while srv.count(qname="pf." + z) == asked and time.monotonic() < end:
        time.sleep(0.05)
    assert srv.count(qname="pf." + z) > asked, "no background refresh reached the server"


@driver("answer.cache.stale", "cache.stale_hits", "upstream.timeouts",
        "upstream.transport_timeouts")
def stale(e):
    dead = {"on": False}

    def handler(q):
        return [H.Drop()] if dead["on"] else None

    z, _, _ = e.zone("stale", ["st 10 IN A " + REAL], handler=handler)
    clock = WallClock(e.cairn.tmpdir)
    e.boot(config="limits:\n  client_deadline_ms: 400\n", env=clock.env)
    e.ok("st." + z)
    dead["on"] = True
    clock.advance(12)
    r = e.ok("st." + z)           # the server is silent: the expired answer, EDE 3
    assert any(o.code == 3 for o in r.options if hasattr(o, "code")), describe(r)
    time.sleep(1.5)               # let the resolution's timeouts be counted


@driver("limits.deadline", "answer.servfail", "miss.uncacheable", "failures.zones_cached")
def deadline(e):
    z, _, _ = e.zone("dl", handler=lambda q: [H.Drop()] if q.qname.startswith("x") else None)
    e.boot(config="limits:\n  client_deadline_ms: 300\n")
    e.rc("x." + z, "SERVFAIL")    # the client's deadline; the resolution goes on
    end = time.monotonic() + 12   # until its only server is given up: the cut is remembered
    while e.stats()["failures.zones_cached"] == 0 and time.monotonic() < end:
        time.sleep(0.2)


@driver("upstream.dead_skips")
def dead_skips(e):
    """A zone whose only server is silent, and no failure cache (servfail_ttl 0): the first
    name times the server out twice in a row, which makes it dead. Then 8 names at once,
    inside one probe interval: one request may take the dead server's probe, the others
    must skip it."""
    z, _, _ = e.zone("dsk", handler=lambda q: [H.Drop()])
    e.boot(config="servfail_ttl: 0\n")
    e.rc("w0." + z, "SERVFAIL", timeout=8)
    end = time.monotonic() + 12   # the resolution goes on after the client's answer
    while e.stats()["upstream.timeouts"] < 2 and time.monotonic() < end:
        time.sleep(0.1)
    e.blast(["n%d.%s" % (i, z) for i in range(8)])


@driver("failures.cached", "failures.answered",
        "cache.failure_entries", "cache.failure_bytes")
def failures(e):
    z, _, _ = e.zone("fail", handler=lambda q: [H.Send(H.reply(
        q, rcode=dns.rcode.REFUSED, aa=False))] if q.qname.startswith("f") else None)
    e.boot()
    e.rc("f1." + z, "SERVFAIL")
    r, _ = e.rc("f1." + z, "SERVFAIL")            # from the failure cache
    e.rc("f2." + z, "SERVFAIL")                   # below a cut remembered as failing


@driver("upstream.tcp", "upstream.sent_tcp", "upstream.tc_retries")
def tcp(e):
    """A server that answers every UDP query with TC=1: cairn asks again over TCP, counted
    as a TCP attempt (upstream.tcp, net/upstream.c) and a query written on it."""
    z, srv, _ = e.zone("tc", ["www IN A " + REAL], handler=lambda q: [H.Send(H.reply(
        q, tc=True))] if q.msg is not None and not q.tcp and q.qname.startswith("www.")
        else None)
    e.boot()
    e.ok("www." + z)
    assert srv.count(transport="tcp") >= 1, "the server saw no TCP query" + logctx(e.c)
    st = e.stats()
    assert st["upstream.tcp"] >= st["upstream.sent_tcp"], st


@driver("upstream.oversize_retries")
def oversize(e):
    txt = ['"%s"' % ("%02d" % i * 50) for i in range(40)]           # ~4 KB
    body = ["big IN TXT %s" % t for t in txt]
    zone_ref = {}

    def handler(q):
        if q.msg is None or q.tcp or not q.qname.startswith("big."):
            return None
        return [H.Send(zone_ref["z"].answer(q), auto_tc=False)]    # too big, and no TC

    z, _, zone = e.zone("ovs", body, handler=handler)
    zone_ref["z"] = zone
    e.boot()
    r, _ = resolve(e.c, "big." + z, "TXT", tcp=True)
    assert len(r.answer) == 1 and len(r.answer[0]) == 40, describe(r) + logctx(e.c)


@driver("upstream.ignored_malformed", "upstream.ignored_mismatch", "upstream.ignored_case")
def forged(e):
    def handler(q):
        if q.msg is None or not q.qname.startswith("f."):
            return None
        real = zone_ref["z"].answer(q)
        swapped = q.qname_raw.swapcase()
        return [H.Send(H.garbage(30)), H.Send(H.reply(q, qid=(q.msg.id + 1) & 0xFFFF)),
                H.Send(H.reply(q, qname=swapped, answer=real.answer)),
                H.Send(real, delay=0.05)]

    zone_ref = {}
    z, _, zone = e.zone("frg", ["f IN A " + REAL], handler=handler)
    zone_ref["z"] = zone
    e.boot()
    e.ok("f." + z)


@driver("upstream.case_failures")
def case_failures(e):
    zone_ref = {}

    def lowercaser(q):
        if q.msg is None or q.qname_raw == q.qname:
            return None
        m = zone_ref["z"].answer(q)
        return H.reply(q, answer=m.answer, authority=m.authority, qname=q.qname)

    z, _, zone = e.zone("lc", ["* IN A " + REAL], handler=lowercaser)
    zone_ref["z"] = zone
    e.boot()
    e.ok("letters-only-name." + z, timeout=8)


@driver("upstream.network_errors")
def network_errors(e):
    a = e.hz.alloc(1)            # nothing listens there: ICMP port unreachable
    z = e.hz.child("ne-" + secrets.token_hex(3), a)
    e.boot()
    e.rc("x." + z, "SERVFAIL", timeout=8)


@driver("upstream.forwarded")
def forwarded(e):
    """A forward zone: its queries go to its recursive server through c-ares."""
    z, _, _ = e.zone("fw", ["www IN A " + REAL])
    back_ctl = control_path(e.cairn) + ".b"
    back = start(e.cairn, e.tb, control=back_ctl)
    e.boot("--forward", "%s=127.0.0.1@%d" % (z, back.port))
    e.ok("www." + z)


@driver("reload.applied", "reload.rejected", "reload.zones_kept")
def reloads(e):
    """Reload a good file, a broken one (rejected whole) and one whose zone file no longer
    parses (applied, the running zones kept)."""
    import os
    d = str(e.cairn.tmpdir)
    zpath = os.path.join(d, "rz.zone")
    with open(zpath, "w") as f:
        f.write("$TTL 60\n@ IN SOA ns h 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.1\n"
                "$ORIGIN rz.test.\n")
    cfg = "zones:\n  - name: rz.test.\n    file: %s\n" % zpath
    c = e.boot(config=cfg)
    path = os.path.join(d, "cairn-%d.yaml" % c.port)
    assert ctl(e.path, "reload").stdout.startswith("ok:")
    with open(path, "w") as f:
        f.write(cfg + "no_such_key: 1\n")
    assert ctl(e.path, "reload", check=False).returncode == 1
    with open(path, "w") as f:
        f.write(cfg)
    with open(zpath, "a") as f:
        f.write("bad IN A 10.0.0\n")
    assert "hosted zones NOT reloaded" in ctl(e.path, "reload").stdout


@driver("rate_limit.limited", "rate_limit.slipped")
def rate_limit(e):
    z, _, _ = e.zone("rl", ["* IN A " + REAL])
    e.boot(config="rate_limit:\n  misses_per_second: 2\n  slip: 2\n")
    qs = [make_query("r%d.%s" % (i, z), "A", qid=i) for i in range(20)]
    H.blast(e.c.addr, e.c.port, qs, window=20, timeout=2.0, deadline=20)


@driver("limits.hit", "limits.cname")
def limit_cname(e):
    body = ["c%d IN CNAME c%d" % (i, i + 1) for i in range(20)] + ["c20 IN A " + REAL]
    z, _, _ = e.zone("lcn", body)
    e.boot()
    e.rc("c0." + z, "SERVFAIL")


@driver("limits.glueless")
def limit_glueless(e):
    vz, _, _ = e.zone("vic")

    def refer(q):
        if q.msg is None or not q.qname.startswith("x."):
            return None
        names = ["n%d.%s" % (i, vz) for i in range(12)]
        cut = q.qname.split(".", 1)[1]
        cut = "x." + cut
        return H.reply(q, aa=False, authority=[H.rr(cut, 3600, "NS", *names)])

    z, _, _ = e.zone("nxns", handler=refer)
    e.boot()
    e.rc("x." + z, "SERVFAIL", timeout=8)


@driver("limits.upstream")
def limit_upstream(e):
    z, _, _ = e.zone("lup", ["www IN A " + REAL])
    e.boot(config="limits:\n  upstream_queries: 1\n")
    e.rc("www." + z, "SERVFAIL")


@driver("limits.referral")
def limit_referral(e):
    z, _, _ = e.zone("lrf", ["www IN A " + REAL])
    e.boot(config="limits:\n  referral_depth: 1\n")
    e.rc("www." + z, "SERVFAIL")


@driver("cache.evictions", "miss.evicted", "cache.miss_evicted", "cache.too_big")
def evict(e):
    txt = ['"%s"' % ("%03d" % i * 66) for i in range(200)]          # 40 KB: over 1/8 of the cache
    z, _, _ = e.zone("ev", ["* IN A " + REAL] + ["big IN TXT %s" % t for t in txt])
    e.boot("--cache-size", str(SMALL_CACHE))
    first = ["e%d.%s" % (i, z) for i in range(100)]
    e.blast(first)
    e.blast(["f%d.%s" % (i, z) for i in range(3000)])
    e.blast(first)                # many of these were evicted while still valid
    r, _ = resolve(e.c, "big." + z, "TXT", tcp=True)       # answered, not stored
    assert len(r.answer) == 1 and len(r.answer[0]) == 200, describe(r) + logctx(e.c)


@driver("cache.rank_refused")
def rank_refused(e):
    """ns1's address, cached from its own zone's authoritative answer, is not replaced by
    the same address given again as glue (RFC 2181 5.4.1): the parent's delegation (and its
    glue) lasts 5 s, so the next name after that goes to the parent again."""
    z, _, _ = e.zone("rr", ["* IN A " + REAL], parent_ttl=5)
    clock = WallClock(e.cairn.tmpdir)
    e.boot(env=clock.env)
    e.ok("ns1." + z, want=(e.addrs[0],))
    clock.advance(6)
    e.ok("www." + z)


@driver("cache.predict.sampled_lookups", "cache.predict.bytes", "cache.predict.x0.25",
        "cache.predict.x0.5", "cache.predict.x1", "cache.predict.x2", "cache.predict.x4")
def predict(e):
    z, _, _ = e.zone("pr", ["* IN A " + REAL])
    e.boot()
    names = ["p%d.%s" % (i, z) for i in range(400)]
    e.blast(names)
    e.blast(names)


@driver("inflight.lock_acquired", "inflight.lock_contended",
        "server_selection.lock_acquired", "server_selection.lock_contended")
def lock_contention(e):
    """Two workers flooded with cache misses by dnsperf from 32 source ports (the kernel
    spreads them over both workers): 1000 cold names a round, each asked 4 times in a row,
    so its copies reach both workers, whose claims meet on its stripe of the in-flight
    table, and many resolutions run at once, each taking the server-selection lock several
    times. Contended means two threads at one lock at the same instant, which only
    concurrency makes happen (in-flight: one or two in 6000 acquisitions a round under
    ASan here, server selection about ten in 5000): rounds of fresh names until both
    contended counters moved, at most 20 rounds (each bounded by dnsperf -l 10; one or two
    seen)."""
    wild = e.tb.names["wildcard"]["qname"].split(".", 1)[1]   # wild.example.com.
    c = e.boot("--workers", "2", config="limits:\n  client_waiting: 100000\n")
    e.ok("warm-%s.%s" % (secrets.token_hex(3), wild), want=("192.0.2.99",))
    base = e.stats()
    keys = ("inflight.lock_contended", "server_selection.lock_contended")
    qfile = os.path.join(str(e.cairn.tmpdir), "lock-contention.txt")
    for rnd in range(1, 21):
        tag = secrets.token_hex(3)
        with open(qfile, "w") as f:
            f.writelines("lc%s-%d.%s A\n" % (tag, i // 4, wild) for i in range(4000))
        out = subprocess.run(["dnsperf", "-s", c.addr, "-p", str(c.port), "-d", qfile,
                              "-n", "1", "-c", "32", "-q", "200", "-l", "10", "-t", "3"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr + logctx(c)
        st = e.stats()
        if all(st[k] > base[k] for k in keys):
            break
    print("lock_contention: %d rounds; %s" % (rnd, {
        k: st[k] - base[k] for k in ("inflight.lock_acquired", "inflight.lock_contended",
                                     "server_selection.lock_acquired",
                                     "server_selection.lock_contended")}))


# ------------------------------------------------------------------ the tests
def moved(name, before, after):
    if name in GAUGES:
        return after.get(name, 0) > 0
    return after.get(name, 0) - before.get(name, 0) >= 1


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_driver(tb, cairn, hz, hostile, name):
    fn, counters = DRIVERS[name]
    e = Env(tb, cairn, hz, hostile)
    orig_boot = e.boot
    snap = {}

    def boot(*a, **kw):
        c = orig_boot(*a, **kw)
        snap["before"] = e.stats()
        return c
    e.boot = boot
    fn(e)
    after = e.stats()
    before = snap["before"]
    still = [k for k in counters if not moved(k, before, after)]
    assert not still, "%s did not move %s: %s%s" % (
        name, still, {k: (before.get(k), after.get(k)) for k in still}, logctx(e.c))


def printed_names(tb, cairn):
    path = control_path(cairn)
    start(cairn, tb, control=path)
    return path, ctl_stats(path)


def test_every_counter_has_a_driver(tb, cairn):
    _, st = printed_names(tb, cairn)
    claimed = set(SETTINGS) | set(DNSSEC_COUNTERS)  # driven in test_dnssec.py (signed tree)
    for _, counters in DRIVERS.values():
        claimed.update(counters)
    missing = sorted(set(st) - claimed)
    stale_claims = sorted(claimed - set(st))
    assert not missing, "printed by cairnctl stats but driven by no test here: %s" % missing
    assert not stale_claims, "claimed by a driver but not printed: %s" % stale_claims


def test_settings_are_printed_as_set(tb, cairn):
    path = control_path(cairn)
    start(cairn, tb, "--cache-size", "32M", control=path)
    st = ctl_stats(path)
    assert st["cache.budget"] == 32 * 2**20, st
    # 2^-shift of the keys are sampled (cache/README.md "Prediction"): a small shift
    assert 0 <= st["cache.predict.sample_shift"] <= 16, st
