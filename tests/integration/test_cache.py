"""cairn's cache seen from outside (issue 5's integration checks that fit a fast suite).

"No upstream query" is measured at the servers: the sum of every NSD's num.queries
(helpers.upstream_total(tb), the same number as tb.query_count() but read in parallel) must
not move. Not here: the 200,000-name RSS flood (too slow for this
suite under ASan; it belongs in a benchmark script).
"""
import os

import dns.edns
import dns.rcode
import pytest

from helpers import (CACHE_OUTCOMES, OUTCOMES, a_ttl, ask, control_path, ctl_stats, delta,
                     describe, group_stats, make_query, need_cairnctl, rdata_texts, resolve,
                     rrsets, start, tail, upstream_total)
from helpers import WallClock, logctx  # noqa: E402



def test_repeat_answered_from_cache_with_lower_ttl(tb, cairn):
    s = tb.names["ttl60"]
    clock = WallClock(cairn.tmpdir)
    c = start(cairn, tb, env=clock.env)
    r1, _ = resolve(c, s["qname"], "A")
    assert rdata_texts(r1.answer, "A") == s["answer"], describe(r1)
    ttl1 = a_ttl(r1, s["qname"])
    assert 0 < ttl1 <= 60, describe(r1)
    count0 = upstream_total(tb)
    clock.advance(3)   # cairn's wall clock (no wait with libfaketime)
    r2, dt = resolve(c, s["qname"], "A")
    assert upstream_total(tb) == count0, "a repeated question went upstream" + logctx(c)
    assert rdata_texts(r2.answer, "A") == s["answer"], describe(r2)
    ttl2 = a_ttl(r2, s["qname"])
    assert ttl2 <= ttl1 - 3, "TTL %d 3 s after %d: not decremented by 3%s" % (
        ttl2, ttl1, describe(r2))
    assert ttl2 >= ttl1 - 5, "TTL fell from %d to %d in 3 s" % (ttl1, ttl2)
    assert dt < 0.5


@pytest.mark.parametrize("key", ["cname_chain", "cname_cross_tld"])
def test_cname_chain_answered_from_cache(tb, cairn, key):
    """The whole reply, chain included, built from cache with no upstream query."""
    s = tb.names[key]
    c = start(cairn, tb)
    r1, _ = resolve(c, s["qname"], "A")
    assert rdata_texts(r1.answer, "A") == s["answer"], describe(r1)
    count0 = upstream_total(tb)
    r2, _ = resolve(c, s["qname"], "A")
    assert upstream_total(tb) == count0, "the cached chain went upstream" + logctx(c)
    assert [x.name for x in r2.answer] == [x.name for x in r1.answer], describe(r2)
    assert rdata_texts(r2.answer, "A") == s["answer"], describe(r2)
    assert rdata_texts(r2.answer, "CNAME") == rdata_texts(r1.answer, "CNAME"), describe(r2)


def test_expired_entry_is_fetched_again(tb, cairn):
    s = tb.names["ttl5"]
    leaf = s["servers"]
    clock = WallClock(cairn.tmpdir)
    c = start(cairn, tb, env=clock.env)
    r, _ = resolve(c, s["qname"], "A")
    assert rdata_texts(r.answer, "A") == s["answer"], describe(r)
    assert a_ttl(r, s["qname"]) <= 5, describe(r)
    st0 = group_stats(tb, leaf)
    r, _ = resolve(c, s["qname"], "A")
    st1 = group_stats(tb, leaf)
    assert delta(st1, st0, "num.queries") == 0, "fresh ttl5 entry went upstream" + logctx(c)
    clock.advance(6)
    r, _ = resolve(c, s["qname"], "A")
    st2 = group_stats(tb, leaf)
    assert delta(st2, st1, "num.type.A") >= 1, \
        "ttl5 answered 6 s later without asking the leaf servers again%s%s" % (describe(r),
                                                                               logctx(c))
    assert rdata_texts(r.answer, "A") == s["answer"], describe(r)
    assert 0 < a_ttl(r, s["qname"]) <= 5, "refetched TTL should be <= 5" + describe(r)


