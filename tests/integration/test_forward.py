"""Forward and stub zones (issue 12 item 5), against real resolvers and servers.

Forward: a cairn ("front") forwards the testbed's example.com. to two other cairns
("back" resolvers in the namespace, each resolving the simulated tree itself) through
c-ares. It answers from them, fails over when the first one stops, and goes back to it
once it returns. A hostile forwarder (tests/integration/hostile.py) that sends garbage and
forged IDs before its answer, and records for names outside its zone, poisons nothing.
Stub: example.com.'s own NSD servers as a stub zone: answered without asking the root.
"""
import os
import secrets
import signal
import time

import dns.flags
import dns.rcode

import hostile as H
from helpers import (control_path, ctl, ctl_stats, describe, logctx, rdata_texts, resolve,
                     start)


def a_answer(r):
    return rdata_texts(r.answer, "A")


def sock_path(cairn):
    """A control socket path of its own for each cairn of a test."""
    p = os.path.join(str(cairn.tmpdir), "c-%s.sock" % secrets.token_hex(3))
    return p if len(p) < 100 else "/tmp/cairn-fwd-%s.sock" % secrets.token_hex(4)


def back_resolver(cairn, tb):
    """A cairn resolving the simulated tree, with a control socket: (process, socket)."""
    path = sock_path(cairn)
    return start(cairn, tb, control=path), path


def resolved_by(path):
    return ctl_stats(path)["answer.resolved"]


def test_forward_zone_answers_fails_over_and_recovers(tb, cairn):
    s = tb.names["a"]
    b1, p1 = back_resolver(cairn, tb)
    b2, p2 = back_resolver(cairn, tb)
    zone = s["zone"]
    front_ctl = sock_path(cairn)
    front = start(cairn, tb, "--forward", "%s=127.0.0.1@%d,127.0.0.1@%d" % (zone, b1.port,
                                                                            b2.port),
                  control=front_ctl)
    r, _ = resolve(front, s["qname"], "A")
    assert a_answer(r) == s["answer"], describe(r) + logctx(front)
    assert not (r.flags & dns.flags.AA)
    assert resolved_by(p1) + resolved_by(p2) == 1, "neither forwarder was asked"
    st = ctl_stats(front_ctl)
    assert st["upstream.forwarded"] >= 1 and st["upstream.sent_udp"] == 0, st
    zl = [l for l in ctl(front_ctl, "zones").stdout.splitlines() if " forward " in l]
    assert len(zl) == 1 and zl[0].startswith(zone + " forward 127.0.0.1@%d (" % b1.port), zl

    # failover: the first forwarder stops; names go to the second within the deadline
    first, first_ctl = (b1, p1) if resolved_by(p1) else (b2, p2)
    other_ctl = p2 if first is b1 else p1
    port = first.port
    first.stop()
    before = resolved_by(other_ctl)
    for i in range(4):
        r, dt = resolve(front, "fwd-%d-%s.%s" % (i, secrets.token_hex(3), zone), "A",
                        timeout=6)
        assert dns.rcode.to_text(r.rcode()) == "NXDOMAIN", describe(r) + logctx(front)
        assert dt < 3.5, "answer after %.2f s" % dt
    assert resolved_by(other_ctl) - before >= 4
    zl = ctl(front_ctl, "zones").stdout
    assert "127.0.0.1@%d (dead)" % port in zl or "127.0.0.1@%d (failing)" % port in zl, zl

    # recovery: the first comes back on its port. It is asked again once its failure
    # window (5 s, doubled by each further silence) is over and an exploring choice (one
    # in 20) picks it: seconds to tens of seconds
    os.unlink(first_ctl) if os.path.exists(first_ctl) else None
    back = start(cairn, tb, control=first_ctl, port=port)
    t_back = time.monotonic()
    end = t_back + 70
    while time.monotonic() < end:
        resolve(front, "rec-%s.%s" % (secrets.token_hex(3), zone), "A", timeout=6)
        if resolved_by(first_ctl) > 0:
            break
        time.sleep(0.3)
    assert resolved_by(first_ctl) > 0, "the returned forwarder is never asked" + logctx(front)
    print("forwarder asked again %.1f s after it came back" % (time.monotonic() - t_back))
    assert back.alive()


