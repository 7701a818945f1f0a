"""A scriptable hostile authoritative DNS server for the hardening tests (docs/attacks.md).

Built on dnspython and plain sockets, never on cairn's codec. A HostileServer binds UDP and
TCP port 53 (or another port) on one or more 127.x addresses inside the testbed namespace
(this process lives there, see conftest.py) and runs its own loop in a thread of the pytest
process. For every query it receives it calls a handler, which returns what to do:

    Send(msg_or_bytes, delay=0.0, src=None, auto_tc=True)   reply (after delay s); src=(addr,
                                                             port) sends it from another socket
                                                             (a wrong address or port)
    Drop()                                                   say nothing
    Stall()                                                  TCP: keep the connection, never
                                                             answer; UDP: like Drop
    Close()                                                  TCP: close the connection

or a list of them (garbage first, the real answer 50 ms later...). The default handler
answers from a Zone: a small authoritative engine (referrals with in-zone glue, AA answers,
CNAME, DNAME with a synthesised CNAME and YXDOMAIN on overflow, wildcards, NODATA and
NXDOMAIN with the SOA). Helpers build replies (reply()), records (rr()), and the nasty
things (garbage, wrong IDs, mangled qname case, out-of-bailiwick records, huge RRsets, TC,
hundreds of glueless NS names, loops) are a few lines in a test's handler.

Everything received is counted: per (lowercased qname, type, transport) in `counts`, and
every query is kept in `queries` (source address and port, ID, qname as sent with its case,
transport, arrival time), so tests assert on the work a resolver did. TCP connections are
logged in `tcp_conns` (opened, closed, frames).

Only 127.0.0.0/8 addresses are bound; nothing here sends anywhere but to the source of a
query it received.
"""
import collections
import heapq
import os
import selectors
import socket
import struct
import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone


# ------------------------------------------------------------------ actions
class Send:
    """Send data (a dns.message.Message or raw bytes) after delay seconds. src=(addr, port):
    from another UDP socket (bound on demand). auto_tc: a UDP reply larger than the query
    allowed (512, or its EDNS size) goes out as header + question with TC=1, as a real
    server would; auto_tc=False sends it whole."""
    __slots__ = ("data", "delay", "src", "auto_tc")

    def __init__(self, data, delay=0.0, src=None, auto_tc=True):
        self.data, self.delay, self.src, self.auto_tc = data, delay, src, auto_tc


class Drop:
    pass


class Stall:
    pass


class Close:
    pass


class Query:
    """One query as received."""
    __slots__ = ("wire", "msg", "qname", "qname_raw", "qtype", "id", "src", "dst", "tcp",
                 "time", "edns", "payload", "do")

    def __init__(self, wire, msg, src, dst, tcp):
        self.wire, self.msg, self.src, self.dst, self.tcp = wire, msg, src, dst, tcp
        self.time = time.monotonic()
        self.id = msg.id if msg is not None else (struct.unpack("!H", wire[:2])[0]
                                                  if len(wire) >= 2 else None)
        if msg is not None and msg.question:
            q = msg.question[0]
            self.qname_raw = q.name.to_text()          # the case as sent (0x20)
            self.qname = self.qname_raw.lower()
            self.qtype = dns.rdatatype.to_text(q.rdtype)
        else:
            self.qname_raw = self.qname = None
            self.qtype = None
        self.edns = msg is not None and msg.edns >= 0
        self.payload = msg.payload if self.edns else 512
        self.do = bool(msg is not None and msg.ednsflags & dns.flags.DO)

    @property
    def name(self):
        return self.msg.question[0].name


# ------------------------------------------------------------------ building replies
def rr(name, ttl, rdtype, *rdatas):
    """An RRset from text: rr("a.x.", 60, "A", "192.0.2.1", "192.0.2.2")."""
    return dns.rrset.from_text(name, ttl, "IN", rdtype, *rdatas)


