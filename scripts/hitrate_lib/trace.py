"""Traces: the format, the synthetic generator, and the names a replay asks.

Trace format (docs/hitrate.md, "Traces"): one query per line,

    SECONDS CLIENT QNAME QTYPE

SECONDS is a float, relative to any origin (the replay starts at the first line), CLIENT a
free token (an address or a name; one replay client per distinct token), QNAME a domain name,
QTYPE a mnemonic (A, AAAA, HTTPS, TXT, ... or TYPEnn). Lines starting with `#` are comments,
except two directives the converters write and the replay uses to build the zones:

    #!ttl QNAME SECONDS     the name's answers have this TTL
    #!nx QNAME              the name does not exist (NXDOMAIN)

Names of a synthetic trace live in the generated zone hr.test. (ZONE), which encodes the
TTL in the name: nK.tT.hr.test (K a rank, T the TTL) exists by a wildcard *.tT.hr.test;
nK.nx.hr.test and anything below victim.hr.test do not exist. A trace of other names (a
capture, a query log) is mapped onto such names at replay time, one distinct name to one
synthetic name, so its popularity and reuse are kept while the testbed serves every name.
"""
import bisect
import hashlib
import math
import random

ZONE = "hr.test."
NEG_TTL = 900          # SOA minimum of hr.test: negative answers' TTL (RFC 2308)
# HITRATE.md section 2: approximates the OpenDNS TTL CDF
TTL_MIX = [(60, 0.10), (300, 0.30), (3600, 0.30), (14400, 0.20), (86400, 0.10)]
TYPE_MIX = [("A", 0.55), ("AAAA", 0.25), ("HTTPS", 0.10), ("TXT", 0.10)]
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "SRV": 33, "SVCB": 64, "HTTPS": 65, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}


class TraceError(Exception):
    pass


def type_code(t):
    t = t.upper()
    if t in TYPES:
        return TYPES[t]
    if t.startswith("TYPE") and t[4:].isdigit():
        return int(t[4:])
    raise TraceError("unknown query type %r" % t)


def type_name(code):
    return TYPE_NAMES.get(code, "TYPE%d" % code)


class Trace:
    """queries: list of (seconds, client, qname, qtype) sorted by time; ttl: {qname: TTL};
    nx: set of qnames that do not exist (both only from directives)."""

    def __init__(self, queries=None, ttl=None, nx=None):
        self.queries = queries or []
        self.ttl = ttl or {}
        self.nx = nx or set()

    def clients(self):
        seen = {}
        for q in self.queries:
            seen.setdefault(q[1], len(seen))
        return seen

    def scale(self, f):
        """Multiply every query's time by f (f > 0)."""
        if f <= 0:
            raise TraceError("time scale must be positive")
        if f != 1:
            self.queries = [(t * f, c, n, ty) for t, c, n, ty in self.queries]
        return self

    def duration(self):
        return self.queries[-1][0] - self.queries[0][0] if self.queries else 0.0


def parse_line(line, lineno=0):
    """One trace line -> (seconds, client, qname, qtype) or None for blank/comment lines.
    Directives come back as ("#!ttl", qname, ttl) / ("#!nx", qname)."""
    s = line.strip()
    if not s:
        return None
    if s.startswith("#!"):
        f = s.split()
        if f[0] == "#!ttl" and len(f) == 3 and f[2].isdigit():
            return ("#!ttl", norm_name(f[1]), int(f[2]))
        if f[0] == "#!nx" and len(f) == 2:
            return ("#!nx", norm_name(f[1]))
        raise TraceError("line %d: bad directive %r" % (lineno, s))
    if s.startswith("#"):
        return None
    f = s.split()
    if len(f) != 4:
        raise TraceError("line %d: expected SECONDS CLIENT QNAME QTYPE, got %r" % (lineno, s))
    try:
        t = float(f[0])
    except ValueError:
        raise TraceError("line %d: bad time %r" % (lineno, f[0]))
    if not math.isfinite(t) or t < 0:
        raise TraceError("line %d: bad time %r" % (lineno, f[0]))
    qname = norm_name(f[2])
    if len(qname) > 254 or any(len(l) > 63 or not l for l in qname.rstrip(".").split(".")
                               if qname != "."):
        raise TraceError("line %d: bad name %r" % (lineno, f[2]))
    type_code(f[3])
    return (t, f[1], qname, f[3].upper())


def norm_name(n):
    n = n.lower()
    return n if n.endswith(".") else n + "."


