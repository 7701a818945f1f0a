"""Converters to the trace format: a packet capture (pcap or pcapng, parsed with Debian's
python3-dpkt) and the query-log lines of Unbound (`log-queries`, `log-replies`), BIND (the
`queries` category) and cairn (`query_log`). Every log format here was taken from the
programs' own output on the testbed (tests/integration/test_hitrate.py makes it again)."""
import calendar
import re
import socket
import time

from . import trace as T


def _ip_of(buf, linktype):
    import dpkt
    if linktype == 1:          # DLT_EN10MB
        eth = dpkt.ethernet.Ethernet(buf)
        return eth.data
    if linktype == 0:          # DLT_NULL (BSD loopback): 4-byte family in host order
        fam = int.from_bytes(buf[:4], "little")
        return dpkt.ip.IP(buf[4:]) if fam == 2 else dpkt.ip6.IP6(buf[4:])
    if linktype == 113:        # DLT_LINUX_SLL
        return dpkt.sll.SLL(buf).data
    if linktype == 276:        # DLT_LINUX_SLL2
        return dpkt.sll2.SLL2(buf).data
    if linktype in (101, 12, 14):   # raw IP
        return dpkt.ip.IP(buf) if buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
    raise T.TraceError("unsupported link type %d" % linktype)


def _reader(f):
    import dpkt
    magic = f.read(4)
    f.seek(0)
    if magic == b"\x0a\x0d\x0d\x0a":
        return dpkt.pcapng.Reader(f)
    return dpkt.pcap.Reader(f)


class _TcpStream:
    """One direction of a TCP connection: the bytes in sequence order (segments that come
    again are dropped, segments ahead of a gap wait for it), cut into DNS messages by their
    2-byte length prefix (RFC 1035 4.2.2, RFC 7766: several messages may share a segment,
    one message may span several)."""

    def __init__(self):
        self.next = None
        self.buf = b""
        self.ahead = {}
        self.ts = None

    def add(self, seq, data, ts, syn=False):
        if syn:
            self.next = (seq + 1) & 0xFFFFFFFF
            return []
        if not data:
            return []
        if self.next is None:           # capture started mid-connection: take it from here
            self.next = seq
        self.ahead[seq] = (data, ts)
        out = []
        while True:
            for s in list(self.ahead):
                d = (s - self.next) & 0xFFFFFFFF
                if d >= 0x80000000 and ((s + len(self.ahead[s][0]) - self.next) & 0xFFFFFFFF) \
                        >= 0x80000000:
                    del self.ahead[s]           # all before what we have: a retransmission
            if self.next not in self.ahead:
                # a segment overlapping the front: keep its new part
                for s, (dd, tt) in list(self.ahead.items()):
                    d = (self.next - s) & 0xFFFFFFFF
                    if 0 < d < len(dd):
                        del self.ahead[s]
                        self.ahead[self.next] = (dd[d:], tt)
                        break
                else:
                    break
            data, ts = self.ahead.pop(self.next)
            self.next = (self.next + len(data)) & 0xFFFFFFFF
            if not self.buf:
                self.ts = ts
            self.buf += data
            while len(self.buf) >= 2:
                n = int.from_bytes(self.buf[:2], "big")
                if len(self.buf) < 2 + n:
                    break
                out.append((self.ts, self.buf[2:2 + n]))
                self.buf = self.buf[2 + n:]
                self.ts = ts
        return out


def _messages(path, port):
    """(ts, src, dst, sport, dport, DNS message bytes) for every UDP datagram and every
    reassembled TCP message to or from `port`, in capture order."""
    import dpkt
    streams = {}
    with open(path, "rb") as f:
        rd = _reader(f)
        lt = rd.datalink()
        for ts, buf in rd:
            try:
                ip = _ip_of(buf, lt)
            except (dpkt.UnpackError, IndexError, ValueError):
                continue
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            l4 = ip.data
            if not isinstance(l4, (dpkt.udp.UDP, dpkt.tcp.TCP)):
                continue
            if port not in (l4.sport, l4.dport):
                continue
            fam = socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6) else socket.AF_INET
            src, dst = socket.inet_ntop(fam, ip.src), socket.inet_ntop(fam, ip.dst)
            if isinstance(l4, dpkt.udp.UDP):
                yield ts, src, dst, l4.sport, l4.dport, bytes(l4.data)
                continue
            key = (src, l4.sport, dst, l4.dport)
            if l4.flags & dpkt.tcp.TH_SYN:
                streams[key] = _TcpStream()
            st = streams.setdefault(key, _TcpStream())
            for mts, m in st.add(l4.seq, bytes(l4.data), ts,
                                 syn=bool(l4.flags & dpkt.tcp.TH_SYN)):
                yield mts, src, dst, l4.sport, l4.dport, m
            if l4.flags & (dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST) and not st.ahead:
                streams.pop(key, None)


def pcap_to_trace(path, server=None, port=53):
    """DNS queries (QR=0, over UDP or TCP) to `port` (and `server`, if given) become trace
    lines (time since the first query, source address, qname, qtype). Replies (QR=1) give
    each name its TTL (the smallest in the answer section) or mark it non-existent
    (NXDOMAIN): the #!ttl and #!nx directives."""
    import dpkt
    tr = T.Trace()
    t0 = None
    for ts, src, dst, sport, dport, payload in _messages(path, port):
        try:
            m = dpkt.dns.DNS(payload)
        except (dpkt.UnpackError, IndexError, ValueError):
            continue
        if not m.qd:
            continue
        q = m.qd[0]
        qname = T.norm_name(q.name or ".")
        if m.qr == dpkt.dns.DNS_Q and dport == port and (server is None or dst == server):
            if t0 is None:
                t0 = ts
            tr.queries.append((float(ts - t0), src, qname, T.type_name(q.type)))
        elif m.qr == dpkt.dns.DNS_R and sport == port and (server is None or src == server):
            if m.rcode == dpkt.dns.DNS_RCODE_NXDOMAIN:
                tr.nx.add(qname)
            elif m.an:
                ttl = min(rr.ttl for rr in m.an)
                tr.ttl[qname] = min(ttl, tr.ttl.get(qname, ttl))
    tr.queries.sort(key=lambda x: x[0])
    return tr