def reply(q, rcode=dns.rcode.NOERROR, aa=True, answer=(), authority=(), additional=(),
          tc=False, qid=None, qname=None, edns=True, ra=False):
    """A reply to Query q. qname: a different question name (e.g. the wrong case); qid: a
    different ID; edns: echo an OPT when the query had one (False: never)."""
    m = dns.message.make_response(q.msg)
    if qname is not None:
        m.question = [dns.rrset.RRset(dns.name.from_text(qname), q.msg.question[0].rdclass,
                                      q.msg.question[0].rdtype)]
    if not edns:
        m.use_edns(False)
    m.set_rcode(rcode)
    if aa:
        m.flags |= dns.flags.AA
    if tc:
        m.flags |= dns.flags.TC
    if ra:
        m.flags |= dns.flags.RA
    if qid is not None:
        m.id = qid
    m.answer = list(answer)
    m.authority = list(authority)
    m.additional = list(additional)
    return m


def to_wire(m, max_size=65535):
    return m.to_wire(max_size=max_size) if isinstance(m, dns.message.Message) else m


def garbage(n=40, seed=b"hostile"):
    """Bytes that are not a DNS message a resolver can accept."""
    out = bytearray()
    while len(out) < n:
        seed = bytes((b * 131 + 17) & 0xFF for b in seed) + b"\x5a"
        out += seed
    return bytes(out[:n])


# ------------------------------------------------------------------ a tiny authority
class Zone:
    """Authoritative answers for one zone from zone-file text (dnspython's parser).

    answer(q) -> Message: referral (not AA) for names at or below a delegation, with glue
    for NS targets that have addresses in the zone; AA answer, CNAME (not chased), DNAME +
    synthesised CNAME (YXDOMAIN when too long), wildcard, NODATA / NXDOMAIN + SOA (TTL
    min(SOA TTL, MINIMUM)); REFUSED outside the zone. set_text() replaces the data."""

    def __init__(self, origin, text):
        self.origin = dns.name.from_text(origin)
        self.lock = threading.Lock()
        self.set_text(text)

    def set_text(self, text):
        z = dns.zone.from_text(text, origin=self.origin, relativize=False,
                               check_origin=False)
        with self.lock:
            self.z = z

    def _rrset(self, z, name, rdtype):
        node = z.get_node(name)
        if node is None:
            return None
        rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)
                                if isinstance(rdtype, str) else rdtype)
        if rds is None:
            return None
        s = dns.rrset.RRset(name, dns.rdataclass.IN, rds.rdtype)
        s.update(rds)
        return s

    def soa(self, z):
        s = self._rrset(z, self.origin, "SOA")
        neg = min(s.ttl, s[0].minimum)
        s2 = dns.rrset.RRset(s.name, s.rdclass, s.rdtype)
        s2.update(s)
        s2.ttl = neg
        return s2

    def answer(self, q):
        with self.lock:
            z = self.z
        qname, qtype = q.name, q.msg.question[0].rdtype
        if not qname.is_subdomain(self.origin):
            return reply(q, dns.rcode.REFUSED, aa=False)
        # delegations between the apex and qname (a DS question is the parent's)
        names = []
        n = qname
        while n != self.origin:
            names.append(n)
            n = n.parent()
        for cut in reversed(names):   # highest first
            if cut == qname and qtype == dns.rdatatype.DS:
                continue
            ns = self._rrset(z, cut, "NS")
            if ns is not None:
                glue = []
                for t in ns:
                    for typ in ("A", "AAAA"):
                        g = self._rrset(z, t.target, typ)
                        if g is not None:
                            glue.append(g)
                return reply(q, aa=False, authority=[ns], additional=glue)
            dn = self._rrset(z, cut, "DNAME") if cut != qname else None
            if dn is not None:
                try:
                    target = qname.relativize(cut).concatenate(dn[0].target)
                except dns.name.NameTooLong:
                    return reply(q, dns.rcode.YXDOMAIN, answer=[dn])
                cn = dns.rrset.from_text(qname, dn.ttl, "IN", "CNAME", target.to_text())
                return reply(q, answer=[dn, cn])
        node = z.get_node(qname)
        ent = node is None and any(n2.is_subdomain(qname) and n2 != qname for n2 in z.nodes)
        if node is None and not ent:
            # a wildcard at the closest encloser (RFC 4592)
            enc = qname.parent()
            while enc != self.origin and not any(n2.is_subdomain(enc) for n2 in z.nodes):
                enc = enc.parent()
            node = z.get_node(dns.name.Name((b"*",) + enc.labels))
        if node is None:
            return reply(q, dns.rcode.NOERROR if ent else dns.rcode.NXDOMAIN,
                         authority=[self.soa(z)])
        for typ in (qtype, dns.rdatatype.CNAME):
            rds = node.get_rdataset(dns.rdataclass.IN, typ)
            if rds is not None:
                s = dns.rrset.RRset(qname, dns.rdataclass.IN, rds.rdtype)
                s.update(rds)
                return reply(q, answer=[s])
        return reply(q, authority=[self.soa(z)])


