"""The peer configuration every comparison script shares (scripts/bench, scripts/compare-cold).

One place writes Unbound's config and cairn's command line, so that a comparison cannot give
the two resolvers different caches by accident: the cache budget is given once, in MiB, and
Unbound's RRset and message caches together get exactly that (split 2:1, Unbound's own advice
for the two), while cairn gets it as --cache-size. The Unbound overrides are the ones a
loopback test tree needs (do-not-query-localhost: no, the test. and arpa. local zones off,
the iterator alone: no validator, since cairn has none yet). Knot Resolver, PowerDNS
Recursor and BIND (knot_conf, pdns_conf, bind_conf) get the overrides of the shared
research note PEERS.md for the same tree: lab root hints, no validation, 127/8 name servers
allowed, .test and 2.0.192.in-addr.arpa not blocked, IPv4 only.
"""
import os


def unbound_cache_split(cache_mb):
    """(rrset_mb, msg_mb) for a total of cache_mb (at least 1 MiB each)."""
    rrset_mb = max(1, cache_mb * 2 // 3)
    return rrset_mb, max(1, cache_mb - rrset_mb)


def unbound_conf(tmp, hints, port, cache_mb, threads=1, do_ip6=False, control=None,
                 trust_anchor=None, local_zone=None, extra_server=()):
    """Write tmp/unbound.conf; control: the path of a Unix control socket, or None for no
    remote control; trust_anchor: a DS/DNSKEY file (a signed testbed's trust-anchor.ds) to
    validate with, None for the iterator alone; local_zone: (name, [records]) served as a
    static local-zone with local-data (cairn's hosted zone of the same data); extra_server:
    more lines for the server: section (e.g. domain-insecure: for a negative trust
    anchor). Returns the config's path."""
    rrset_mb, msg_mb = unbound_cache_split(cache_mb)
    if control:
        remote = ("remote-control:\n    control-enable: yes\n"
                  f"    control-interface: \"{control}\"\n    control-use-cert: no\n")
    else:
        remote = "remote-control:\n    control-enable: no\n"
    path = os.path.join(tmp, "unbound.conf")
    with open(path, "w") as f:
        f.write(f"""server:
    interface: 127.0.0.1@{port}
    port: {port}
    num-threads: {threads}
    do-daemonize: no
    use-syslog: no
    logfile: ""
    chroot: ""
    username: ""
    directory: "{tmp}"
    pidfile: "{tmp}/unbound.pid"
    root-hints: "{hints}"
    module-config: "{"validator iterator" if trust_anchor else "iterator"}"
    do-not-query-localhost: no
    local-zone: "test." nodefault
    local-zone: "arpa." nodefault
    local-zone: "2.0.192.in-addr.arpa." nodefault
    access-control: 127.0.0.0/8 allow
    do-ip6: {"yes" if do_ip6 else "no"}
    msg-cache-size: {msg_mb}m
    rrset-cache-size: {rrset_mb}m
    verbosity: 0
    harden-referral-path: no
    qname-minimisation: yes
    use-caps-for-id: no
""" + (f"""    trust-anchor-file: "{trust_anchor}"
    val-log-level: 2
    ede: yes
""" if trust_anchor else "") + local_zone_conf(local_zone)
            + "".join("    %s\n" % ln for ln in extra_server) + remote)
    return path


def local_zone_conf(local_zone):
    if not local_zone:
        return ""
    name, records = local_zone
    return "    local-zone: \"%s\" static\n" % name + "".join(
        "    local-data: \"%s\"\n" % rr for rr in records)


def hosted_zone_file(tmp, local_zone):
    """The same (name, [records]) as a zone file for cairn's --zone: SOA and NS added."""
    name, records = local_zone
    path = os.path.join(tmp, "hosted.zone")
    with open(path, "w") as f:
        f.write("%s 3600 IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60\n" % (name, name, name))
        f.write("%s 3600 IN NS ns.%s\n" % (name, name))
        f.writelines(rr + "\n" for rr in records)
    return path


def cairn_cmd(cairn, hints, port, cache_mb, workers=1, control=None, zone=None,
              dnssec=False):
    """cairn's command line for the same role: same port scheme, same cache budget; zone:
    (name, path) hosted as a public zone. dnssec: validate (off by default, as the other
    peers here: the unsigned tree would be bogus under the built-in root anchors)."""
    cmd = [cairn, "-l", "127.0.0.1@%d" % port, "--root-hints", hints,
           "--allow-loopback-upstream", "--cache-size", "%dM" % cache_mb,
           "--workers", str(workers), "-q"]
    if not dnssec:
        cmd += ["--no-dnssec"]
    if zone:
        cmd += ["--zone", "%s=%s" % zone]
    if control:
        cmd += ["--control", control]
    return cmd


# The other peers (scripts/bench): same role, same port scheme, no DNSSEC validation, the
# lab root only. PEERS.md (shared research) lists why each override is needed. Each
# function returns the command line (and writes its config under tmp).

def knot_conf(tmp, hints, port, cache_mb, control_dir=None):
    """Knot Resolver 5: one kresd process (it has no threads; more cores mean more
    processes sharing the LMDB cache, which scripts/bench does not start)."""
    rundir = os.path.join(tmp, "kresd")
    os.makedirs(os.path.join(rundir, "cache"), exist_ok=True)
    path = os.path.join(rundir, "config")
    with open(path, "w") as f:
        f.write(f"""-- written by scripts/peers.py
net.listen('127.0.0.1', {port}, {{ kind = 'dns' }})
net.ipv6 = false
cache.open({cache_mb} * MB, 'lmdb://{rundir}/cache')
modules.load('hints > iterate')
hints.root_file('{hints}')
trust_anchors.remove('.')
-- 127/8 name servers are refused (SERVFAIL) unless allowed
policy.add(policy.all(policy.FLAGS('ALLOW_LOCAL')))
-- keep only the localhost rules: the lab serves .test and 2.0.192.in-addr.arpa
policy.special_names = {{ policy.special_names[3], policy.special_names[4] }}
modules.load('stats')
""")
    return ["kresd", "-n", "-q", "-c", path, rundir], rundir


LAB_COMPLEMENT = ["0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6",
                  "124.0.0.0/7", "126.0.0.0/8", "128.0.0.0/1", "::/0"]


def pdns_conf(tmp, hints, port, cache_mb, threads=1):
    """PowerDNS Recursor 4.8: its caches are sized in entries, not bytes; max-cache-entries
    is set to cache_mb * 4096 (about 256 bytes an entry), the packet cache to half that."""
    d = os.path.join(tmp, "pdns")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "recursor.conf"), "w") as f:
        f.write(f"""# written by scripts/peers.py
local-address=127.0.0.1
local-port={port}
threads={threads}
hint-file={hints}
dont-query={", ".join(LAB_COMPLEMENT)}
query-local-address=127.0.0.1
dnssec=off
security-poll-suffix=
allow-from=127.0.0.0/8
socket-dir={d}
daemon=no
write-pid=no
disable-syslog=yes
loglevel=3
max-cache-entries={cache_mb * 4096}
max-packetcache-entries={cache_mb * 2048}
qname-minimization=yes
""")
    return ["pdns_recursor", "--config-dir=" + d], d


def bind_conf(tmp, hints, port, cache_mb, threads=1, stats_port=None):
    """BIND 9.18 named: listens on 127.0.0.1 (an address lo has in the testbed), statistics
    over HTTP on stats_port for scripts/bench's counters."""
    d = os.path.join(tmp, "bind")
    os.makedirs(d, exist_ok=True)
    stats = ("statistics-channels { inet 127.0.0.1 port %d allow { 127.0.0.1; }; };\n"
             % stats_port) if stats_port else ""
    path = os.path.join(d, "named.conf")
    with open(path, "w") as f:
        f.write(f"""// written by scripts/peers.py
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion yes;
    allow-query {{ 127.0.0.0/8; }};
    allow-recursion {{ 127.0.0.0/8; }};
    dnssec-validation no;
    max-cache-size {cache_mb}m;
    qname-minimization relaxed;
    querylog no;
    notify no;
}};
controls {{ }};
{stats}zone "." {{ type hint; file "{hints}"; }};
""")
    # -4: IPv4 only, as every other peer here (the lab's ::1 root would otherwise be tried)
    return ["named", "-4", "-g", "-c", path, "-n", str(threads)], d