# Unbound 1.17, as it logs them (log-queries, log-replies; log-time-ascii for the second
# time form; a syslog prefix before "unbound[" is allowed):
#   [1796308384] unbound[11381:0] info: 127.20.0.1 www.example.com. A IN
#   [1796308384] unbound[11381:0] info: 127.20.0.1 www.example.com. A IN NOERROR 0.001620 0 49
#   Dec 03 14:33:41 unbound[12794:0] info: 127.20.0.1 www.example.com. A IN
# A reply line adds the rcode, the time taken (s), whether it came from the cache (1) and
# the reply's size.
UNBOUND_RE = re.compile(
    r"(?:^\[(?P<epoch>\d+(?:\.\d+)?)\]|^(?P<ascii>\w{3} +\d+ \d\d:\d\d:\d\d)).*?"
    r"unbound\[[\d:]+\] info: (?P<client>[0-9a-fA-F.:]+) (?P<qname>\S+) (?P<qtype>\S+) IN"
    r"(?: (?P<rcode>[A-Z]+) (?P<secs>\d+\.\d+) (?P<cached>[01]) \d+)?\s*$")
# BIND 9.18, the queries category (named -g, or a channel with print-time; print-category
# and print-severity add "queries: info: "):
#   03-Dec-2026 14:33:16.855 client @0x7f380a721098 127.20.0.1#60367 (www.example.com):
#       query: www.example.com IN A + (127.0.0.1)
#   03-Dec-2026 14:33:34.263 queries: info: client @0x7f3faa321098 127.20.0.1#57092 ...
BIND_RE = re.compile(
    r"^(?P<ts>\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d(?:\.\d+)?) .*?client (?:@\S+ )?"
    r"(?P<client>[0-9a-fA-F.:]+)#\d+ \([^)]*\): (?:view \S+: )?query: (?P<qname>\S+) IN "
    r"(?P<qtype>\S+) ")
# cairn's query_log (docs/config.md "Query log"):
#   2026-12-03T11:51:23.271871Z 127.0.0.1#40199 udp www.example.com. A NOERROR cache.positive 40 -
CAIRN_RE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z (?P<client>[0-9a-fA-F.:]+)#\d+ "
    r"(?:udp|tcp) (?P<qname>\S+) (?P<qtype>\S+) (?P<rcode>\S+) (?P<outcome>\S+) "
    r"(?P<us>\d+) \S+\s*$")


def _frac_time(s, fmt):
    base, _, frac = s.partition(".")
    t = calendar.timegm(time.strptime(base, fmt))
    return t + (float("0." + frac) if frac else 0.0)


def _ascii_time(s):
    return calendar.timegm(time.strptime("2000 " + " ".join(s.split()), "%Y %b %d %H:%M:%S"))


def parse_log_line(line):
    """An Unbound, BIND or cairn query-log line -> dict(kind, t, client, qname, qtype and,
    from reply lines, rcode), else None. kind is "query" for a line logged per query and
    "reply" for Unbound's log-replies lines (cairn's lines are both: one per query, with its
    reply's rcode)."""
    m = UNBOUND_RE.search(line)
    if m:
        t = float(m.group("epoch")) if m.group("epoch") else _ascii_time(m.group("ascii"))
        d = dict(kind="reply" if m.group("rcode") else "query", t=t, client=m.group("client"),
                 qname=T.norm_name(m.group("qname")), qtype=m.group("qtype").upper(),
                 rcode=m.group("rcode"))
        if m.group("rcode"):
            d.update(secs=float(m.group("secs")), cached=m.group("cached") == "1")
        return d
    m = BIND_RE.search(line)
    if m:
        return dict(kind="query", t=_frac_time(m.group("ts"), "%d-%b-%Y %H:%M:%S"),
                    client=m.group("client"), qname=T.norm_name(m.group("qname")),
                    qtype=m.group("qtype").upper(), rcode=None)
    m = CAIRN_RE.search(line)
    if m and m.group("qname") != "-":
        return dict(kind="query", t=_frac_time(m.group("ts"), "%Y-%m-%dT%H:%M:%S"),
                    client=m.group("client"), qname=T.norm_name(m.group("qname")),
                    qtype=m.group("qtype").upper(), rcode=m.group("rcode"),
                    outcome=m.group("outcome"), us=int(m.group("us")))
    return None


def log_to_trace(path):
    """A trace from a query log; returns (trace, lines that were not query-log lines).
    Query lines give the queries; Unbound's reply lines give them only when the log has no
    query lines (log-replies alone), and mark NXDOMAIN names (#!nx) either way."""
    tr = T.Trace()
    skipped = 0
    queries, replies = [], []
    with open(path, errors="replace") as f:
        for line in f:
            r = parse_log_line(line)
            if r is None:
                skipped += 1
                continue
            (replies if r["kind"] == "reply" else queries).append(r)
            if r.get("rcode") == "NXDOMAIN":
                tr.nx.add(r["qname"])
    for r in queries or replies:
        tr.queries.append((r["t"], r["client"], r["qname"], r["qtype"]))
    tr.queries.sort(key=lambda x: x[0])
    if tr.queries:
        t0 = tr.queries[0][0]
        tr.queries = [(t - t0, c, n, ty) for t, c, n, ty in tr.queries]
    return tr, skipped
