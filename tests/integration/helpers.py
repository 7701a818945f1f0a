"""Helpers shared by the resolver, cache and client integration tests.

Everything here runs inside the testbed's network namespace (the session fixture moved this
process there) and talks only to 127.0.0.0/8 addresses.
"""
import os
import re
import selectors
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRNCTL_BIN = os.environ.get("CAIRNCTL_BIN",
                              os.path.join(REPO, "build-asan", "net", "cairnctl"))
NSD_CONTROL = "/usr/sbin/nsd-control"

# the outcomes of `cairnctl stats` that together count every client query exactly once
OUTCOMES = ["answer.cache.positive", "answer.cache.negative", "answer.cache.stale",
            "answer.local", "answer.resolved", "answer.servfail", "answer.refused",
            "answer.formerr", "answer.dropped"]
CACHE_OUTCOMES = ["answer.cache.positive", "answer.cache.negative", "answer.cache.stale"]


# ------------------------------------------------------------------ starting cairn
# The simulated tree serves 2.0.192.in-addr.arpa (TEST-NET-1's reverse zone), which cairn
# otherwise answers itself as an RFC 6303 built-in local zone.
TESTBED_LOCAL_ZONES_OFF = ["--no-local-zone", "2.0.192.in-addr.arpa."]


def start(cairn, tb, *extra, control=None, config=None, listen="127.0.0.1", port=None,
          env=None, dnssec=None):
    """A cairn on the simulated tree: -l ADDR@PORT --root-hints --allow-loopback-upstream
    (and --no-dnssec, the tree being unsigned, unless dnssec=True: CairnFactory).
    control: a path for --control (or None); config: YAML text written to a file (-c);
    env: extra environment (e.g. WallClock.env)."""
    port = port or cairn.port()
    args = ["-l", "%s@%d" % (listen, port), "--root-hints", tb.root_hints,
            "--allow-loopback-upstream"] + TESTBED_LOCAL_ZONES_OFF
    if config is not None:
        path = os.path.join(str(cairn.tmpdir), "cairn-%d.yaml" % port)
        with open(path, "w") as f:
            f.write(config)
        args = ["-c", path] + args
    if control:
        args += ["--control", control]
    return cairn(*(args + list(extra)), env=env, dnssec=dnssec)


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


class WallClock:
    """Move a cairn's wall clock (CLOCK_REALTIME: TTLs, serve-stale, the failure cache)
    forward without waiting, through libfaketime (Debian package faketime). The monotonic
    clock (libuv's timers, RTTs, deadlines) is left alone (FAKETIME_DONT_FAKE_MONOTONIC),
    as DESIGN.md's "Time" requires. Start cairn with env=clock.env, then clock.advance(s).
    Without libfaketime, advance() sleeps instead (the test still means the same)."""

    def __init__(self, tmpdir):
        self.offset = 0.0
        self.faked = os.path.exists(LIBFAKETIME)
        self.path = os.path.join(str(tmpdir), "faketime-offset")
        self._write()
        asan = os.environ.get("ASAN_OPTIONS", "")
        self.env = {} if not self.faked else {
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME_TIMESTAMP_FILE": self.path,
            "FAKETIME_NO_CACHE": "1",           # read the offset at every clock call
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            # the preloaded library comes before the ASan runtime: allowed, it only
            # wraps time functions
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0",
        }

    def _write(self):
        with open(self.path + ".tmp", "w") as f:
            f.write("+%d\n" % int(self.offset))
        os.replace(self.path + ".tmp", self.path)

    def advance(self, seconds):
        if not self.faked:
            time.sleep(seconds)
            return
        self.offset += seconds
        self._write()


def control_path(cairn):
    # Unix socket paths are limited to 108 bytes: pytest's tmp dirs can be long.
    d = str(cairn.tmpdir)
    p = os.path.join(d, "ctl.sock")
    if len(p) >= 100:
        p = "/tmp/cairn-it-ctl-%d-%d.sock" % (os.getpid(), len(cairn.procs))
    return p


def need_cairnctl():
    if not os.access(CAIRNCTL_BIN, os.X_OK):
        pytest.xfail("control socket not implemented (no cairnctl at %s)" % CAIRNCTL_BIN)


def ctl(path, *args, check=True):
    r = subprocess.run([CAIRNCTL_BIN, "-s", path] + list(args), capture_output=True,
                       text=True, timeout=20)
    if check:
        assert r.returncode == 0, "cairnctl %s -> %d: %s%s" % (" ".join(args), r.returncode,
                                                              r.stdout, r.stderr)
    return r


def ctl_stats(path):
    """`cairnctl stats` as {name: number}."""
    out = {}
    for line in ctl(path, "stats").stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1]) if "." in parts[1] else int(parts[1])
            except ValueError:
                pass
    return out


