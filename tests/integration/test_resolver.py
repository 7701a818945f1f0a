"""cairn as a recursive resolver against the simulated tree (issue 4's "Must show").

Every test starts its own cairn (a cold cache) with `start()`; the fixture stops it with
SIGTERM and fails the test unless it exits 0. Expected answers come from tb.names
(scripts/testbed_lib/tree.py scenarios()).
"""
import os
import secrets
import socket
import struct
import subprocess
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from helpers import (add_records, answer_chain, ask, assert_resolver_reply, delta, describe,
                     group_stats, make_query, rdata_texts, resolve, rrsets, start, tail,
                     nsd_stats_all, upstream_total)
from helpers import logctx  # noqa: E402
from testbed_lib import tree

ZONE_TTL = 3600   # $TTL of the hand-written zones


def mixcase(name):
    """wWw.ExAmPlE.cOm.: the reply must echo exactly these bytes."""
    out, up = [], False
    for ch in name:
        if ch.isalpha():
            out.append(ch.upper() if up else ch.lower())
            up = not up
        else:
            out.append(ch)
    return "".join(out)



# ------------------------------------------------------------------ 1. every record type
RECORD_KEYS = ["a", "aaaa", "ns", "mx", "txt", "soa", "ptr", "srv", "wildcard", "glueless",
               "two_addr_ns"]


@pytest.mark.parametrize("key", RECORD_KEYS)
def test_record_type(tb, cairn, key):
    s = tb.names[key]
    c = start(cairn, tb)
    q = make_query(mixcase(s["qname"]), s["qtype"], qid=0x1000 + RECORD_KEYS.index(key))
    r = ask(c, q)
    assert_resolver_reply(q, r, s["rcode"], log=c.log())
    got = rdata_texts(r.answer, s["qtype"], s["qname"])
    assert got == sorted(s["answer"]), "%s %s: expected %s, got %s%s" % (
        s["qname"], s["qtype"], s["answer"], got, describe(r))
    # minimal reply: the answer RRset only, nothing in authority or additional
    assert [(n, t) for n, t, _ in answer_chain(r)] == [(s["qname"].lower(), s["qtype"])], \
        "answer section should hold exactly the %s RRset%s" % (s["qtype"], describe(r))
    assert not r.authority and not r.additional, "not a minimal reply" + describe(r)
    for rr in r.answer:
        assert 0 < rr.ttl <= ZONE_TTL, "TTL %d out of range%s" % (rr.ttl, describe(r))


def test_query_type_cname_is_not_chased(tb, cairn):
    s = tb.names["cname_chain"]
    c = start(cairn, tb)
    q = make_query(mixcase(s["qname"]), "CNAME")
    r = ask(c, q)
    assert_resolver_reply(q, r, log=c.log())
    assert answer_chain(r) == [(s["qname"], "CNAME", [s["cname"][0]])], describe(r)


def test_unknown_type_passes_through_opaquely(tb, cairn):
    """TYPE65280 (private use) in a freshly registered zone: cairn must relay the rdata
    byte for byte (RFC 3597) without understanding it."""
    zone = "unk-%s.net." % secrets.token_hex(4)
    nss = tb.register(zone.rstrip("."))
    add_records(tb, zone, ["unk.%s 600 IN TYPE65280 \\# 6 0a0b0c0d0e0f" % zone,
                           "unk.%s 600 IN TYPE65280 \\# 0" % zone])
    direct = tb.query(nss[0][1], "unk." + zone, "TYPE65280")
    want = rdata_texts(direct.answer, "TYPE65280")
    assert [w.strip() for w in want] == ["\\# 0", "\\# 6 0a0b0c0d0e0f"], describe(direct)
    c = start(cairn, tb)
    q = make_query("unk." + zone, "TYPE65280")
    r = ask(c, q)
    assert_resolver_reply(q, r, log=c.log())
    assert rdata_texts(r.answer, "TYPE65280", "unk." + zone) == want, describe(r)
    # and again from cache
    r = ask(c, q)
    assert rdata_texts(r.answer, "TYPE65280", "unk." + zone) == want, describe(r)


def test_header_rules(tb, cairn):
    """ID, RD, CD echoed; RA set; AA clear; the question echoed in the case sent; over UDP
    and TCP."""
    c = start(cairn, tb)
    name = "WWW.example.COM."
    for tcp in (False, True):
        for cd in (False, True):
            q = make_query(name, "A", qid=0xBEEF if tcp else 0x0102, cd=cd)
            r = ask(c, q, tcp=tcp)
            assert_resolver_reply(q, r, log=c.log())
            assert rdata_texts(r.answer, "A") == ["192.0.2.1"], describe(r)
    # RD=0: whatever the rcode, the header must still be a proper reply with RD clear
    q = make_query(name, "A", rd=False, qid=0x4242)
    r = ask(c, q)
    assert r.id == 0x4242 and r.flags & dns.flags.QR, describe(r)
    assert not r.flags & dns.flags.RD, "RD=0 query answered with RD=1" + describe(r)
    assert r.flags & dns.flags.RA, describe(r)


