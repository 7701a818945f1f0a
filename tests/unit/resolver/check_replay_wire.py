#!/usr/bin/python3
"""Check every fake upstream reply the engine replay tests build, with dnspython.

test_resolve.c builds its fake authoritative replies with cairn's own writer; a writer bug
would then be read back by cairn's own parser as what the writer meant, and hide. This runs
test_resolve with CAIRN_REPLAY_DUMP set, so that each reply is written out with what it
should hold (taken from the test's zone tables, not from the writer), and checks each one
with an independent decoder (dnspython): the header read byte by byte (ID, flags, the four
counts), the question (name byte for byte, 0x20 case included), and every record of every
section (owner, type, class IN, TTL, RDATA compared as dnspython parses it).

usage: check_replay_wire.py PATH/TO/test_resolve
"""
import os
import struct
import subprocess
import sys
import tempfile

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

SECTIONS = ("answer", "authority", "additional")


def records(msg, section):
    out = []
    for rrset in getattr(msg, section):
        for rd in rrset:
            out.append((rrset.name, rrset.rdtype, rrset.rdclass, rrset.ttl, rd))
    return out


def check_one(wire, header, question, rrs):
    """Return a list of problems (empty when the reply holds what it should)."""
    problems = []
    rid, rflags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
    want_id, want_flags = header
    if rid != want_id:
        problems.append("id %d, want %d" % (rid, want_id))
    if rflags != want_flags:
        problems.append("flags %04x, want %04x" % (rflags, want_flags))
    want_counts = [sum(1 for r in rrs if r[0] == s) for s in SECTIONS]
    if [qd, an, ns, ar] != [1] + want_counts:
        problems.append("counts %s, want %s" % ([qd, an, ns, ar], [1] + want_counts))
    try:
        msg = dns.message.from_wire(wire)
    except Exception as e:  # noqa: BLE001 - any decoder complaint is a finding
        return problems + ["dnspython cannot parse it: %s" % e]
    qname, qtype = question
    if len(msg.question) != 1:
        return problems + ["%d questions" % len(msg.question)]
    q = msg.question[0]
    if q.name.to_text() != qname or dns.rdatatype.to_text(q.rdtype) != qtype:
        problems.append("question %s %s, want %s %s" % (q.name, dns.rdatatype.to_text(
            q.rdtype), qname, qtype))
    for section in SECTIONS:
        got = records(msg, section)
        want = []
        for sec, owner, rtype, ttl, data in rrs:
            if sec != section:
                continue
            t = dns.rdatatype.from_text(rtype)
            want.append((dns.name.from_text(owner), t, dns.rdataclass.IN, int(ttl),
                         dns.rdata.from_text(dns.rdataclass.IN, t, data)))
        key = lambda r: (r[0].to_text().lower(), r[1], r[4].to_text().lower())  # noqa: E731
        # dnspython merges equal records into one (RFC 2181 5; the duplicate-record tests
        # send them on purpose): the header counts above prove each copy is on the wire,
        # the records are compared once each, at the lowest TTL as dnspython keeps it.
        merged = {}
        for w in want:
            k = (key(w), w[2])
            if k not in merged or w[3] < merged[k][3]:
                merged[k] = w
        want = list(merged.values())
        got_s, want_s = sorted(got, key=key), sorted(want, key=key)
        if len(got_s) != len(want_s) or any(
                g[0] != w[0] or g[1] != w[1] or g[2] != w[2] or g[3] != w[3] or g[4] != w[4]
                for g, w in zip(got_s, want_s)):
            problems.append("%s: got %s, want %s" % (
                section, [(str(g[0]), g[1], g[3], g[4].to_text()) for g in got_s],
                [(str(w[0]), w[1], w[3], w[4].to_text()) for w in want_s]))
    return problems


def parse_dump(text):
    cur = None
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "reply":
            cur = {"wire": bytes.fromhex(rest), "rrs": []}
        elif word == "header":
            cur["header"] = tuple(int(x) for x in rest.split())
        elif word == "question":
            name, qtype = rest.split()
            cur["question"] = (name, qtype)
        elif word == "rr":
            sec, owner, rtype, ttl, data = rest.split(" ", 4)
            cur["rrs"].append((sec, owner, rtype, ttl, data))
        elif word == "end":
            yield cur
            cur = None


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory(prefix="cairn-replay-") as tmp:
        dump = os.path.join(tmp, "replies.txt")
        env = dict(os.environ, CAIRN_REPLAY_DUMP=dump)
        run = subprocess.run([sys.argv[1]], env=env, capture_output=True, text=True,
                             timeout=600)
        if run.returncode != 0:
            print(run.stdout[-3000:], run.stderr[-3000:])
            raise SystemExit("test_resolve itself failed (status %d)" % run.returncode)
        with open(dump) as f:
            replies = list(parse_dump(f.read()))
    bad = 0
    for i, r in enumerate(replies):
        problems = check_one(r["wire"], r["header"], r["question"], r["rrs"])
        if problems:
            bad += 1
            if bad <= 10:
                print("reply %d (%s %s): %s" % (i, r["question"][0], r["question"][1],
                                                "; ".join(problems)))
    kinds = sum(len(r["rrs"]) for r in replies)
    print("%d replies, %d records checked with dnspython: %d bad" % (len(replies), kinds, bad))
    if not replies:
        raise SystemExit("no replies were dumped: is CAIRN_REPLAY_DUMP still honoured?")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
