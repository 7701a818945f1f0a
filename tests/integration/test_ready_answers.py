"""Ready-to-send answers (resolver/hot.c, `cache.ready_answers`, counter `answer.ready`)
in a running cairn on the simulated tree.

A worker keeps the replies it made from the cache, keyed by the query's bytes after the ID,
and answers the same bytes again within the second by a copy with the client's ID and the
TTLs counted down. These tests ask from one UDP socket (so every query reaches the same
worker, SO_REUSEPORT picking by the 4-tuple) and check, from outside:

- the copy is the engine's reply byte for byte but for the ID (the engine's first reply in
  the same wall-clock second, and the reply a TCP query, which never uses the table, gets
  at that moment), for an A answer with and without EDNS, with DO, a mixed-case qname, a
  CNAME chain, NXDOMAIN, NODATA and a truncated reply; a second later every TTL is one
  less (WallClock.advance(1)) and it still equals what TCP gets;
- `cairnctl cache flush`, `cache flush NAME`, `flush NAME --subtree` and `cache load` end
  every copy at once (the next query goes upstream after a flush; `answer.ready` does not
  move); a flush that removes nothing does not;
- a reload that adds a hosted zone answers from the zone at once;
- TCP queries never count in `answer.ready`; with a private zone configured it stays 0;
- the cache's counters (`cache.lookups`, `.hits`, `.miss_*`, ...) after the same queries
  are the same in a cairn with `ready_answers: 0` and one with the default.

Sequences that must fall inside one or two wall-clock seconds start at the beginning of a
second (`aligned`) and are tried again in the rare case the machine took longer than that:
what is asserted is never a duration.
"""
import os
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from helpers import (WallClock, control_path, ctl, ctl_stats, describe, logctx,
                     rdata_texts, start, upstream_total)

INSIDE = "127.0.0.2"


def wire(name, rdtype, qid, edns=0, do=False, payload=1232):
    """A query's bytes (RD=1); edns None: no OPT."""
    q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload,
                               want_dnssec=do)
    q.id = qid
    return q.to_wire()


