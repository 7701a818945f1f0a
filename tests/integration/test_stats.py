"""Failure entries: a lame server makes a resolution fail; the failure cache entry shows in
cache.failure_entries, not in cache.entries, and a dump skips it. (test_counters.py drives
every printed counter; the check that docs/cairnctl.md lists them is in tests/unit/net.)
"""
import secrets

import dns.rcode

import hostile as H
from helpers import control_path, ctl, ctl_stats, describe, logctx, resolve, start

REAL = "192.0.2.77"


def test_failure_entries_counted_apart_and_not_dumped(tb, cairn, hz, hostile, tmp_path):
    """Issue 10 item 6: a failed resolution is remembered (RFC 9520) as its own kind of cache
    entry: cache.failure_entries moves, cache.entries does not count it, a dump skips it."""
    addr = hz.alloc()[0]
    z = hz.child("st-fail-" + secrets.token_hex(3), [addr])
    zone = H.Zone(z, H.zone_text(z, addr=addr))

    def handler(q):
        if q.msg is None or not q.qname.startswith("fail."):
            return None
        return [H.Send(H.reply(q, rcode=dns.rcode.REFUSED, aa=False))]

    hostile(addr, handler=handler, zone=zone)
    path = control_path(cairn)
    c = start(cairn, tb, control=path)
    before = ctl_stats(path)
    r, _ = resolve(c, "fail." + z, "A")
    assert dns.rcode.to_text(r.rcode()) == "SERVFAIL", describe(r) + logctx(c)
    st = ctl_stats(path)
    assert st["failures.cached"] - before["failures.cached"] >= 1, st
    assert st["cache.failure_entries"] >= 1 and st["cache.failure_bytes"] > 0, st
    assert st["cache.bytes"] + st["cache.failure_bytes"] <= st["cache.budget"], st
    out = ctl(path, "cache", "dump", str(tmp_path / "d.bin"))
    dumped = int(out.stdout.split()[-1])
    assert 0 < dumped <= st["cache.entries"], (out, st)
