"""The query log (`query_log: PATH`, --query-log; issue "Operations", item 5 in part).

One line per client query, whatever its outcome; every line parses back into its fields
(time, client, transport, qname, qtype, rcode, outcome, latency, EDE) and they are the
query's. SIGUSR1 reopens the file after logrotate renamed it; a reload reopens it too, and
may move it to another path or switch it off.
"""
import datetime
import os
import re
import signal
import socket
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from helpers import ask, ctl, ctl_stats, control_path, make_query, need_cairnctl, start

LINE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) "
                  r"(?P<client>\S+)#(?P<port>\d+) (?P<proto>udp|tcp) (?P<qname>\S+) "
                  r"(?P<qtype>\S+) (?P<rcode>\S+) (?P<outcome>\S+) (?P<latency_us>\d+) "
                  r"(?P<ede>-|\d+)$")


def parse_log(path):
    out = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            assert m, "unparsable query log line: %r" % line
            out.append(m.groupdict())
    return out


def wait_lines(path, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            lines = parse_log(path)
            if len(lines) >= n:
                return lines
        time.sleep(0.02)
    pytest.fail("fewer than %d lines in %s within %.0f s: %s" % (
        n, path, timeout, open(path).read() if os.path.exists(path) else "(no file)"))


def wait_log(cp, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while text not in cp.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert text in cp.log(), cp.log()


def udp_from(cp, q, source, sport):
    """One UDP query from source:sport; returns the reply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((source, sport))
        s.settimeout(5)
        s.sendto(q.to_wire(), (cp.addr, cp.port))
        return dns.message.from_wire(s.recv(65535))
    finally:
        s.close()


def test_query_log_lines_parse_into_the_queries_fields(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    log = os.path.join(str(cairn.tmpdir), "queries.log")
    c = start(cairn, tb, "--workers", "1", control=ctlp,
              config="allow: [127.0.0.1/32]\nquery_log: %s\n" % log)
    n = tb.names
    sport = 40000 + (os.getpid() % 1000)
    # (query, source, tcp, expected qname, qtype, rcode, outcome, ede)
    cases = [
        (make_query(n["a"]["qname"], "A"), "127.0.0.1", False, "resolved", None),
        (make_query(n["a"]["qname"], "A"), "127.0.0.1", False, "cache.positive", None),
        (make_query(n["a"]["qname"], "A"), "127.0.0.1", True, "cache.positive", None),
        (make_query(n["nxdomain"]["qname"], "A"), "127.0.0.1", False, "resolved", None),
        (make_query(n["nxdomain"]["qname"], "A"), "127.0.0.1", False, "cache.negative", None),
        (make_query("localhost.", "AAAA"), "127.0.0.1", False, "local", None),
        (make_query(n["a"]["qname"], "A"), "127.0.0.2", False, "refused", None),  # ACL
        (make_query(n["mx"]["qname"], "MX", rd=False), "127.0.0.1", False, "refused", "18"),
        (make_query(n["a"]["qname"], "AXFR"), "127.0.0.1", False, "refused", "21"),
    ]
    t0 = datetime.datetime.now(datetime.timezone.utc)
    replies = []
    for i, (q, src, tcp, _, _) in enumerate(cases):
        if tcp:
            replies.append(ask(c, q, tcp=True, source=src))
        else:
            replies.append(udp_from(c, q, src, sport + i))
    lines = wait_lines(log, len(cases))
    t1 = datetime.datetime.now(datetime.timezone.utc)
    assert len(lines) == len(cases), lines
    for i, ((q, src, tcp, outcome, ede), r, ln) in enumerate(zip(cases, replies, lines)):
        qn = q.question[0]
        assert ln["client"] == src, ln
        if not tcp:
            assert int(ln["port"]) == sport + i, ln
        assert ln["proto"] == ("tcp" if tcp else "udp")
        assert ln["qname"].lower() == qn.name.to_text().lower(), ln
        assert ln["qtype"] == dns.rdatatype.to_text(qn.rdtype), ln
        assert ln["rcode"] == dns.rcode.to_text(r.rcode()), (ln, r.rcode())
        assert ln["outcome"] == outcome, ln
        got_ede = [o.code for o in r.options if o.otype == 15]
        assert ln["ede"] == (str(got_ede[0]) if got_ede else "-"), (ln, got_ede)
        if ede:
            assert ln["ede"] == ede
        when = datetime.datetime.strptime(ln["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        assert t0 - datetime.timedelta(seconds=1) <= when <= t1, (t0, when, t1)
        assert int(ln["latency_us"]) < 10_000_000
    # A resolution takes longer than a cache hit (an upstream round trip or more).
    assert int(lines[0]["latency_us"]) > int(lines[1]["latency_us"]), lines[:2]
    assert ctl_stats(ctlp)["queries"] == len(lines)
    print("\n".join(open(log).read().splitlines()))


def test_query_log_reopened_on_sigusr1_and_reload(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    d = str(cairn.tmpdir)
    log, rotated, other = (os.path.join(d, x) for x in ("q.log", "q.log.1", "q2.log"))
    c = start(cairn, tb, "--workers", "2", control=ctlp, config="query_log: %s\n" % log)
    name = tb.names["a"]["qname"]
    ask(c, make_query(name, "A"))
    wait_lines(log, 1)
    os.rename(log, rotated)  # logrotate's "create" step: the daemon still writes to q.log.1
    ask(c, make_query(name, "A"))
    wait_lines(rotated, 2)
    c.proc.send_signal(signal.SIGUSR1)
    wait_log(c, "query log %s reopened" % log)
    for _ in range(3):
        ask(c, make_query(name, "A"))
    assert len(wait_lines(log, 3)) == 3
    assert len(parse_log(rotated)) == 2

    # A reload may move the log: the new path gets the lines from then on.
    cfg = c.args[c.args.index("-c") + 1]
    with open(cfg, "w") as f:
        f.write("query_log: %s\n" % other)
    r = ctl(ctlp, "reload")
    assert "query log reopened" in r.stdout, r.stdout
    ask(c, make_query(name, "AAAA"))
    lines = wait_lines(other, 1)
    assert lines[0]["qtype"] == "AAAA"
    assert len(parse_log(log)) == 3
    # ... or switch it off.
    with open(cfg, "w") as f:
        f.write("")
    ctl(ctlp, "reload")
    ask(c, make_query(name, "A"))
    time.sleep(0.3)  # nothing must appear: there is no condition to wait for
    assert len(parse_log(other)) == 1
    assert c.proc.poll() is None


def test_query_log_that_cannot_be_opened(tb, cairn, tmp_path):
    """A start-up query log that cannot be opened stops start-up; a reload to one is
    rejected whole and the old log keeps going."""
    from conftest import CAIRN_BIN
    import subprocess
    bad = str(tmp_path / "no-such-dir" / "q.log")
    p = subprocess.run([CAIRN_BIN, "-l", "127.0.0.1@%d" % cairn.port(), "--root-hints",
                        tb.root_hints, "--allow-loopback-upstream", "--query-log", bad],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "query_log %s" % bad in p.stderr, p.stderr
    need_cairnctl()
    ctlp = control_path(cairn)
    log = str(tmp_path / "q.log")
    c = start(cairn, tb, control=ctlp, config="query_log: %s\n" % log)
    cfg = c.args[c.args.index("-c") + 1]
    with open(cfg, "w") as f:
        f.write("query_log: %s\nlog_level: debug\n" % bad)
    r = ctl(ctlp, "reload", check=False)
    assert r.returncode == 1 and "the running configuration is kept" in r.stdout, r.stdout
    ask(c, make_query(tb.names["a"]["qname"], "A"))
    assert len(wait_lines(log, 1)) == 1