def test_tcp_pipelined_queries(tb, cairn):
    """RFC 7766: several queries in one TCP write, each answered (any order), matched by ID."""
    c = start(cairn, tb)
    qs = {0x11: make_query("www.example.com.", "A", qid=0x11),
          0x22: make_query("www.example.net.", "A", qid=0x22),
          0x33: make_query("nope.example.com.", "A", qid=0x33)}
    want = {0x11: ("NOERROR", ["192.0.2.1"]), 0x22: ("NOERROR", ["192.0.2.2"]),
            0x33: ("NXDOMAIN", [])}
    data = b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in qs.values()))
    got = {}
    with socket.create_connection((c.addr, c.port), timeout=5) as s:
        s.sendall(data)
        buf = b""
        deadline = time.monotonic() + 5
        while len(got) < len(qs) and time.monotonic() < deadline:
            chunk = s.recv(65535)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                m = dns.message.from_wire(buf[2:2 + n])
                buf = buf[2 + n:]
                got[m.id] = m
    assert set(got) == set(qs), "answers for IDs %s of %s%s" % (
        sorted(got), sorted(qs), logctx(c))
    for i, m in got.items():
        assert_resolver_reply(qs[i], m, want[i][0], log=c.log())
        assert rdata_texts(m.answer, "A") == want[i][1], describe(m)


# ------------------------------------------------------------------ 2. CNAME chains
@pytest.mark.parametrize("key", ["cname_chain", "cname_cross", "cname_cross_tld"])
def test_cname_chain(tb, cairn, key):
    s = tb.names[key]
    c = start(cairn, tb)
    q = make_query(s["qname"], s["qtype"])
    r = ask(c, q)
    assert_resolver_reply(q, r, log=c.log())
    owners = [s["qname"]] + s["cname"]
    want = [(owners[i], "CNAME", [owners[i + 1]]) for i in range(len(owners) - 1)]
    want.append((owners[-1], s["qtype"], sorted(s["answer"])))
    assert answer_chain(r) == want, "chain out of order or incomplete%s" % describe(r)
    assert not r.authority, describe(r)


# ------------------------------------------------------------------ 3. glueless
@pytest.mark.parametrize("key", ["glueless", "ptr"])
def test_glueless_delegation(tb, cairn, key):
    """www.example.org: the .org delegation names ns1/ns2.hoster.net with no glue, so cairn
    must resolve the NS names (in .net) as sub-requests. The PTR's last step is glueless
    too (2.0.192.in-addr.arpa -> ns*.example.net)."""
    s = tb.names[key]
    c = start(cairn, tb)
    r, dt = resolve(c, s["qname"], s["qtype"])
    assert dns.rcode.to_text(r.rcode()) == "NOERROR", describe(r) + logctx(c)
    assert rdata_texts(r.answer, s["qtype"], s["qname"]) == s["answer"], describe(r)
    assert dt < 3.0, "glueless resolution took %.2fs" % dt


# ------------------------------------------------------------------ 4. negative answers
@pytest.mark.parametrize("key", ["nxdomain", "nodata"])
def test_negative_answer_carries_soa(tb, cairn, key):
    s = tb.names[key]
    c = start(cairn, tb)
    q = make_query(s["qname"], s["qtype"])
    r = ask(c, q)
    assert_resolver_reply(q, r, s["rcode"], log=c.log())
    assert not r.answer, "negative answer with records in ANSWER" + describe(r)
    soa = rrsets(r.authority, "SOA")
    assert len(soa) == 1 and soa[0].name == dns.name.from_text(s["zone"]), \
        "expected the SOA of %s in AUTHORITY%s" % (s["zone"], describe(r))
    assert [rr.to_text() for rr in soa[0]] == tb.names["soa"]["answer"], describe(r)
    assert 0 < soa[0].ttl <= s["negative_ttl"], \
        "SOA TTL %d, expected <= the negative TTL %d%s" % (soa[0].ttl, s["negative_ttl"],
                                                        describe(r))
    assert len(r.authority) == 1, "only the SOA belongs in AUTHORITY" + describe(r)


