"""The simulated DNS tree: server groups, zones and the well-known scenario names.

Everything here is pure data generation (no processes, no sockets).

Address plan (all inside the testbed's private network namespace):
  127.1.0.x    root servers            (root-a also on ::1)
  127.2.T.x    TLD servers             (one NSD per TLD; .test has two)
  127.3.N.1/.2 pool servers pool-N     (leaf zones; registrations)
  127.3.250.1  the dead address        (delegated to, nothing listens)
"""

ROOT_SERVERS = [
    # name, addresses, NS name
    ("root-a", ["127.1.0.1", "::1"], "a.root-servers.net."),
    ("root-b", ["127.1.0.2"], "b.root-servers.net."),
]

# TLD -> list of (server group name, address, NS name)
TLD_SERVERS = {
    "com": [("tld-com", "127.2.1.1", "a.nic.com.")],
    "net": [("tld-net", "127.2.2.1", "a.nic.net.")],
    "org": [("tld-org", "127.2.3.1", "a.nic.org.")],
    "test": [("tld-test-1", "127.2.4.1", "a.nic.test."),
             ("tld-test-2", "127.2.4.2", "b.nic.test.")],
    "arpa": [("tld-arpa", "127.2.5.1", "a.nic.arpa.")],
}
REGISTRABLE_TLDS = ["com", "net", "org", "test"]

POOL = [("pool-%d" % n, ["127.3.%d.1" % n, "127.3.%d.2" % n]) for n in range(1, 5)]
DEAD_ADDR = "127.3.250.1"

SOA_TIMERS = "3600 600 86400"


def pool_addr(n, k=0):
    """Address k (0 or 1) of pool server n (1..4)."""
    return "127.3.%d.%d" % (n, k + 1)


def soa(zone, mname, serial, minimum=300, ttl=None):
    t = "" if ttl is None else "%d " % ttl
    return "%s %sIN SOA %s hostmaster.%s %d %s %d" % (
        zone, t, mname, zone if zone != "." else "", serial, SOA_TIMERS, minimum)


def big_txt_strings():
    """Four TXT records of four 200-byte strings each (~3.3 KB): too big for 1232-byte UDP."""
    recs = []
    for r in range(1, 5):
        strs = []
        for s in range(1, 5):
            head = "big-txt-r%d-s%d-" % (r, s)
            strs.append(head + "x" * (200 - len(head)))
        recs.append(strs)
    return recs


def txt_rdata(strings):
    return " ".join('"%s"' % s for s in strings)


class Zone:
    def __init__(self, name, servers, ns, glue=None, body=None, minimum=300, ttl=3600):
        self.name = name            # "example.com."
        self.servers = servers      # server group names that serve it
        self.ns = ns                # list of NS names
        self.glue = glue or {}      # ns name -> [addresses] (published in the parent)
        self.body = body or []      # extra zone file lines
        self.minimum = minimum
        self.ttl = ttl

    def text(self, serial=1):
        lines = ["$TTL %d" % self.ttl,
                 soa(self.name, self.ns[0], serial, self.minimum)]
        lines += ["%s IN NS %s" % (self.name, n) for n in self.ns]
        for n, addrs in self.glue.items():
            if n.endswith("." + self.name) or self.name == ".":
                lines += [addr_rr(n, a) for a in addrs]
        lines += self.body
        return "\n".join(lines) + "\n"


def addr_rr(name, addr, ttl=None):
    t = "" if ttl is None else " %d" % ttl
    return "%s%s IN %s %s" % (name, t, "AAAA" if ":" in addr else "A", addr)


def delegation_lines(child, ns, glue, ttl=86400):
    """NS records (and in-bailiwick glue) for a delegation in the parent zone."""
    lines = ["%s %d IN NS %s" % (child, ttl, n) for n in ns]
    for n in ns:
        if n.endswith("." + child) or n == child:
            lines += [addr_rr(n, a, ttl) for a in glue[n]]
    return lines


