"""Iteration robustness against scripted authoritative misbehaviour (issue 11, behaviours 3-5).

The engine replay tests (tests/unit/resolver/test_resolve.c, TCase "issue11") prove each
behaviour against cairn's own scripted tree; these prove it through the daemon (net/, the
upstream transport, the cache) against hostile servers built on dnspython
(tests/integration/hostile.py), each zone hung below hz.test:

- relaxed QNAME minimisation (RFC 9156 2.3): a server that answers the minimised NS query
  with an entirely empty, non-authoritative reply is asked the full question;
- RRset hygiene (RFC 2181 5): equal records sent twice (the bytes of the record repeated,
  ANCOUNT raised: dnspython itself would merge them) reach the client and the cache once;
- CNAME synthesis from a cached DNAME (RFC 6672 3.4): a name under it is resolved at the
  target without asking the owner's zone for it, and a repeat is a cache hit.
"""
import secrets
import socket
import struct

import dns.message
import dns.name
import dns.rdatatype

import hostile as H
from helpers import control_path, ctl, describe, logctx, make_query, rdata_texts, resolve, start


def with_ctl(cairn, tb):
    path = control_path(cairn)
    return start(cairn, tb, control=path), path


def cached(path, name, rdtype):
    """The records `cairnctl cache lookup NAME TYPE` prints for (name, type)."""
    out = ctl(path, "cache", "lookup", name, rdtype, check=False).stdout
    t = " %s " % rdtype
    return [line for line in out.splitlines() if t in line and not line.startswith(";")]


def doubled(q, m):
    """m's wire form with its one answer record sent twice (ANCOUNT 2): m has no EDNS, no
    authority and no additional, so the answer record is the tail of the message."""
    wire = H.to_wire(m)
    assert struct.unpack("!HHHH", wire[4:12]) == (1, 1, 0, 0), m.to_text()
    start_at = 12 + len(q.name.to_wire()) + 4
    return wire[:6] + struct.pack("!H", 2) + wire[8:] + wire[start_at:]


def raw_ask(c, name, rdtype):
    """One RD=1 query over UDP; the reply's raw bytes (not merged by dnspython)."""
    q = make_query(name, rdtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5.0)
        s.sendto(q.to_wire(), (c.addr, c.port))
        while True:
            data, _ = s.recvfrom(65535)
            if data[:2] == q.to_wire()[:2]:
                return data


def test_relaxed_minimisation_asks_the_full_question(tb, cairn, hz, hostile):
    """A server answers every NS query for a name below its apex with an empty reply
    without AA (neither a referral nor proof). cairn asks it the full question and gets
    the answer, instead of calling the server lame (SERVFAIL before)."""
    (addr,) = hz.alloc(1)
    z = hz.child("qm-" + secrets.token_hex(3), [addr])
    zone = H.Zone(z, H.zone_text(z, addr=addr, body=["www.sub IN A 192.0.2.1"]))

    def handler(q):
        if q.msg is not None and q.qtype == "NS" and q.qname != z:
            return H.reply(q, aa=False)
        return None

    srv = hostile(addr, handler=handler, zone=zone)
    c = start(cairn, tb)
    r, _ = resolve(c, "www.sub." + z, "A")
    assert rdata_texts(r.answer, "A") == ["192.0.2.1"], describe(r) + logctx(c)
    assert srv.count("sub." + z, "NS") == 1, srv.counts
    assert srv.count("www.sub." + z, "A") == 1, srv.counts


def test_duplicate_records_reach_client_and_cache_once(tb, cairn, hz, hostile):
    """dup.ZONE CNAME www.ZONE and www.ZONE A each arrive as the same record twice. Before,
    two CNAME records were no CNAME at all (NOERROR, empty answer); now the client gets one
    CNAME and one A, and the cache holds one record of each."""
    (addr,) = hz.alloc(1)
    z = hz.child("hyg-" + secrets.token_hex(3), [addr])
    zone = H.Zone(z, H.zone_text(z, addr=addr, body=["dup IN CNAME www", "www IN A 192.0.2.7"]))

    def handler(q):
        if q.msg is None or (q.qname, q.qtype) not in (("dup." + z, "A"), ("www." + z, "A")):
            return None
        m = zone.answer(q)
        m.use_edns(False)
        m.additional = []
        return H.Send(doubled(q, m))

    srv = hostile(addr, handler=handler, zone=zone)
    c, path = with_ctl(cairn, tb)
    wire = raw_ask(c, "dup." + z, "A")
    r = dns.message.from_wire(wire)
    assert struct.unpack("!H", wire[6:8])[0] == 2, describe(r) + logctx(c)
    assert rdata_texts(r.answer, "CNAME") == ["www." + z], describe(r)
    assert rdata_texts(r.answer, "A") == ["192.0.2.7"], describe(r)
    assert srv.count("dup." + z, "A") == 1 and srv.count("www." + z, "A") == 1, srv.counts
    assert len(cached(path, "dup." + z, "CNAME")) == 1, cached(path, "dup." + z, "CNAME")
    assert len(cached(path, "www." + z, "A")) == 1, cached(path, "www." + z, "A")
    # the cache hit carries them once too
    wire = raw_ask(c, "www." + z, "A")
    assert struct.unpack("!H", wire[6:8])[0] == 1, describe(dns.message.from_wire(wire))
    assert srv.count("www." + z, "A") == 1, srv.counts


def test_cached_dname_answers_names_below_it(tb, cairn, hz, hostile):
    """dn.ZONE DNAME t.ZONE. After host.dn.ZONE A, the same question is a cache hit (no
    query at all) and other.dn.ZONE A costs one query, for other.t.ZONE: other.dn.ZONE is
    never asked (before: every name under the DNAME went to the owner's zone first)."""
    (addr,) = hz.alloc(1)
    z = hz.child("dn-" + secrets.token_hex(3), [addr])
    zone = H.Zone(z, H.zone_text(z, addr=addr, body=[
        "dn IN DNAME t", "host.t IN A 192.0.2.8", "other.t IN A 192.0.2.9"]))
    srv = hostile(addr, zone=zone)
    c = start(cairn, tb)
    r, _ = resolve(c, "host.dn." + z, "A")
    assert rdata_texts(r.answer, "A") == ["192.0.2.8"], describe(r) + logctx(c)
    assert rdata_texts(r.answer, "DNAME") == ["t." + z], describe(r)
    total = srv.total()
    r, _ = resolve(c, "host.dn." + z, "A")
    assert rdata_texts(r.answer, "A") == ["192.0.2.8"], describe(r)
    assert rdata_texts(r.answer, "CNAME", "host.dn." + z) == ["host.t." + z], describe(r)
    assert srv.total() == total, "a cached DNAME answer went upstream: %s" % srv.counts
    r, _ = resolve(c, "other.dn." + z, "A")
    assert rdata_texts(r.answer, "A") == ["192.0.2.9"], describe(r)
    assert [x for x in srv.counts if x[0] == "other.dn." + z] == [], srv.counts
    assert srv.count("other.t." + z, "A") == 1, srv.counts
    assert srv.total() == total + 1, srv.counts