def wait_bound(pid, addr, port, timeout=15.0):
    """Wait until some UDP socket in pid's namespace is bound to exactly addr:port (IPv4)."""
    a = socket.inet_aton(addr)
    want = "%08X:%04X" % (int.from_bytes(a, "little"), port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/net/udp" % pid) as f:
                if any(line.split()[1] == want for line in list(f)[1:]):
                    return True
        except OSError:
            return False
        time.sleep(0.02)
    return False


# ------------------------------------------------------------------ asking
def make_query(name, rdtype, rd=True, edns=0, payload=1232, qid=None, cd=False):
    q = dns.message.make_query(name, rdtype, use_edns=(edns is not None and edns),
                               payload=payload)
    if edns is None:
        q.use_edns(False)
    if not rd:
        q.flags &= ~dns.flags.RD
    if cd:
        q.flags |= dns.flags.CD
    if qid is not None:
        q.id = qid
    return q


def ask(cp, q, tcp=False, timeout=5.0, source=None):
    """Send message q to a CairnProcess; returns the reply (dns.message.Message)."""
    if tcp:
        return dns.query.tcp(q, cp.addr, port=cp.port, timeout=timeout, source=source)
    return dns.query.udp(q, cp.addr, port=cp.port, timeout=timeout, source=source,
                         ignore_unexpected=True, raise_on_truncation=False)


def resolve(cp, name, rdtype, **kw):
    """One RD=1 EDNS query; returns (reply, seconds)."""
    tcp = kw.pop("tcp", False)
    timeout = kw.pop("timeout", 5.0)
    q = make_query(name, rdtype, **kw)
    t0 = time.monotonic()
    r = ask(cp, q, tcp=tcp, timeout=timeout)
    return r, time.monotonic() - t0


# ------------------------------------------------------------------ looking at replies
def rrsets(section, rdtype, name=None):
    t = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    n = dns.name.from_text(name) if name else None
    return [r for r in section if r.rdtype == t and (n is None or r.name == n)]


def canon(rr):
    """rdata text in canonical form (RFC 4034 6.2: embedded names of the old types
    lowercased; TXT and the like untouched). A resolver may legitimately give embedded
    names the letter case of the question (compression pointers into it)."""
    wire = rr.to_digestable(dns.name.root)
    return dns.rdata.from_wire(rr.rdclass, rr.rdtype, wire, 0, len(wire)).to_text()


def rdata_texts(section, rdtype, name=None):
    return sorted(canon(rr) for r in rrsets(section, rdtype, name) for rr in r)


def answer_chain(msg):
    """[(owner, type, [rdata...])] of the answer section, in wire order."""
    return [(r.name.to_text().lower(), dns.rdatatype.to_text(r.rdtype),
             sorted(rr.to_text().lower() for rr in r)) for r in msg.answer]


def describe(msg):
    return "\n" + msg.to_text() if msg is not None else "(no reply)"


def assert_resolver_reply(q, r, rcode="NOERROR", log="", tc=False):
    """The header rules for a resolved (non-hosted) answer: QR, RA, !AA, ID, RD and CD
    echoed, the question echoed with the letter case the client sent, and the RCODE."""
    ctx = describe(r) + ("\n--- cairn log tail ---\n" + tail(log) if log else "")
    assert r.id == q.id, "ID not echoed (sent %d)%s" % (q.id, ctx)
    assert r.flags & dns.flags.QR, "QR not set" + ctx
    assert r.flags & dns.flags.RA, "RA not set" + ctx
    assert not r.flags & dns.flags.AA, "AA set on resolved data" + ctx
    assert bool(r.flags & dns.flags.RD) == bool(q.flags & dns.flags.RD), "RD not echoed" + ctx
    assert bool(r.flags & dns.flags.CD) == bool(q.flags & dns.flags.CD), "CD not echoed" + ctx
    assert bool(r.flags & dns.flags.TC) == tc, "TC is %s, expected %s%s" % (
        bool(r.flags & dns.flags.TC), tc, ctx)
    assert len(r.question) == 1, "question not echoed" + ctx
    qq, rq = q.question[0], r.question[0]
    assert rq.name.to_text() == qq.name.to_text(), \
        "question name not echoed byte for byte: sent %s got %s%s" % (qq.name, rq.name, ctx)
    assert (rq.rdtype, rq.rdclass) == (qq.rdtype, qq.rdclass), "question type/class" + ctx
    if rcode is not None:
        assert dns.rcode.to_text(r.rcode()) == rcode, \
            "rcode %s, expected %s%s" % (dns.rcode.to_text(r.rcode()), rcode, ctx)


def a_ttl(r, name, rdtype="A"):
    rs = rrsets(r.answer, rdtype, name)
    assert rs, "no %s for %s%s" % (rdtype, name, describe(r))
    return rs[0].ttl


def tail(text, n=40):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


# ------------------------------------------------------------------ the servers' side
def nsd_stats_all(tb, names=None, timeout=10.0):
    """{server group: {stat: int}} from every running NSD (or those in names), asked in
    parallel over their control sockets (the plain NSDCT1 protocol nsd-control speaks on a
    Unix socket): ~30 ms for the whole tree, where tb.query_count() takes ~0.7 s."""
    socks = {}
    for s in tb.servers.values():
        if names is not None and s["name"] not in names:
            continue
        so = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        so.settimeout(timeout)
        try:
            so.connect(s["ctl"])
        except OSError:
            so.close()          # a stopped server: like tb.query_counts(), skip it
            continue
        so.sendall(b"NSDCT1 stats_noreset\n")
        socks[s["name"]] = (so, [])
    sel = selectors.DefaultSelector()
    for name, (so, buf) in socks.items():
        sel.register(so, selectors.EVENT_READ, name)
    deadline = time.monotonic() + timeout
    open_ = len(socks)
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            so, buf = socks[key.data]
            d = so.recv(65536)
            if d:
                buf.append(d)
            else:
                sel.unregister(so)
                so.close()
                open_ -= 1
    sel.close()
    assert open_ == 0, "NSD stats did not come within %.0fs" % timeout
    out = {}
    for name, (_, buf) in socks.items():
        text = b"".join(buf).decode(errors="replace")
        out[name] = {m.group(1): int(m.group(2))
                     for m in re.finditer(r"^([\w.]+)=(\d+)$", text, re.M)}
    return out


def upstream_total(tb):
    """Queries received by all servers of the tree (what tb.query_count() returns)."""
    return sum(st.get("num.queries", 0) for st in nsd_stats_all(tb).values())


def servers_of(tb, addrs):
    """The distinct server groups (NSD processes) serving these addresses."""
    out = []
    for s in tb.servers.values():
        if set(s["addrs"]) & set(addrs) and s["name"] not in out:
            out.append(s["name"])
    return out


def nsd_stats(tb, addr):
    """The stats of the NSD owning addr, as {name: int}."""
    name = servers_of(tb, [addr])[0]
    return nsd_stats_all(tb, [name]).get(name, {})


def group_stats(tb, addrs):
    """Summed NSD stats over the distinct servers owning addrs."""
    total = {}
    for st in nsd_stats_all(tb, servers_of(tb, addrs)).values():
        for k, v in st.items():
            total[k] = total.get(k, 0) + v
    return total


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


# ------------------------------------------------------------------ zone edits
def add_records(tb, zone, lines):
    """Append records to a zone the testbed registered (its four pool servers), bump the
    SOA serial and reload it on each server; waits until every server serves the new
    serial. For records the hand-written tree lacks (e.g. an unknown type)."""
    st = tb._tb.load()
    reg = st["registered"][zone]
    waits = []
    for _, addr, sname in reg["ns"]:
        s = st["servers"][sname]
        path = os.path.join(s["dir"], "zones", zone.rstrip(".") + ".zone")
        with open(path) as f:
            text = f.read()
        m = re.search(r"^(%s\s+(?:\d+\s+)?IN\s+SOA\s+\S+\s+\S+\s+)(\d+)" % re.escape(zone),
                      text, re.M)
        assert m, "no SOA in %s" % path
        serial = int(m.group(2)) + 1
        text = text[:m.start(2)] + str(serial) + text[m.end(2):]
        text += "\n".join(lines) + "\n"
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        r = subprocess.run([NSD_CONTROL, "-c", s["conf"], "reload", zone.rstrip(".")],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stdout + r.stderr
        waits.append((addr, serial))
    deadline = time.monotonic() + 15
    for addr, serial in waits:
        while True:
            try:
                m = tb.query(addr, zone, "SOA", timeout=0.5)
                if m.answer and m.answer[0][0].serial == serial:
                    break
            except Exception:
                pass
            assert time.monotonic() < deadline, "%s did not reload %s" % (addr, zone)
            time.sleep(0.05)


# ------------------------------------------------------------------ reporting
def logctx(cp):
    """The tail of a cairn's log, for assertion messages."""
    return "\n--- cairn log tail ---\n" + tail(cp.log())


def rcode(m):
    """RCODE mnemonic of a reply, None for no reply."""
    return dns.rcode.to_text(m.rcode()) if m is not None else None


def ede(m):
    """(code, text) of the first Extended DNS Error option (RFC 8914), or None."""
    for o in (m.options if m is not None else []):
        if o.otype == 15:
            return (o.code, o.text)
    return None

