#!/usr/bin/python3
"""Generate the seed corpus for fuzz_dnssec (tests/fuzz/corpus/fuzz_dnssec/).

Seeds are replies built with dnspython (never with cairn's codec) from the really signed
zones of tests/unit/resolver/dnssec_vectors.h (dnspython and ldns-signzone signatures):
signed answers with their DNSKEY RRset and DS, wildcard answers, NXDOMAIN and NODATA with
NSEC and NSEC3 (opt-out too), plus presentation-format trust anchors. The first byte of each
seed is the target's mode (0 message, 1 anchor text).

Run from the repository root:  /usr/bin/python3 tests/fuzz/gen_dnssec_corpus.py
Deterministic for a given dnssec_vectors.h.
"""
import os
import re

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_dnssec")
VEC = os.path.join(HERE, "..", "unit", "resolver", "dnssec_vectors.h")

ROWS = re.findall(r'\{"([^"]+)", "([^"]+)", (\d+), (\d+), "([0-9a-f]*)"\}', open(VEC).read())


def rrsets(case, rdtype=None, owner=None, covers=None):
    """RRsets (owner, type) of a case, as dnspython objects."""
    sets = {}
    for c, o, t, ttl, hx in ROWS:
        t = int(t)
        if c != case or t == 0 or (rdtype and t != rdtype) or (owner and o != owner):
            continue
        rd = dns.rdata.from_wire(dns.rdataclass.IN, t, bytes.fromhex(hx), 0, len(hx) // 2)
        if covers and t == 46 and rd.type_covered != covers:
            continue
        key = (o, t, rd.type_covered if t == 46 else 0)
        if key not in sets:
            sets[key] = dns.rrset.RRset(dns.name.from_text(o), dns.rdataclass.IN, t,
                                        rd.type_covered if t == 46 else dns.rdatatype.NONE)
        sets[key].add(rd, int(ttl))
    return list(sets.values())


def reply(qname, qtype, answer=(), authority=(), additional=(), rcode=0, qid=0):
    q = dns.message.make_query(qname, qtype, want_dnssec=True)
    q.id = qid
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    r.answer += list(answer)
    r.authority += list(authority)
    r.additional += list(additional)
    return b"\x00" + r.to_wire(max_size=65535)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for alg in (8, 10, 13, 14, 15, 16):
        case, zone = "alg%d" % alg, "alg%d.example." % alg
        www = "www." + zone
        seeds["%02d-answer-alg%d" % (alg, alg)] = reply(
            www, "A", rrsets(case, 1) + rrsets(case, 46, www),
            additional=rrsets(case, 48) + rrsets(case, 46, zone, covers=48) +
            rrsets(case + "_ds", 43))
        seeds["%02d-wild-alg%d" % (alg, alg)] = reply(
            "a.b.wild." + zone, "TXT", rrsets(case + "_wild"), additional=rrsets(case, 48),
            qid=3)
    for case, zone in (("ldns13", "nsec.example."), ("ldns8", "nsec3.example."),
                       ("ldns15", "optout.example.")):
        denial = rrsets(case, 47) + rrsets(case, 50) + \
            [s for s in rrsets(case, 46) if s.covers in (47, 50)]
        soa = rrsets(case, 6) + rrsets(case, 46, zone, covers=6)
        seeds["20-nxdomain-" + case] = reply("nope." + zone, "A", authority=soa + denial,
                                             rcode=3)
        seeds["21-nodata-" + case] = reply("www." + zone, "TXT", authority=soa + denial)
        seeds["22-nods-" + case] = reply("sub." + zone, "DS", authority=soa + denial)
        seeds["23-wild-" + case] = reply(
            "x.wild." + zone, "A", rrsets(case, 1, "*.wild." + zone), authority=denial,
            qid=3)
        seeds["24-keys-" + case] = reply(zone, "DNSKEY",
                                         rrsets(case, 48) + rrsets(case, 46, zone, covers=48))
    seeds["30-anchor-ds"] = (b"\x01. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E88040"
                             b"9BBC683457104237C7F8EC8D\n")
    seeds["31-anchor-dnskey"] = b"\x01example. 3600 IN DNSKEY 257 3 13 AAAAAAAA\n"
    seeds["32-anchor-bad"] = b"\x01$ORIGIN x.\n@ IN DS 1 2 3\nfoo MX 1 .\n"
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
