"""Listening-socket start-up checks (issue "Operations", item 8): `freebind: true` binds an
address no interface has yet, and the second-instance probe refuses to share a port that
another process serves (the workers' SO_REUSEPORT would otherwise share it silently).

Everything runs in the testbed's private network namespace; 192.0.2.10 (TEST-NET-1) is on
no interface there until the freebind test adds it to lo, and removes it again.
"""
import subprocess
import time

import dns.rcode
import pytest

from conftest import CAIRN_BIN
from helpers import make_query, ask, start

UNASSIGNED = "192.0.2.10"


def run_cairn(tb, *args, timeout=30):
    """A cairn expected to stop at start-up: (status, stderr)."""
    r = subprocess.run([CAIRN_BIN, "--root-hints", tb.root_hints,
                        "--allow-loopback-upstream"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stderr


def addr_assigned(addr):
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    return (" %s/" % addr) in out


def test_freebind_binds_an_address_not_up_yet(tb, cairn, tmp_path):
    assert not addr_assigned(UNASSIGNED)
    port = cairn.port()
    # Without freebind: exit status 1 and a line saying why and what to do.
    rc, err = run_cairn(tb, "-l", "%s@%d" % (UNASSIGNED, port))
    assert rc == 1, (rc, err)
    assert "cannot listen on %s@%d" % (UNASSIGNED, port) in err, err
    assert "freebind: true" in err, err

    cfg = tmp_path / "fb.yaml"
    cfg.write_text("freebind: true\nallow: [127.0.0.0/8, 192.0.2.0/24]\n")
    c = cairn("-c", str(cfg), "-l", "%s@%d" % (UNASSIGNED, port), "--root-hints",
              tb.root_hints, "--allow-loopback-upstream", "--workers", "2")
    assert "listening on %s@%d" % (UNASSIGNED, port) in c.log()
    # The address comes up later (the LAN interface at boot): cairn answers on it.
    subprocess.run(["ip", "addr", "add", UNASSIGNED + "/32", "dev", "lo"], check=True)
    try:
        r = ask(c, make_query("www.example.com.", "A"), source=UNASSIGNED, timeout=5.0)
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
        r = ask(c, make_query("www.example.com.", "A"), source=UNASSIGNED, tcp=True)
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    finally:
        subprocess.run(["ip", "addr", "del", UNASSIGNED + "/32", "dev", "lo"], check=True)


def test_second_instance_on_the_same_port_is_refused(tb, cairn):
    port = cairn.port()
    # The first one has several workers: its sockets carry SO_REUSEPORT, which a second
    # cairn of the same user could otherwise join.
    first = start(cairn, tb, "--workers", "2", port=port)
    for workers in ("2", "1"):
        t0 = time.monotonic()
        rc, err = run_cairn(tb, "-l", "127.0.0.1@%d" % port, "--workers", workers)
        assert rc == 1, (workers, rc, err)
        assert "cannot listen on 127.0.0.1@%d: address already in use" % port in err, err
        assert "not starting a second instance" in err, err
        assert time.monotonic() - t0 < 20
    # The first one still serves, alone.
    r = ask(first, make_query("www.example.com.", "A"))
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    # Another address on the same port is no conflict: that cairn starts and answers.
    # (The factory's readiness check sees the port bound already: wait for the log.)
    other = start(cairn, tb, listen="127.0.0.2", port=port)
    deadline = time.monotonic() + 15
    while " running" not in other.log() and time.monotonic() < deadline:
        assert other.alive(), other.log()
        time.sleep(0.02)
    assert "listening on 127.0.0.2@%d" % port in other.log(), other.log()
    r = ask(other, make_query("www.example.com.", "A"))
    assert r.rcode() == dns.rcode.NOERROR


def test_only_tcp_taken_is_refused_too(tb, cairn):
    """A process holding only the TCP port (a UDP-only probe would miss it)."""
    import socket
    port = cairn.port()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4)
    try:
        rc, err = run_cairn(tb, "-l", "127.0.0.1@%d" % port, "--workers", "2")
        assert rc == 1 and "address already in use" in err, (rc, err)
    finally:
        s.close()


def test_freebind_ipv6(tb, cairn, tmp_path):
    """IPV6_FREEBIND: 2001:db8::10 (documentation prefix) is on no interface."""
    addr = "2001:db8::10"
    if not addr_assigned("::1"):
        pytest.skip("no IPv6 in the test namespace")
    assert not addr_assigned(addr)
    port = cairn.port()
    rc, err = run_cairn(tb, "-l", "[%s]:%d" % (addr, port))
    assert rc == 1 and "freebind: true" in err, (rc, err)
    cfg = tmp_path / "fb6.yaml"
    cfg.write_text("freebind: true\n")
    c = cairn("-c", str(cfg), "-l", "[%s]:%d" % (addr, port), "--root-hints",
              tb.root_hints, "--allow-loopback-upstream", port=port)
    assert "listening on %s@%d" % (addr, port) in c.log(), c.log()