def test_negative_answers_from_cache_and_rfc8020(tb, cairn):
    nx, nd = tb.names["nxdomain"], tb.names["nodata"]
    c = start(cairn, tb)
    r, _ = resolve(c, nx["qname"], "A")
    assert dns.rcode.to_text(r.rcode()) == "NXDOMAIN", describe(r)
    r, _ = resolve(c, nd["qname"], nd["qtype"])
    assert dns.rcode.to_text(r.rcode()) == "NOERROR" and not r.answer, describe(r)
    count0 = upstream_total(tb)
    checks = [(nx["qname"], "A", "NXDOMAIN"),               # the cached NXDOMAIN
              (nx["qname"], "AAAA", "NXDOMAIN"),            # NXDOMAIN covers every type
              ("below." + nx["qname"], "A", "NXDOMAIN"),    # RFC 8020: names below it
              ("a.b.c." + nx["qname"], "TXT", "NXDOMAIN"),
              (nd["qname"], nd["qtype"], "NOERROR")]        # the cached NODATA
    for name, t, rcode in checks:
        q = make_query(name, t)
        r = ask(c, q)
        assert dns.rcode.to_text(r.rcode()) == rcode, "%s %s%s" % (name, t, describe(r))
        assert not r.answer, describe(r)
        soa = rrsets(r.authority, "SOA", "example.com.")
        assert soa, "cached negative answer without the SOA%s" % describe(r)
        assert 0 < soa[0].ttl <= 60, describe(r)
        assert upstream_total(tb) == count0, \
            "%s %s (%s) went upstream instead of using the cached negative answer%s" % (
                name, t, rcode, logctx(c))
    # the positive data of the zone is still there, and not shadowed
    r, _ = resolve(c, "www.example.com.", "A")
    assert rdata_texts(r.answer, "A") == ["192.0.2.1"], describe(r)


def test_stats_outcomes_and_hit_rate(tb, cairn):
    """Send a known mix; count ourselves which queries needed the servers (upstream_total
    moved) and which did not; cairnctl stats must agree exactly."""
    need_cairnctl()
    path = control_path(cairn)
    c = start(cairn, tb, config="allow:\n  - 127.0.0.1/32\n", control=path)
    s0 = ctl_stats(path)
    assert s0.get("queries") == 0, s0
    total0 = upstream_total(tb)
    plan = [("www.example.com.", "A", "NOERROR", False),
            ("www.example.com.", "A", "NOERROR", False),
            ("WWW.EXAMPLE.COM.", "A", "NOERROR", False),
            ("nope.example.com.", "A", "NXDOMAIN", False),
            ("nope.example.com.", "A", "NXDOMAIN", False),
            ("sub.nope.example.com.", "A", "NXDOMAIN", False),
            ("www.example.com.", "TXT", "NOERROR", False),
            ("www.example.com.", "TXT", "NOERROR", False),
            ("alias1.example.com.", "A", "NOERROR", False),
            ("alias1.example.com.", "A", "NOERROR", False),
            ("www.example.com.", "A", "NOERROR", True),      # over TCP
            ("www.example.com.", "A", "REFUSED", "127.0.0.2")]
    upstream, cached, refused = 0, 0, 0
    before = total0
    for name, t, rcode, how in plan:
        q = make_query(name, t)
        if how == "127.0.0.2":
            r = ask(c, q, source="127.0.0.2")
        else:
            r = ask(c, q, tcp=bool(how))
        assert dns.rcode.to_text(r.rcode()) == rcode, "%s %s%s" % (name, t, describe(r))
        now = upstream_total(tb)
        went, before = now != before, now
        if rcode == "REFUSED":
            assert not went
            refused += 1
        elif went:
            upstream += 1
        else:
            cached += 1
    n = len(plan)
    st = ctl_stats(path)
    summary = "\n".join("%s %s" % (k, st.get(k)) for k in ["queries"] + OUTCOMES +
                        ["cache.hit_rate", "upstream.queries", "upstream.sent_udp",
                         "upstream.sent_tcp"])
    ctx = "\nour count: %d queries, %d upstream, %d from cache, %d refused\ncairn:\n%s" % (
        n, upstream, cached, refused, summary)
    assert (upstream, cached) == (4, 7), "unexpected upstream/cache split" + ctx + logctx(c)
    assert st["queries"] == n, "queries" + ctx
    assert sum(st[k] for k in OUTCOMES) == n, "outcomes do not sum to the queries" + ctx
    assert sum(st[k] for k in CACHE_OUTCOMES) == cached, "cache answers" + ctx
    assert st["answer.cache.positive"] == 4 and st["answer.cache.negative"] == 3, ctx
    assert st["answer.resolved"] == upstream, "resolved" + ctx
    assert st["answer.refused"] == refused, "refused" + ctx
    assert st["cache.hit_rate"] == pytest.approx(cached / n, abs=1e-6), "hit rate" + ctx
    wire = before - total0
    assert st["upstream.sent_udp"] + st["upstream.sent_tcp"] == wire, \
        "cairn says it sent %d upstream queries, the servers got %d%s" % (
            st["upstream.sent_udp"] + st["upstream.sent_tcp"], wire, ctx)