# ------------------------------------------------------------------ 5. big TXT, TC, TCP
def udp_raw(c, q, timeout=5.0):
    """Send q over UDP, return the reply's wire bytes (to check its size)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q.to_wire(), (c.addr, c.port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wire, _ = s.recvfrom(65535)
            if len(wire) >= 2 and struct.unpack("!H", wire[:2])[0] == q.id:
                return wire
    raise AssertionError("no UDP reply")


def test_big_txt_truncation_and_tcp(tb, cairn):
    s = tb.names["big_txt"]
    leaf = s["servers"]
    c = start(cairn, tb)
    before = group_stats(tb, leaf)
    # 1. UDP, no EDNS: 512 bytes max -> TC=1 (cairn itself had to use TCP upstream)
    q = make_query(s["qname"], "TXT", edns=None, qid=0x5151)
    wire = udp_raw(c, q)
    r = dns.message.from_wire(wire)
    assert len(wire) <= 512, "UDP reply of %d bytes to a client without EDNS" % len(wire)
    assert_resolver_reply(q, r, log=c.log(), tc=True)
    after = group_stats(tb, leaf)
    tcp_queries = delta(after, before, "num.tcp") + delta(after, before, "num.tcp6")
    assert tcp_queries >= 1, "the leaf servers %s saw no TCP query from cairn for a %d-byte " \
        "RRset (stats delta udp=%d tcp=%d truncated=%d)%s" % (
            leaf, s["size"], delta(after, before, "num.udp"), tcp_queries,
            delta(after, before, "num.truncated"), logctx(c))
    # 2. EDNS 1232 and EDNS 4096 (capped at 1232): still too big -> TC=1
    for payload in (1232, 4096):
        q = make_query(s["qname"], "TXT", payload=payload, qid=0x5200 + payload % 256)
        wire = udp_raw(c, q)
        r = dns.message.from_wire(wire)
        assert len(wire) <= 1232, "UDP reply of %d bytes (client EDNS %d)" % (len(wire),
                                                                              payload)
        assert_resolver_reply(q, r, log=c.log(), tc=True)
        assert r.edns >= 0, "EDNS query answered without OPT" + describe(r)
    # 3. TCP: the whole RRset, every string
    for edns in (None, 0):
        q = make_query(s["qname"], "TXT", edns=edns, qid=0x5300)
        r = ask(c, q, tcp=True)
        assert_resolver_reply(q, r, log=c.log())
        txt = rrsets(r.answer, "TXT", s["qname"])
        assert len(txt) == 1 and len(txt[0]) == 4, "expected 4 TXT records%s" % describe(r)
        strings = sorted(b.decode() for rr in txt[0] for b in rr.strings)
        want = sorted(x for rec in tree.big_txt_strings() for x in rec)
        assert len(strings) == 16 and strings == want, "TXT strings differ: %d of 16" % len(
            strings)
        assert rdata_texts(r.answer, "TXT") == sorted(s["answer"])


# ------------------------------------------------------------------ 6. a dead server
def _dead_server_case(tb, c, zone, first):
    s = tb.names[first]
    r, dt = resolve(c, s["qname"], s["qtype"], timeout=6.0)
    assert rdata_texts(r.answer, "A") == s["answer"], describe(r) + logctx(c)
    assert dt < 3.0, "first answer took %.2fs (client deadline 3 s)" % dt
    slow = []
    for i in range(5):
        name = "other%d-%s.%s" % (i, secrets.token_hex(3), zone)
        r, dt = resolve(c, name, "A", timeout=6.0)
        assert dns.rcode.to_text(r.rcode()) == "NXDOMAIN", describe(r) + logctx(c)
        if dt >= 0.5:
            slow.append((name, round(dt, 3)))
    assert not slow, "names in %s still slow after the dead server was found out: %s%s" % (
        zone, slow, logctx(c))


def test_dead_authoritative_server(tb, cairn):
    """dead.test: ns1 answers, ns2's address has nobody listening."""
    c = start(cairn, tb)
    _dead_server_case(tb, c, "dead.test.", "dead_ns_zone")


def test_failover_when_one_server_stops(tb, cairn):
    """failover.test on pool-1 and pool-2; pool-2 is stopped for this test."""
    s = tb.names["failover"]
    down = s["ns_addrs"][1]
    tb.stop_server(down)
    try:
        c = start(cairn, tb)
        _dead_server_case(tb, c, "failover.test.", "failover")
    finally:
        tb.start_server(down)


