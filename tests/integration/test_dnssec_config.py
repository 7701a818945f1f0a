"""The DNSSEC configuration as the daemon applies it (docs/config.md "DNSSEC"): a broken trust
anchor stops start-up with "FILE:LINE: reason" and status 2, --check-config reads the anchor
file, the warning about built-in anchors over loopback root hints (the unsigned testbed),
and a reload that changes the anchors or the negative trust anchors names them as needing a
restart. What validation does with them is the engine's (tests of the signed testbed)."""
import os
import subprocess
import time

import pytest

from conftest import CAIRN_BIN
from helpers import ctl, control_path, need_cairnctl, start

ROOT_DS = (". IN DS 20326 8 2 "
           "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")
WARNING = "dnssec is on with the built-in root trust anchors, but the root hints are loopback"


def run(*args, timeout=30):
    r = subprocess.run([CAIRN_BIN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def wait_log(cp, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in cp.log():
            return cp.log()
        time.sleep(0.05)
    pytest.fail("no %r in the log within %.0fs:\n%s" % (text, timeout, cp.log()))


def test_broken_anchor_file_stops_start_up(tb, cairn, tmp_path):
    bad = tmp_path / "anchors.ds"
    bad.write_text("; root\n%s\nwww.test. IN A 192.0.2.1\n" % ROOT_DS)
    status, _, err = run("-l", "127.0.0.1@%d" % cairn.port(), "--root-hints", tb.root_hints,
                         "--allow-loopback-upstream", "--trust-anchor-file", bad)
    assert status == 2 and "%s:3: a trust anchor must be a DS or DNSKEY record" % bad in err, \
        (status, err)
    # the same from the file's trust_anchor_file: (relative to the config's folder)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trust_anchor_file: anchors.ds\n")
    status, out, err = run("--check-config", "-c", cfg)
    assert status == 2 and "%s:3: " % bad in err and "ok" not in out, (status, out, err)
    # a bad record in the YAML list: the config file's line
    cfg.write_text("dnssec: true\ntrust_anchors:\n  - \". IN DS 20326 8 2 XYZ\"\n")
    status, _, err = run("--check-config", "-c", cfg)
    assert status == 2 and err.startswith("%s:3: trust_anchors: " % cfg), (status, err)
    status, _, err = run("--check-config", "--nta", "a..b")
    assert status == 2 and "--nta a..b: expected a domain name" in err, (status, err)


def test_check_config_reads_the_anchor_file(tmp_path):
    good = tmp_path / "anchors.ds"
    good.write_text(ROOT_DS + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trust_anchor_file: anchors.ds\nnegative_trust_anchors: [broken.test.]\n"
                   "dnssec_limits:\n  sigs_per_rrset: 4\nbogus_ttl: 30\n")
    status, out, err = run("--check-config", "-c", cfg)
    assert status == 0 and "ok" in out, (status, out, err)
    good.unlink()
    status, out, err = run("--check-config", "-c", cfg)
    assert status == 2 and str(good) in err and "cannot read" in err, (status, out, err)


def test_warning_for_builtin_anchors_over_loopback_hints(tb, cairn, tmp_path):
    """Validating with the built-in root anchors against the testbed's loopback root: a
    warning at start naming trust_anchor_file; none with dnssec off or anchors given."""
    c = start(cairn, tb, dnssec=True)
    log = wait_log(c, WARNING)
    assert "trust-anchor.ds" in log
    c2 = start(cairn, tb)  # --no-dnssec (CairnFactory: the unsigned testbed)
    assert "--no-dnssec" in c2.args
    wait_log(c2, "dnssec: off")
    ta = tmp_path / "ta.ds"
    ta.write_text(ROOT_DS + "\n")
    c3 = start(cairn, tb, "--trust-anchor-file", ta, dnssec=True)
    wait_log(c3, "trust anchors: 1 record(s) from %s" % ta)
    for cp in (c2, c3):
        assert WARNING not in cp.log(), cp.log()


def test_reload_names_anchor_changes_as_restart_keys(tb, cairn, tmp_path):
    need_cairnctl()
    ctlp = control_path(cairn)
    c = start(cairn, tb, control=ctlp, config="negative_trust_anchors: [a.test.]\n",
              dnssec=True)
    cfg = c.args[c.args.index("-c") + 1]
    # unchanged (another spelling of the same name) and live keys only: no restart named
    with open(cfg, "w") as f:
        f.write("negative_trust_anchors: [A.TEST]\nbogus_ttl: 20\ndnssec_limits:\n"
                "  sigs_per_rrset: 4\n")
    r = ctl(ctlp, "reload")
    assert "reloaded" in r.stdout and "needs a restart" not in r.stdout, r.stdout
    with open(cfg, "w") as f:
        f.write("negative_trust_anchors: [b.test.]\ntrust_anchors:\n  - \"%s\"\n" % ROOT_DS)
    r = ctl(ctlp, "reload")
    assert "needs a restart: trust_anchors negative_trust_anchors" in r.stdout, r.stdout
    wait_log(c, "needs a restart: trust_anchors negative_trust_anchors")
    # a broken anchor in the new file rejects the reload whole
    with open(cfg, "w") as f:
        f.write("trust_anchors:\n  - \"x.test. IN A 192.0.2.1\"\n")
    r = ctl(ctlp, "reload", check=False)
    assert r.returncode == 1 and "the running configuration is kept" in r.stdout, r.stdout
    assert "%s:2: trust_anchors: a trust anchor must be a DS or DNSKEY record" % cfg \
        in r.stdout, r.stdout
    assert c.alive()
