"""The testbed itself: the simulated tree refers, answers and registers as documented."""
import json
import os
import secrets
import socket
import subprocess
import time

import dns.exception
import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from conftest import TESTBED_CLI, pgrep, unique_name

TLDS = ["com", "net", "org", "test", "arpa"]


def rrsets(section, rdtype, name=None):
    t = dns.rdatatype.from_text(rdtype)
    n = dns.name.from_text(name) if name else None
    return [r for r in section if r.rdtype == t and (n is None or r.name == n)]


def rdata_texts(section, rdtype, name=None):
    return sorted(rr.to_text() for r in rrsets(section, rdtype, name) for rr in r)


def glue(msg):
    return {(r.name.to_text(), rr.to_text()) for r in msg.additional
            if r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) for rr in r}


def assert_referral(msg, zone, ns=None):
    assert msg.rcode() == dns.rcode.NOERROR
    assert not msg.flags & dns.flags.AA, "a referral must not be authoritative"
    assert not msg.answer
    got = rdata_texts(msg.authority, "NS", zone)
    assert got, "no NS for %s in authority: %s" % (zone, msg)
    if ns is not None:
        assert got == sorted(ns)
    return got


# ---------------------------------------------------------------- root and TLDs
@pytest.mark.parametrize("tld", TLDS)
def test_root_refers_to_tlds(tb, tld):
    for root in tb.roots:
        m = tb.query(root, "www.example.%s." % tld, "A")
        ns = assert_referral(m, tld + ".")
        g = glue(m)
        assert {a for _, a in g} == set(tb.tlds[tld])
        assert {n for n, _ in g} == set(ns)


def test_root_serves_only_the_root(tb):
    for root in tb.roots:
        m = tb.query(root, ".", "SOA")
        assert m.flags & dns.flags.AA
        assert rdata_texts(m.answer, "SOA")
        ns = tb.query(root, ".", "NS")
        assert rdata_texts(ns.answer, "NS") == ["a.root-servers.net.", "b.root-servers.net."]


def test_root_hints_file(tb):
    text = open(tb.root_hints).read()
    for a in tb.roots:
        assert a in text
    assert "a.root-servers.net." in text and " NS " in text


@pytest.mark.parametrize("key", ["a", "glueless", "dead_ns_zone", "failover", "two_addr_ns"])
def test_tld_refers_to_leaf_zones(tb, key):
    s = tb.names[key]
    zone = s["zone"]
    tld = zone.rstrip(".").rsplit(".", 1)[1]
    for addr in tb.tlds[tld]:
        m = tb.query(addr, s["qname"], s["qtype"])
        assert_referral(m, zone)


def test_tld_delegations_carry_glue(tb):
    m = tb.query(tb.tlds["com"][0], "www.example.com.", "A")
    assert glue(m) == {("ns1.example.com.", "127.3.1.1"), ("ns2.example.com.", "127.3.2.1")}
    m = tb.query(tb.tlds["test"][1], "www.dead.test.", "A")
    assert glue(m) == {("ns1.dead.test.", "127.3.1.1"), ("ns2.dead.test.", tb.dead_addr)}
    m = tb.query(tb.tlds["com"][0], "www.twoaddr.com.", "A")
    assert glue(m) == {("ns.twoaddr.com.", "127.3.1.2"), ("ns.twoaddr.com.", "127.3.2.2")}


def test_glueless_delegation_has_no_glue(tb):
    m = tb.query(tb.tlds["org"][0], "www.example.org.", "A")
    assert_referral(m, "example.org.", ["ns1.hoster.net.", "ns2.hoster.net."])
    assert glue(m) == set()
    # the NS names resolve in .net
    m = tb.query(tb.tlds["net"][0], "ns1.hoster.net.", "A")
    assert_referral(m, "hoster.net.")


def test_tld_has_two_servers_for_test(tb):
    assert len(tb.tlds["test"]) == 2
    for addr in tb.tlds["test"]:
        m = tb.query(addr, "test.", "SOA")
        assert m.flags & dns.flags.AA


# ---------------------------------------------------------------- leaf answers
POSITIVE = ["a", "aaaa", "mx", "txt", "srv", "soa", "ns", "ptr", "cname_chain", "cname_cross",
            "cname_cross_tld", "glueless", "wildcard", "ttl5", "ttl60", "ttl1d", "dead_ns_zone",
            "failover", "two_addr_ns"]


@pytest.mark.parametrize("key", POSITIVE)
def test_leaf_answers_authoritatively(tb, key):
    s = tb.names[key]
    assert s["servers"]
    for addr in s["servers"]:
        m = tb.query(addr, s["qname"], s["qtype"])
        assert m.rcode() == dns.rcode.NOERROR
        assert m.flags & dns.flags.AA, "%s at %s not authoritative" % (s["qname"], addr)
        owner = s["qname"]
        for target in s["cname"]:
            assert rdata_texts(m.answer, "CNAME", owner) == [target]
            owner = target
        final = rdata_texts(m.answer, s["qtype"], owner)
        if s["cname"] and not final:
            # the chain left this server's zones: the rest comes from elsewhere
            assert not rrsets(m.answer, s["qtype"])
            continue
        assert final == sorted(s["answer"]), "%s %s at %s" % (s["qname"], s["qtype"], addr)
        if "ttl" in s:
            assert rrsets(m.answer, s["qtype"], owner)[0].ttl == s["ttl"]


