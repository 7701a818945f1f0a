"""`log_target: syslog` (issue "Operations", item 8): cairn's log lines go to syslog(3), none
to stderr. The machine has no syslog daemon and the test may not touch the real /dev/log,
so cairn runs in a mount namespace of its own (unshare -m) whose /dev is a tmpfs holding
null/zero/urandom/random from the real /dev and, at /dev/log, a Unix datagram socket this
test binds and reads: exactly what glibc's syslog(3) writes to a syslog daemon."""
import os
import re
import socket
import stat
import time

import dns.rcode
import pytest

from conftest import CAIRN_BIN
from helpers import ask, make_query

WRAPPER = r"""#!/bin/sh
# cairn in a private mount namespace whose /dev/log is the test's socket.
set -e
exec unshare -m --propagation private /bin/sh -e -c '
T="$0"
mkdir -p "$T/olddev"
mount --rbind /dev "$T/olddev"
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero random urandom; do
    touch "/dev/$n"; mount --bind "$T/olddev/$n" "/dev/$n"
done
touch /dev/log
mount --bind "$T/log.sock" /dev/log
exec "$@"' "%(dir)s" "%(bin)s" "$@"
"""


def recv_until(sock, pred, timeout=15.0):
    """Datagrams until pred(list of texts) holds; returns them."""
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            got.append(sock.recv(65536).decode(errors="replace"))
        except socket.timeout:
            break
        if pred(got):
            return got
    pytest.fail("syslog datagrams so far: %r" % got)


def test_syslog_target_sends_lines_to_dev_log_and_nothing_to_stderr(tb, cairn, tmp_path):
    d = "/tmp/cairn-it-syslog-%d" % os.getpid()  # short: a Unix socket path
    os.makedirs(d, exist_ok=True)
    sockpath = os.path.join(d, "log.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sockpath)
    wrapper = tmp_path / "cairn-syslog"
    wrapper.write_text(WRAPPER % {"dir": d, "bin": CAIRN_BIN})
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    cfg = tmp_path / "s.yaml"
    cfg.write_text("log_target: syslog\nlog_level: info\n")
    port = cairn.port()
    try:
        c = cairn("-c", str(cfg), "-l", "127.0.0.1@%d" % port, "--root-hints",
                  tb.root_hints, "--allow-loopback-upstream", binary=str(wrapper))
        got = recv_until(s, lambda g: any("running" in x for x in g))
        # glibc's format: <PRI>TIMESTAMP cairn[PID]: text; PRI = daemon (3) * 8 + level.
        m = re.match(r"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d cairn\[(\d+)\]: ", got[0])
        assert m, got[0]
        assert int(m.group(2)) == c.pid
        info = [x for x in got if "listening on 127.0.0.1@%d" % port in x]
        assert info and info[0].startswith("<30>"), got  # LOG_DAEMON | LOG_INFO
        r = ask(c, make_query("www.example.com.", "A"))
        assert r.rcode() == dns.rcode.NOERROR
        assert c.stop() == 0
        recv_until(s, lambda g: any(x.endswith(": stopped") for x in g))
        assert c.log() == "", "stderr/stdout in syslog mode: %r" % c.log()
    finally:
        s.close()
        os.unlink(sockpath)
        if os.path.isdir(os.path.join(d, "olddev")):
            os.rmdir(os.path.join(d, "olddev"))  # its mount lived in cairn's namespace
        os.rmdir(d)


def test_log_target_is_checked(tmp_path):
    import subprocess
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("log_target: journal\n")
    r = subprocess.run([CAIRN_BIN, "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2, r
    assert "%s:1: log_target: expected stderr or syslog, got \"journal\"" % cfg in r.stderr, \
        r.stderr
