"""Converters to the trace format: a packet capture (pcap or pcapng, parsed with Debian's
python3-dpkt) and query-log lines of Unbound (`log-queries: yes`) and BIND (the `queries`
category)."""
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


def pcap_to_trace(path, server=None, port=53):
    """UDP and TCP DNS queries (QR=0) to `port` (and `server`, if given) become trace lines
    (time since the first packet, source address, qname, qtype). Replies (QR=1) give each
    name its TTL (the smallest in the answer section) or mark it non-existent (NXDOMAIN):
    the #!ttl and #!nx directives."""
    import dpkt
    tr = T.Trace()
    t0 = None
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
            if isinstance(l4, dpkt.udp.UDP):
                payload = bytes(l4.data)
            elif isinstance(l4, dpkt.tcp.TCP) and len(l4.data) > 2:
                payload = bytes(l4.data)[2:]     # one message per segment (the usual case)
            else:
                continue
            if port not in (l4.sport, l4.dport):
                continue
            src = socket.inet_ntop(socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6)
                                   else socket.AF_INET, ip.src)
            dst = socket.inet_ntop(socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6)
                                   else socket.AF_INET, ip.dst)
            try:
                m = dpkt.dns.DNS(payload)
            except (dpkt.UnpackError, IndexError, ValueError):
                continue
            if not m.qd:
                continue
            q = m.qd[0]
            qname = T.norm_name(q.name or ".")
            if m.qr == dpkt.dns.DNS_Q and l4.dport == port and (server is None or
                                                                dst == server):
                if t0 is None:
                    t0 = ts
                tr.queries.append((float(ts - t0), src, qname, T.type_name(q.type)))
            elif m.qr == dpkt.dns.DNS_R and l4.sport == port:
                if m.rcode == dpkt.dns.DNS_RCODE_NXDOMAIN:
                    tr.nx.add(qname)
                elif m.an:
                    ttl = min(rr.ttl for rr in m.an)
                    tr.ttl[qname] = min(ttl, tr.ttl.get(qname, ttl))
    tr.queries.sort(key=lambda x: x[0])
    return tr


# Unbound, log-queries: "[1700000000] unbound[123:0] info: 127.0.0.1 www.example.com. A IN"
# (log-time-ascii: "Nov 14 12:00:00 unbound[123:0] info: ...", syslog prefixes allowed)
UNBOUND_RE = re.compile(
    r"(?:^\[(?P<epoch>\d+(?:\.\d+)?)\]|^(?P<ascii>\w{3} +\d+ \d\d:\d\d:\d\d)).*?"
    r"unbound\[[\d:]+\] info: (?P<client>[0-9a-fA-F.:]+) (?P<qname>\S+) (?P<qtype>\S+) IN\s*$")
# BIND: "14-Nov-2023 12:00:00.123 client @0x7f.. 127.0.0.1#5321 (www.example.com): query:
#        www.example.com IN A +E(0)K (127.0.0.1)"  (the "queries: info:" category prefix and a
#        "view NAME:" part are allowed)
BIND_RE = re.compile(
    r"^(?P<ts>\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d(?:\.\d+)?) .*?client (?:@\S+ )?"
    r"(?P<client>[0-9a-fA-F.:]+)#\d+ \([^)]*\): (?:view \S+: )?query: (?P<qname>\S+) IN "
    r"(?P<qtype>\S+) ")


def _bind_time(s):
    base, _, frac = s.partition(".")
    t = calendar.timegm(time.strptime(base, "%d-%b-%Y %H:%M:%S"))
    return t + (float("0." + frac) if frac else 0.0)


def _ascii_time(s):
    return calendar.timegm(time.strptime("2000 " + " ".join(s.split()), "%Y %b %d %H:%M:%S"))


def parse_log_line(line):
    """(epoch seconds, client, qname, qtype) for an Unbound or BIND query-log line, else
    None."""
    m = UNBOUND_RE.search(line)
    if m:
        t = float(m.group("epoch")) if m.group("epoch") else _ascii_time(m.group("ascii"))
        return t, m.group("client"), T.norm_name(m.group("qname")), m.group("qtype").upper()
    m = BIND_RE.search(line)
    if m:
        return (_bind_time(m.group("ts")), m.group("client"), T.norm_name(m.group("qname")),
                m.group("qtype").upper())
    return None


def log_to_trace(path):
    tr = T.Trace()
    skipped = 0
    with open(path, errors="replace") as f:
        for line in f:
            r = parse_log_line(line)
            if r is None:
                skipped += 1
                continue
            tr.queries.append(r)
    tr.queries.sort(key=lambda x: x[0])
    if tr.queries:
        t0 = tr.queries[0][0]
        tr.queries = [(t - t0, c, n, ty) for t, c, n, ty in tr.queries]
    return tr, skipped