def test_hostile_forwarder_poisons_nothing(tb, cairn, hz, hostile):
    """The forwarder of fz.hz.test sends, before each real answer: garbage, the answer with
    a wrong ID, and after it nothing else; its answer for a name in its zone carries a
    CNAME to www.example.com with a forged address for that target, plus a forged address
    for the testbed's www.example.com in the additional section. cairn keeps the CNAME,
    resolves www.example.com through the public tree, and caches nothing forged."""
    s = tb.names["a"]
    addr = hz.alloc()[0]
    z = "fz-%s.%s" % (secrets.token_hex(3), hz.APEX)

    def handler(q):
        if q.msg is None:
            return None
        if not (q.msg.flags & dns.flags.RD):
            return [H.Send(H.reply(q, rcode=dns.rcode.REFUSED, aa=False))]
        name = q.qname.lower()
        if name == "alias." + z:
            ans = [H.rr(name, 300, "CNAME", s["qname"]), H.rr(s["qname"], 86400, "A",
                                                                "6.6.6.6")]
        elif name == "www." + z:
            ans = [H.rr(name, 300, "A", "192.0.2.99")]
        else:
            return [H.Send(H.reply(q, rcode=dns.rcode.NXDOMAIN, aa=False, ra=True))]
        real = H.reply(q, aa=False, ra=True, answer=ans,
                       additional=[H.rr(s["qname"], 86400, "A", "6.6.6.7")])
        return [H.Send(H.garbage(40)), H.Send(H.reply(q, qid=(q.msg.id + 1) & 0xFFFF,
                                                       answer=[H.rr(name, 300, "A", "6.6.6.8")])),
                H.Send(real, delay=0.05)]

    srv = hostile(addr, handler=handler)
    path = control_path(cairn)
    c = start(cairn, tb, "--forward", "%s=%s" % (z, addr), control=path)
    r, _ = resolve(c, "www." + z, "A")
    assert a_answer(r) == ["192.0.2.99"], describe(r) + logctx(c)
    r, _ = resolve(c, "alias." + z, "A")
    assert a_answer(r) == s["answer"], describe(r) + logctx(c)
    r, _ = resolve(c, s["qname"], "A")
    assert a_answer(r) == s["answer"], describe(r)
    out = ctl(path, "cache", "lookup", s["qname"], "A").stdout
    assert "6.6.6." not in out, out
    assert srv.count() >= 2
    assert ctl_stats(path)["upstream.forwarded"] >= 2


def test_stub_zone_iterates_from_its_servers(tb, cairn):
    s = tb.names["a"]
    servers = ",".join(s["servers"])
    root_before = sum(tb.query_count(a) for a in tb.roots if "." in a)
    c = start(cairn, tb, "--stub", "%s=%s" % (s["zone"], servers))
    r, _ = resolve(c, s["qname"], "A")
    assert a_answer(r) == s["answer"], describe(r) + logctx(c)
    assert sum(tb.query_count(a) for a in tb.roots if "." in a) == root_before, \
        "the root was asked for a name under a stub zone"


def test_forward_config_file_and_errors(tb, cairn, tmp_path):
    s = tb.names["a"]
    b, _ = back_resolver(cairn, tb)
    cfg = "forward:\n  - name: %s\n    servers: [\"127.0.0.1@%d\"]\n" % (s["zone"], b.port)
    c = start(cairn, tb, config=cfg)
    r, _ = resolve(c, s["qname"], "A")
    assert a_answer(r) == s["answer"], describe(r) + logctx(c)
    from conftest import CAIRN_BIN
    import subprocess
    for body, why in (("forward:\n  - name: x.test.\n", "needs a list of servers"),
                      ("stub:\n  - name: x.test.\n    servers: [not-an-address]\n",
                       "bad server"),
                      ("forward:\n  - name: x.test.\n    servers: [127.0.0.1]\n"
                       "stub:\n  - name: X.test.\n    servers: [127.0.0.2]\n",
                       "is a forward or stub zone already")):
        p = tmp_path / ("bad-%s.yaml" % secrets.token_hex(2))
        p.write_text(body)
        out = subprocess.run([CAIRN_BIN, "--check-config", "-c", str(p)], capture_output=True,
                             text=True, timeout=20)
        assert out.returncode == 2 and why in out.stderr and str(p) + ":" in out.stderr, \
            (body, out.stderr)


def test_reload_replaces_forward_zones_and_flushes_below_them(tb, cairn):
    """Issue 12 item 6: a reload that points a forward zone at another server applies at
    once; what was cached below the zone (from the old server) is flushed, so the next
    query goes to the new one, while the rest of the cache stays warm."""
    s = tb.names["a"]
    b1, p1 = back_resolver(cairn, tb)
    b2, p2 = back_resolver(cairn, tb)
    ctlp = sock_path(cairn)
    cfg = "forward:\n  - name: %s\n    servers: [\"127.0.0.1@%d\"]\n"
    front = start(cairn, tb, config=cfg % (s["zone"], b1.port), control=ctlp)
    r, _ = resolve(front, s["qname"], "A")
    assert a_answer(r) == s["answer"] and resolved_by(p1) == 1, describe(r)
    outside = "www.example.net."
    resolve(front, outside, "A")                       # public, not forwarded
    path = os.path.join(str(cairn.tmpdir), "cairn-%d.yaml" % front.port)
    with open(path, "w") as f:
        f.write(cfg % (s["zone"], b2.port))
    out = ctl(ctlp, "reload").stdout
    assert "forward/stub zones replaced (1)" in out and "restart" not in out, out
    assert "127.0.0.1@%d" % b2.port in ctl(ctlp, "zones").stdout
    up0 = ctl_stats(ctlp)["upstream.queries"]
    r, _ = resolve(front, s["qname"], "A")
    assert a_answer(r) == s["answer"], describe(r) + logctx(front)
    assert resolved_by(p2) == 1, "the new forwarder was not asked: the old answer stayed"
    assert resolved_by(p1) == 1
    r, _ = resolve(front, outside, "A")
    assert ctl_stats(ctlp)["upstream.queries"] - up0 == 1, "the public cache was flushed"
