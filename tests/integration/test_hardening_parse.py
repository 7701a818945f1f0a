"""Hardening, part C of docs/attacks.md: packets of death, odd queries, EDNS, oversized answers.

C1-C3: a corpus of malformed messages (compression loops and bad pointers, label and name
lengths, truncated and inconsistent counts) sent by clients over UDP and TCP, and sent by
hostile servers in front of their real replies. C4: meta and odd query types, classes and
opcodes, against a table. C5: EDNS oddities, as a client and towards servers. C6: huge
RRsets and many types at one name. The messages are built byte by byte here (not with
cairn's codec, nor always with dnspython, which refuses to build most of them).
"""
import secrets
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

import hostile as H
from helpers import (control_path, ctl, ctl_stats, describe, make_query, rdata_texts, resolve,
                     start, tail, upstream_total)
from helpers import logctx  # noqa: E402

REAL = "192.0.2.1"



# ------------------------------------------------------------------ wire helpers
def hdr(qid=0x4242, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def name(*labels):
    return b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"


WWW = name(b"www", b"example", b"com")
QTAIL = struct.pack("!HH", 1, 1)   # A IN
QUESTION = WWW + QTAIL
OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


def opt_rr(payload=1232, version=0, do=False, options=b"", owner=b"\x00"):
    ttl = (version << 16) | (0x8000 if do else 0)
    return owner + struct.pack("!HHIH", 41, payload, ttl, len(options)) + options


# Each entry: (label, query bytes, expected over UDP). Expected: an RCODE name, or "drop".
# The rule: shorter than a header or QR=1 -> no reply (NSD's rule); a readable header with
# anything wrong after it -> FORMERR (NOTIMP for an opcode cairn does not serve).
CLIENT_CORPUS = [
    ("empty", b"", "drop"),
    ("11-bytes", hdr()[:11], "drop"),
    ("qr-set", hdr(flags=0x8100) + QUESTION, "drop"),
    ("no-question", hdr(qd=0), "FORMERR"),
    ("two-questions", hdr(qd=2) + QUESTION + QUESTION, "FORMERR"),
    ("self-pointer", hdr() + b"\xc0\x0c" + QTAIL, "FORMERR"),
    ("pointer-loop", hdr() + b"\x01a\xc0\x10" + b"\xc0\x0c" + QTAIL, "FORMERR"),
    ("forward-pointer", hdr() + b"\xc0\x12" + QTAIL + name(b"x"), "FORMERR"),
    ("pointer-0x3fff", hdr() + b"\xff\xff" + QTAIL, "FORMERR"),
    ("pointer-into-header", hdr() + b"\xc0\x02" + QTAIL, "FORMERR"),
    ("label-64", hdr() + name(b"a" * 64, b"com") + QTAIL, "FORMERR"),
    ("name-256", hdr() + name(*[b"a" * 63] * 4, b"bbb") + QTAIL, "FORMERR"),
    ("name-256-via-pointers",
     hdr(an=1) + name(*[b"a" * 63] * 3, b"b" * 60) + QTAIL
     + b"\x03abc\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04",
     "FORMERR"),
    ("label-type-0x40", hdr() + b"\x41" + b"x" * 8 + b"\x00" + QTAIL, "FORMERR"),
    ("label-type-0x80", hdr() + b"\x81" + b"x" + b"\x00" + QTAIL, "FORMERR"),
    ("cut-in-name", hdr() + WWW[:6], "FORMERR"),
    ("cut-in-type", hdr() + WWW + b"\x00", "FORMERR"),
    ("ancount-past-end", hdr(an=5) + QUESTION, "FORMERR"),
    ("arcount-past-end", hdr(ar=3) + QUESTION, "FORMERR"),
    ("opt-rdlength-past-end", hdr(ar=1) + QUESTION + b"\x00" + struct.pack("!HHIH", 41, 1232, 0,
                                                                          300), "FORMERR"),
    ("rr-rdlength-past-end", hdr(an=1) + QUESTION + b"\xc0\x0c"
     + struct.pack("!HHIH", 1, 1, 60, 200) + b"\x01\x02", "FORMERR"),
    ("trailing-garbage", hdr() + QUESTION + b"\xde\xad\xbe\xef", "FORMERR"),
    ("garbage-counts", hdr(qd=0xffff, an=0xffff, ns=0xffff, ar=0xffff) + b"\x00" * 40,
     "FORMERR"),
    ("two-opts", hdr(ar=2) + QUESTION + OPT + OPT, "FORMERR"),
    ("opt-in-answer", hdr(an=1) + QUESTION + OPT, "FORMERR"),
    ("opt-non-root-owner", hdr(ar=1) + QUESTION + opt_rr(owner=name(b"x")), "FORMERR"),
    ("opcode-5-garbage", hdr(flags=0x2900) + b"\xff" * 20, "NOTIMP"),
]


def udp_exchange(c, data, timeout=0.6):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, (c.addr, c.port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def tcp_exchange(c, payload, timeout=1.5, raw=False):
    """Send one frame (or raw bytes); returns (reply bytes or None, closed by cairn)."""
    with socket.create_connection((c.addr, c.port), timeout=timeout) as s:
        s.sendall(payload if raw else struct.pack("!H", len(payload)) + payload)
        buf = b""
        try:
            while True:
                d = s.recv(65535)
                if not d:
                    return (buf[2:] if len(buf) >= 2 else None), True
                buf += d
                if len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    return buf[2:2 + struct.unpack("!H", buf[:2])[0]], False
        except socket.timeout:
            return None, False
        except ConnectionResetError:
            return None, True


def verdict(wire):
    """'drop', or the RCODE name of a reply (checking the header rules for error replies)."""
    if wire is None:
        return "drop"
    assert len(wire) >= 12, wire
    flags = struct.unpack("!H", wire[2:4])[0]
    assert flags & 0x8000, "QR not set: %r" % wire[:12]
    return dns.rcode.to_text(flags & 0xF)


def test_c1_c3_malformed_client_queries(tb, cairn):
    """C1-C3 as a client: each packet of the corpus over UDP and over TCP gets its defined
    outcome (FORMERR / NOTIMP with the ID echoed, or nothing), no reply is larger than the
    query (plus room for the question), no upstream query is made, and cairn keeps
    answering normal queries throughout (and exits cleanly under ASan at the end)."""
    c = start(cairn, tb)
    r, _ = resolve(c, "www.example.com.", "A")
    assert rdata_texts(r.answer, "A") == [REAL]
    up0 = upstream_total(tb)
    bad = []
    for label, data, want in CLIENT_CORPUS:
        got = verdict(udp_exchange(c, data))
        if got != want:
            bad.append(("udp", label, got, want))
        wire = udp_exchange(c, data)
        if wire is not None and len(data) >= 2:
            if wire[:2] != data[:2]:
                bad.append(("udp", label, "ID not echoed", ""))
        # TCP: a frame shorter than a header closes the connection without a reply
        treply, closed = tcp_exchange(c, data)
        twant = "drop" if len(data) < 12 else want
        tgot = verdict(treply)
        if tgot != twant:
            bad.append(("tcp", label, tgot, twant))
        if len(data) < 12 and not closed:
            bad.append(("tcp", label, "connection not closed", ""))
    assert not bad, "%s%s" % (bad, logctx(c))
    assert upstream_total(tb) == up0, "malformed queries caused upstream work"
    # TCP framing abuse: a length prefix promising more than is sent, then close
    with socket.create_connection((c.addr, c.port), timeout=2) as s:
        s.sendall(b"\xff\xff" + hdr() + QUESTION)
    with socket.create_connection((c.addr, c.port), timeout=2) as s:
        s.sendall(b"\x00")          # half a length prefix
    r, _ = resolve(c, "www.example.com.", "A")
    assert rdata_texts(r.answer, "A") == [REAL], describe(r) + logctx(c)
    assert c.alive()


# ------------------------------------------------------------------ C1-C3, upstream side
def bad_bodies(qwire, qid):
    """Malformed replies to one query: the right header ID and question (so only a full
    parse can tell), then something broken. Returns [(label, bytes)]."""
    qd_end = 12 + len(dns.message.from_wire(qwire).question[0].name.to_wire()) + 4
    question = qwire[12:qd_end]
    h = lambda an=0, ns=0, ar=0: struct.pack("!6H", qid, 0x8400, 1, an, ns, ar)
    a_rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\xc6\x33\x64\x01"
    return [
        ("owner-self-pointer", h(an=1) + question + b"\xc0" + bytes([qd_end & 0xff])
         + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"),
        ("owner-pointer-loop", h(an=1) + question + b"\x01a\xc0" + bytes([qd_end & 0xff])
         + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"),
        ("owner-pointer-past-end", h(an=1) + question + b"\xff\xf0"
         + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"),
        ("owner-forward-pointer", h(an=1) + question + b"\xc0" + bytes([(qd_end + 12) & 0xff])
         + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04" + name(b"x")),
        ("owner-label-64", h(an=1) + question + name(b"a" * 64)
         + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"),
        ("rdlength-past-end", h(an=1) + question + b"\xc0\x0c"
         + struct.pack("!HHIH", 1, 1, 60, 400) + b"\x01\x02\x03\x04"),
        ("a-rdlength-5", h(an=1) + question + b"\xc0\x0c"
         + struct.pack("!HHIH", 1, 1, 60, 5) + b"\x01\x02\x03\x04\x05"),
        ("ancount-over", h(an=6) + question + a_rr),
        ("ns-rdata-bad-name", h(ns=1) + question + b"\xc0\x0c"
         + struct.pack("!HHIH", 2, 1, 60, 3) + b"\x05ab"),
        ("two-opts", h(an=1, ar=2) + question + a_rr + OPT + OPT),
        ("trailing-bytes", h(an=1) + question + a_rr + b"\x00\x00\x00"),
        ("label-type-0x40", h(an=1) + question + b"\x41xxxx\x00"
         + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"),
        ("cut-in-rr-header", h(an=1) + question + b"\xc0\x0c\x00\x01\x00"),
    ]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_c1_c3_malformed_upstream_replies(tb, cairn, hz, hostile, transport):
    """C1-C3 from the server side: before its real reply the server sends every packet of
    a malformed corpus, each with the right ID and question (only a full parse can reject
    it). cairn ignores them all, keeps waiting and gets the real reply (A3), caches only
    that; over TCP (the server truncates over UDP) the broken frames come first on the
    connection. A server that sends only broken replies gets SERVFAIL by the deadline."""
    addr = hz.alloc()[0]
    z = hz.child("mal-%s-%s" % (transport, secrets.token_hex(3)), [addr])
    zone = H.Zone(z, H.zone_text(z, addr=addr, body=["* IN A 198.51.100.1"]))
    sent = []

    def handler(q):
        if q.msg is None or q.qtype != "A" or not q.qname.startswith(("m", "only")):
            return None
        if transport == "tcp" and not q.tcp:
            return H.reply(q, tc=True)
        bodies = bad_bodies(q.wire, q.id)
        sent.append(len(bodies))
        acts = [H.Send(b) for _, b in bodies]
        if not q.qname.startswith("only"):
            acts.append(H.Send(zone.answer(q), delay=0.05))
        return acts

    hostile(addr, handler=handler, zone=zone)
    path = control_path(cairn)
    c = start(cairn, tb, control=path)
    for i in range(5):
        r, _ = resolve(c, "m%d.%s" % (i, z), "A")
        assert rdata_texts(r.answer, "A") == ["198.51.100.1"], describe(r) + logctx(c)
    st = ctl_stats(path)
    n_bad = sum(sent)
    print("C1-C3 upstream (%s): %d malformed replies, upstream.ignored_malformed %d, timeouts "
          "%d" % (transport, n_bad, st["upstream.ignored_malformed"], st["upstream.timeouts"]))
    assert st["upstream.ignored_malformed"] >= n_bad, st
    assert st["upstream.timeouts"] == 0
    out = ctl(path, "cache", "lookup", "m0." + z, "A").stdout
    assert "198.51.100.1" in out and "1.2.3.4" not in out, out
    r, dt = resolve(c, "only." + z, "A", timeout=8)
    assert dns.rcode.to_text(r.rcode()) == "SERVFAIL", describe(r)
    assert dt <= 3.5, dt
    assert c.alive()


# ------------------------------------------------------------------ C4: odd queries
def q_bytes(qname, qtype, qclass=1, opcode=0, flags=0x0100, qid=0x5151, edns=True):
    f = (flags & ~0x7800) | (opcode << 11)
    body = name(*[x.encode() for x in qname.rstrip(".").split(".")]) + struct.pack(
        "!HH", qtype, qclass)
    return hdr(qid, f, 1, 0, 0, 1 if edns else 0) + body + (OPT if edns else b"")


# (label, qtype, class, opcode, flags, expected rcode or "drop", may it go upstream?)
C4_TABLE = [
    ("qtype-0", 0, 1, 0, 0x0100, "FORMERR", False),
    ("ANY", 255, 1, 0, 0x0100, "NOERROR", False),
    ("AXFR", 252, 1, 0, 0x0100, "REFUSED", False),
    ("IXFR", 251, 1, 0, 0x0100, "REFUSED", False),
    ("OPT-as-qtype", 41, 1, 0, 0x0100, "FORMERR", False),
    ("TKEY", 249, 1, 0, 0x0100, "REFUSED", False),
    ("TSIG", 250, 1, 0, 0x0100, "REFUSED", False),
    ("MAILB", 253, 1, 0, 0x0100, "REFUSED", False),
    ("MAILA", 254, 1, 0, 0x0100, "REFUSED", False),
    ("RRSIG", 46, 1, 0, 0x0100, "NOERROR", True),
    ("TYPE65535", 65535, 1, 0, 0x0100, "NOERROR", True),
    ("class-CH", 16, 3, 0, 0x0100, "REFUSED", False),
    ("class-HS", 1, 4, 0, 0x0100, "REFUSED", False),
    ("class-NONE", 1, 254, 0, 0x0100, "REFUSED", False),
    ("class-ANY", 1, 255, 0, 0x0100, "REFUSED", False),
    ("class-0", 1, 0, 0, 0x0100, "REFUSED", False),
    ("opcode-IQUERY", 1, 1, 1, 0x0100, "NOTIMP", False),
    ("opcode-STATUS", 1, 1, 2, 0x0100, "NOTIMP", False),
    ("opcode-NOTIFY", 6, 1, 4, 0x0100, "NOTIMP", False),
    ("opcode-UPDATE", 6, 1, 5, 0x0100, "NOTIMP", False),
    ("opcode-15", 1, 1, 15, 0x0100, "NOTIMP", False),
    ("QR-set", 1, 1, 0, 0x8100, "drop", False),
    ("TC-set", 1, 1, 0, 0x0300, "NOERROR", True),
    ("AA-set", 1, 1, 0, 0x0500, "NOERROR", True),
    ("Z-set", 1, 1, 0, 0x0140, "NOERROR", True),
    ("RD-clear-uncached", 1, 1, 0, 0x0000, "REFUSED", False),
]


def test_c4_meta_types_classes_and_opcodes(tb, cairn):
    """C4: every combination in the table gets its defined reply (RCODE, or no reply for
    QR=1), over UDP and TCP; none of the refused / malformed / not implemented ones causes
    an upstream query; the reply echoes ID and opcode; ANY is answered minimally (RFC 8482:
    over UDP an empty TC=1 reply no larger than the query, over TCP one HINFO)."""
    path = control_path(cairn)
    c = start(cairn, tb, control=path)
    bad = []
    for label, qtype, qclass, opcode, flags, want, may_resolve in C4_TABLE:
        qn = "c4-%s-%s.wild.example.com." % (label.lower(), secrets.token_hex(2))
        data = q_bytes(qn, qtype, qclass, opcode, flags)
        for transport in ("udp", "tcp"):
            up0 = ctl_stats(path)["upstream.queries"]
            wire = udp_exchange(c, data) if transport == "udp" else tcp_exchange(c, data)[0]
            got = verdict(wire)
            up = ctl_stats(path)["upstream.queries"] - up0
            if got != want:
                bad.append((label, transport, got, want))
            if up and not may_resolve:
                bad.append((label, transport, "%d upstream queries" % up, "none"))
            if wire is not None:
                if wire[:2] != data[:2] or (wire[2] & 0x78) != (data[2] & 0x78):
                    bad.append((label, transport, "ID/opcode not echoed", ""))
                if label == "ANY":
                    m = dns.message.from_wire(wire)
                    types = [dns.rdatatype.to_text(x.rdtype) for x in m.answer]
                    # UDP: empty with TC=1, no larger than the query; TCP: one HINFO
                    ok = (types == [] and m.flags & dns.flags.TC and len(wire) <= len(data)
                          if transport == "udp" else types == ["HINFO"])
                    if not ok:
                        bad.append((label, transport, "not minimal: %s, %d bytes for a "
                                    "%d-byte query" % (types, len(wire), len(data)), ""))
    assert not bad, "%s%s" % (bad, logctx(c))


# ------------------------------------------------------------------ C5: EDNS
def test_c5_edns_oddities_from_clients(tb, cairn):
    """C5 as a client: two OPTs, an OPT in ANSWER or with a non-root owner -> FORMERR;
    version 1 -> BADVERS with an OPT of version 0; payload sizes below 512 are read as 512
    and above cairn's 1232 clamped to 1232 (the big TXT answer then truncates at that
    size); 400 unknown 4-byte options are read in full and answered at once."""
    c = start(cairn, tb)
    big = tb.names["big_txt"]["qname"]
    bq = name(*[x.encode() for x in big.rstrip(".").split(".")]) + struct.pack("!HH", 16, 1)
    for label, data in (("two-opts", hdr(ar=2) + QUESTION + OPT + OPT),
                        ("opt-in-answer", hdr(an=1) + QUESTION + OPT),
                        ("opt-owner", hdr(ar=1) + QUESTION + opt_rr(owner=name(b"x")))):
        assert verdict(udp_exchange(c, data)) == "FORMERR", label
    m = dns.message.from_wire(udp_exchange(c, hdr(ar=1) + QUESTION + opt_rr(version=1)))
    assert m.rcode() == dns.rcode.BADVERS and m.edns == 0, describe(m)
    resolve(c, big, "TXT", tcp=True)    # cached
    for payload, limit in ((0, 512), (100, 512), (511, 512), (512, 512), (1232, 1232),
                           (4096, 1232), (65535, 1232)):
        wire = udp_exchange(c, hdr(ar=1) + bq + opt_rr(payload=payload))
        assert wire is not None and len(wire) <= limit, (payload, len(wire or b""))
        m = dns.message.from_wire(wire)
        assert m.flags & dns.flags.TC and m.rcode() == 0, (payload, describe(m))
    options = b"".join(struct.pack("!HH", 65001 + (i % 100), 0) for i in range(400))
    t0 = time.monotonic()
    wire = udp_exchange(c, hdr(ar=1) + QUESTION + opt_rr(options=options), timeout=2)
    dt = time.monotonic() - t0
    m = dns.message.from_wire(wire)
    assert rdata_texts(m.answer, "A") == [REAL] and dt < 0.5, (dt, describe(m))
    m = dns.message.from_wire(udp_exchange(c, hdr(ar=1) + QUESTION + opt_rr(do=True)))
    assert rdata_texts(m.answer, "A") == [REAL] and not any(
        x.rdtype == dns.rdatatype.RRSIG for x in m.answer), describe(m)


def test_c5_server_that_formerrs_edns_loses_edns_alone(tb, cairn, hz, hostile):
    """C5 towards servers: a server answering FORMERR (without OPT) to EDNS queries is asked
    again without EDNS, and remembered as such; another server is still asked with EDNS
    (c-ares turned EDNS off for the whole channel, DEPS.md: the behaviour to avoid)."""
    a1, a2 = hz.alloc(2)
    tag = secrets.token_hex(3)
    z1 = hz.child("noedns-" + tag, [a1])
    z2 = hz.child("edns-" + tag, [a2])
    zone1 = H.Zone(z1, H.zone_text(z1, addr=a1, body=["* IN A " + REAL]))

    def old_server(q):
        if q.msg is not None and q.edns:
            return H.reply(q, dns.rcode.FORMERR, aa=False, edns=False)
        return None

    s1 = hostile(a1, handler=old_server, zone=zone1)
    s2 = hostile(a2, zone=H.Zone(z2, H.zone_text(z2, addr=a2, body=["* IN A " + REAL])))
    c = start(cairn, tb)
    for i in range(3):
        for z in (z1, z2):
            r, _ = resolve(c, "n%d.%s" % (i, z), "A")
            assert rdata_texts(r.answer, "A") == [REAL], describe(r) + logctx(c)
    q1 = [q for q in s1.snapshot() if q.qname.startswith("n")]
    q2 = [q for q in s2.snapshot() if q.qname.startswith("n")]
    with_edns = [q.qname for q in q1 if q.edns]
    assert len(with_edns) == 1, "EDNS sent %d times to the FORMERR server" % len(with_edns)
    assert all(q.edns for q in q2), "the other server lost EDNS too"


# ------------------------------------------------------------------ C6: big answers
def test_c6_huge_rrsets_and_many_types(tb, cairn, hz, hostile):
    """C6: a TXT RRset of 3000 records (a 60 KB TCP answer) is over limits.rrset_records
    (512): SERVFAIL saying so, nothing cached. One of 400 records of 100 bytes (45 KB) is
    cached; a UDP client gets TC=1 within its EDNS size, a TCP client all 400 records in
    one message under 64 KiB. 300 types at one name are each answered and cached like
    any other (the cache has no per-name structure to blow up), then served from cache."""
    addr = hz.alloc()[0]
    z = hz.child("big-" + secrets.token_hex(3), [addr])
    zone = H.Zone(z, H.zone_text(z, addr=addr))
    huge = H.rr("huge." + z, 300, "TXT", *['"%d"' % i for i in range(3000)])
    mid = H.rr("mid." + z, 300, "TXT", *['"%03d%s"' % (i, "x" * 96) for i in range(400)])

    def handler(q):
        if q.msg is None:
            return None
        if q.qname == "huge." + z and q.qtype == "TXT":
            return H.reply(q, answer=[huge])
        if q.qname == "mid." + z and q.qtype == "TXT":
            return H.reply(q, answer=[mid])
        if q.qname == "many." + z:
            t = q.msg.question[0].rdtype
            return H.reply(q, answer=[H.rr(q.qname, 300, dns.rdatatype.to_text(t),
                                           "\\# 2 %04x" % (t & 0xffff))])
        return None

    srv = hostile(addr, handler=handler, zone=zone)
    path = control_path(cairn)
    c = start(cairn, tb, control=path)
    r, _ = resolve(c, "huge." + z, "TXT", timeout=8)
    e = [o for o in r.options if o.otype == 15]
    assert dns.rcode.to_text(r.rcode()) == "SERVFAIL" and e and "512" in e[0].text, describe(r)
    assert "not in cache" in ctl(path, "cache", "lookup", "huge." + z, "TXT").stdout
    assert srv.count("huge." + z, "TXT", "tcp") >= 1
    # 400 records: cached, TC over UDP, whole over TCP
    q = make_query("mid." + z, "TXT")
    wire = udp_exchange(c, q.to_wire(), timeout=5)
    assert wire is not None and len(wire) <= 1232
    assert dns.message.from_wire(wire).flags & dns.flags.TC
    r, _ = resolve(c, "mid." + z, "TXT", tcp=True)
    assert len(r.answer) == 1 and len(r.answer[0]) == 400, describe(r)[:300]
    assert len(r.to_wire()) <= 65535
    n0 = srv.count("mid." + z, "TXT")
    r, _ = resolve(c, "mid." + z, "TXT", tcp=True)
    assert srv.count("mid." + z, "TXT") == n0 and len(r.answer[0]) == 400
    # many types at one name
    types = [65000 + i for i in range(300)]
    t0 = time.monotonic()
    for t in types:
        r, _ = resolve(c, "many." + z, "TYPE%d" % t)
        assert len(r.answer) == 1, describe(r)
    cold = time.monotonic() - t0
    n0 = srv.count("many." + z)
    t0 = time.monotonic()
    for t in types:
        r, _ = resolve(c, "many." + z, "TYPE%d" % t)
        assert len(r.answer) == 1
    warm = time.monotonic() - t0
    st = ctl_stats(path)
    print("C6: 300 types at one name: %.2fs cold, %.2fs from cache; cache %d entries, %d "
          "bytes of %d" % (cold, warm, st["cache.entries"], st["cache.bytes"],
                           st["cache.budget"]))
    assert srv.count("many." + z) == n0, "cached types were asked again"
    assert st["cache.bytes"] <= st["cache.budget"]