def test_cross_chains_complete_at_target(tb):
    for key in ("cname_cross", "cname_cross_tld"):
        s = tb.names[key]
        target = s["cname"][-1]
        zone = target.split(".", 1)[1]
        addr = [v["addrs"][0] for v in tb.servers.values() if zone in v["zones"]][0]
        m = tb.query(addr, target, "A")
        assert m.flags & dns.flags.AA
        assert rdata_texts(m.answer, "A", target) == s["answer"]


def test_ttl_range(tb):
    ttls = sorted(s["ttl"] for s in tb.names.values() if "ttl" in s)
    assert ttls[0] == 5 and ttls[-1] == 86400


@pytest.mark.parametrize("key", ["nxdomain", "nodata"])
def test_negative_answers(tb, key):
    s = tb.names[key]
    for addr in s["servers"]:
        m = tb.query(addr, s["qname"], s["qtype"])
        assert dns.rcode.to_text(m.rcode()) == s["rcode"]
        assert m.flags & dns.flags.AA
        assert not m.answer
        soa = rrsets(m.authority, "SOA", s["zone"])
        assert soa and soa[0][0].minimum == s["negative_ttl"]


def test_wildcard_matches_any_label(tb):
    s = tb.names["wildcard"]
    m = tb.query(s["servers"][0], "x%s.wild.example.com." % secrets.token_hex(4), "A")
    assert m.flags & dns.flags.AA
    assert rdata_texts(m.answer, "A") == s["answer"]


def test_reverse_tree_end_to_end(tb):
    s = tb.names["ptr"]
    m = tb.query(tb.roots[0], s["qname"], "PTR")
    assert_referral(m, "arpa.")
    arpa = tb.tlds["arpa"][0]
    m = tb.query(arpa, s["qname"], "PTR")
    assert_referral(m, "in-addr.arpa.")
    inaddr = [a for n, a in glue(m)][0]
    m = tb.query(inaddr, s["qname"], "PTR")
    assert_referral(m, "2.0.192.in-addr.arpa.", ["ns1.example.net.", "ns2.example.net."])
    assert glue(m) == set()       # the reverse zone's NS names are out of bailiwick
    m = tb.query(s["servers"][0], s["qname"], "PTR")
    assert rdata_texts(m.answer, "PTR") == s["answer"]


# ---------------------------------------------------------------- big TXT, TCP
def test_big_txt_truncated_over_udp_complete_over_tcp(tb):
    s = tb.names["big_txt"]
    assert 1232 < s["size"] < 65535
    addr = s["servers"][0]
    m = tb.query(addr, s["qname"], "TXT", edns=None)
    assert m.flags & dns.flags.TC
    m = tb.query(addr, s["qname"], "TXT")            # EDNS 1232 is not enough either
    assert m.flags & dns.flags.TC
    m = tb.query(addr, s["qname"], "TXT", tcp=True)
    assert not m.flags & dns.flags.TC
    assert rdata_texts(m.answer, "TXT") == sorted(s["answer"])
    assert len(m.to_wire()) > 1232


# ---------------------------------------------------------------- dead server, stop/start
def test_dead_server_is_dead(tb):
    s = tb.names["dead_ns_zone"]
    with pytest.raises(dns.exception.Timeout):
        tb.query(s["dead_addr"], s["qname"], "A", timeout=0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((s["dead_addr"], 53), timeout=1).close()
    m = tb.query(s["live_addr"], s["qname"], "A")
    assert rdata_texts(m.answer, "A") == s["answer"]


def test_stop_and_start_server(tb):
    s = tb.names["failover"]
    a, b = s["ns_addrs"]
    tb.stop_server(a)
    try:
        with pytest.raises(dns.exception.Timeout):
            tb.query(a, s["qname"], "A", timeout=0.5)
        # the zone's other server still answers
        assert rdata_texts(tb.query(b, s["qname"], "A").answer, "A") == s["answer"]
        st = {x["name"]: x for x in json.loads(tb.cli("status", "--json").stdout)}
        assert not st["pool-1"]["alive"]
    finally:
        tb.start_server(a)
    assert rdata_texts(tb.query(a, s["qname"], "A").answer, "A") == s["answer"]


# ---------------------------------------------------------------- registration
@pytest.mark.parametrize("tld", ["com", "test"])
def test_register_delegates_to_four_servers(tb, tld):
    dom = "reg-%s.%s" % (secrets.token_hex(4), tld)
    nss = tb.register(dom)
    assert len(nss) == 4
    addrs = [a for _, a in nss]
    assert len(set(addrs)) == 4
    owners = {n for srv, al in tb.pool.items() for n in [srv] if set(al) & set(addrs)}
    assert len(owners) == 4, "four distinct pool servers"
    zone = dom + "."
    for taddr in tb.tlds[tld]:      # right away, at every TLD server
        m = tb.query(taddr, "www." + zone, "A")
        assert_referral(m, zone, [n for n, _ in nss])
        assert glue(m) == set(nss)
    for n, a in nss:
        m = tb.query(a, zone, "SOA")
        assert m.flags & dns.flags.AA
        m = tb.query(a, zone, "A")
        assert m.flags & dns.flags.AA and rdata_texts(m.answer, "A")
        assert rdata_texts(tb.query(a, zone, "NS").answer, "NS") == sorted(x for x, _ in nss)


def test_register_twice_fails(tb):
    dom = "twice-%s.net" % secrets.token_hex(4)
    r = tb.cli("register", dom)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split("\n")) >= 4
    r = tb.cli("register", dom)
    assert r.returncode != 0
    assert "already delegated" in r.stderr


