"""The Prometheus endpoint (`metrics:`, --metrics) and `cairnctl stats --json` (issue
"Operations", items 1 and 6 in part).

/metrics is scraped while queries flow and each page is checked with `promtool check
metrics` (Debian's prometheus package, in scripts/install-deps); once the load has stopped,
every counter and gauge on the page equals the figure of the same name in `cairnctl stats
--json`, the per-worker series add up to the totals, and the latency histograms are
consistent (cumulative buckets, +Inf = count, one hit observed per cache answer).
`metrics_allow` keeps other clients out, and a reload replaces it live.
"""
import http.client
import json
import re
import shutil
import signal
import subprocess
import threading
import time

import dns.rcode
import pytest

from helpers import ask, ctl, control_path, make_query, need_cairnctl, start

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(port, source="127.0.0.1", path="/metrics", method="GET"):
    """(status, headers, body text) of one HTTP request to the endpoint."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def wait_listening(cp, port, timeout=10.0):
    """cairn binds the metrics socket before its DNS ports; check it (no HTTP traffic)."""
    from conftest import _port_bound
    deadline = time.monotonic() + timeout
    while not _port_bound(cp.pid, port)[1]:
        assert time.monotonic() < deadline, "metrics port %d not listening" % port
        time.sleep(0.02)


def parse(page):
    """{(name, labels): float} of every sample; labels as the raw '{...}' text or ''."""
    out = {}
    for line in page.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def metric_of(stat, gauge):
    """The metric name /metrics gives a `cairnctl stats` name."""
    base = "cairn_" + re.sub(r"[^a-zA-Z0-9_]", "_", stat)
    return base if gauge else base + "_total"


def stats_json(ctlp):
    r = ctl(ctlp, "stats", "--json")
    return json.loads(r.stdout)


def promtool_check(page):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus, scripts/install-deps)")
    r = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        "promtool check metrics -> %d:\n%s%s" % (r.returncode, r.stdout, r.stderr)


def test_metrics_under_load_pass_promtool_and_equal_stats_json(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    mport = cairn.port()
    c = start(cairn, tb, "--workers", "2", "--metrics", "127.0.0.1@%d" % mport, control=ctlp)
    wait_listening(c, mport)
    keys = ["a", "aaaa", "mx", "txt", "nxdomain", "nodata", "cname_chain", "cname_cross"]
    qs = [(tb.names[k]["qname"], tb.names[k]["qtype"]) for k in keys]

    errors, sent, stop = [], [0], threading.Event()

    def load():
        deadline = time.monotonic() + 20
        for i in range(4000):  # bounded in count and time
            if stop.is_set() or time.monotonic() > deadline:
                break
            name, rdtype = qs[i % len(qs)]
            try:
                ask(c, make_query(name, rdtype), timeout=3.0)
                sent[0] += 1
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
    t = threading.Thread(target=load)
    t.start()
    pages = []
    try:
        deadline = time.monotonic() + 15
        while len(pages) < 4 and time.monotonic() < deadline:
            status, headers, page = scrape(mport)
            assert status == 200
            assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
            pages.append(page)
            time.sleep(0.2)  # spacing between scrapes, not a wait for a condition
    finally:
        stop.set()
        t.join(timeout=60)
    assert not errors, errors[:5]
    assert len(pages) == 4
    for page in pages:
        promtool_check(page)
    qs_seen = [parse(p)[("cairn_queries_total", "")] for p in pages]
    assert qs_seen == sorted(qs_seen) and qs_seen[-1] > qs_seen[0], qs_seen  # taken under load
    print("queries sent %d; cairn_queries_total at the scrapes: %s" % (sent[0], qs_seen))

    # Quiet now: wait until two reads agree (replies counted), then page == JSON.
    prev, deadline = None, time.monotonic() + 10
    while True:
        cur = stats_json(ctlp)
        if cur == prev or time.monotonic() > deadline:
            break
        prev = cur
        time.sleep(0.1)
    status, _, page = scrape(mport)
    promtool_check(page)
    m = parse(page)
    after = stats_json(ctlp)
    assert after == cur, "stats changed with no traffic"
    assert after["queries"] == sent[0], (after["queries"], sent[0])
    gauges = set()
    for line in page.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" gauge"):
            gauges.add(line.split()[2])
    for name, value in after.items():
        mname = metric_of(name, gauge=metric_of(name, True) in gauges)
        assert (mname, "") in m, "%s (%s) not on the page" % (mname, name)
        assert m[(mname, "")] == pytest.approx(value, abs=1e-6), (name, value, m[(mname, "")])
    assert len(after) >= 60, len(after)

    # Per worker: both workers served, and the rows add up to the totals.
    workers = {lab for (n, lab) in m if n == "cairn_worker_queries_total"}
    assert workers == {'{worker="0"}', '{worker="1"}'}, workers
    for name in ("prefetches", "upstream.sent_udp", "upstream.replies", "upstream.tcp"):
        per = sum(m[(metric_of("worker." + name, False), w)] for w in workers)
        assert per == after[name], (name, per, after[name])
    assert sum(m[("cairn_worker_queries_total", w)] for w in workers) == after["queries"]

    # Histograms: cumulative, +Inf = count; every cache answer observed once as a hit.
    for h in ("cairn_cache_hit_duration_seconds", "cairn_resolution_duration_seconds"):
        buckets = sorted(((float(lab[5:-2]), v) for (n, lab), v in m.items()
                          if n == h + "_bucket"), key=lambda x: x[0])
        counts = [v for _, v in buckets]
        assert counts == sorted(counts) and buckets[-1][0] == float("inf"), buckets
        assert buckets[-1][1] == m[(h + "_count", "")]
        print("%s: count %d, sum %.6f s" % (h, m[(h + "_count", "")], m[(h + "_sum", "")]))
    hits = after["answer.cache.positive"] + after["answer.cache.negative"]
    assert hits > 0 and m[("cairn_cache_hit_duration_seconds_count", "")] == hits
    res = m[("cairn_resolution_duration_seconds_count", "")]
    assert after["answer.resolved"] <= res <= (after["answer.resolved"] + after["answer.servfail"]
                                               + after["answer.cache.stale"]), (res, after)


def test_stats_json_has_the_text_names_and_values(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    c = start(cairn, tb, control=ctlp)
    ask(c, make_query(tb.names["a"]["qname"], "A"))
    ask(c, make_query(tb.names["a"]["qname"], "A"))
    text = ctl(ctlp, "stats").stdout
    js = ctl(ctlp, "stats", "--json").stdout
    data = json.loads(js, object_pairs_hook=list)  # keeps the order
    lines = [ln.split() for ln in text.splitlines()]
    assert [k for k, _ in data] == [n for n, _ in lines]
    for (k, v), (n, tv) in zip(data, lines):
        assert v == (float(tv) if "." in tv else int(tv)), (k, v, tv)
    r = ctl(ctlp, "stats", "--yaml", check=False)
    assert r.returncode == 1 and r.stdout.startswith("error: usage: stats [--json]"), r.stdout


def http_refused(port, source):
    """True when the endpoint closes a connection from source without an HTTP answer."""
    try:
        scrape(port, source=source)
    except (ConnectionError, http.client.RemoteDisconnected, OSError):
        return True
    return False


def test_metrics_allow_and_reload(tb, cairn):
    need_cairnctl()
    ctlp = control_path(cairn)
    mport = cairn.port()
    c = start(cairn, tb, control=ctlp,
              config="allow: [127.0.0.1/32]\nmetrics: 127.0.0.1@%d\n"
                     "metrics_allow: [127.0.0.2/32]\n" % mport)
    wait_listening(c, mport)
    # The DNS allow list is another list: 127.0.0.2 may scrape but not query.
    assert scrape(mport, source="127.0.0.2")[0] == 200
    assert http_refused(mport, "127.0.0.1")
    r = ask(c, make_query(tb.names["a"]["qname"], "A"), source="127.0.0.2")
    assert r.rcode() == dns.rcode.REFUSED
    assert scrape(mport, source="127.0.0.2", path="/")[0] == 404
    assert scrape(mport, source="127.0.0.2", method="POST")[0] == 405
    assert scrape(mport, source="127.0.0.2", method="HEAD")[0] == 200

    path = c.args[c.args.index("-c") + 1]
    with open(path, "w") as f:
        f.write("allow: [127.0.0.1/32]\nmetrics: 127.0.0.1@%d\n"
                "metrics_allow: [127.0.0.1/32]\n" % mport)
    c.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "metrics_allow replaced" not in c.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "metrics_allow replaced" in c.log(), c.log()
    assert scrape(mport, source="127.0.0.1")[0] == 200
    assert http_refused(mport, "127.0.0.2")

    # Moving the endpoint needs a restart: named, and the old address keeps serving.
    with open(path, "w") as f:
        f.write("metrics: 127.0.0.1@%d\nmetrics_allow: [127.0.0.1/32]\n" % (mport + 1000))
    r = ctl(ctlp, "reload")
    assert "needs a restart: metrics" in r.stdout, r.stdout
    assert scrape(mport)[0] == 200


def test_metrics_config_errors(tb, cairn, tmp_path):
    from conftest import CAIRN_BIN
    for text, why in (("metrics: 127.0.0.1\n", "a port is required"),
                      ("metrics: nowhere@80\n", "expected ADDR@PORT"),
                      ("metrics: 127.0.0.1@9\nmetrics_allow: []\n", "metrics_allow: the list")):
        p = tmp_path / "bad.yaml"
        p.write_text(text)
        r = subprocess.run([CAIRN_BIN, "--check-config", "-c", str(p)], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2 and why in r.stderr, (text, r.returncode, r.stderr)