# ------------------------------------------------------------------ 7. ACL
def kdig(port, name, source, tcp=False):
    cmd = ["kdig", "-b", source, "@127.0.0.1", "-p", str(port), name, "A", "+retry=0",
           "+timeout=3"] + (["+tcp"] if tcp else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    return r.stdout + r.stderr


def test_acl_refuses_outside_clients(tb, cairn):
    c = start(cairn, tb, config="allow:\n  - 127.0.0.1/32\n")
    count0 = upstream_total(tb)
    for tcp in (False, True):
        out = kdig(c.port, "www.example.com.", "127.0.0.2", tcp=tcp)
        assert "status: REFUSED" in out, "kdig -b 127.0.0.2 (tcp=%s):\n%s%s" % (tcp, out,
                                                                                logctx(c))
    q = make_query("www.example.com.", "A", qid=0x7777)
    r = ask(c, q, source="127.0.0.2")
    assert r.id == 0x7777 and r.flags & dns.flags.QR, describe(r)
    assert dns.rcode.to_text(r.rcode()) == "REFUSED", describe(r)
    assert not r.answer, describe(r)
    assert upstream_total(tb) == count0, "a refused client caused upstream queries"
    out = kdig(c.port, "www.example.com.", "127.0.0.1")
    assert "status: NOERROR" in out and "192.0.2.1" in out, out + logctx(c)


def test_acl_refuse_and_deny_carve_out_of_allow(tb, cairn):
    """allow 127.0.0.0/8, refuse 127.0.0.3, deny 127.0.0.4: the longest prefix decides. A
    refused client gets REFUSED, a denied one nothing at all, counted as answer.dropped; a
    reload without the deny list serves it."""
    from helpers import control_path, ctl, ctl_stats
    sock = control_path(cairn)
    cfg = "allow: [127.0.0.0/8]\nrefuse: [127.0.0.3]\n"
    c = start(cairn, tb, config=cfg + "deny: [127.0.0.4/32]\n", control=sock)
    q = make_query("www.example.com.", "A")
    r = ask(c, q, source="127.0.0.2")
    assert dns.rcode.to_text(r.rcode()) == "NOERROR" and r.answer, describe(r)
    r = ask(c, q, source="127.0.0.3")
    assert dns.rcode.to_text(r.rcode()) == "REFUSED", describe(r)
    before = ctl_stats(sock)["answer.dropped"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.4", 0))
    s.settimeout(1.0)
    s.sendto(q.to_wire(), (c.addr, c.port))
    try:
        data = s.recv(4096)
    except socket.timeout:
        data = None
    s.close()
    assert data is None, "a denied client got a reply"
    assert ctl_stats(sock)["answer.dropped"] == before + 1
    path = os.path.join(str(cairn.tmpdir), "cairn-%d.yaml" % c.port)
    with open(path, "w") as f:
        f.write(cfg)
    assert ctl(sock, "reload").stdout.startswith("ok:")
    r = ask(c, q, source="127.0.0.4")
    assert dns.rcode.to_text(r.rcode()) == "NOERROR" and r.answer, describe(r)


def test_rate_limit_on_cache_misses(tb, cairn):
    """rate_limit: 5 UDP misses a second per /24, slip 2. 40 new names at once from
    127.0.0.2: about 5 are resolved, the rest dropped except every second, which gets an
    empty TC=1 answer. Cache hits from the same client, a miss over TCP and a miss from
    another /24 are not limited."""
    import dns.query
    from hostile import blast
    from helpers import control_path, ctl_stats
    sock = control_path(cairn)
    c = start(cairn, tb, config="rate_limit:\n  misses_per_second: 5\n  slip: 2\n",
              control=sock)
    zone = tb.names["a"]["zone"]
    ask(c, make_query(tb.names["a"]["qname"], "A"), source="127.0.0.2")   # warm one name
    time.sleep(1.1)                                                          # a fresh second
    qs = [make_query("rl%d-%s.%s" % (i, secrets.token_hex(3), zone), "A", qid=i)
          for i in range(40)]
    got = blast(c.addr, c.port, qs, window=40, timeout=2.0, deadline=20, source="127.0.0.2")
    answered = [m for m, _ in got.values() if m is not None and not (m.flags & dns.flags.TC)]
    slipped = [m for m, _ in got.values() if m is not None and m.flags & dns.flags.TC]
    st = ctl_stats(sock)
    assert 1 <= len(answered) <= 10, (len(answered), len(slipped))
    assert st["rate_limit.limited"] >= 25 and st["rate_limit.slipped"] >= 10, st
    assert len(slipped) == st["rate_limit.slipped"], (len(slipped), st)
    assert all(not m.answer for m in slipped)
    hits = blast(c.addr, c.port, [make_query(tb.names["a"]["qname"], "A", qid=100 + i)
                                  for i in range(50)], window=50, source="127.0.0.2")
    assert sum(1 for m, _ in hits.values() if m is not None and m.answer) == 50
    r = dns.query.tcp(make_query("rl-tcp-%s.%s" % (secrets.token_hex(3), zone), "A"), c.addr,
                      port=c.port, timeout=5, source="127.0.0.2")
    assert not (r.flags & dns.flags.TC) and r.rcode() == dns.rcode.NXDOMAIN, describe(r)
    r = ask(c, make_query("rl-other-%s.%s" % (secrets.token_hex(3), zone), "A"),
            source="127.0.1.2")
    assert r.rcode() == dns.rcode.NXDOMAIN, describe(r)


def test_default_acl_is_loopback(tb, cairn):
    c = start(cairn, tb)
    out = kdig(c.port, "www.example.com.", "127.0.0.2")
    assert "status: NOERROR" in out and "192.0.2.1" in out, out + logctx(c)


# ------------------------------------------------------------------ 8. coalescing
def burst(c, name, rdtype, n=10, timeout=5.0):
    """n identical queries with n IDs from one socket, sent back to back; {id: reply}."""
    ids = [0x2000 + i for i in range(n)]
    got = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        for i in ids:
            s.sendto(make_query(name, rdtype, qid=i).to_wire(), (c.addr, c.port))
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            try:
                wire, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            m = dns.message.from_wire(wire)
            if m.id in ids:
                got[m.id] = m
    return ids, got


def test_concurrent_identical_queries_coalesce(tb, cairn):
    s = tb.names["wildcard"]
    leaf = s["servers"]
    c = start(cairn, tb)
    for phase in ("cold", "warm"):
        name = "co-%s.wild.example.com." % secrets.token_hex(4)
        total0, leaf0 = upstream_total(tb), group_stats(tb, leaf)
        ids, got = burst(c, name, "TXT")
        total1, leaf1 = upstream_total(tb), group_stats(tb, leaf)
        assert sorted(got) == ids, "%s: answers for %d of 10 queries%s" % (phase, len(got),
                                                                          logctx(c))
        for m in got.values():
            assert dns.rcode.to_text(m.rcode()) == "NOERROR", describe(m)
            assert rdata_texts(m.answer, "TXT", name) == ['"wildcard"'], describe(m)
        txt = delta(leaf1, leaf0, "num.type.TXT")
        assert txt == 1, "%s cache: the leaf servers %s got %d TXT queries for 10 concurrent " \
            "identical questions (want exactly 1)%s" % (phase, leaf, txt, logctx(c))
        limit = 8 if phase == "cold" else 2
        assert total1 - total0 <= limit, "%s cache: %d upstream queries in all for one name " \
            "(want <= %d): %s" % (phase, total1 - total0, limit, {k: v.get('num.queries') for k, v in nsd_stats_all(tb).items()})


# ------------------------------------------------------------------ 9. registration
def test_registered_domain_resolves_right_away(tb, cairn):
    c = start(cairn, tb)
    # warm: cairn knows the .com delegation (and would reuse it) before the name exists
    r, _ = resolve(c, "www.example.com.", "A")
    assert rdata_texts(r.answer, "A") == ["192.0.2.1"], describe(r)
    dom = "newname-%s.com" % secrets.token_hex(4)
    tb.register(dom)
    want = tb._tb.load()["registered"][dom + "."]["a"]
    for name in ("www.%s." % dom, dom + "."):
        r, dt = resolve(c, name, "A")
        assert dns.rcode.to_text(r.rcode()) == "NOERROR", describe(r) + logctx(c)
        assert rdata_texts(r.answer, "A", name) == [want], describe(r)
        assert dt < 3.0


def test_0x20_case_never_reaches_clients(tb, cairn):
    """cairn mixes the case of every upstream qname (0x20); servers compress their records'
    names against that question. The answers clients get (and the cache) must carry the
    zone's own case, not the random one."""
    cp = start(cairn, tb)
    for key in ("mx", "cname_chain", "srv", "ns", "nxdomain"):
        s = tb.names[key]
        for attempt in range(2):  # fresh, then from cache
            r, _ = resolve(cp, s["qname"], s["qtype"])
            for section in (r.answer, r.authority):
                for rrset in section:
                    # owner and every name inside the RDATA (the zone data is lowercase)
                    names = [rrset.name.to_text()] + [
                        tok for rd in rrset for tok in rd.to_text().split() if "." in tok]
                    assert all(n == n.lower() for n in names), \
                        "mixed case leaked (%s, try %d):\n%s" % (key, attempt, rrset)
