"""pytest harness for cairn's integration tests: a simulated DNS tree (NSD) in a private
network namespace, entered by this very process, and a factory for cairn daemons.

Fixtures (see tests/integration/README.md):
  testbed (session)   the tree; this process lives in its namespace from then on
  tb                  alias of testbed
  cairn               factory: cairn(*args, port=None) -> CairnProcess, stopped at teardown
"""
import atexit
import os
import secrets
import signal
import subprocess
import sys
import time

import dns.flags
import dns.message
import dns.query
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from testbed_lib import Testbed, TestbedError  # noqa: E402
from testbed_lib import core as _core  # noqa: E402

TESTBED_CLI = os.path.join(REPO, "scripts", "testbed")
CAIRN_BIN = os.environ.get("CAIRN_BIN", os.path.join(REPO, "build-asan", "net", "cairn"))


def unique_name(prefix="cairn-it"):
    """A namespace name nobody else uses (other developers run testbeds concurrently)."""
    return "%s-%d-%s" % (prefix, os.getpid(), secrets.token_hex(3))


def pgrep(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split() if int(p) != os.getpid()]


class TestbedHandle:
    """What tests use. Attributes mirror the testbed's state (see README.md)."""

    def __init__(self, tb):
        self._tb = tb
        st = tb.state
        self.name = tb.name
        self.state_dir = tb.state_dir
        self.root_hints = tb.root_hints
        self.names = st["names"]            # scenario key -> expected answers
        self.roots = st["roots"]            # root server addresses (v4 + ::1)
        self.tlds = st["tlds"]              # tld -> [server addresses]
        self.pool = {n: st["servers"][n]["addrs"] for n in st["pool"]}
        self.dead_addr = st["dead_addr"]
        self.names_file = st["names_file"]

    @property
    def servers(self):
        """server group name -> dict(addrs, zones, pid, conf, log, ...)"""
        return self._tb.load()["servers"]

    def query(self, addr, name, rdtype, tcp=False, **kw):
        """One query (RD=0, EDNS 1232 by default; edns=None for none, rd=True, port=,
        timeout=). Returns a dns.message.Message."""
        return _core.query(addr, name, rdtype, tcp=tcp, **kw)

    def register(self, name):
        """Register NAME.TLD; returns [(ns name, address)] * 4. Raises TestbedError."""
        return self._tb.register(name, log=lambda *a: None)

    def query_count(self, addr=None):
        """Queries received so far by the server at addr, or by all servers if None."""
        return self._tb.query_count(addr)

    def query_counts(self):
        """{server group name: queries received}"""
        return self._tb.query_counts()

    def delegate(self, child, ns, ttl=86400):
        """Delegate CHILD from its TLD to [(ns name, address or None)] (glue only for NS
        names inside CHILD); reloads the TLD servers (docs/testbed.md)."""
        self._tb.delegate(child, ns, ttl=ttl)

    def undelegate(self, child):
        self._tb.undelegate(child)

    def stop_server(self, addr):
        self._tb.stop_server(addr)

    def start_server(self, addr):
        self._tb.start_server(addr)

    def cli(self, *args, timeout=60):
        """Run scripts/testbed against this testbed; returns CompletedProcess (text)."""
        cmd = [TESTBED_CLI, "--name", self.name, "--state-dir", self.state_dir] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------ the session testbed
_active = []


def _teardown_all():
    while _active:
        tb, orig_ns = _active.pop()
        if orig_ns is not None:
            try:
                _setns_fd(orig_ns)
                os.close(orig_ns)
            except OSError:
                pass
        try:
            tb.down(log=lambda *a: None)
        except Exception as e:  # pragma: no cover
            print("testbed teardown failed: %s" % e, file=sys.stderr)


def _setns_fd(fd):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _core.CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns back to the original namespace")


atexit.register(_teardown_all)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session")
def testbed():
    if os.geteuid() != 0:
        pytest.skip("the testbed needs root (network namespaces, port 53)")
    name = unique_name()
    tb = Testbed(name, "/tmp/cairn-testbed-%s" % name)
    orig_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    _active.append((tb, orig_ns))
    # up() creates the namespace and moves this (single-threaded) process into it with
    # setns(2): every socket and subprocess from now on lives in the testbed's network.
    try:
        tb.up(log=lambda *a: None)
        yield TestbedHandle(tb)
    finally:
        _teardown_all()
        left = pgrep(tb.state_dir)
        assert not left, "testbed processes outlived the session: %s" % left
        assert not os.path.exists("/run/netns/%s" % name), "namespace %s left behind" % name


