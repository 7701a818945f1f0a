#!/usr/bin/python3
"""Generate the seed corpus for fuzz_consume (tests/fuzz/corpus/fuzz_consume/).

Each seed is [question byte][mode byte] then replies, each a big-endian u16 length and the
bytes (see tests/fuzz/fuzz_consume.c). The replies are built with dnspython (never with
cairn's codec) in "patch" mode (mode bit 0): header and records without the question,
which the harness takes from the query the engine produced. Each reply is built for the
question the engine is expected to ask at that step (priming, then QNAME-minimised NS
steps, then the full question), with the same name length, so compression pointers into
the question stay valid when the harness inserts it. Scenarios: referral chains with and
without glue, answers, CNAME and DNAME, NXDOMAIN and NODATA with the SOA, lame and
REFUSED servers, FORMERR without OPT, TC, an RRset over the limit, out-of-bailiwick extras,
and a few raw (unpatched) broken replies.

Run from the repository root:  /usr/bin/python3 tests/fuzz/gen_consume_corpus.py
The output is deterministic (dnspython's rdata shuffling is turned off).
"""
import os
import struct

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_consume")

# the harness's question table (fuzz_consume.c): index -> (name, type)
Q_WWW_A, Q_WWW_AAAA, Q_EX_NS, Q_EX_MX, Q_TXT, Q_DS, Q_ROOT_NS, Q_CNAME, Q_PTR, Q_SOA = range(10)

ROOT_A = "198.41.0.4"


def rr(name, ttl, rdtype, *rdatas):
    return dns.rrset.from_text(name, ttl, "IN", rdtype, *rdatas)


def body(qname, qtype, rcode=0, aa=True, answer=(), authority=(), additional=(), tc=False,
         edns=True):
    """A reply to (qname, qtype) with the question cut out (the harness puts it back)."""
    q = dns.message.make_query(qname, qtype, use_edns=0 if edns else False)
    m = dns.message.make_response(q)
    m.set_rcode(rcode)
    if aa:
        m.flags |= dns.flags.AA
    if tc:
        m.flags |= dns.flags.TC
    if not edns:
        m.use_edns(False)
    m.answer, m.authority, m.additional = list(answer), list(authority), list(additional)
    wire = m.to_wire(max_size=65535, want_shuffle=False)
    qlen = len(dns.name.from_text(qname).to_wire()) + 4
    return wire[:12] + wire[12 + qlen:]


def priming():
    return body(".", "NS", answer=[rr(".", 518400, "NS", "a.root-servers.net.")],
                additional=[rr("a.root-servers.net.", 518400, "A", ROOT_A)])


def referral(asked, asked_type, zone, ns, glue=True, extra=()):
    add = [rr(n, 172800, "A", "192.0.2.%d" % (10 + i)) for i, n in enumerate(ns)] if glue else []
    return body(asked, asked_type, aa=False, authority=[rr(zone, 172800, "NS", *ns)],
                additional=add + list(extra))


def soa(zone):
    return rr(zone, 3600, "SOA", "ns1.%s hostmaster.%s 1 7200 900 1209600 300" % (zone, zone))


def seed(q, mode, *replies):
    out = bytes([q, mode])
    for r in replies:
        out += struct.pack("!H", len(r)) + r
    return out