def zone_text(origin, ns=("ns1",), addr=None, body=(), ttl=3600, minimum=60, ns_ttl=None):
    """Zone-file text: SOA, NS ns1.ORIGIN (glue addr if given), then body lines."""
    o = origin if origin.endswith(".") else origin + "."
    lines = ["$TTL %d" % ttl,
             "%s IN SOA %s.%s hostmaster.%s 1 3600 600 86400 %d" % (o, ns[0], o, o, minimum)]
    nt = "" if ns_ttl is None else "%d " % ns_ttl
    for n in ns:
        target = n if n.endswith(".") else "%s.%s" % (n, o)
        lines.append("%s %sIN NS %s" % (o, nt, target))
        if addr and not n.endswith("."):
            lines.append("%s IN A %s" % (target, addr))
    lines += list(body)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the server
class HostileServer:
    """See the module doc. handler(Query) -> action or list of actions; None means the zone's
    answer (or REFUSED without a zone). Queries that do not parse go to handler too, with
    q.msg None (the default then drops them)."""

    def __init__(self, addrs, handler=None, zone=None, port=53, name="hostile", tcp=True):
        self.addrs = [addrs] if isinstance(addrs, str) else list(addrs)
        self.port = port
        self.name = name
        self.zone = zone
        self.handler = handler
        self.tcp = tcp
        self.lock = threading.Lock()
        self.counts = collections.Counter()     # (qname, qtype, "udp"|"tcp") -> n
        self.queries = []                       # every Query, in arrival order
        self.tcp_conns = []                     # dicts: opened, closed, frames, peer
        self.errors = []                        # handler exceptions (fail the test)
        self._sel = selectors.DefaultSelector()
        self._timers = []                       # heap of (when, seq, fn)
        self._seq = 0
        self._extra = {}                        # (addr, port) -> UDP socket to send from
        self._conns = {}                        # fd -> conn dict
        self._thread = None
        self._stop = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._socks = []
        for a in self.addrs:
            u = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET,
                              socket.SOCK_DGRAM)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            u.bind((a, port))
            u.setblocking(False)
            self._sel.register(u, selectors.EVENT_READ, ("udp", a))
            self._socks.append(u)
            if tcp:
                t = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET,
                                  socket.SOCK_STREAM)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((a, port))
                t.listen(256)
                t.setblocking(False)
                self._sel.register(t, selectors.EVENT_READ, ("listen", a))
                self._socks.append(t)

    # -------------------------------------------------------------- life cycle
    def start(self):
        self._thread = threading.Thread(target=self._run, name="hostile-" + self.name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is None:
            return
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(10)
        assert not self._thread.is_alive(), "hostile server %s did not stop" % self.name
        self._thread = None
        for c in list(self._conns.values()):
            self._close_conn(c)
        for s in self._socks + list(self._extra.values()):
            s.close()
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -------------------------------------------------------------- what tests read
    def count(self, qname=None, qtype=None, transport=None):
        """Queries received, optionally only for a name (any case) / type / "udp"|"tcp"."""
        qn = qname.lower() if qname else None
        if qn and not qn.endswith("."):
            qn += "."
        with self.lock:
            items = list(self.counts.items())
        return sum(n for (name, t, tr), n in items
                   if (qn is None or name == qn) and (qtype is None or t == qtype)
                   and (transport is None or tr == transport))

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def snapshot(self):
        with self.lock:
            return list(self.queries)

    def reset(self):
        with self.lock:
            self.counts.clear()
            self.queries.clear()
            self.tcp_conns.clear()

    def check(self):
        """Raise if a handler failed (a test bug, not a cairn bug)."""
        assert not self.errors, "hostile handler errors: %s" % self.errors[:3]

    # -------------------------------------------------------------- the loop
    def _call_later(self, delay, fn):
        with self.lock:
            self._seq += 1
            heapq.heappush(self._timers, (time.monotonic() + delay, self._seq, fn))
        if threading.current_thread() is not self._thread:
            os.write(self._wake_w, b"x")

    def _run(self):
        while not self._stop:
            timeout = 0.5
            with self.lock:
                if self._timers:
                    timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
            for key, ev in self._sel.select(timeout):
                kind, arg = key.data
                try:
                    if kind == "wake":
                        try:
                            os.read(self._wake_r, 4096)
                        except BlockingIOError:
                            pass
                    elif kind == "udp":
                        self._on_udp(key.fileobj, arg)
                    elif kind == "listen":
                        self._on_accept(key.fileobj)
                    elif kind == "conn":
                        self._on_conn(arg)
                except Exception as e:  # pragma: no cover - reported through check()
                    self.errors.append(repr(e))
            now = time.monotonic()
            while True:
                with self.lock:
                    if not self._timers or self._timers[0][0] > now:
                        break
                    _, _, fn = heapq.heappop(self._timers)
                try:
                    fn()
                except Exception as e:  # pragma: no cover
                    self.errors.append(repr(e))

    def _parse(self, wire, src, dst, tcp):
        try:
            msg = dns.message.from_wire(wire)
        except Exception:
            msg = None
        q = Query(wire, msg, src, dst, tcp)
        with self.lock:
            self.queries.append(q)
            if q.qname is not None:
                self.counts[(q.qname, q.qtype, "tcp" if tcp else "udp")] += 1
        return q

    def _actions(self, q):
        acts = self.handler(q) if self.handler else None
        if acts is None:
            if q.msg is None or not q.msg.question:
                return [Drop()]
            if self.zone is None:
                return [Send(reply(q, dns.rcode.REFUSED, aa=False))]
            return [Send(self.zone.answer(q))]
        if not isinstance(acts, (list, tuple)):
            acts = [acts]
        return [a if isinstance(a, (Send, Drop, Stall, Close)) else Send(a) for a in acts]

    # UDP
    def _on_udp(self, sock, addr):
        for _ in range(64):
            try:
                wire, src = sock.recvfrom(65535)
            except BlockingIOError:
                return
            q = self._parse(wire, src, addr, False)
            for a in self._actions(q):
                if isinstance(a, Send):
                    fn = (lambda a=a, q=q, sock=sock: self._udp_send(sock, q, a))
                    if a.delay > 0:
                        self._call_later(a.delay, fn)
                    else:
                        fn()

    def _udp_send(self, sock, q, a):
        wire = to_wire(a.data)
        limit = max(512, q.payload) if q.edns else 512
        if a.auto_tc and isinstance(a.data, dns.message.Message) and len(wire) > limit:
            t = dns.message.make_response(q.msg) if q.msg is not None else None
            if t is not None:
                t.id = a.data.id
                t.flags = a.data.flags | dns.flags.TC
                t.question = a.data.question
                wire = t.to_wire()
        s = sock
        if a.src is not None:
            s = self._extra.get(a.src)
            if s is None:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(a.src)
                self._extra[a.src] = s
        try:
            s.sendto(wire, q.src)
        except OSError:
            pass

    # TCP
    def _on_accept(self, lsock):
        try:
            s, peer = lsock.accept()
        except (BlockingIOError, OSError):
            return
        s.setblocking(False)
        c = dict(sock=s, peer=peer, dst=lsock.getsockname()[0], buf=b"", opened=time.monotonic(),
                 closed=None, frames=0, stalled=False)
        with self.lock:
            self.tcp_conns.append(c)
        self._conns[s.fileno()] = c
        self._sel.register(s, selectors.EVENT_READ, ("conn", c))

    def _close_conn(self, c):
        if c["closed"] is not None:
            return
        c["closed"] = time.monotonic()
        self._conns.pop(c["sock"].fileno(), None)
        try:
            self._sel.unregister(c["sock"])
        except (KeyError, ValueError):
            pass
        c["sock"].close()

    def _on_conn(self, c):
        try:
            d = c["sock"].recv(65537)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            d = b""
        if not d:
            self._close_conn(c)
            return
        c["buf"] += d
        while len(c["buf"]) >= 2:
            n = struct.unpack("!H", c["buf"][:2])[0]
            if len(c["buf"]) < 2 + n:
                break
            wire, c["buf"] = c["buf"][2:2 + n], c["buf"][2 + n:]
            c["frames"] += 1
            q = self._parse(wire, c["peer"], c["dst"], True)
            for a in self._actions(q):
                if isinstance(a, Close):
                    self._close_conn(c)
                    return
                if isinstance(a, Stall):
                    c["stalled"] = True
                if isinstance(a, Send):
                    fn = (lambda a=a, c=c: self._tcp_send(c, a))
                    if a.delay > 0:
                        self._call_later(a.delay, fn)
                    else:
                        fn()

    def _tcp_send(self, c, a):
        if c["closed"] is not None:
            return
        wire = to_wire(a.data)
        try:
            c["sock"].setblocking(True)
            c["sock"].settimeout(2)
            c["sock"].sendall(struct.pack("!H", len(wire)) + wire)
            c["sock"].setblocking(False)
        except OSError:
            self._close_conn(c)


# ------------------------------------------------------------------ clients
def blast(addr, port, queries, window=100, timeout=5.0, deadline=120.0, source=None):
    """Send many queries (a list of wire bytes or dns.message.Message, distinct IDs) over
    one UDP socket, at most `window` outstanding, and collect the replies. Returns
    {index: (reply dns.message.Message or None, seconds)}. Bounded by `deadline`."""
    wires = [q.to_wire() if isinstance(q, dns.message.Message) else q for q in queries]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if source:
        s.bind((source, 0))
    s.setblocking(False)
    by_id = {}
    for i, w in enumerate(wires):
        by_id.setdefault(struct.unpack("!H", w[:2])[0], []).append(i)
    sent_at, out = {}, {}
    nxt = 0
    end = time.monotonic() + deadline
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    try:
        while len(out) < len(wires) and time.monotonic() < end:
            now = time.monotonic()
            for i, t0 in list(sent_at.items()):
                if i not in out and now - t0 > timeout:
                    out[i] = (None, now - t0)
            outstanding = sum(1 for i in sent_at if i not in out)
            while nxt < len(wires) and outstanding < window:
                try:
                    s.sendto(wires[nxt], (addr, port))
                except BlockingIOError:
                    break
                sent_at[nxt] = time.monotonic()
                nxt += 1
                outstanding += 1
            for _ in sel.select(0.05):
                while True:
                    try:
                        d = s.recv(65535)
                    except BlockingIOError:
                        break
                    if len(d) < 12:
                        continue
                    qid = struct.unpack("!H", d[:2])[0]
                    for i in by_id.get(qid, ()):
                        if i in sent_at and i not in out:
                            try:
                                m = dns.message.from_wire(d)
                            except Exception:
                                m = None
                            out[i] = (m, time.monotonic() - sent_at[i])
                            break
    finally:
        sel.close()
        s.close()
    return out