def leaf_zones():
    """The hand-written scenario zones."""
    p = pool_addr
    z = []
    big = big_txt_strings()
    z.append(Zone(
        "example.com.", ["pool-1", "pool-2"], ["ns1.example.com.", "ns2.example.com."],
        glue={"ns1.example.com.": [p(1)], "ns2.example.com.": [p(2)]}, minimum=60,
        body=[
            "example.com. IN A 192.0.2.10",
            "example.com. IN MX 10 mail.example.com.",
            "www IN A 192.0.2.1",
            "www IN AAAA 2001:db8::1",
            "mail IN A 192.0.2.25",
            "txt IN TXT \"v=cairn-test\" \"hello world\"",
            "_sip._udp IN SRV 10 60 5060 sip.example.com.",
            "sip IN A 192.0.2.26",
            "alias1 IN CNAME alias2.example.com.",
            "alias2 IN CNAME www.example.com.",
            "cross IN CNAME www.example.net.",
            "xtld IN CNAME www.example.org.",
            "*.wild IN A 192.0.2.99",
            "*.wild IN TXT \"wildcard\"",
            "ttl5 5 IN A 192.0.2.50",
            "ttl60 60 IN A 192.0.2.51",
            "ttl1d 86400 IN A 192.0.2.52",
        ] + ["big IN TXT %s" % txt_rdata(r) for r in big]))
    z.append(Zone(
        "twoaddr.com.", ["pool-1", "pool-2"], ["ns.twoaddr.com."],
        glue={"ns.twoaddr.com.": [p(1, 1), p(2, 1)]},
        body=["www IN A 192.0.2.6"]))
    z.append(Zone(
        "example.net.", ["pool-2", "pool-3"], ["ns1.example.net.", "ns2.example.net."],
        glue={"ns1.example.net.": [p(2)], "ns2.example.net.": [p(3)]},
        body=["www IN A 192.0.2.2", "www IN AAAA 2001:db8::2"]))
    z.append(Zone(
        "hoster.net.", ["pool-3", "pool-4"], ["ns1.hoster.net.", "ns2.hoster.net."],
        glue={"ns1.hoster.net.": [p(3)], "ns2.hoster.net.": [p(4)]},
        body=["www IN A 192.0.2.30"]))
    # glueless: the NS names live in .net, the zone in .org
    z.append(Zone(
        "example.org.", ["pool-3", "pool-4"], ["ns1.hoster.net.", "ns2.hoster.net."],
        glue={"ns1.hoster.net.": [p(3)], "ns2.hoster.net.": [p(4)]},
        body=["www IN A 192.0.2.3", "example.org. IN TXT \"glueless\""]))
    z.append(Zone(
        "dead.test.", ["pool-1"], ["ns1.dead.test.", "ns2.dead.test."],
        glue={"ns1.dead.test.": [p(1)], "ns2.dead.test.": [DEAD_ADDR]},
        body=["www IN A 192.0.2.4"]))
    z.append(Zone(
        "failover.test.", ["pool-1", "pool-2"], ["ns1.failover.test.", "ns2.failover.test."],
        glue={"ns1.failover.test.": [p(1)], "ns2.failover.test.": [p(2)]},
        body=["www IN A 192.0.2.5"]))
    # reverse tree: root -> arpa (tld-arpa) -> in-addr.arpa (pool-4) -> 2.0.192.in-addr.arpa
    z.append(Zone(
        "in-addr.arpa.", ["pool-4"], ["a.in-addr-servers.arpa."],
        glue={"a.in-addr-servers.arpa.": [p(4)]},
        body=["2.0.192.in-addr.arpa. 86400 IN NS ns1.example.net.",
              "2.0.192.in-addr.arpa. 86400 IN NS ns2.example.net."]))
    z.append(Zone(
        "2.0.192.in-addr.arpa.", ["pool-2", "pool-3"], ["ns1.example.net.", "ns2.example.net."],
        glue={"ns1.example.net.": [p(2)], "ns2.example.net.": [p(3)]},
        body=["1 IN PTR www.example.com.", "25 IN PTR mail.example.com."]))
    return z


def generated_zone(i, tld):
    """Extra leaf zone number i (for load tests): zNNNNN.TLD on two pool servers. The
    wildcard *.w.zNNNNN.TLD gives benchmarks as many distinct names per zone as they want."""
    name = "z%05d.%s." % (i, tld)
    a, b = (i % 4) + 1, ((i + 1) % 4) + 1
    ns = ["ns1." + name, "ns2." + name]
    glue = {ns[0]: [pool_addr(a)], ns[1]: [pool_addr(b)]}
    o = (i % 250) + 1
    body = ["%s IN A 198.51.100.%d" % (name, o),
            "%s IN MX 10 mail.%s" % (name, name),
            "www IN A 198.51.100.%d" % o,
            "www IN AAAA 2001:db8:1::%x" % i,
            "mail IN A 198.51.100.%d" % o,
            "*.w IN A 198.51.100.%d" % o]
    return Zone(name, ["pool-%d" % a, "pool-%d" % b], ns, glue=glue, body=body)


