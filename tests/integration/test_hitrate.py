"""scripts/hitrate (docs/hitrate.md): the trace format; the converters, each on data made
here in the testbed's namespace (captures made with tcpdump of queries to NSD and to a
cairn, over UDP and TCP; the query logs of Unbound, BIND and cairn, each run on the
testbed); and a small replay whose counts must equal cairn's own counters, with the wall
clock sped up so a TTL runs out during the replay."""
import os
import signal
import socket
import subprocess
import sys
import time
import types

import dns.exception
import dns.message
import dns.query
import dns.rrset
import pytest

import helpers

sys.path.insert(0, os.path.join(helpers.REPO, "scripts"))
import peers  # noqa: E402
from hitrate_lib import bench, convert, replay, trace as T  # noqa: E402

CAIRN_BIN = os.environ.get("CAIRN_BIN", os.path.join(helpers.REPO, "build-asan", "net",
                                                     "cairn"))


# ------------------------------------------------------------------ trace format
def test_trace_lines_parse_and_round_trip(tmp_path):
    assert T.parse_line("  ") is None and T.parse_line("# a comment") is None
    assert T.parse_line("1.5 10.0.0.1 WWW.Example.COM aaaa") == \
        (1.5, "10.0.0.1", "www.example.com.", "AAAA")
    assert T.parse_line("#!ttl www.example.com. 300") == ("#!ttl", "www.example.com.", 300)
    assert T.parse_line("#!nx nope.example.") == ("#!nx", "nope.example.")
    for bad in ("1.0 c1 www.example.com", "x c1 a.example. A", "-1 c a. A",
                "1 c a.example. NOSUCHTYPE", "1 c %s.example. A" % ("a" * 64), "#!ttl a. x"):
        with pytest.raises(T.TraceError):
            T.parse_line(bad, 7)
    tr = T.Trace([(0.0, "c1", "b.example.", "A"), (0.25, "c2", "a.example.", "TYPE65")],
                 ttl={"b.example.": 60}, nx={"a.example."})
    p = tmp_path / "t.trace"
    T.write(tr, str(p))
    back = T.read(str(p))
    assert back.queries == [(0.0, "c1", "b.example.", "A"), (0.25, "c2", "a.example.",
                                                               "TYPE65")]
    assert back.ttl == {"b.example.": 60} and back.nx == {"a.example."}
    mapped, m = T.map_names(back, default_ttl=300)
    assert m["b.example."].endswith(".t60.hr.test.") and m["a.example."].endswith(".nx.hr.test.")
    assert [q[2] for q in mapped.queries] == [m["b.example."], m["a.example."]]


def test_synthetic_trace_follows_its_parameters():
    tr = T.synth(names=1000, alpha=0.9, clients=5, rate=100, duration=100, nx_share=0.2,
                 flood_share=0.1, seed=3)
    qs = tr.queries
    assert len(qs) == 10000
    assert all(a[0] <= b[0] for a, b in zip(qs, qs[1:]))
    assert 90 < tr.duration() < 110
    assert set(tr.clients()) <= {"c%d" % i for i in range(5)} and len(tr.clients()) == 5
    flood = sum(".victim.hr.test." in q[2] for q in qs) / len(qs)
    nx = sum(".nx.hr.test." in q[2] for q in qs) / len(qs)
    assert 0.08 < flood < 0.12 and 0.15 < nx < 0.21        # 0.9 * 0.2 of the rest
    a = sum(q[3] == "A" for q in qs if ".victim." not in q[2]) / (len(qs) * 0.9)
    assert 0.5 < a < 0.6
    # the same name always carries the same TTL; the head of the Zipf is the most asked
    seen = {}
    for q in qs:
        if T.synthetic_ttl(q[2]) is not None:
            base = q[2].split(".", 1)[0]
            assert seen.setdefault(base, q[2]) == q[2]
    counts = {}
    for q in qs:
        counts[q[2]] = counts.get(q[2], 0) + 1
    top = max(counts, key=counts.get)
    assert top.startswith("n0.") and T.synthetic_ttl(top) in dict(T.TTL_MIX)
    # one-timers are asked once each; a client's own set has local_names names whatever
    # the number of clients
    tr = T.synth(names=1000, clients=50, rate=100, duration=100, nx_share=0, local_share=0.5,
                 local_names=20, once_share=0.5, seed=4)
    once = [q[2] for q in tr.queries if q[2].startswith("o")]
    assert len(once) == len(set(once)) and 0.2 < len(once) / len(tr.queries) < 0.3
    local = {q[2].split(".")[0] for q in tr.queries if "-c" in q[2].split(".")[0]}
    assert max(int(n.split("-")[0][1:]) for n in local) < 20
    assert len({n.split("-")[1] for n in local}) == 50
    assert T.oracle(T.Trace([(0, "c", o, "A") for o in once])) == 0.0


