#!/usr/bin/python3
"""Seeds for fuzz_hosted (tests/fuzz/fuzz_hosted.c): [client byte][u16 query length][query]
[reply]. Queries for the names of its zones, from inside and outside the private zone;
the reply, for the names that need a resolution, is a dnspython-built answer."""
import os
import struct
import sys

import dns.message
import dns.rrset

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_hosted")

NAMES = [("www.a.test.", "A"), ("x.w.a.test.", "MX"), ("q.c.a.test.", "A"),
         ("alias.a.test.", "A"), ("out.a.test.", "A"), ("loop1.a.test.", "A"),
         ("www.d.a.test.", "A"), ("x.long.a.test.", "A"), ("www.sub.a.test.", "A"),
         ("y.ent.a.test.", "A"), ("nope.a.test.", "AAAA"), ("priv.a.test.", "A"),
         ("back.p.test.", "A"), ("www.sub.p.test.", "A"), ("printer.lan.", "AAAA"),
         ("localhost.", "A"), ("1.0.0.127.in-addr.arpa.", "PTR"), ("www.example.", "A")]


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for client in (2, 3):
        for name, rdtype in NAMES:
            q = dns.message.make_query(name, rdtype, use_edns=0)
            q.id = 0x1234
            wire = q.to_wire()
            r = dns.message.make_response(dns.message.make_query("www.x.test.", "A"))
            r.answer.append(dns.rrset.from_text("www.x.test.", 60, "IN", "A", "192.0.2.7"))
            data = bytes([client]) + struct.pack("!H", len(wire)) + wire + r.to_wire()
            with open(os.path.join(OUT, "seed-%03d" % n), "wb") as f:
                f.write(data)
            n += 1
    print("%d seeds in %s" % (n, OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