def scenarios():
    """Well-known names and their expected answers (rdata as dnspython's to_text())."""
    S = {}

    def add(key, qname, qtype, answer, zone, servers, rcode="NOERROR", **kw):
        d = dict(qname=qname, qtype=qtype, rcode=rcode, answer=answer, zone=zone,
                 servers=servers, cname=kw.pop("cname", []))
        d.update(kw)
        S[key] = d

    ex = [pool_addr(1), pool_addr(2)]
    nt = [pool_addr(2), pool_addr(3)]
    og = [pool_addr(3), pool_addr(4)]
    add("a", "www.example.com.", "A", ["192.0.2.1"], "example.com.", ex)
    add("aaaa", "www.example.com.", "AAAA", ["2001:db8::1"], "example.com.", ex)
    add("mx", "example.com.", "MX", ["10 mail.example.com."], "example.com.", ex,
        additional={"mail.example.com.": ["192.0.2.25"]})
    add("txt", "txt.example.com.", "TXT", ['"v=cairn-test" "hello world"'], "example.com.", ex)
    add("srv", "_sip._udp.example.com.", "SRV", ["10 60 5060 sip.example.com."],
        "example.com.", ex, additional={"sip.example.com.": ["192.0.2.26"]})
    add("soa", "example.com.", "SOA",
        ["ns1.example.com. hostmaster.example.com. 1 %s 60" % SOA_TIMERS], "example.com.", ex)
    add("ns", "example.com.", "NS", ["ns1.example.com.", "ns2.example.com."],
        "example.com.", ex)
    add("ptr", "1.2.0.192.in-addr.arpa.", "PTR", ["www.example.com."],
        "2.0.192.in-addr.arpa.", nt)
    add("cname_chain", "alias1.example.com.", "A", ["192.0.2.1"], "example.com.", ex,
        cname=["alias2.example.com.", "www.example.com."])
    add("cname_cross", "cross.example.com.", "A", ["192.0.2.2"], "example.com.", ex,
        cname=["www.example.net."])
    add("cname_cross_tld", "xtld.example.com.", "A", ["192.0.2.3"], "example.com.", ex,
        cname=["www.example.org."])
    add("glueless", "www.example.org.", "A", ["192.0.2.3"], "example.org.", og,
        ns=["ns1.hoster.net.", "ns2.hoster.net."])
    add("wildcard", "anything.wild.example.com.", "A", ["192.0.2.99"], "example.com.", ex)
    add("nxdomain", "nope.example.com.", "A", [], "example.com.", ex, rcode="NXDOMAIN",
        negative_ttl=60)
    add("nodata", "www.example.com.", "TXT", [], "example.com.", ex, negative_ttl=60)
    add("big_txt", "big.example.com.", "TXT", [txt_rdata(r) for r in big_txt_strings()],
        "example.com.", ex, size=sum(len(s) + 1 for r in big_txt_strings() for s in r))
    add("ttl5", "ttl5.example.com.", "A", ["192.0.2.50"], "example.com.", ex, ttl=5)
    add("ttl60", "ttl60.example.com.", "A", ["192.0.2.51"], "example.com.", ex, ttl=60)
    add("ttl1d", "ttl1d.example.com.", "A", ["192.0.2.52"], "example.com.", ex, ttl=86400)
    add("dead_ns_zone", "www.dead.test.", "A", ["192.0.2.4"], "dead.test.", [pool_addr(1)],
        dead_addr=DEAD_ADDR, live_addr=pool_addr(1))
    add("failover", "www.failover.test.", "A", ["192.0.2.5"], "failover.test.", ex,
        ns_addrs=ex)
    add("two_addr_ns", "www.twoaddr.com.", "A", ["192.0.2.6"], "twoaddr.com.",
        [pool_addr(1, 1), pool_addr(2, 1)], ns=["ns.twoaddr.com."])
    return S
