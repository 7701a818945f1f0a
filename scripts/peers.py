"""The peer configuration every comparison script shares (scripts/bench, scripts/compare-cold).

One place writes Unbound's config and cairn's command line, so that a comparison cannot give
the two resolvers different caches by accident: the cache budget is given once, in MiB, and
Unbound's RRset and message caches together get exactly that (split 2:1, Unbound's own advice
for the two), while cairn gets it as --cache-size. The Unbound overrides are the ones a
loopback test tree needs (do-not-query-localhost: no, the test. and arpa. local zones off,
the iterator alone: no validator, since cairn has none yet).
"""
import os


def unbound_cache_split(cache_mb):
    """(rrset_mb, msg_mb) for a total of cache_mb (at least 1 MiB each)."""
    rrset_mb = max(1, cache_mb * 2 // 3)
    return rrset_mb, max(1, cache_mb - rrset_mb)


def unbound_conf(tmp, hints, port, cache_mb, threads=1, do_ip6=False, control=None,
                 trust_anchor=None, local_zone=None):
    """Write tmp/unbound.conf; control: the path of a Unix control socket, or None for no
    remote control; trust_anchor: a DS/DNSKEY file (a signed testbed's trust-anchor.ds) to
    validate with, None for the iterator alone; local_zone: (name, [records]) served as a
    static local-zone with local-data (cairn's hosted zone of the same data). Returns the
    config's path."""
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
""" if trust_anchor else "") + local_zone_conf(local_zone) + remote)
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


def cairn_cmd(cairn, hints, port, cache_mb, workers=1, control=None, zone=None):
    """cairn's command line for the same role: same port scheme, same cache budget; zone:
    (name, path) hosted as a public zone."""
    cmd = [cairn, "-l", "127.0.0.1@%d" % port, "--root-hints", hints,
           "--allow-loopback-upstream", "--cache-size", "%dM" % cache_mb,
           "--workers", str(workers), "-q"]
    if zone:
        cmd += ["--zone", "%s=%s" % zone]
    if control:
        cmd += ["--control", control]
    return cmd