# ------------------------------------------------------------------ query logs, made here
# What every log test asks: several clients, UDP and TCP, a repeat (a cache hit), an
# NXDOMAIN, several types. Names from the testbed's scenarios.
ASKED = [("127.20.0.1", "www.example.com.", "A", False),
         ("127.20.0.2", "www.example.com.", "A", False),
         ("127.20.0.1", "nope.example.com.", "A", False),
         ("127.20.0.3", "txt.example.com.", "TXT", True),
         ("127.20.0.2", "www.example.com.", "AAAA", False),
         ("127.20.0.3", "_sip._udp.example.com.", "SRV", False),
         ("127.20.0.1", "alias1.example.com.", "A", True),
         ("127.20.0.3", "nope.example.com.", "A", False)]


def ask_all(port):
    for src, name, ty, tcp in ASKED:
        q = dns.message.make_query(name, ty)
        r = (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=port, timeout=3,
                                                     source=src)
        assert r.id == q.id
        assert r.rcode() == (3 if name.startswith("nope.") else 0), (name, r)


def wait_for_lines(path, n, pattern, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                if sum(pattern in ln for ln in f) >= n:
                    return
        time.sleep(0.05)
    pytest.fail("fewer than %d %r lines in %s" % (n, pattern, path))


def check_converted(path, skipped_max):
    tr, skipped = convert.log_to_trace(path)
    assert [(c, n, t) for _, c, n, t in tr.queries] == [a[:3] for a in ASKED]
    assert all(a[0] <= b[0] for a, b in zip(tr.queries, tr.queries[1:]))
    assert tr.queries[-1][0] < 10
    assert skipped <= skipped_max
    return tr


def stop_proc(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def test_unbound_query_log_converts(tb, tmp_path):
    """Unbound 1.17 run on the testbed with log-queries and log-replies: its own lines
    become the trace asked; the reply lines mark the NXDOMAIN name and show the repeat as
    answered from the cache; log-replies alone gives the same queries."""
    if not os.access("/usr/sbin/unbound", os.X_OK):
        pytest.skip("unbound not installed")
    for ascii_time in (False, True):
        d = tmp_path / ("ub-%d" % ascii_time)
        d.mkdir()
        conf = peers.unbound_conf(str(d), tb.root_hints, 5391, 4)
        text = open(conf).read().replace(
            "    verbosity: 0\n", "    verbosity: 0\n    log-queries: yes\n"
            "    log-replies: yes\n" + ("    log-time-ascii: yes\n" if ascii_time else ""))
        log = str(d / "unbound.log")
        text = text.replace('logfile: ""', 'logfile: "%s"' % log)
        open(conf, "w").write(text)
        p = subprocess.Popen(["/usr/sbin/unbound", "-d", "-c", conf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_lines(log, 1, "start of service")
            ask_all(5391)
            wait_for_lines(log, len(ASKED), " IN N")     # NOERROR / NXDOMAIN reply lines
        finally:
            stop_proc(p)
        tr = check_converted(log, skipped_max=3)
        assert tr.nx == {"nope.example.com."}
        lines = [convert.parse_log_line(ln) for ln in open(log)]
        reps = [r for r in lines if r and r["kind"] == "reply"]
        assert [(r["client"], r["qname"], r["qtype"]) for r in reps] == \
            [a[:3] for a in ASKED]
        # the second www A and the second NXDOMAIN came from Unbound's cache
        assert [r["cached"] for r in reps] == [False, True, False, False, False, False,
                                               False, True]
        only = d / "replies.log"
        only.write_text("".join(ln for ln in open(log) if " IN N" in ln))
        tr2, _ = convert.log_to_trace(str(only))
        assert [q[1:] for q in tr2.queries] == [q[1:] for q in tr.queries]


def test_bind_query_log_converts(tb, tmp_path):
    """BIND 9.18 run on the testbed with querylog on: to stderr (named -g) and to a file
    channel with print-category and print-severity; both convert to the trace asked."""
    if not os.access("/usr/sbin/named", os.X_OK):
        pytest.skip("named not installed")
    for mode in ("stderr", "channel"):
        d = tmp_path / mode
        d.mkdir()
        cmd, bdir = peers.bind_conf(str(d), tb.root_hints, 5392, 8)
        conf = cmd[cmd.index("-c") + 1]
        text = open(conf).read().replace("querylog no;", "querylog yes;")
        log = os.path.join(bdir, "query.log")
        if mode == "channel":
            # -f: in the foreground with the configured logging (-g sends it all to stderr)
            cmd = ["-f" if x == "-g" else x for x in cmd]
            text += ('logging { channel q { file "%s"; print-time yes; print-category yes; '
                     'print-severity yes; severity info; }; category queries { q; }; };\n'
                     % log)
        open(conf, "w").write(text)
        out = open(os.path.join(bdir, "named.out"), "wb")
        p = subprocess.Popen(["/usr/sbin/" + cmd[0]] + cmd[1:], stdout=out,
                             stderr=subprocess.STDOUT)
        out.close()
        src = log if mode == "channel" else os.path.join(bdir, "named.out")
        try:
            deadline = time.monotonic() + 20
            while True:       # named opens its port a moment after it starts
                try:
                    dns.query.udp(dns.message.make_query("example.com.", "SOA"), "127.0.0.1",
                                  port=5392, timeout=0.5, source="127.20.9.9")
                    break
                except dns.exception.Timeout:
                    assert time.monotonic() < deadline and p.poll() is None, \
                        open(os.path.join(bdir, "named.out")).read()
            open(src, "a").close()
            n0 = sum("query:" in ln for ln in open(src))
            ask_all(5392)
            wait_for_lines(src, n0 + len(ASKED), "query:")
        finally:
            stop_proc(p)
        with open(src) as f:
            lines = [ln for ln in f if "127.20.9.9" not in ln]   # the readiness probes
        clean = d / "q.log"
        clean.write_text("".join(lines))
        check_converted(str(clean), skipped_max=len(lines))
        if mode == "channel":
            assert all(" queries: info: client @" in ln for ln in lines if "query:" in ln)


def test_cairn_query_log_converts(tb, cairn, tmp_path):
    """cairn's own query_log converts too, and its NXDOMAIN lines mark the name."""
    log = str(tmp_path / "q.log")
    cp = helpers.start(cairn, tb, "--query-log", log)
    ask_all(cp.port)
    wait_for_lines(log, len(ASKED), "127.20.0.")
    tr = check_converted(log, skipped_max=0)
    assert tr.nx == {"nope.example.com."}
    outs = [convert.parse_log_line(ln)["outcome"] for ln in open(log)]
    assert outs[1] == "cache.positive" and outs[-1] == "cache.negative"


# ------------------------------------------------------------------ on the testbed
@pytest.fixture
def hr(tb):
    bench.install_zone(tb._tb, T.trace_ttls(T.Trace([(0, "c", "x.t60.hr.test.", "A")])) |
                       {60, 300, 3600})
    return tb


def test_pcap_converter_on_a_capture_made_here(hr, tmp_path):
    if not os.access("/usr/bin/tcpdump", os.X_OK):
        pytest.skip("tcpdump not installed (scripts/install-deps)")
    cap = str(tmp_path / "cap.pcap")
    p = subprocess.Popen(["/usr/bin/tcpdump", "-i", "lo", "-U", "--immediate-mode", "-n", "-w", cap,
                          "udp port 53 and host 127.3.1.1"], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        line = b""
        while b"listening on" not in line and time.monotonic() < deadline:
            line = p.stderr.readline()
        assert b"listening on" in line, line
        asked = [("127.20.0.1", "a1.t60.hr.test.", "A"), ("127.20.0.2", "a2.t3600.hr.test.",
                                                          "AAAA"),
                 ("127.20.0.1", "a3.nx.hr.test.", "A"), ("127.20.0.2", "a1.t60.hr.test.", "A")]
        for src, name, ty in asked:
            q = dns.message.make_query(name, ty)
            r = dns.query.udp(q, "127.3.1.1", timeout=2, source=src)
            assert r.id == q.id
        time.sleep(0.3)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    tr = convert.pcap_to_trace(cap)
    assert [(c, n, t) for _, c, n, t in tr.queries] == asked
    assert all(a[0] <= b[0] for a, b in zip(tr.queries, tr.queries[1:]))
    assert tr.ttl == {"a1.t60.hr.test.": 60, "a2.t3600.hr.test.": 3600}
    assert tr.nx == {"a3.nx.hr.test."}
    # the same through the command line
    out = str(tmp_path / "cap.trace")
    r = subprocess.run([os.path.join(helpers.REPO, "scripts", "hitrate"), "pcap2trace", cap,
                        "-o", out], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    back = T.read(out)
    assert [q[1:] for q in back.queries] == [q[1:] for q in tr.queries]
    assert all(abs(a[0] - b[0]) < 1e-6 for a, b in zip(back.queries, tr.queries))
    assert back.ttl == tr.ttl and back.nx == tr.nx


def start_tcpdump(cap, bpf):
    if not os.access("/usr/bin/tcpdump", os.X_OK):
        pytest.skip("tcpdump not installed (scripts/install-deps)")
    p = subprocess.Popen(["/usr/bin/tcpdump", "-i", "lo", "-U", "--immediate-mode", "-n",
                          "-w", cap, bpf], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    line = b""
    while b"listening on" not in line and time.monotonic() < deadline:
        line = p.stderr.readline()
    assert b"listening on" in line, line
    return p


def tcp_exchange(port, src, parts, expect):
    """Send the byte strings `parts` on one TCP connection (TCP_NODELAY, a pause between
    them: separate segments), then read `expect` length-prefixed replies."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, b in enumerate(parts):
            if i:
                time.sleep(0.05)
            s.sendall(b)
        got, buf = [], b""
        while len(got) < expect:
            chunk = s.recv(65535)
            assert chunk, "connection closed after %d replies" % len(got)
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                n = int.from_bytes(buf[:2], "big")
                got.append(dns.message.from_wire(buf[2:2 + n]))
                buf = buf[2 + n:]
        return got
    finally:
        s.close()


def test_pcap_converter_on_client_traffic_to_cairn(tb, cairn, tmp_path):
    """Clients' queries to a cairn, captured on lo: UDP from three addresses, and TCP with
    two queries in one segment and one query split over two segments. The converter gives
    every query once, in order, from its source, and takes TTLs and NXDOMAIN from cairn's
    replies."""
    cp = helpers.start(cairn, tb)
    cap = str(tmp_path / "cairn.pcap")
    p = start_tcpdump(cap, "port %d" % cp.port)
    try:
        udp = [("127.20.0.1", "www.example.com.", "A"), ("127.20.0.2", "ttl60.example.com.",
                                                        "A"),
               ("127.20.0.3", "nope.example.com.", "A"), ("127.20.0.2", "www.example.com.",
                                                         "A")]
        for src, name, ty in udp:
            dns.query.udp(dns.message.make_query(name, ty), "127.0.0.1", port=cp.port,
                          timeout=3, source=src)
        w = [dns.message.make_query(n, t).to_wire() for n, t in
             (("txt.example.com.", "TXT"), ("ttl1d.example.com.", "A"),
              ("www.example.com.", "AAAA"))]
        lp = [len(x).to_bytes(2, "big") + x for x in w]
        r = tcp_exchange(cp.port, "127.20.0.4", [lp[0] + lp[1]], 2)
        assert sorted(str(m.question[0].name) for m in r) == ["ttl1d.example.com.",
                                                               "txt.example.com."]
        r = tcp_exchange(cp.port, "127.20.0.5", [lp[2][:9], lp[2][9:]], 1)
        assert r[0].answer
        time.sleep(0.3)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    tr = convert.pcap_to_trace(cap, port=cp.port)
    assert [(c, n, t) for _, c, n, t in tr.queries] == udp + [
        ("127.20.0.4", "txt.example.com.", "TXT"), ("127.20.0.4", "ttl1d.example.com.", "A"),
        ("127.20.0.5", "www.example.com.", "AAAA")]
    assert tr.nx == {"nope.example.com."}
    # a cache hit's TTL is what remained: at most the zone's
    assert 55 <= tr.ttl["ttl60.example.com."] <= 60
    assert 86390 <= tr.ttl["ttl1d.example.com."] <= 86400
    assert set(tr.ttl) == {"www.example.com.", "ttl60.example.com.", "txt.example.com.",
                           "ttl1d.example.com."}
    assert convert.pcap_to_trace(cap, port=cp.port, server="127.0.0.2").queries == []


def opts(tmp_path):
    if not os.access(CAIRN_BIN, os.X_OK):
        pytest.skip("cairn not built: %s" % CAIRN_BIN)
    helpers.need_cairnctl()
    return types.SimpleNamespace(cairn=CAIRN_BIN, cairnctl=helpers.CAIRNCTL_BIN, cpu="0-1",
                                 timeout=3.0, progress=False, sample_period=0.2,
                                 workdir=str(tmp_path), unbound="/usr/sbin/unbound",
                                 unbound_control="/usr/sbin/unbound-control")


def test_replay_counts_equal_cairns_counters_and_ttls_run_out(hr, tmp_path):
    """Compressed 30x: a 60 s TTL runs out between trace seconds 10 and 130 (4 real
    seconds), a 3600 s one does not. Then a small Zipf replay: every check of the tool's
    reply counts against cairn's counters holds."""
    o = opts(tmp_path)
    qs = [(0.0, "c1", "e1.t60.hr.test.", "A"), (1.0, "c2", "e2.t3600.hr.test.", "A"),
          (10.0, "c2", "e1.t60.hr.test.", "A"), (20.0, "c1", "e3.nx.hr.test.", "A"),
          (30.0, "c1", "e3.nx.hr.test.", "A"), (130.0, "c1", "e1.t60.hr.test.", "A"),
          (131.0, "c1", "e2.t3600.hr.test.", "A")]
    r = bench.run_once(o, hr._tb, T.Trace(qs), "cairn",
                       dict(size=1 << 20, max_ttl=86400, policy="s3fifo"), 30.0, "ttl", 5431)
    assert r["exact"], r["checks"]
    assert r["replies"] == 7 and r["rcodes"] == {"0": 5, "3": 2}
    assert r["answers"]["cache.positive"] == 2 and r["answers"]["cache.negative"] == 1
    assert r["misses"] == {"first": 3, "expired": 1, "evicted": 0, "uncacheable": 0}
    assert r["tool_hits"] == 3 and r["hits"] == 3
    # an unbounded TTL-exact cache gets the same three hits; capped at 5 s, only the
    # negative one (NXDOMAIN, 900 s SOA minimum, is not under max_ttl)
    assert r["oracle"] == 3 / 7
    assert T.oracle(T.Trace(qs), max_ttl=5) == 1 / 7
    assert r["nsd_queries"] >= 4     # every miss went upstream at least once

    tr = T.synth(names=300, clients=4, rate=40, duration=30, nx_share=0.1, seed=5)
    r = bench.run_once(o, hr._tb, tr, "cairn", dict(size=1 << 20, max_ttl=86400,
                                                    policy="sieve"), 10.0, "zipf", 5432)
    assert r["exact"], r["checks"]
    assert r["lost"] == 0 and r["replies"] == len(tr.queries) == 1200
    a, m = r["answers"], r["misses"]
    assert a["cache.positive"] + a["cache.negative"] == r["hits"] > 300
    assert sum(m.values()) == a["resolved"] == r["replies"] - r["hits"]
    assert m["first"] > 0 and m["evicted"] == 0
    # each reply's class is its own query_log line: the tool's count is cairn's, exactly;
    # the classes read from the TTLs agree but for replies in the same second of cairn's
    # clock as the answer that filled the entry
    assert r["class_source"] == "log" and r["tool_hits"] == r["hits"]
    assert r["log_outcomes"] == {k: v for k, v in a.items() if v}
    assert r["log_unmatched"] == 0
    assert abs(r["ttl_hits"] - r["hits"]) <= 0.02 * r["replies"]
    assert r["series_exact"] and r["series_exact"][-1][1] <= r["replies"]
    assert 0 < r["upstream_per_query"] < 1
    assert r["lat_hit"]["n"] + r["lat_miss"]["n"] == r["replies"]
    # per client: the four clients' replies and hits add up to the totals
    g = r["per_group"]
    assert sorted(g) == ["c0", "c1", "c2", "c3"]
    assert sum(x["replies"] for x in g.values()) == r["replies"]
    assert sum(x["hits"] for x in g.values()) == r["hits"]


def test_unbound_replay_counts_equal_its_own(hr, tmp_path):
    """The same kind of replay against Unbound: its log-replies lines, one per reply,
    matched to the tool's replies; the cached ones are exactly total.num.cachehits."""
    if not os.access("/usr/sbin/unbound", os.X_OK):
        pytest.skip("unbound not installed")
    o = opts(tmp_path)
    tr = T.synth(names=300, clients=4, rate=40, duration=30, nx_share=0.1, seed=5)
    r = bench.run_once(o, hr._tb, tr, "unbound", dict(size=4 << 20, max_ttl=86400,
                                                      policy="lru"), 10.0, "zipf", 5433)
    assert r["exact"], r["checks"]
    assert r["lost"] == 0 and r["replies"] == 1200
    assert r["class_source"] == "log" and r["tool_hits"] == r["hits"] > 300


def test_replay_wire_helpers():
    w = replay.build_query(0x1234, "www.example.com.", 28)
    m = dns.message.from_wire(w)
    assert m.id == 0x1234 and str(m.question[0].name) == "www.example.com."
    assert m.question[0].rdtype == 28 and m.edns == 0 and m.payload == 1232
    r = dns.message.make_response(m)
    r.answer.append(dns.rrset.from_text("www.example.com.", 77, "IN", "AAAA", "2001:db8::1"))
    assert replay.parse_reply(r.to_wire()) == (0x1234, 0, 77)
    with pytest.raises(ValueError):
        replay.parse_reply(b"\x00" * 5)