def read(path):
    tr = Trace()
    with open(path) as f:
        for i, line in enumerate(f, 1):
            r = parse_line(line, i)
            if r is None:
                continue
            if r[0] == "#!ttl":
                tr.ttl[r[1]] = r[2]
            elif r[0] == "#!nx":
                tr.nx.add(r[1])
            else:
                tr.queries.append(r)
    tr.queries.sort(key=lambda q: q[0])
    return tr


def write(tr, path):
    with open(path, "w") as f:
        f.write("# SECONDS CLIENT QNAME QTYPE (cairn scripts/hitrate trace)\n")
        for n, t in sorted(tr.ttl.items()):
            f.write("#!ttl %s %d\n" % (n, t))
        for n in sorted(tr.nx):
            f.write("#!nx %s\n" % n)
        for t, c, n, ty in tr.queries:
            f.write("%.6f %s %s %s\n" % (t, c, n, ty))


# ------------------------------------------------------------------ synthetic workloads
class Zipf:
    """Ranks 0..n-1 with P(k) proportional to 1/(k+1)^alpha (alpha 0: uniform)."""

    def __init__(self, n, alpha):
        self.n = n
        acc, cdf = 0.0, []
        for k in range(n):
            acc += 1.0 / (k + 1) ** alpha
            cdf.append(acc)
        self.cdf = [c / acc for c in cdf]

    def draw(self, rng):
        return min(bisect.bisect_left(self.cdf, rng.random()), self.n - 1)


def pick(rng, mix):
    u, acc = rng.random(), 0.0
    for v, w in mix:
        acc += w
        if u < acc:
            return v
    return mix[-1][0]


def parse_mix(text, conv=str):
    """'60:0.1,300:0.3' -> [(60, 0.1), (300, 0.3)] normalised to sum 1."""
    out = []
    for part in text.split(","):
        k, _, w = part.partition(":")
        out.append((conv(k.strip()), float(w) if w else 1.0))
    tot = sum(w for _, w in out)
    if tot <= 0:
        raise TraceError("mix %r has no weight" % text)
    return [(k, w / tot) for k, w in out]


def ttl_of_rank(k, mix, seed):
    """The TTL class of name rank k: a fixed hash of (seed, k), so every client, run and
    sweep point sees the same name with the same TTL."""
    h = int.from_bytes(hashlib.blake2b(b"%d:%d" % (seed, k), digest_size=8).digest(), "big")
    u, acc = h / 2.0 ** 64, 0.0
    for t, w in mix:
        acc += w
        if u < acc:
            return t
    return mix[-1][0]


