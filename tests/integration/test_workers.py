"""Several workers (issue 7): each worker has its own UDP and TCP sockets on the listen
address (SO_REUSEPORT), they share one cache, and identical questions arriving on different
workers still cost one resolution. The fixture stops every cairn with SIGTERM and fails the
test unless it exits 0 (an ASan report or a leak fails it too).
"""
import secrets
import socket
import time

import dns.message
import dns.rcode

from helpers import (delta, describe, group_stats, make_query, rdata_texts, resolve, start,
                     tail)

WORKERS = 4
SOCKETS = 24  # client source ports: the kernel hashes them over the workers


def spread_burst(c, name, rdtype, n=SOCKETS, timeout=5.0):
    """One query from each of n sockets (n source ports), sent back to back; {id: reply}."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    got = {}
    try:
        for i, s in enumerate(socks):
            s.setblocking(False)
            s.sendto(make_query(name, rdtype, qid=0x3000 + i).to_wire(), (c.addr, c.port))
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            for i, s in enumerate(socks):
                if 0x3000 + i in got:
                    continue
                try:
                    wire = s.recv(65535)
                except BlockingIOError:
                    continue
                m = dns.message.from_wire(wire)
                got[m.id] = m
            time.sleep(0.001)
    finally:
        for s in socks:
            s.close()
    return got


def test_identical_questions_coalesce_across_workers(tb, cairn):
    leaf = tb.names["wildcard"]["servers"]
    c = start(cairn, tb, "--workers", str(WORKERS))
    # warm the path to example.com, so each burst costs the leaf servers exactly one query
    r, _ = resolve(c, "warm-%s.wild.example.com." % secrets.token_hex(4), "TXT")
    assert dns.rcode.to_text(r.rcode()) == "NOERROR", describe(r)
    for rnd in range(3):
        name = "cw-%s.wild.example.com." % secrets.token_hex(4)
        before = group_stats(tb, leaf)
        got = spread_burst(c, name, "TXT")
        after = group_stats(tb, leaf)
        assert len(got) == SOCKETS, "answers for %d of %d queries\n%s" % (
            len(got), SOCKETS, tail(c.log()))
        for m in got.values():
            assert dns.rcode.to_text(m.rcode()) == "NOERROR", describe(m)
            assert rdata_texts(m.answer, "TXT", name) == ['"wildcard"'], describe(m)
        txt = delta(after, before, "num.type.TXT")
        assert txt == 1, "round %d: %d TXT queries upstream for %d identical questions from " \
            "%d source ports over %d workers (want 1)" % (rnd, txt, SOCKETS, SOCKETS, WORKERS)


def test_every_worker_answers_udp_and_tcp(tb, cairn):
    """Many source ports reach every worker's sockets; all of them answer, from the shared
    cache, over UDP and TCP; then the daemon stops cleanly (exit 0, checked by the fixture)."""
    c = start(cairn, tb, "--workers", str(WORKERS))
    name = tb.names["a"]["qname"]
    r, _ = resolve(c, name, "A")
    assert rdata_texts(r.answer, "A") == ["192.0.2.1"], describe(r)
    got = spread_burst(c, name, "A")
    assert len(got) == SOCKETS
    for m in got.values():
        assert rdata_texts(m.answer, "A") == ["192.0.2.1"], describe(m)
    for _ in range(8):  # new connections: the kernel spreads them over the listeners too
        r, _ = resolve(c, name, "A", tcp=True)
        assert rdata_texts(r.answer, "A") == ["192.0.2.1"], describe(r)


def test_workers_config_key(tb, cairn):
    c = start(cairn, tb, config="workers: 3\n")
    r, _ = resolve(c, tb.names["aaaa"]["qname"], "AAAA")
    assert rdata_texts(r.answer, "AAAA") == ["2001:db8::1"], describe(r)
    assert "3 workers" in c.log(), tail(c.log())