@pytest.mark.parametrize("dom,msg", [("foo.xyz", "unknown TLD"),
                                     ("example.com", "already delegated"),
                                     ("a.b.com", "NAME.TLD")])
def test_register_refuses(tb, dom, msg):
    r = tb.cli("register", dom)
    assert r.returncode != 0
    assert msg in r.stderr, r.stderr


def test_register_serial_bumped(tb):
    before = tb.query(tb.tlds["org"][0], "org.", "SOA").answer[0][0].serial
    tb.register("serial-%s.org" % secrets.token_hex(4))
    after = tb.query(tb.tlds["org"][0], "org.", "SOA").answer[0][0].serial
    assert after > before


# ---------------------------------------------------------------- statistics, CLI
def test_query_counts_increase(tb):
    addr = tb.tlds["net"][0]
    before, total_before = tb.query_count(addr), tb.query_count()
    for _ in range(5):
        tb.query(addr, "www.example.net.", "A")
    assert tb.query_count(addr) == before + 5
    assert tb.query_count() >= total_before + 5
    r = tb.cli("query-count", addr)
    assert r.returncode == 0 and int(r.stdout) == before + 5


def test_status_and_exec(tb):
    r = tb.cli("status")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "root-a" in r.stdout and "127.1.0.1" in r.stdout
    st = json.loads(tb.cli("status", "--json").stdout)
    assert len(st) <= 12 and all(x["alive"] and x["answers"] for x in st)
    r = tb.cli("exec", "--", "dig", "+norec", "+short", "@127.3.1.1", "www.example.com", "A")
    assert r.returncode == 0 and r.stdout.strip() == "192.0.2.1"


def test_this_process_is_in_the_namespace(tb):
    assert os.stat("/proc/self/ns/net").st_ino == os.stat("/run/netns/%s" % tb.name).st_ino


# ---------------------------------------------------------------- a second, small instance
def test_up_down_leaves_nothing(tb, tmp_path):
    name = unique_name("cairn-it-updown")
    sd = str(tmp_path / "state")
    cli = [TESTBED_CLI, "--name", name, "--state-dir", sd]
    try:
        t0 = time.monotonic()
        r = subprocess.run(cli + ["up", "--leaf-zones", "40"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t0 < 15
        assert os.path.exists("/run/netns/" + name)
        pids = pgrep(sd)
        assert len(pids) >= 12
        # refuses a second up
        r = subprocess.run(cli + ["up"], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "already up" in r.stderr
        # the generated zones resolve through their TLD, and the names list exists
        names = open(os.path.join(sd, "names.txt")).read().split("\n")
        assert len([n for n in names if n]) == 40
        first = names[0].split()[0]
        tld = first.rsplit(".", 1)[1]
        taddr = {"com": "127.2.1.1", "net": "127.2.2.1", "org": "127.2.3.1",
                 "test": "127.2.4.1"}[tld]
        r = subprocess.run(cli + ["exec", "--", "dig", "+norec", "@" + taddr, first, "A"],
                           capture_output=True, text=True, timeout=30)
        assert "AUTHORITY: 2" in r.stdout and "ns1." in r.stdout, r.stdout
        ino = os.stat("/run/netns/" + name).st_ino
        assert ino != os.stat("/proc/self/ns/net").st_ino
    finally:
        r = subprocess.run(cli + ["down"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert pgrep(sd) == []
    assert not os.path.exists("/run/netns/" + name)
    assert not os.path.exists(os.path.join(sd, "state.json"))
    assert not os.path.exists("/tmp/cairn-testbed-%s.path" % name)
    # our own testbed is untouched
    assert tb.query(tb.roots[0], ".", "SOA").flags & dns.flags.AA