def walk_to_example(final):
    """Priming, the minimised steps to example.com, then the final reply."""
    return [priming(),
            referral("com.", "NS", "com.", ["a.gtld-servers.net."]),
            referral("example.com.", "NS", "example.com.", ["ns1.example.com.",
                                                           "ns2.example.com."]),
            final]


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    www_a = body("www.example.com.", "A", answer=[rr("www.example.com.", 300, "A",
                                                     "192.0.2.1")])
    seeds["01-www-a"] = seed(Q_WWW_A, 1, *walk_to_example(www_a))
    seeds["02-www-aaaa"] = seed(Q_WWW_AAAA, 1, *walk_to_example(body(
        "www.example.com.", "AAAA", answer=[rr("www.example.com.", 300, "AAAA", "2001:db8::1")])))
    seeds["03-nxdomain"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A", rcode=dns.rcode.NXDOMAIN, authority=[soa("example.com.")])))
    seeds["04-nodata"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A", authority=[soa("example.com.")])))
    seeds["05-cname-out"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A", answer=[rr("www.example.com.", 300, "CNAME",
                                            "host.example.net.")])))
    seeds["06-cname-in"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A", answer=[rr("www.example.com.", 300, "CNAME",
                                            "a.example.com."),
                                         rr("a.example.com.", 300, "A", "192.0.2.9")])))
    seeds["07-dname"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A", answer=[rr("example.com.", 300, "DNAME", "example.net."),
                                         rr("www.example.com.", 300, "CNAME",
                                            "www.example.net.")])))
    seeds["08-lame"] = seed(Q_WWW_A, 1, *walk_to_example(body("www.example.com.", "A",
                                                               aa=False)))
    seeds["09-refused"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A", rcode=dns.rcode.REFUSED, aa=False)))
    seeds["10-formerr-no-opt"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A", rcode=dns.rcode.FORMERR, aa=False, edns=False)))
    seeds["11-glueless"] = seed(Q_WWW_A, 1, priming(),
                                referral("com.", "NS", "com.", ["a.gtld-servers.net."]),
                                referral("example.com.", "NS", "example.com.",
                                         ["ns.hoster.net."], glue=False))
    seeds["12-ns-answer"] = seed(Q_EX_NS, 1, priming(),
                                 referral("com.", "NS", "com.", ["a.gtld-servers.net."]),
                                 referral("example.com.", "NS", "example.com.",
                                          ["ns1.example.com."]),
                                 body("example.com.", "NS",
                                      answer=[rr("example.com.", 604800, "NS",
                                                 "ns1.example.com.")],
                                      additional=[rr("ns1.example.com.", 3600, "A",
                                                     "192.0.2.10")]))
    seeds["13-poison-extras"] = seed(Q_WWW_A, 1, *walk_to_example(body(
        "www.example.com.", "A",
        answer=[rr("www.example.com.", 300, "A", "192.0.2.1"),
                rr("bank.example.", 86400, "A", "6.6.6.6")],
        authority=[rr("com.", 86400, "NS", "ns.evil.example.")],
        additional=[rr("a.gtld-servers.net.", 86400, "A", "6.6.6.6")])))
    seeds["14-mx"] = seed(Q_EX_MX, 1, priming(),
                          referral("com.", "NS", "com.", ["a.gtld-servers.net."]),
                          referral("example.com.", "NS", "example.com.", ["ns1.example.com."]),
                          body("example.com.", "MX", answer=[rr("example.com.", 300, "MX",
                                                                "10 mail.example.com.")]))
    seeds["15-root-ns"] = seed(Q_ROOT_NS, 1, priming())
    seeds["16-txt-deep"] = seed(Q_TXT, 1, priming(),
                                referral("net.", "NS", "net.", ["a.gtld-servers.net."]),
                                referral("example.net.", "NS", "example.net.",
                                         ["ns1.example.net."]),
                                body("c.example.net.", "NS", authority=[soa("example.net.")]),
                                body("b.c.example.net.", "NS", authority=[soa("example.net.")]),
                                body("a.b.c.example.net.", "TXT",
                                     answer=[rr("a.b.c.example.net.", 60, "TXT", '"hello"')]))
    seeds["17-ptr"] = seed(Q_PTR, 1, priming(),
                           referral("arpa.", "NS", "arpa.", ["a.ns.arpa."]),
                           referral("in-addr.arpa.", "NS", "in-addr.arpa.",
                                    ["a.in-addr-servers.arpa."]))
    big = rr("www.example.com.", 300, "A", *["192.0.2.%d" % (i % 250) for i in range(1)] +
             ["198.51.%d.%d" % (i // 250, i % 250) for i in range(600)])
    seeds["18-big-rrset"] = seed(Q_WWW_A, 1, *walk_to_example(body("www.example.com.", "A",
                                                                    answer=[big])))
    seeds["19-tc"] = seed(Q_WWW_A, 1, *walk_to_example(body("www.example.com.", "A", tc=True)))
    seeds["20-timeouts"] = seed(Q_WWW_A, 2, priming())
    seeds["21-case-mismatch"] = seed(Q_WWW_A, 3, priming(),
                                     referral("com.", "NS", "com.", ["a.gtld-servers.net."]))
    seeds["22-qmin-off"] = seed(Q_WWW_A, 9, priming(),
                                referral("www.example.com.", "A", "com.",
                                         ["a.gtld-servers.net."]))
    seeds["23-ds"] = seed(Q_DS, 1, priming(), referral("com.", "NS", "com.",
                                                       ["a.gtld-servers.net."]))
    seeds["24-cname-qtype"] = seed(Q_CNAME, 1, priming(),
                                   referral("org.", "NS", "org.", ["a0.org.afilias-nst.info."],
                                            glue=False))
    seeds["25-soa"] = seed(Q_SOA, 1, *walk_to_example(body("example.com.", "SOA",
                                                           answer=[soa("example.com.")]))[:3])
    # raw mode: whole messages as sent, broken ones included
    q = dns.message.make_query(".", "NS")
    raw_ok = dns.message.make_response(q).to_wire()
    seeds["26-raw-ok"] = seed(Q_WWW_A, 0, raw_ok)
    seeds["27-raw-pointer-loop"] = seed(Q_WWW_A, 0, raw_ok[:12] + b"\xc0\x0c\x00\x02\x00\x01")
    seeds["28-raw-truncated"] = seed(Q_WWW_A, 0, raw_ok[:7])
    seeds["29-raw-empty"] = seed(Q_WWW_A, 0, b"")
    seeds["30-edns-client"] = seed(Q_WWW_A | 0xC0, 1, *walk_to_example(www_a))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
