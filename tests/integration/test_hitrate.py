"""scripts/hitrate (docs/hitrate.md): the trace format, the converters (a capture made here,
in the testbed's namespace, with tcpdump), and a small replay whose counts must equal cairn's
own counters, with the wall clock sped up so a TTL runs out during the replay."""
import os
import signal
import subprocess
import sys
import time
import types

import dns.message
import dns.query
import pytest

import helpers

sys.path.insert(0, os.path.join(helpers.REPO, "scripts"))
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


def test_query_log_lines_convert(tmp_path):
    p = tmp_path / "q.log"
    p.write_text(
        "[1700000000] unbound[811:0] info: 127.0.0.1 www.example.com. A IN\n"
        "[1700000002] unbound[811:0] info: ::1 example.net. AAAA IN\n"
        "[1700000003] unbound[811:0] info: resolving www.example.com. A IN\n"
        "14-Nov-2023 22:13:21.500 queries: info: client @0x7f3b 192.0.2.7#53210 "
        "(mail.example.org): query: mail.example.org IN MX +E(0)K (127.0.0.1)\n"
        "garbage line\n")
    tr, skipped = convert.log_to_trace(str(p))
    assert skipped == 2
    # 14-Nov-2023 22:13:21.5 UTC is 1700000001.5
    assert tr.queries == [(0.0, "127.0.0.1", "www.example.com.", "A"),
                          (1.5, "192.0.2.7", "mail.example.org.", "MX"),
                          (2.0, "::1", "example.net.", "AAAA")]


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
    # the tool's own per-reply classes agree with cairn's counts (exact but for replies in
    # the same second of cairn's clock as the answer that filled the entry)
    assert abs(r["tool_hits"] - r["hits"]) <= 0.02 * r["replies"]
    assert r["series_exact"] and r["series_exact"][-1][1] <= r["replies"]
    assert 0 < r["upstream_per_query"] < 1
    assert r["lat_hit"]["n"] + r["lat_miss"]["n"] == r["replies"]


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
