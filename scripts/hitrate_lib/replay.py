"""Open-loop replay of a trace over UDP: one socket per client address, queries leave at the
trace's time divided by the compression factor, replies are matched by socket and ID.

Per query the replay records the real send and receive times (monotonic), the rcode and the
TTL of the first answer record (or of the SOA in the authority section of a negative answer).
Nothing here knows about cairn: the caller starts the resolver and reads its counters.
"""
import resource
import selectors
import socket
import struct
import sys
import time

from . import trace as T

LOST = -1


def build_query(qid, qname, qtype):
    """RD=1, one question, EDNS(0) with a 1232-byte payload (RFC 6891)."""
    wire = bytearray(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1))
    for label in qname.rstrip(".").split("."):
        if label:
            b = label.encode()
            wire.append(len(b))
            wire += b
    wire.append(0)
    wire += struct.pack("!HH", qtype, 1)
    wire += b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
    return bytes(wire)


def _skip_name(m, p):
    while p < len(m):
        ln = m[p]
        if ln == 0:
            return p + 1
        if ln & 0xC0 == 0xC0:
            return p + 2
        p += ln + 1
    raise ValueError("name runs off the message")


def parse_reply(m):
    """(id, rcode, ttl or None): ttl of the first answer RR, else of the first authority
    RR (the SOA of a negative answer, RFC 2308)."""
    if len(m) < 12:
        raise ValueError("short reply")
    qid, flags, qd, an, ns, _ = struct.unpack_from("!HHHHHH", m, 0)
    rcode = flags & 0xF
    p = 12
    for _ in range(qd):
        p = _skip_name(m, p) + 4
    ttl = None
    if an or ns:
        p = _skip_name(m, p)
        if p + 10 <= len(m):
            ttl = struct.unpack_from("!I", m, p + 4)[0]
    return qid, rcode, ttl


def client_addr(i):
    """The source address of replay client i: 127.10.0.1, 127.10.0.2, ... (inside the
    testbed's namespace all of 127/8 is on lo)."""
    i += 1
    return "127.%d.%d.%d" % (10 + i // 65536, (i // 256) % 256, i % 256)


class Replay:
    """replay(trace, server, port, compress): results in self.sent/recv/rcode/ttl arrays.
    Bounded: every query is given up after `timeout` real seconds, and the whole run stops
    after `max_seconds` (queries never sent count as not sent)."""

    def __init__(self, tr, server, port, compress=1.0, timeout=2.0, max_seconds=None,
                 progress=None):
        self.tr = tr
        self.server = (server, port)
        self.compress = float(compress)
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.progress = progress
        n = len(tr.queries)
        self.sent = [0.0] * n
        self.recv = [0.0] * n
        self.rcode = [LOST] * n
        self.ttl = [None] * n
        self.nsent = 0
        self.nrecv = 0
        self.late = 0          # queries sent more than 10 ms behind their schedule
        self.malformed = 0
        self.start = 0.0

    def _sockets(self, clients):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = len(clients) + 64
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
        socks = []
        for i in range(len(clients)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:   # as root, past net.core.rmem_max: the replay must not drop replies
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, 4 << 20)
            except (OSError, AttributeError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind((client_addr(i), 0))
            s.connect(self.server)
            s.setblocking(False)
            socks.append(s)
        return socks

    def run(self):
        qs = self.tr.queries
        clients = self.tr.clients()
        socks = self._sockets(clients)
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            sel.register(s, selectors.EVENT_READ, i)
        pending = [dict() for _ in socks]     # per socket: id -> query index
        nextid = [1] * len(socks)
        wires = {}
        qtypes = {}
        t0 = qs[0][0] if qs else 0.0
        self.start = start = time.monotonic()
        stop_at = start + self.max_seconds if self.max_seconds else None
        i, n = 0, len(qs)
        last_prog = 0.0
        outstanding = []      # (deadline, sock index, id) in send order
        ohead = 0
        try:
            while True:
                now = time.monotonic()
                if stop_at and now > stop_at:
                    break
                while i < n and start + (qs[i][0] - t0) / self.compress <= now:
                    t, c, qname, qtype = qs[i]
                    si = clients[c]
                    qid = nextid[si]
                    while qid in pending[si]:
                        qid = qid % 65535 + 1
                    nextid[si] = qid % 65535 + 1
                    key = (qname, qtype)
                    w = wires.get(key)
                    if w is None:
                        code = qtypes.get(qtype) or qtypes.setdefault(qtype, T.type_code(qtype))
                        w = wires[key] = build_query(0, qname, code)
                    sched = start + (t - t0) / self.compress
                    if now - sched > 0.01:
                        self.late += 1
                    try:
                        socks[si].send(struct.pack("!H", qid) + w[2:])
                    except BlockingIOError:
                        pass
                    now = time.monotonic()
                    self.sent[i] = now
                    pending[si][qid] = i
                    outstanding.append((now + self.timeout, si, qid, i))
                    self.nsent += 1
                    i += 1
                if i >= n and not any(pending):
                    break
                wait = (start + (qs[i][0] - t0) / self.compress - now) if i < n else 0.05
                wait = max(0.0, min(wait, 0.05))
                for key, _ in sel.select(wait):
                    self._drain(socks[key.data], pending[key.data])
                # expire, after reading every reply already queued (the replay itself may
                # not have been scheduled for a while)
                now = time.monotonic()
                if ohead < len(outstanding) and outstanding[ohead][0] < now:
                    for key, _ in sel.select(0):
                        self._drain(socks[key.data], pending[key.data])
                while ohead < len(outstanding) and outstanding[ohead][0] < now:
                    _, si, qid, qi = outstanding[ohead]
                    if pending[si].get(qid) == qi:
                        del pending[si][qid]
                    ohead += 1
                if self.progress and now - last_prog > 0.25:
                    last_prog = now
                    self.progress(i, n, self.nrecv)
        finally:
            sel.close()
            for s in socks:
                s.close()
        if self.progress:
            self.progress(i, n, self.nrecv, done=True)
        return self

    def _drain(self, s, pend):
        while True:
            try:
                m = s.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            now = time.monotonic()
            try:
                qid, rcode, ttl = parse_reply(m)
            except (ValueError, struct.error):
                self.malformed += 1
                continue
            qi = pend.pop(qid, None)
            if qi is None:
                continue
            self.recv[qi] = now
            self.rcode[qi] = rcode
            self.ttl[qi] = ttl
            self.nrecv += 1


class Bar:
    """A progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label, enabled=None):
        self.label = label
        self.on = sys.stderr.isatty() if enabled is None else enabled

    def __call__(self, i, n, got, done=False):
        if not self.on:
            return
        w = 30
        f = i / n if n else 1.0
        bar = "#" * int(w * f) + "-" * (w - int(w * f))
        sys.stderr.write("\r%-28s [%s] %3d%% sent %d/%d replies %d" %
                         (self.label[:28], bar, int(100 * f), i, n, got))
        if done:
            sys.stderr.write("\n")
        sys.stderr.flush()


def compressed_seconds(tr, compress):
    return tr.duration() / compress

