#!/usr/bin/python3
"""Generate the seed corpus for fuzz_wire (tests/fuzz/corpus/fuzz_wire/).

Seeds are small DNS messages built with dnspython (never with cairn's own codec): queries
with and without EDNS, answers of every RDATA type the codec types (compressed the way
dnspython compresses them), referrals with glue, negative answers, EDNS options including an
Extended DNS Error, plus a few hand-made malformed messages (pointer loop, forward pointer,
bad label type, truncated RDATA) so the fuzzer starts next to the error paths.

Run from the repository root:  /usr/bin/python3 tests/fuzz/gen_wire_corpus.py
The output is deterministic (fixed IDs), so re-running it leaves the seeds unchanged.
"""
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_wire")


def query(name, rdtype, edns=-1, do=False, qid=0x1234):
    q = dns.message.make_query(name, rdtype, use_edns=edns, want_dnssec=do)
    q.id = qid
    return q.to_wire()


def response(qname, qtype, sections, rcode=0, edns=-1, options=None, qid=0x4321):
    """sections: dict of 'answer'/'authority'/'additional' -> list of (name, ttl, type, text)."""
    q = dns.message.make_query(qname, qtype)
    q.id = qid
    r = dns.message.make_response(q)
    r.flags |= dns.flags.RA
    r.set_rcode(rcode)
    for sec, rrs in sections.items():
        target = getattr(r, sec)
        for name, ttl, rdtype, text in rrs:
            target.append(dns.rrset.from_text(name, ttl, "IN", rdtype, text))
    if edns >= 0:
        r.use_edns(edns, payload=1232, options=options or [])
    return r.to_wire()


def header(qid, flags, qd, an, ns, ar):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def seeds():
    yield "query-a", query("www.example.com.", "A")
    yield "query-aaaa-edns-do", query("www.example.org.", "AAAA", edns=0, do=True)
    yield "query-0x20", query("wWw.ExAmPlE.cOm.", "A", edns=0)
    yield "query-root-ns", query(".", "NS", edns=0)
    yield "answer-a-cname", response("www.example.com.", "A", {
        "answer": [("www.example.com.", 300, "CNAME", "web.example.com."),
                   ("web.example.com.", 60, "A", "192.0.2.1"),
                   ("web.example.com.", 60, "A", "192.0.2.2")]}, edns=0)
    yield "answer-aaaa", response("v6.example.com.", "AAAA", {
        "answer": [("v6.example.com.", 300, "AAAA", "2001:db8::1")]})
    yield "answer-mx", response("example.com.", "MX", {
        "answer": [("example.com.", 300, "MX", "10 mail.example.com."),
                   ("example.com.", 300, "MX", "20 mx2.example.net.")],
        "additional": [("mail.example.com.", 300, "A", "192.0.2.25")]})
    yield "answer-txt", response("example.com.", "TXT", {
        "answer": [("example.com.", 300, "TXT", '"v=spf1 -all" "second string" ""'),
                   ("example.com.", 300, "TXT", '"quote \\" and \\\\ backslash \\009"')]})
    yield "answer-srv", response("_sip._udp.example.com.", "SRV", {
        "answer": [("_sip._udp.example.com.", 300, "SRV", "0 5 5060 sip.example.com.")]})
    yield "answer-ptr", response("1.2.0.192.in-addr.arpa.", "PTR", {
        "answer": [("1.2.0.192.in-addr.arpa.", 300, "PTR", "host.example.com.")]})
    yield "answer-dname", response("a.old.example.", "A", {
        "answer": [("old.example.", 300, "DNAME", "new.example."),
                   ("a.old.example.", 300, "CNAME", "a.new.example."),
                   ("a.new.example.", 300, "A", "192.0.2.7")]})
    yield "answer-misc-types", response("misc.example.", "ANY", {
        "answer": [("misc.example.", 300, "HINFO", '"PDP-11" "UNIX"'),
                   ("misc.example.", 300, "TYPE14",
                    "\\# 24 02726d076578616d706c6500 02656d076578616d706c6500"),
                   ("misc.example.", 300, "RP", "admin.misc.example. info.misc.example."),
                   ("misc.example.", 300, "NAPTR",
                    '100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .'),
                   ("misc.example.", 300, "AFSDB", "1 afs.misc.example."),
                   ("misc.example.", 300, "CAA", '0 issue "ca.example"'),
                   ("misc.example.", 300, "TYPE65280", "\\# 4 c00c0001")]})
    yield "nxdomain-soa", response("nope.example.com.", "A", {
        "authority": [("example.com.", 3600, "SOA",
                       "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300")]},
        rcode=3, edns=0)
    yield "referral-glue", response("www.example.com.", "A", {
        "authority": [("example.com.", 172800, "NS", "ns1.example.com."),
                      ("example.com.", 172800, "NS", "ns2.example.com."),
                      ("example.com.", 172800, "NS", "ns.other.net.")],
        "additional": [("ns1.example.com.", 172800, "A", "192.0.2.53"),
                       ("ns1.example.com.", 172800, "AAAA", "2001:db8::53"),
                       ("ns2.example.com.", 172800, "A", "198.51.100.53")]}, edns=0)
    ede = dns.edns.GenericOption(15, struct.pack("!H", 22) + b"no reachable authority")
    cookie = dns.edns.GenericOption(10, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    yield "servfail-ede", response("broken.example.", "A", {}, rcode=2, edns=0,
                                   options=[cookie, ede])
    q = dns.message.make_query("version.bind.", "TXT", rdclass="CH")
    q.id = 7
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("version.bind.", 0, "CH", "TXT", '"cairn"'))
    yield "chaos-txt", r.to_wire()

    # Hand-made malformed messages, next to the error paths.
    q = header(1, 0x0100, 1, 0, 0, 0)
    yield "bad-self-pointer", q + b"\xc0\x0c\x00\x01\x00\x01"
    yield "bad-forward-pointer", q + b"\xc0\x0e\x00\x00\x01\x00\x01"
    yield "bad-label-type", q + b"\x41abc\x00\x00\x01\x00\x01"
    # A -> B -> A: B sits in opaque RDATA of the first answer and points forward to A.
    loop = header(2, 0x8000, 0, 2, 0, 0) + b"\x00" + struct.pack("!HHIH", 65280, 1, 0, 2)
    loop += b"\xc0\x19" + b"\xc0\x17" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04"
    yield "bad-pointer-loop", loop
    ok = response("www.example.com.", "A", {
        "answer": [("www.example.com.", 300, "A", "192.0.2.1")]})
    yield "bad-truncated-rdata", ok[:-2]
    yield "bad-trailing", ok + b"\x00"
    two_opt = query("a.example.", "A", edns=0)
    two_opt = two_opt[:10] + b"\x00\x02" + two_opt[12:] + two_opt[-11:]
    yield "bad-two-opt", two_opt
    yield "bad-short-header", header(3, 0, 0, 0, 0, 0)[:11]


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for i, (name, wire) in enumerate(seeds(), 1):
        with open(os.path.join(OUT, "%02d-%s.bin" % (i, name)), "wb") as f:
            f.write(wire)
        n += 1
    print("wrote %d seeds to %s" % (n, OUT))


if __name__ == "__main__":
    main()