def test_stale_answer_when_servers_are_down(tb, cairn):
    """RFC 8767: ttl5 expired, both servers of example.com stopped -> the stale answer with
    EDE 3 (Stale Answer) and TTL stale_answer_ttl (30), within the client deadline."""
    s = tb.names["ttl5"]
    clock = WallClock(cairn.tmpdir)
    c = start(cairn, tb, env=clock.env)
    r, _ = resolve(c, s["qname"], "A")
    assert rdata_texts(r.answer, "A") == s["answer"], describe(r)
    for a in s["servers"]:
        tb.stop_server(a)
    try:
        clock.advance(6)
        r, dt = resolve(c, s["qname"], "A", timeout=6.0)
        assert dns.rcode.to_text(r.rcode()) == "NOERROR", describe(r) + logctx(c)
        assert rdata_texts(r.answer, "A") == s["answer"], describe(r)
        assert a_ttl(r, s["qname"]) == 30, "stale TTL" + describe(r)
        ede = [o for o in r.options if o.otype == dns.edns.OptionType.EDE]
        assert [o.code for o in ede] == [3], "expected EDE 3 (Stale Answer)%s" % describe(r)
        assert dt < 3.5, "stale answer after %.2fs (client deadline 3 s)" % dt
    finally:
        for a in s["servers"]:
            tb.start_server(a)


def test_dump_and_load_across_restart(tb, cairn, tmp_path):
    dump = str(tmp_path / "cache.dump")
    c = start(cairn, tb, config="cache_dump_file: %s\ndump_cache_at_exit: true\n" % dump)
    r1, _ = resolve(c, "www.example.com.", "A")
    r1n, _ = resolve(c, "nope.example.com.", "A")
    assert rdata_texts(r1.answer, "A") == ["192.0.2.1"], describe(r1)
    assert c.stop() == 0, c.log()
    assert os.path.exists(dump) and os.path.getsize(dump) > 0, "no dump written" + logctx(c)
    c2 = start(cairn, tb, config="cache_dump_file: %s\nload_cache_at_start: true\n" % dump)
    count0 = upstream_total(tb)
    r2, _ = resolve(c2, "www.example.com.", "A")
    r2n, _ = resolve(c2, "nope.example.com.", "A")
    assert upstream_total(tb) == count0, "the loaded cache went upstream" + logctx(c2)
    assert rdata_texts(r2.answer, "A") == ["192.0.2.1"], describe(r2)
    assert dns.rcode.to_text(r2n.rcode()) == "NXDOMAIN", describe(r2n)
    ttl1, ttl2 = a_ttl(r1, "www.example.com."), a_ttl(r2, "www.example.com.")
    assert ttl2 <= ttl1, "TTL grew across the restart: %d -> %d" % (ttl1, ttl2)
