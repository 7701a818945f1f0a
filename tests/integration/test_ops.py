"""Operations: SIGHUP / `cairnctl reload`, SIGUSR1, --check-config, the control socket's
directory (issue "Operations", items 4 and 8 in part).

Reload applies the allow list and the log level live, names the keys that need a restart,
keeps the cache, and rejects a broken file whole. Every wait is on a condition (a log line,
a counter) with a bounded deadline, never a bare sleep.
"""
import os
import signal
import stat
import subprocess
import threading
import time

import dns.rcode
import pytest

from conftest import CAIRN_BIN
from helpers import (ask, ctl, ctl_stats, control_path, make_query,
                     need_cairnctl, start)

NAME = "www.example.com."


def wait_log(cp, text, count=1, timeout=10.0):
    """Wait until text appears count times in the daemon's log; returns the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = cp.log()
        if log.count(text) >= count:
            return log
        assert cp.proc.poll() is None, "cairn exited (%s):\n%s" % (cp.proc.returncode, log)
        time.sleep(0.02)
    pytest.fail("no %r (x%d) in the log within %.0f s:\n%s" % (text, count, timeout, cp.log()))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def config_path_of(cp):
    return cp.args[cp.args.index("-c") + 1]


def rcode_from(cp, source):
    r = ask(cp, make_query(NAME, "A"), source=source)
    return dns.rcode.to_text(r.rcode())


def test_sighup_replaces_allow_list_and_keeps_cache_under_load(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    c = start(cairn, tb, control=ctlp, config="allow: [127.0.0.1/32]\nlog_level: info\n")
    assert rcode_from(c, "127.0.0.1") == "NOERROR"
    assert rcode_from(c, "127.0.0.2") == "REFUSED"
    before = ctl_stats(ctlp)

    # A client keeps asking while the reload happens: every query must be answered.
    lost, answered, stop = [], [0], threading.Event()

    def load():
        for i in range(2000):
            if stop.is_set():
                break
            try:
                r = ask(c, make_query(NAME, "A"), source="127.0.0.1", timeout=2.0)
                assert r.rcode() == dns.rcode.NOERROR
                answered[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure is a lost query
                lost.append(repr(e))
    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.2)  # let the load run before the signal (not a correctness wait)
        write(config_path_of(c), "allow: [127.0.0.1/32, 127.0.0.2/32]\nlog_level: debug\n")
        c.proc.send_signal(signal.SIGHUP)
        log = wait_log(c, "reloaded")
        time.sleep(0.2)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not lost, "queries lost during the reload: %s" % lost[:5]
    assert answered[0] > 0
    assert "allow list replaced" in log and "log level changed" in log, log
    assert rcode_from(c, "127.0.0.2") == "NOERROR", "new allow list not applied"
    after = ctl_stats(ctlp)
    # The cache stayed warm: the name cost no new resolution across the reload.
    assert after["answer.resolved"] == before["answer.resolved"], (before, after)
    assert after["answer.cache.positive"] > before["answer.cache.positive"]
    assert c.proc.poll() is None


def test_reload_names_keys_that_need_a_restart(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    c = start(cairn, tb, control=ctlp, config="workers: 1\n")
    write(config_path_of(c), "workers: 2\ncache:\n  size: 8M\n")
    r = ctl(ctlp, "reload")
    assert r.stdout.startswith("ok:"), r.stdout
    assert "needs a restart: workers cache" in r.stdout, r.stdout
    wait_log(c, "needs a restart: workers cache")
    write(config_path_of(c), "workers: 2\ncache:\n  size: 8M\nfreebind: true\n"
          "log_target: syslog\n")
    r = ctl(ctlp, "reload")
    assert "freebind" in r.stdout and "log_target" in r.stdout, r.stdout
    wait_log(c, "log_target")  # still logging to stderr: log_target needs a restart


def test_bad_reload_keeps_the_running_configuration(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    c = start(cairn, tb, control=ctlp, config="allow: [127.0.0.1/32]\n")
    path = config_path_of(c)
    write(path, "allow: [127.0.0.1/32, 127.0.0.2/32]\nno_such_key: 1\n")
    r = ctl(ctlp, "reload", check=False)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.startswith("error:") and "%s:2:" % path in r.stdout, r.stdout
    assert "running configuration is kept" in r.stdout
    c.proc.send_signal(signal.SIGHUP)
    wait_log(c, "reload rejected", count=2)
    # The old allow list is still the one in force, and cairn still answers.
    assert rcode_from(c, "127.0.0.2") == "REFUSED"
    assert rcode_from(c, "127.0.0.1") == "NOERROR"


def test_sigusr1_is_harmless(tb, cairn):
    c = start(cairn, tb)
    c.proc.send_signal(signal.SIGUSR1)
    wait_log(c, "SIGUSR1 received")
    assert rcode_from(c, "127.0.0.1") == "NOERROR"
    assert c.stop() == 0


def test_check_config(tmp_path):
    if not os.access(CAIRN_BIN, os.X_OK):
        pytest.skip("cairn not built")
    good = tmp_path / "good.yaml"
    good.write_text("listen: [127.0.0.1@5399]\nallow: [10.0.0.0/8]\n")
    r = subprocess.run([CAIRN_BIN, "--check-config", "-c", str(good)], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.strip() == "%s: ok" % good, (r.returncode, r.stdout,
                                                                     r.stderr)
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [127.0.0.1@5399]\nworkers: many\n")
    r = subprocess.run([CAIRN_BIN, "--check-config", "-c", str(bad)], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and r.stderr.startswith("%s:2:" % bad), (r.returncode, r.stderr)
    hints = tmp_path / "hints"
    hints.write_text(". 3600 IN NS a.root.\na.root. 3600 IN A not-an-address\n")
    r = subprocess.run([CAIRN_BIN, "--check-config", "--root-hints", str(hints)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and str(hints) in r.stderr, (r.returncode, r.stderr)


def test_control_socket_directory_is_created(tb, cairn, tmp_path):
    need_cairnctl()
    d = "/tmp/cairn-it-rundir-%d" % os.getpid()
    assert not os.path.exists(d)
    ctlp = d + "/control.sock"
    try:
        start(cairn, tb, control=ctlp)
        st = os.stat(d)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750, oct(st.st_mode)
        assert ctl_stats(ctlp), "no stats over the new directory's socket"
    finally:
        for p in cairn.procs:
            p.stop()
        if os.path.isdir(d):
            os.rmdir(d)


def proc_ids(pid):
    """(real uid, real gid, groups) of a process, from /proc."""
    uid = gid = None
    groups = []
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Uid":
                uid = [int(x) for x in v.split()]
            elif k == "Gid":
                gid = [int(x) for x in v.split()]
            elif k == "Groups":
                groups = [int(x) for x in v.split()]
    return uid, gid, groups


def test_user_nobody_drops_root_and_still_serves_port_53(tb, cairn):
    import pwd
    nobody = pwd.getpwnam("nobody")
    need_cairnctl()
    ctlp = "/tmp/cairn-it-user-%d/control.sock" % os.getpid()
    c = start(cairn, tb, control=ctlp, config="user: nobody\n", port=53)
    try:
        wait_log(c, "running as user nobody")
        uid, gid, groups = proc_ids(c.pid)
        assert uid == [nobody.pw_uid] * 4, uid      # real, effective, saved, fs
        assert gid == [nobody.pw_gid] * 4, gid
        assert 0 not in groups, groups
        assert rcode_from(c, "127.0.0.1") == "NOERROR"
        assert ctl_stats(ctlp), "control socket unusable after the switch"
        assert c.stop() == 0, c.log()
        assert not os.path.exists(ctlp), "socket not removed at exit by the unprivileged daemon"
    finally:
        c.stop()
        if os.path.isdir(os.path.dirname(ctlp)):
            os.rmdir(os.path.dirname(ctlp))


def test_unknown_user_is_refused(tb, cairn, tmp_path):
    cfg = tmp_path / "u.yaml"
    cfg.write_text("user: no-such-user-cairn\n")
    r = subprocess.run([CAIRN_BIN, "-c", str(cfg), "-l", "127.0.0.1@%d" % cairn.port(),
                        "--root-hints", tb.root_hints, "--allow-loopback-upstream"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "user no-such-user-cairn: no such user" in r.stderr, \
        (r.returncode, r.stderr)


def test_sd_notify_ready_reloading_stopping(tb, cairn, tmp_path):
    import socket
    path = str(tmp_path / "notify.sock")
    if len(path) > 100:
        path = "/tmp/cairn-it-notify-%d.sock" % os.getpid()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(20)
    try:
        c = start(cairn, tb, config="log_level: info\n")  # no NOTIFY_SOCKET: nothing sent
        c.stop()
        c = cairn("-c", config_path_of(c), "-l", "127.0.0.1@%d" % cairn.port(),
                  "--root-hints", tb.root_hints, "--allow-loopback-upstream",
                  env={"NOTIFY_SOCKET": path})
        assert s.recv(4096) == b"READY=1"
        assert rcode_from(c, "127.0.0.1") == "NOERROR"
        c.proc.send_signal(signal.SIGHUP)
        assert s.recv(4096) == b"RELOADING=1"
        msg = s.recv(4096)
        assert msg.startswith(b"READY=1\nSTATUS=reloaded"), msg
        c.proc.send_signal(signal.SIGTERM)
        assert s.recv(4096) == b"STOPPING=1"
        # A second SIGTERM during shutdown is logged, not fatal: exit status 0.
        c.proc.send_signal(signal.SIGTERM)
        assert c.proc.wait(timeout=20) == 0, c.log()
    finally:
        s.close()
        os.unlink(path)


def test_systemd_unit_verifies(tmp_path):
    """The unit in scripts/systemd passes systemd-analyze verify (with the built binary)."""
    import shutil
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    if not os.access(CAIRN_BIN, os.X_OK):
        pytest.skip("cairn not built")
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "scripts", "systemd", "cairn.service")) as f:
        text = f.read()
    text = text.replace("@CAIRN_SBINDIR@/cairn", CAIRN_BIN)
    text = text.replace("@CAIRN_SYSCONFDIR@", "/etc")
    unit = tmp_path / "cairn.service"
    unit.write_text(text)
    # Documentation=man:...: verify runs man(1) for each page; the build's man tree has them.
    build = os.path.dirname(os.path.dirname(os.path.abspath(CAIRN_BIN)))
    env = dict(os.environ, MANPATH=os.path.join(build, "man"))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Type=notify" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text


def infra_rows(ctlp):
    """`cairnctl infra` as {ADDR@PORT: {"state": ..., key: value}}; checks the last line."""
    out = ctl(ctlp, "infra").stdout
    lines = out.strip().split("\n")
    assert lines[-1] == "servers %d" % (len(lines) - 1), out
    rows = {}
    for line in lines[:-1]:
        f = line.split()
        row = {"state": f[1]}
        for kv in f[2:]:
            k, v = kv.split("=", 1)
            row[k] = v
        rows[f[0]] = row
    return rows


def test_cairnctl_infra_shows_dead_noedns_and_healthy_servers(tb, cairn, hz, hostile):
    """`cairnctl infra`: one line per server of the selection table. A silent server
    (drops everything) shows as failing/dead with its timeouts, a server that FORMERRs EDNS
    queries as edns=no, a healthy one as ok with its SRTT and replies."""
    import secrets
    import hostile as H
    need_cairnctl()
    ctlp = control_path(cairn)
    silent, old, good = hz.alloc(3)
    tag = secrets.token_hex(3)
    zs = hz.child("infra-silent-" + tag, [silent])
    zo = hz.child("infra-noedns-" + tag, [old])
    zg = hz.child("infra-good-" + tag, [good])
    hostile(silent, handler=lambda q: H.Drop())

    def old_server(q):
        if q.msg is not None and q.edns:
            return H.reply(q, dns.rcode.FORMERR, aa=False, edns=False)
        return None
    hostile(old, handler=old_server,
            zone=H.Zone(zo, H.zone_text(zo, addr=old, body=["* IN A 192.0.2.7"])))
    hostile(good, zone=H.Zone(zg, H.zone_text(zg, addr=good, body=["* IN A 192.0.2.8"])))
    # servfail_ttl 0: no failure cache, so every query to the silent zone goes upstream.
    c = start(cairn, tb, control=ctlp, config="servfail_ttl: 0\n")
    assert infra_rows(ctlp) == {}  # nothing asked yet: only "servers 0"
    for z in (zo, zg):
        r = ask(c, make_query("www." + z, "A"))
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    r = ask(c, make_query("www." + zs, "A"), timeout=10)
    assert dns.rcode.to_text(r.rcode()) == "SERVFAIL", r
    rows = infra_rows(ctlp)
    s = rows["%s@53" % silent]
    assert s["state"] in ("failing", "dead"), s
    assert s["replies"] == "0" and int(s["failures"]) >= 1, s
    assert int(s["silent_in_row"]) >= 1 and int(s["failing_ms"]) > 0, s
    o = rows["%s@53" % old]
    assert o["state"] == "ok" and o["edns"] == "no" and int(o["replies"]) >= 1, o
    g = rows["%s@53" % good]
    assert g["state"] == "ok" and g["edns"] == "yes" and g["0x20"] == "yes", g
    assert int(g["replies"]) >= 1 and g["failures"] == "0" and int(g["srtt_ms"]) < 1000, g
    # The testbed's root and TLD servers answered too; every line has every field.
    keys = {"state", "srtt_ms", "rttvar_ms", "timeout_ms", "replies", "failures",
            "fails_in_row", "silent_in_row", "edns", "0x20", "failing_ms"}
    assert len(rows) >= 4 and all(set(v) == keys for v in rows.values()), rows
    # Asked again: silent twice in a row, it is dead (one probe a second). Bounded: at
    # most 8 more queries of at most 10 s each.
    for i in range(8):
        s = infra_rows(ctlp)["%s@53" % silent]
        if s["state"] == "dead":
            break
        r = ask(c, make_query("www%d.%s" % (i, zs), "A"), timeout=10)
        assert dns.rcode.to_text(r.rcode()) == "SERVFAIL", r
    print("cairnctl infra:\n" + ctl(ctlp, "infra").stdout)
    assert s["state"] == "dead" and int(s["silent_in_row"]) >= 2, s
    assert int(s["failures"]) >= 2 and s["replies"] == "0", s


def test_warning_when_loopback_root_hints_are_not_allowed(tb, cairn):
    """The simulated tree's root hints are loopback addresses: without
    allow_loopback_upstream cairn says at start that they will not be asked."""
    c = cairn("-l", "127.0.0.1@%d" % cairn.port(), "--root-hints", tb.root_hints)
    wait_log(c, "are loopback, and allow_loopback_upstream is off")
    c2 = start(cairn, tb)  # with --allow-loopback-upstream: no such line
    time.sleep(0.3)
    assert "allow_loopback_upstream is off" not in c2.log()


def test_reload_applies_limits_live(tb, cairn):
    """limits.* apply on reload without a restart: with cname_chain lowered to 1 the
    testbed's two-CNAME chain (alias1 -> alias2 -> www) is no longer followed (SERVFAIL),
    and raised again it is; the reply names no key as needing a restart."""
    s = tb.names["cname_chain"]
    ctlp = control_path(cairn)
    c = start(cairn, tb, config="limits:\n  cname_chain: 11\n", control=ctlp)
    r = c.query(s["qname"], "A")
    assert dns.rcode.to_text(r.rcode()) == "NOERROR" and r.answer, r.to_text()
    path = os.path.join(str(cairn.tmpdir), "cairn-%d.yaml" % c.port)
    with open(path, "w") as f:
        f.write("limits:\n  cname_chain: 1\n")
    out = ctl(ctlp, "reload").stdout
    assert "limits/timeouts/upstream settings applied" in out and "restart" not in out, out
    r = c.query(s["qname"], "A")
    assert dns.rcode.to_text(r.rcode()) == "SERVFAIL", r.to_text()
    with open(path, "w") as f:
        f.write("limits:\n  cname_chain: 11\n")
    ctl(ctlp, "reload")
    time.sleep(2.1)  # the failure cache's servfail_ttl (2 s) runs out
    r = c.query(s["qname"], "A")
    assert dns.rcode.to_text(r.rcode()) == "NOERROR" and r.answer, r.to_text()


def test_chroot_confines_the_daemon_and_reload_still_works(tb, cairn, tmp_path):
    """chroot: ROOT. After start-up cairn's root directory is ROOT (/proc/PID/root); it
    still resolves through the tree, answers from a hosted zone whose file is inside ROOT,
    re-reads that file on reload (the paths are taken as seen from inside), and at exit
    removes its control socket."""
    root = tmp_path / "jail"
    (root / "zones").mkdir(parents=True)
    zone = root / "zones" / "j.zone"

    def write_zone(addr, serial):
        zone.write_text("$TTL 300\n@ IN SOA ns h %d 3600 600 86400 60\n@ IN NS ns\n"
                        "ns IN A 192.0.2.53\nwww IN A %s\n" % (serial, addr))
    write_zone("10.0.0.1", 1)
    sock = str(root / "ctl.sock")
    if len(sock) >= 100:
        pytest.skip("tmp path too long for a control socket")
    cfgpath = root / "cairn.yaml"
    cfgpath.write_text("chroot: %s\ncontrol_socket: %s\nzones:\n  - name: j.test.\n"
                       "    file: zones/j.zone\n" % (root, sock))
    port = cairn.port()
    # LeakSanitizer reads /proc at exit, which the jail has not got: leaks are checked by
    # every other test, not by this one
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"ASAN_OPTIONS": (asan + ":" if asan else "") + "detect_leaks=0"}
    c = cairn("-c", str(cfgpath), "-l", "127.0.0.1@%d" % port, "--root-hints",
              tb.root_hints, "--allow-loopback-upstream", "--no-local-zone",
              "2.0.192.in-addr.arpa.", env=env)
    wait_log(c, "chroot %s" % root)
    assert os.readlink("/proc/%d/root" % c.pid) == str(root)
    r = c.query("www.j.test.", "A")
    assert [x.to_text() for x in r.answer[0]] == ["10.0.0.1"], r.to_text()
    s = tb.names["a"]
    r = c.query(s["qname"], "A")
    assert sorted(x.to_text() for x in r.answer[0]) == s["answer"], r.to_text()
    write_zone("10.0.0.2", 2)
    out = ctl(sock, "reload").stdout
    assert out.startswith("ok:") and "hosted zone(s) loaded" in out, out
    r = c.query("www.j.test.", "A")
    assert [x.to_text() for x in r.answer[0]] == ["10.0.0.2"], r.to_text()
    assert c.stop() == 0
    assert not os.path.exists(sock), "the control socket was left behind"