def synth(names=100000, alpha=0.9, clients=10, rate=100.0, duration=600.0, ttl_mix=None,
          nx_share=0.1, type_mix=None, local_share=0.2, flood_share=0.0, seed=1,
          max_queries=None, local_names=None, once_share=0.0):
    """A synthetic trace (HITRATE.md section 1/2): Poisson arrivals at `rate` queries per
    trace second over `duration`; each query from client c (client weights Zipf(0.5): some
    clients ask more), with probability flood_share a one-time random name under
    victim.hr.test (a random-subdomain flood), else with probability nx_share a Zipf(alpha)
    name among names*nx_share non-existent ones, else with probability local_share a name
    from the client's own Zipf set of local_names names (default names/10, whatever the
    number of clients: names only it asks, its own mix), else with probability once_share
    a name asked once in the whole trace (a one-timer, never a hit), else a shared
    Zipf(alpha) name of `names`; type from type_mix; TTL of each name from ttl_mix."""
    rng = random.Random(seed)
    ttl_mix = ttl_mix or TTL_MIX
    type_mix = type_mix or TYPE_MIX
    shared = Zipf(names, alpha)
    n_nx = max(1, int(names * nx_share))
    nxz = Zipf(n_nx, alpha) if nx_share > 0 else None
    n_local = max(1, local_names if local_names is not None else names // 10)
    localz = Zipf(n_local, alpha)
    cw = Zipf(clients, 0.5)
    total = int(rate * duration)
    if max_queries:
        total = min(total, max_queries)
    t = 0.0
    qs = []
    for i in range(total):
        t += rng.expovariate(rate)
        c = cw.draw(rng)
        u = rng.random()
        if u < flood_share:
            qname = "f%016x.victim.%s" % (rng.getrandbits(64), ZONE)
            qtype = "A"
        else:
            qtype = pick(rng, type_mix)
            if nxz is not None and rng.random() < nx_share:
                qname = "n%d.nx.%s" % (nxz.draw(rng), ZONE)
            elif rng.random() < local_share:
                k = localz.draw(rng)
                qname = "n%d-c%d.t%d.%s" % (k, c, ttl_of_rank(k * 7919 + c, ttl_mix, seed),
                                           ZONE)
            elif once_share > 0 and rng.random() < once_share:
                qname = "o%d.t%d.%s" % (i, pick(rng, ttl_mix), ZONE)
            else:
                k = shared.draw(rng)
                qname = "n%d.t%d.%s" % (k, ttl_of_rank(k, ttl_mix, seed), ZONE)
        qs.append((t, "c%d" % c, qname, qtype))
    return Trace(qs)


# ------------------------------------------------------------------ replay names
def is_synthetic(qname):
    return qname.endswith("." + ZONE)


def synthetic_ttl(qname):
    """TTL a synthetic positive name carries (None: a non-existent name)."""
    labels = qname.split(".")
    if len(labels) >= 4 and labels[1].startswith("t") and labels[1][1:].isdigit():
        return int(labels[1][1:])
    return None


def map_names(tr, default_ttl=300):
    """Map every name outside hr.test onto a synthetic one (same popularity, the TTL from
    the trace's #!ttl directive or default_ttl, non-existent if #!nx). Returns a new Trace
    and the mapping {original: synthetic}."""
    mapping = {}
    out = []
    for t, c, n, ty in tr.queries:
        m = mapping.get(n)
        if m is None:
            if is_synthetic(n):
                m = n
            else:
                h = hashlib.blake2b(n.encode(), digest_size=6).hexdigest()
                if n in tr.nx:
                    m = "h%s.nx.%s" % (h, ZONE)
                else:
                    m = "h%s.t%d.%s" % (h, tr.ttl.get(n, default_ttl), ZONE)
            mapping[n] = m
        out.append((t, c, m, ty))
    return Trace(out), mapping


def zone_text(ttls, serial=1):
    """hr.test's zone: a wildcard per TTL class with A, AAAA, TXT and HTTPS data; nx. and
    victim. exist (so an NXDOMAIN below them says nothing about their siblings, RFC 8020)."""
    lines = ["$TTL 86400",
             "%s IN SOA ns1.%s hostmaster.%s %d 3600 600 86400 %d"
             % (ZONE, ZONE, ZONE, serial, NEG_TTL),
             "%s IN NS ns1.%s" % (ZONE, ZONE), "%s IN NS ns2.%s" % (ZONE, ZONE),
             "ns1.%s IN A 127.3.1.1" % ZONE, "ns2.%s IN A 127.3.2.1" % ZONE,
             "nx.%s IN TXT \"no names below\"" % ZONE,
             "victim.%s IN TXT \"flood target\"" % ZONE]
    for t in sorted(set(ttls)):
        w = "*.t%d.%s" % (t, ZONE)
        lines += ["%s %d IN A 198.51.100.%d" % (w, t, t % 250 + 1),
                  "%s %d IN AAAA 2001:db8:48::%x" % (w, t, t % 0x10000),
                  "%s %d IN TXT \"ttl %d\"" % (w, t, t),
                  "%s %d IN HTTPS 1 . alpn=h2" % (w, t)]
    return "\n".join(lines) + "\n"


def trace_ttls(tr):
    out = set()
    for _, _, n, _ in tr.queries:
        t = synthetic_ttl(n)
        if t is not None:
            out.add(t)
    return out


def oracle(tr, max_ttl=86400, neg_max_ttl=3600):
    """The hit rate an unbounded cache that honours every TTL exactly would give this trace
    (the renewal model's oracle, HITRATE.md section 1, run on the trace itself rather than
    in expectation): a query hits if its key was answered within its TTL before; keys are
    (qname, qtype) for existing names and the name alone for NXDOMAIN (RFC 2308: one
    negative entry covers every type), TTLs capped as cairn's cache.max_ttl and
    cache.neg_max_ttl do. Only synthetic (hr.test) names: a mapped trace first."""
    until = {}
    hits = 0
    neg = min(NEG_TTL, neg_max_ttl)
    for t, _, n, ty in tr.queries:
        ttl = synthetic_ttl(n)
        key = (n, ty) if ttl is not None else n
        if until.get(key, -1.0) > t:
            hits += 1
        else:
            until[key] = t + (min(ttl, max_ttl) if ttl is not None else neg)
    return hits / max(1, len(tr.queries))