class Udp:
    """One client socket: every query from it reaches the same worker."""

    def __init__(self, cp, source=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if source:
            self.s.bind((source, 0))
        self.s.settimeout(5.0)
        self.s.connect((cp.addr, cp.port))

    def ask(self, w):
        self.s.send(w)
        while True:
            r = self.s.recv(65535)
            if r[:2] == w[:2]:
                return r

    def close(self):
        self.s.close()


def tcp_ask(cp, w):
    with socket.create_connection((cp.addr, cp.port), timeout=5.0) as s:
        s.sendall(struct.pack("!H", len(w)) + w)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            d = s.recv(65535)
            assert d, "TCP connection closed before the reply"
            buf += d
        return buf[2:2 + struct.unpack("!H", buf[:2])[0]]


def with_id(r, qid):
    return struct.pack("!H", qid) + r[2:]


def ttls(r):
    """The TTLs of a reply, section by section (OPT left out)."""
    m = dns.message.from_wire(r)
    return [rs.ttl for sec in (m.answer, m.authority, m.additional) for rs in sec]


def aligned(attempt, within=0.9, tries=4, prepare=None):
    """Run attempt(in_time) starting just after a wall-clock second begins (prepare() first,
    before waiting for it); in_time() tells whether less than `within` seconds have passed
    since, and attempt returns False when it found that they had not (then it runs again).
    If the machine never managed it, the test says so."""
    for _ in range(tries):
        if prepare:
            prepare()
        t = time.time()
        time.sleep((int(t) + 1) - t + 0.02)
        t0 = time.monotonic()
        if attempt(lambda: time.monotonic() - t0 < within):
            return
    pytest.fail("no attempt ran within %.1f s of a second's start" % within)


def boot(cairn, tb, config=None, env=None):
    path = control_path(cairn) + ".%d" % len(cairn.procs)   # one per daemon
    cp = start(cairn, tb, control=path, config=config, env=env)
    return cp, path


def ready(path):
    return ctl_stats(path)["answer.ready"]


# ------------------------------------------------------------------ the copies
KINDS = {
    "a": ("www.example.com.", "A", 0, False),
    "a_no_edns": ("www.example.com.", "A", None, False),
    "a_do": ("www.example.com.", "A", 0, True),
    "mixed_case": ("WwW.eXaMpLe.CoM.", "A", 0, False),
    "cname_chain": ("alias1.example.com.", "A", 0, False),
    "nxdomain": ("nope.example.com.", "A", 0, False),
    "nodata": ("www.example.com.", "TXT", None, False),
    "truncated": ("big.example.com.", "TXT", None, False),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_copy_is_the_engines_reply(tb, cairn, kind):
    name, rdtype, edns, do = KINDS[kind]
    clock = WallClock(cairn.tmpdir)
    cp, path = boot(cairn, tb, env=clock.env)
    c = Udp(cp)
    w = lambda qid: wire(name, rdtype, qid, edns=edns, do=do)  # noqa: E731
    r0 = c.ask(w(1))                      # resolved (and cached)
    if kind == "truncated":
        assert dns.message.from_wire(r0).flags & dns.flags.TC, describe(
            dns.message.from_wire(r0))
    c.ask(w(2))                           # from the cache (stored in the table)
    state = {}

    def attempt(in_time):
        clock.advance(2)                  # whatever the table holds has expired
        n0 = ready(path)
        r1 = c.ask(w(0x1111))             # the engine's reply, stored
        n1 = ready(path)
        r2 = c.ask(w(0x2222))             # the copy
        n2 = ready(path)
        t1 = tcp_ask(cp, w(0x2222))       # what the engine writes now (TCP: no table)
        clock.advance(1)
        r3 = c.ask(w(0x3333))             # the copy, a second later
        n3 = ready(path)
        t3 = tcp_ask(cp, w(0x3333))
        if not in_time():
            return False
        state.update(r1=r1, r2=r2, r3=r3, t1=t1, t3=t3, n=(n0, n1, n2, n3))
        return True

    aligned(attempt)
    r1, r2, r3, t1, t3 = (state[k] for k in ("r1", "r2", "r3", "t1", "t3"))
    n0, n1, n2, n3 = state["n"]
    assert (n1 - n0, n2 - n1, n3 - n2) == (0, 1, 1), (state["n"], logctx(cp))
    assert r2[:2] == b"\x22\x22" and r3[:2] == b"\x33\x33"
    assert r2 == with_id(r1, 0x2222), "copy differs from the engine's reply:\n%s\n%s" % (
        dns.message.from_wire(r1), dns.message.from_wire(r2))
    if kind == "truncated":               # over TCP it fits: no TCP twin; no TTLs either
        assert r3 == with_id(r1, 0x3333)
    else:
        assert r2 == t1, "copy differs from the TCP reply made at the same moment"
        assert r3 == t3, "a second later: copy %s, engine %s" % (
            dns.message.from_wire(r3), dns.message.from_wire(t3))
    assert len(r3) == len(r1)
    m1, m3 = dns.message.from_wire(r1), dns.message.from_wire(r3)
    assert ttls(r3) == [t - 1 for t in ttls(r1)], (m1, m3)
    assert m3.flags == m1.flags and m3.rcode() == m1.rcode()
    assert m3.edns == m1.edns and m3.ednsflags == m1.ednsflags and \
        m3.payload == m1.payload, (m1, m3)
    assert m3.question[0].name.to_text() == name    # the client's letter case
    if kind == "truncated":
        assert m3.flags & dns.flags.TC and not m3.answer
    elif kind == "nxdomain":
        assert m3.rcode() == dns.rcode.NXDOMAIN and m3.authority
    elif kind == "nodata":
        assert m3.rcode() == dns.rcode.NOERROR and not m3.answer and m3.authority
    else:
        assert rdata_texts(m3.answer, "A") == ["192.0.2.1"], describe(m3)
    if do:
        assert m3.ednsflags & dns.flags.DO
    c.close()


# ------------------------------------------------------------------ what ends a copy
FLUSHES = {
    "flush_all": (("cache", "flush"), True, False),
    "flush_name": (("cache", "flush", "www.example.com."), True, False),
    "flush_subtree": (("flush", "example.com.", "--subtree"), True, False),
    "flush_nothing": (("cache", "flush", "absent.example.org."), False, True),
    "load": ("load", False, False),
}


@pytest.mark.parametrize("how", sorted(FLUSHES))
def test_cache_changes_end_the_copies(tb, cairn, how, tmp_path):
    """After the change, the same query inside the copy's second is answered by the engine
    (after a flush: from upstream), and answer.ready does not move; a flush that removed
    nothing leaves the copy in place."""
    args, upstream, still = FLUSHES[how]
    cp, path = boot(cairn, tb)
    c = Udp(cp)
    w = lambda qid: wire("www.example.com.", "A", qid)  # noqa: E731
    c.ask(w(1))
    dump = str(tmp_path / "warm.dump")
    if how == "load":
        assert ctl(path, "cache", "dump", dump).stdout.startswith("dumped")
        args = ("cache", "load", dump)
    state = {}

    def attempt(in_time):
        c.ask(w(2))                       # the engine's reply from the cache, stored
        n0 = ready(path)
        c.ask(w(3))
        n1 = ready(path)
        up0 = upstream_total(tb)
        out = ctl(path, *args).stdout
        r = c.ask(w(4))
        n2 = ready(path)
        up1 = upstream_total(tb)
        if not in_time():
            return False
        state.update(n=(n0, n1, n2), up=(up0, up1), out=out, r=r)
        return True

    aligned(attempt, within=0.95)
    n0, n1, n2 = state["n"]
    up0, up1 = state["up"]
    assert n1 - n0 == 1, (state, logctx(cp))
    m = dns.message.from_wire(state["r"])
    assert rdata_texts(m.answer, "A") == ["192.0.2.1"], describe(m)
    if still:
        assert state["out"].strip() == "flushed 0", state["out"]
        assert n2 - n1 == 1, "a flush that removed nothing ended the copy: %s" % (state,)
    else:
        assert n2 == n1, "a copy was served after `%s`: %s" % (" ".join(args), state)
    if upstream:
        assert up1 > up0, "the query after `%s` did not go upstream" % " ".join(args)
    else:
        assert up1 == up0, (state, logctx(cp))
    c.close()


def write_zone(path, origin, body):
    with open(path, "w") as f:
        f.write("$ORIGIN %s\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n"
                "  IN NS ns1\nns1 IN A 192.0.2.53\n%s" % (origin, body))


def test_reload_adding_a_zone_answers_at_once(tb, cairn):
    """www.example.com's copy is in the table; a reload hosts example.com.: the next query,
    inside the copy's second, gets the zone's answer (AA)."""
    d = str(cairn.tmpdir)
    zpath = os.path.join(d, "ex.zone")
    write_zone(zpath, "example.com.", "www IN A 10.20.30.40\n")
    base = "cache:\n  ready_answers: 1024\n"
    cp, path = boot(cairn, tb, config=base)
    cfg_path = os.path.join(d, "cairn-%d.yaml" % cp.port)
    c = Udp(cp)
    w = lambda qid: wire("www.example.com.", "A", qid)  # noqa: E731
    state = {}

    def prepare():
        with open(cfg_path, "w") as f:    # no hosted example.com. (again, on a retry)
            f.write(base)
        assert ctl(path, "reload").stdout.startswith("ok:")
        c.ask(w(1))                       # cached (resolved again after a retry)

    def attempt(in_time):
        c.ask(w(2))                       # the engine's reply from the cache, stored
        n0 = ready(path)
        r1 = c.ask(w(3))                  # the copy
        n1 = ready(path)
        with open(cfg_path, "w") as f:
            f.write(base + "zones:\n  - name: example.com.\n    file: %s\n" % zpath)
        out = ctl(path, "reload").stdout
        r2 = c.ask(w(4))
        n2 = ready(path)
        if not in_time():
            return False
        state.update(n=(n0, n1, n2), r1=r1, r2=r2, out=out)
        return True

    aligned(attempt, within=0.95, prepare=prepare)
    n0, n1, n2 = state["n"]
    assert n1 - n0 == 1, state
    assert "hosted zone(s) loaded" in state["out"], state["out"]
    m1, m2 = dns.message.from_wire(state["r1"]), dns.message.from_wire(state["r2"])
    assert rdata_texts(m1.answer, "A") == ["192.0.2.1"] and not m1.flags & dns.flags.AA
    assert rdata_texts(m2.answer, "A") == ["10.20.30.40"], describe(m2) + logctx(cp)
    assert m2.flags & dns.flags.AA
    assert n2 == n1
    c.close()


# ------------------------------------------------------------------ never from the table
def test_tcp_never_counted(tb, cairn):
    cp, path = boot(cairn, tb)
    w = lambda qid: wire("www.example.com.", "A", qid)  # noqa: E731
    tcp_ask(cp, w(1))
    st0 = ctl_stats(path)
    for i in range(20):
        r = tcp_ask(cp, w(100 + i))
        assert rdata_texts(dns.message.from_wire(r).answer, "A") == ["192.0.2.1"]
    st1 = ctl_stats(path)
    assert st1["answer.ready"] == st0["answer.ready"] == 0, (st0, st1)
    assert st1["answer.cache.positive"] - st0["answer.cache.positive"] == 20
    c = Udp(cp)                           # the table works: UDP repeats are copies
    for i in range(5):
        c.ask(w(200 + i))
    assert ctl_stats(path)["answer.ready"] >= 3, logctx(cp)
    c.close()


def test_private_zone_means_no_copies(tb, cairn):
    """A private zone's answers depend on the client's address: with one configured, no
    reply is kept, not even for names outside it."""
    d = str(cairn.tmpdir)
    zpath = os.path.join(d, "corp.zone")
    write_zone(zpath, "corp.test.", "www IN A 10.1.2.3\n")
    cfg = "zones:\n  - name: corp.test.\n    file: %s\n    visible_to: [%s]\n" % (
        zpath, INSIDE)
    cp, path = boot(cairn, tb, config=cfg)
    c, inside = Udp(cp), Udp(cp, source=INSIDE)
    for i in range(30):
        m = dns.message.from_wire(c.ask(wire("www.example.com.", "A", 1 + i)))
        assert rdata_texts(m.answer, "A") == ["192.0.2.1"], describe(m)
        m = dns.message.from_wire(c.ask(wire("nope.example.com.", "A", 1 + i)))
        assert m.rcode() == dns.rcode.NXDOMAIN
        m = dns.message.from_wire(inside.ask(wire("www.corp.test.", "A", 1 + i)))
        assert rdata_texts(m.answer, "A") == ["10.1.2.3"], describe(m)
    st = ctl_stats(path)
    assert st["answer.ready"] == 0, st
    assert st["answer.cache.positive"] >= 29 and st["answer.cache.negative"] >= 29, st
    c.close()
    inside.close()


# ------------------------------------------------------------------ the cache's counters
CACHE_COUNTERS = ["cache.lookups", "cache.hits", "cache.stale_hits", "cache.miss_first",
                  "cache.miss_expired", "cache.miss_evicted", "cache.insertions",
                  "cache.replacements", "cache.entries", "cache.expirations"]
SEQUENCE = [
    ("www.example.com.", "A", 0, False),
    ("www.example.com.", "A", None, False),
    ("www.example.com.", "A", 0, True),
    ("WWW.example.COM.", "A", 0, False),
    ("alias1.example.com.", "A", 0, False),     # CNAME chain
    ("alias2.example.com.", "A", None, False),
    ("nope.example.com.", "A", 0, False),       # NXDOMAIN
    ("x.nope.example.com.", "AAAA", 0, False),  # below it (RFC 8020)
    ("www.example.com.", "TXT", 0, False),      # NODATA
    ("example.com.", "MX", 0, False),
    ("cross.example.com.", "A", 0, False),      # chain into another zone
    ("big.example.com.", "TXT", None, False),   # TC
]


def test_cache_counters_same_with_and_without_the_table(tb, cairn):
    off, off_path = boot(cairn, tb, config="cache:\n  ready_answers: 0\n")
    on, on_path = boot(cairn, tb)
    clients = {"off": Udp(off), "on": Udp(on)}
    procs = {"off": off, "on": on}

    def both(spec, qid):
        name, rdtype, edns, do = spec
        out = {}
        for k in ("off", "on"):
            out[k] = clients[k].ask(wire(name, rdtype, qid, edns=edns, do=do))
        return out

    for i, spec in enumerate(SEQUENCE):  # resolved on both
        both(spec, 1 + i)
    s0 = {k: ctl_stats(p) for k, p in (("off", off_path), ("on", on_path))}
    qid = 100
    for rnd in range(4):
        for spec in SEQUENCE:
            for _ in range(1 + rnd):      # repeats: copies on one, the engine on the other
                qid += 1
                r = both(spec, qid)
                m_off, m_on = (dns.message.from_wire(r[k]) for k in ("off", "on"))
                assert m_off.rcode() == m_on.rcode() and \
                    m_off.answer == m_on.answer, (spec, describe(m_off), describe(m_on))
        for spec in SEQUENCE[::3]:        # and over TCP, never copied
            qid += 1
            name, rdtype, edns, do = spec
            for k in ("off", "on"):
                tcp_ask(procs[k], wire(name, rdtype, qid, edns=edns, do=do))
    s1 = {k: ctl_stats(p) for k, p in (("off", off_path), ("on", on_path))}
    assert s1["off"]["answer.ready"] == 0
    assert s1["on"]["answer.ready"] > 10, (s1["on"], logctx(on))
    diff = {k: (s1["off"][k] - s0["off"][k], s1["on"][k] - s0["on"][k])
            for k in CACHE_COUNTERS + ["answer.cache.positive", "answer.cache.negative"]}
    bad = {k: v for k, v in diff.items() if v[0] != v[1]}
    assert not bad, "after the same queries, (ready_answers: 0, default): %s" % bad
    assert diff["cache.lookups"][0] > 100 and diff["cache.hits"][0] > 50, diff
    # the whole run, resolutions included, counted the same
    total = {k: (s1["off"][k], s1["on"][k]) for k in CACHE_COUNTERS}
    bad = {k: v for k, v in total.items() if v[0] != v[1]}
    assert not bad, "since start, (ready_answers: 0, default): %s" % bad
    for c in clients.values():
        c.close()