@pytest.fixture
def tb(testbed):
    return testbed


# ------------------------------------------------------------------ cairn daemons
@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _parse_listen(args):
    """(addr, port) of the first `-l ADDR@PORT` / `--listen ADDR@PORT` argument."""
    for i, a in enumerate(args):
        v = None
        if a in ("-l", "--listen") and i + 1 < len(args):
            v = args[i + 1]
        elif a.startswith("--listen="):
            v = a.split("=", 1)[1]
        if v:
            addr, _, port = v.rpartition("@")
            if not addr:
                addr, port = v, "53"
            return addr.strip("[]"), int(port)
    return None, None


def _port_bound(pid, port):
    """Is some socket in pid's network namespace bound to port? (no DNS traffic)"""
    udp = tcp = False
    for proto in ("udp", "udp6", "tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, proto)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    lport = int(fields[1].rsplit(":", 1)[1], 16)
                    if lport != port:
                        continue
                    if proto.startswith("udp"):
                        udp = True
                    elif fields[3] == "0A":   # LISTEN
                        tcp = True
        except (OSError, StopIteration):
            pass
    return udp, tcp


class CairnProcess:
    def __init__(self, proc, args, addr, port, log_path):
        self.proc = proc
        self.pid = proc.pid
        self.args = args
        self.addr = addr
        self.port = port
        self.log_path = log_path
        self.returncode = None

    def query(self, name, rdtype, tcp=False, rd=True, timeout=5.0, **kw):
        """Ask this cairn (RD=1 by default)."""
        return _core.query(self.addr, name, rdtype, tcp=tcp, rd=rd, timeout=timeout,
                           port=self.port, **kw)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Send sig, wait; returns the exit status (negative: killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                self.returncode = "hung (killed after %.0fs)" % timeout
                return self.returncode
        if self.returncode is None:
            self.returncode = self.proc.returncode
        return self.returncode


def _on_unsigned_tree(args):
    """Whether args point cairn at the session's (unsigned) testbed: its root hints file."""
    hints = {tb.root_hints for tb, _ in _active}
    return any(a == "--root-hints" and i + 1 < len(args) and args[i + 1] in hints
               for i, a in enumerate(args))


class CairnFactory:
    """cairn(*args, port=None, wait=15, env=None, binary=None, dnssec=None) -> CairnProcess.

    Arguments are passed through unchanged, with one addition: a cairn pointed at the
    session's testbed (--root-hints of that tree), which is unsigned, gets --no-dnssec, since
    validating from the built-in root anchors would make every answer of the simulated tree
    bogus. dnssec=True leaves validation on (a test of the anchors or of that warning),
    dnssec=False adds --no-dnssec whatever the tree. Readiness: the -l/--listen port (or
    port=) is bound in the namespace (checked in /proc, no DNS traffic); without a port, the
    process merely has to survive 0.3 s. stderr and stdout go to a per-daemon log file."""

    def __init__(self, request, tmpdir):
        self.request = request
        self.tmpdir = tmpdir
        self.procs = []
        self._next_port = 5300

    def port(self):
        """A fresh port number for a listener (the namespace is private: no clashes)."""
        self._next_port += 1
        return self._next_port

    def __call__(self, *args, port=None, wait=15.0, env=None, binary=None, dnssec=None):
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = args[0]
        args = [str(a) for a in args]
        if dnssec is None:
            dnssec = not _on_unsigned_tree(args)
        if not dnssec and "--no-dnssec" not in args:
            args.append("--no-dnssec")
        binary = binary or CAIRN_BIN
        if not os.access(binary, os.X_OK):
            pytest.skip("cairn binary not built: %s (set $CAIRN_BIN)" % binary)
        addr, lport = _parse_listen(args)
        if port is not None:
            lport = port
        addr = addr or "127.0.0.1"
        log_path = os.path.join(str(self.tmpdir), "cairn-%d.log" % (len(self.procs) + 1))
        logf = open(log_path, "wb")
        e = dict(os.environ)
        e.update(env or {})
        proc = subprocess.Popen([binary] + args, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=e)
        logf.close()
        cp = CairnProcess(proc, args, addr, lport, log_path)
        self.procs.append(cp)
        deadline = time.monotonic() + wait
        if lport is None:
            time.sleep(0.3)
        else:
            udp_seen_at = None
            while True:
                if proc.poll() is not None:
                    break
                udp, tcp = _port_bound(proc.pid, lport)
                if udp and (tcp or (udp_seen_at and time.monotonic() - udp_seen_at > 1.0)):
                    break
                if udp and udp_seen_at is None:
                    udp_seen_at = time.monotonic()
                if time.monotonic() > deadline:
                    pytest.fail("cairn did not open port %s within %.0fs; log:\n%s"
                                % (lport, wait, cp.log()))
                time.sleep(0.02)
        if proc.poll() is not None:
            pytest.fail("cairn exited at start with status %s; args %s; log:\n%s"
                        % (proc.returncode, args, cp.log()))
        return cp

    def finish(self):
        bad = []
        for cp in self.procs:
            rc = cp.stop()
            if rc != 0:
                bad.append((cp, rc))
        rep = getattr(self.request.node, "rep_call", None)
        failed = bool(bad) or (rep is not None and rep.failed)
        if failed:
            for cp in self.procs:
                print("\n===== cairn %s (pid %d) exit %s, log %s =====\n%s"
                      % (" ".join(cp.args), cp.pid, cp.returncode, cp.log_path, cp.log()))
        assert not bad, "cairn exited non-zero on SIGTERM: %s" % \
            ", ".join("pid %d -> %s" % (cp.pid, rc) for cp, rc in bad)


@pytest.fixture
def cairn(testbed, request, tmp_path):
    f = CairnFactory(request, tmp_path)
    yield f
    f.finish()


# ------------------------------------------------------------------ hostile servers
class HostileTree:
    """hz.test: delegated by the testbed's .test servers to a HostileServer on 127.66.0.1
    (session-wide), so tests hang hostile zones below it without reloading NSD: child()
    adds a delegation to the parent's zone data at once. alloc() hands out fresh
    127.66.x.y addresses (never reused within a session)."""

    APEX = "hz.test."
    PARENT_ADDR = "127.66.0.1"

    def __init__(self, tb):
        import hostile
        self._h = hostile
        self._next = 256            # 127.66.1.0 upwards
        self._lines = []
        self.zone = hostile.Zone(self.APEX, self._text())
        self.server = hostile.HostileServer(self.PARENT_ADDR, zone=self.zone,
                                            name="hz-parent").start()
        tb.delegate(self.APEX, [("ns.hz.test.", self.PARENT_ADDR)])

    def _text(self):
        return self._h.zone_text(self.APEX, ns=("ns",), addr=self.PARENT_ADDR,
                                 body=self._lines, ttl=86400, minimum=60)

    def alloc(self, n=1):
        """n fresh addresses 127.66.X.Y (Y in 1..250)."""
        out = []
        while len(out) < n:
            x, y = divmod(self._next, 256)
            self._next += 1
            if 1 <= y <= 250:
                out.append("127.66.%d.%d" % (x, y))
        assert self._next < 256 * 256, "hostile address space exhausted"
        return out

    def add(self, *lines):
        """Add zone-file lines to hz.test (delegations, records); takes effect at once."""
        self._lines += list(lines)
        self.zone.set_text(self._text())

    def remove(self, pred):
        """Drop the hz.test lines for which pred(line) is true."""
        self._lines = [l for l in self._lines if not pred(l)]
        self.zone.set_text(self._text())

    def child(self, label, addrs, ttl=86400, glue=True, ns=None):
        """Delegate LABEL.hz.test to ns1..nsN.LABEL.hz.test at addrs (with glue unless
        glue=False), or to the given NS names (ns=[...], glueless). Returns the zone name."""
        z = "%s.%s" % (label, self.APEX)
        if ns is None:
            names = ["ns%d.%s" % (i + 1, z) for i in range(len(addrs))]
            lines = ["%s %d IN NS %s" % (z, ttl, n) for n in names]
            if glue:
                lines += ["%s %d IN A %s" % (n, ttl, a) for n, a in zip(names, addrs)]
        else:
            lines = ["%s %d IN NS %s" % (z, ttl, n) for n in ns]
        self.add(*lines)
        return z


@pytest.fixture(scope="session")
def hz(testbed):
    t = HostileTree(testbed)
    yield t
    t.server.stop()


@pytest.fixture
def hostile(testbed):
    """Factory: hostile(addrs, handler=None, zone=None, **kw) -> a started HostileServer
    (tests/integration/hostile.py), stopped at the test's end; a handler that raised fails
    the test."""
    import hostile as h
    made = []

    def make(addrs, handler=None, zone=None, **kw):
        s = h.HostileServer(addrs, handler=handler, zone=zone, **kw).start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()
    for s in made:
        s.check()


__all__ = ["TestbedError", "unique_name", "pgrep", "TESTBED_CLI", "CAIRN_BIN"]
