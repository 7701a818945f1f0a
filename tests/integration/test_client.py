"""A real stub client: glibc's getaddrinfo, through /etc/resolv.conf, asking cairn.

cairn listens on 127.0.0.1@53 inside the testbed's network namespace (the NSD servers use
127.1-3.x, so that address is free there). A child process gets a private mount namespace
(`unshare -m`) in which a temporary resolv.conf ("nameserver 127.0.0.1") is bind-mounted
over /etc/resolv.conf; it inherits this process's network namespace, so its queries can only
reach the testbed. Python's getaddrinfo is called with its default flags (no AI_ADDRCONFIG,
which would drop every answer in a loopback-only namespace).
"""
import json
import re
import socket
import subprocess
import time

import pytest

from helpers import start, tail, wait_bound

CHILD = r"""
import json, socket, sys, time
out = {}
for name in sys.argv[1:]:
    t0 = time.monotonic()
    try:
        out[name] = sorted({ai[4][0] for ai in socket.getaddrinfo(name, None)})
    except socket.gaierror as e:
        out[name] = "gaierror %d" % e.errno
    out[name + " seconds"] = time.monotonic() - t0
print(json.dumps(out))
"""

CASES = {
    "www.example.com": ["192.0.2.1", "2001:db8::1"],
    "alias1.example.com": ["192.0.2.1", "2001:db8::1"],      # CNAME chain in one zone
    "xtld.example.com": ["192.0.2.3"],                        # CNAME to .org, A only
    "www.example.net": ["192.0.2.2", "2001:db8::2"],
    "www.example.org": ["192.0.2.3"],                         # glueless delegation
    "www.dead.test": ["192.0.2.4"],                           # one dead server
    "nope.example.com": "gaierror %d" % socket.EAI_NONAME,    # NXDOMAIN
}


def _nsswitch_hosts():
    try:
        with open("/etc/nsswitch.conf") as f:
            for line in f:
                m = re.match(r"\s*hosts\s*:\s*(.*)", line)
                if m:
                    return m.group(1).split()
    except OSError:
        pass
    return ["files", "dns"]   # glibc's default without the file


def test_getaddrinfo_through_resolv_conf(tb, cairn, tmp_path):
    hosts = _nsswitch_hosts()
    if "dns" not in hosts:
        pytest.skip("nsswitch.conf hosts: %s has no dns source" % " ".join(hosts))
    before_dns = hosts[:hosts.index("dns")]
    assert all(src.split("[")[0] in ("files", "myhostname") for src in before_dns), \
        "nsswitch hosts sources before dns would answer instead: %s" % hosts
    with open("/etc/hosts") as f:
        etc_hosts = f.read().lower()
    for name in CASES:
        assert not re.search(r"(^|\s)%s(\s|$)" % re.escape(name), etc_hosts, re.M), \
            "%s is in /etc/hosts: the test would not reach cairn" % name

    c = start(cairn, tb, port=53)
    # the factory's readiness check only looks for *a* socket on port 53, and the NSD
    # servers already have those: wait for cairn's own 127.0.0.1:53
    assert wait_bound(c.pid, "127.0.0.1", 53), "cairn did not bind 127.0.0.1@53\n" + c.log()
    assert c.alive(), c.log()

    host_resolv_conf = open("/etc/resolv.conf").read()
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\noptions timeout:4 attempts:1\n")
    cmd = ["unshare", "-m", "sh", "-c",
           'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"', "sh", str(conf),
           "/usr/bin/python3", "-c", CHILD] + list(CASES)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    ctx = "\nchild stderr: %s\n--- cairn log tail ---\n%s" % (r.stderr, tail(c.log()))
    assert r.returncode == 0, "child failed (%d)%s" % (r.returncode, ctx)
    got = json.loads(r.stdout)
    # the bind mount stayed private to the child
    assert open("/etc/resolv.conf").read() == host_resolv_conf
    wrong = {n: (got.get(n), want) for n, want in CASES.items() if got.get(n) != want}
    assert not wrong, "getaddrinfo through cairn: {name: (got, expected)} %s%s" % (wrong, ctx)
    slow = {n: round(got[n + " seconds"], 2) for n in CASES if got[n + " seconds"] > 3.0}
    assert not slow, "getaddrinfo slower than cairn's 3 s client deadline: %s%s" % (slow, ctx)
    assert time.monotonic() - t0 < 30
