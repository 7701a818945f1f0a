"""Testbed life cycle: namespace, NSD server groups, registration, statistics."""
import ctypes
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from . import sign, tree

DEFAULT_NAME = "cairn-tb"
CLONE_NEWNET = 0x40000000
NSD = "/usr/sbin/nsd"
NSD_CONTROL = "/usr/sbin/nsd-control"


class TestbedError(Exception):
    """A clear, user-facing failure (the CLI prints it and exits non-zero)."""


def default_state_dir(name):
    return "/tmp/cairn-testbed-%s" % name


def netns_path(name):
    return "/run/netns/%s" % name


def enter_netns(name):
    """Move the calling thread (the whole process if single-threaded) into netns NAME."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns_path(name), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise TestbedError("setns(%s): %s" % (name, os.strerror(e)))
    finally:
        os.close(fd)


def current_netns_ino():
    return os.stat("/proc/self/ns/net").st_ino


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(d))
    return kids


def query(addr, name, rdtype, tcp=False, edns=0, rd=False, timeout=2.0, port=53, payload=1232):
    """One query with dnspython. edns=None sends no OPT record."""
    q = dns.message.make_query(name, rdtype, use_edns=(edns is not None and edns),
                               payload=payload)
    if edns is None:
        q.use_edns(False)
    if not rd:
        q.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(q, addr, timeout=timeout, port=port)
    return dns.query.udp(q, addr, timeout=timeout, port=port, ignore_unexpected=True)


class Testbed:
    """One testbed instance, identified by its namespace name and state dir."""

    def __init__(self, name=DEFAULT_NAME, state_dir=None):
        self.name = name
        # a testbed brought up with a custom state dir leaves a pointer at the default place
        self.pointer = default_state_dir(name) + ".path"
        if not state_dir and os.path.exists(self.pointer):
            with open(self.pointer) as f:
                state_dir = f.read().strip() or None
        self.state_dir = os.path.abspath(state_dir or default_state_dir(name))
        self.state_file = os.path.join(self.state_dir, "state.json")
        self.state = None

    # ---------------------------------------------------------------- state
    def load(self):
        if not os.path.exists(self.state_file):
            raise TestbedError("testbed %r is not up (no %s)" % (self.name, self.state_file))
        with open(self.state_file) as f:
            self.state = json.load(f)
        return self.state

    def save(self):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
        os.replace(tmp, self.state_file)

    def lock(self):
        fd = os.open(os.path.join(self.state_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @property
    def root_hints(self):
        return os.path.join(self.state_dir, "root.hints")

    def enter(self):
        enter_netns(self.name)

    def server_for_addr(self, addr):
        for s in self.state["servers"].values():
            if addr in s["addrs"]:
                return s
        raise TestbedError("no testbed server listens on %s" % addr)

    # ---------------------------------------------------------------- up
    def up(self, leaf_zones=0, log=print, signed=False):
        t0 = time.monotonic()
        if os.path.exists(netns_path(self.name)):
            raise TestbedError("testbed %r is already up (network namespace %s exists); "
                               "run `scripts/testbed down --name %s` first"
                               % (self.name, netns_path(self.name), self.name))
        if os.path.exists(self.state_file):
            raise TestbedError("testbed %r: state dir %s still holds a testbed; run "
                               "`scripts/testbed down --name %s --state-dir %s` first"
                               % (self.name, self.state_dir, self.name, self.state_dir))
        os.makedirs(self.state_dir, exist_ok=True)
        if self.state_dir != default_state_dir(self.name):
            with open(self.pointer, "w") as f:
                f.write(self.state_dir + "\n")
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
            self.enter()
            self._build(leaf_zones, signed=signed, log=log)
            self.save()
            self._start_all()
        except BaseException:
            try:
                self.down(log=lambda *a: None)
            except Exception:
                pass
            raise
        log("testbed %s up in %.2fs: %d servers, %d zones, state dir %s"
            % (self.name, time.monotonic() - t0, len(self.state["servers"]),
               sum(len(s["zones"]) for s in self.state["servers"].values()), self.state_dir))

    def _build(self, leaf_zones, signed=False, log=print):
        """Write every config, zone file, the root hints, scenario and names files; signed:
        sign the tree (sign.py) and write the trust anchor and dnssec.json."""
        sd = self.state_dir
        servers = {}

        def server(sname, addrs):
            d = os.path.join(sd, "servers", sname)
            os.makedirs(os.path.join(d, "zones"), exist_ok=True)
            servers[sname] = dict(name=sname, addrs=list(addrs), dir=d,
                                  conf=os.path.join(d, "nsd.conf"),
                                  pidfile=os.path.join(d, "nsd.pid"),
                                  ctl=os.path.join(d, "nsd.ctl"),
                                  log=os.path.join(d, "nsd.log"),
                                  zones=[], running=False)

        for sname, addrs, _ in tree.ROOT_SERVERS:
            server(sname, addrs)
        for tld, lst in tree.TLD_SERVERS.items():
            for sname, addr, _ in lst:
                server(sname, [addr])
        for sname, addrs in tree.POOL:
            server(sname, addrs)

        zonefiles = {}   # zone -> (text, [server names])
        # leaf zones first: the TLD zones need their delegations
        leaves = tree.leaf_zones()
        if signed:
            leaves += sign.broken_zones()
        tlds = list(tree.TLD_SERVERS)
        names_lines = []
        for i in range(1, leaf_zones + 1):
            z = tree.generated_zone(i, tree.REGISTRABLE_TLDS[i % len(tree.REGISTRABLE_TLDS)])
            leaves.append(z)
            names_lines.append("www.%s A" % z.name.rstrip("."))
        deleg = {t: [] for t in tlds}
        deleg_other = {}   # parent (non-TLD) -> lines
        known = {z.name for z in leaves} | {t + "." for t in tlds}
        for z in leaves:
            zonefiles[z.name] = (z.text(), z.servers)
            parent = z.name.split(".", 1)[1]
            while parent not in known:
                parent = parent.split(".", 1)[1]
            lines = tree.delegation_lines(z.name, z.ns, z.glue)
            if parent.rstrip(".") in deleg:
                deleg[parent.rstrip(".")] += lines
            else:
                deleg_other.setdefault(parent, []).extend(lines)
        # a leaf parent (in-addr.arpa) already carries its child delegations in its body
        assert set(deleg_other) <= {"in-addr.arpa."}, deleg_other

        # TLD zones
        for tld, lst in tree.TLD_SERVERS.items():
            zname = tld + "."
            ns = [n for _, _, n in lst]
            body = []
            for _, addr, n in lst:
                body.append(tree.addr_rr(n, addr))
            if tld == "net":   # the root servers' names are authoritative data in .net
                for _, addrs, n in tree.ROOT_SERVERS:
                    body += [tree.addr_rr(n, a) for a in addrs]
            if tld == "arpa":
                body.append(tree.addr_rr("a.in-addr-servers.arpa.", tree.pool_addr(4)))
            text = "$TTL 86400\n%s\n%s\n%s\n" % (
                tree.soa(zname, ns[0], 1, 3600),
                "\n".join("%s IN NS %s" % (zname, n) for n in ns),
                "\n".join(body + deleg[tld]))
            zonefiles[zname] = (text, [s for s, _, _ in lst])

        # root zone
        rns = [n for _, _, n in tree.ROOT_SERVERS]
        body = ["$TTL 86400", tree.soa(".", rns[0], 1, 86400)]
        body += [". IN NS %s" % n for n in rns]
        for _, addrs, n in tree.ROOT_SERVERS:
            body += [tree.addr_rr(n, a) for a in addrs]
        for tld, lst in tree.TLD_SERVERS.items():
            for _, addr, n in lst:
                body.append("%s. 86400 IN NS %s" % (tld, n))
                body.append(tree.addr_rr(n, addr, 86400))
        zonefiles["."] = ("\n".join(body) + "\n", [s for s, _, _ in tree.ROOT_SERVERS])
        anchor = self._sign(zonefiles, log) if signed else None

        for zname, (text, snames) in zonefiles.items():
            for sname in snames:
                s = servers[sname]
                with open(os.path.join(s["dir"], "zones", zone_file_name(zname)), "w") as f:
                    f.write(text)
                s["zones"].append(zname)
        for s in servers.values():
            write_nsd_conf(s)

        # root hints (named.root format)
        with open(os.path.join(sd, "root.hints"), "w") as f:
            f.write("; cairn testbed %s root hints\n" % self.name)
            f.write(".                        3600000      NS    %s\n" % rns[0])
            for _, addrs, n in tree.ROOT_SERVERS:
                if n != rns[0]:
                    f.write(".                        3600000      NS    %s\n" % n)
            for _, addrs, n in tree.ROOT_SERVERS:
                for a in addrs:
                    f.write("%-24s 3600000      %-5s %s\n" % (n, "AAAA" if ":" in a else "A", a))
        names_file = os.path.join(sd, "names.txt")
        with open(names_file, "w") as f:
            f.write("\n".join(names_lines) + ("\n" if names_lines else ""))
        scen = tree.scenarios()
        with open(os.path.join(sd, "scenarios.json"), "w") as f:
            json.dump(scen, f, indent=1, sort_keys=True)

        self.state = dict(
            name=self.name, state_dir=sd, netns=netns_path(self.name), servers=servers,
            root_hints=self.root_hints, names_file=names_file, leaf_zones=leaf_zones,
            roots=[a for _, addrs, _ in tree.ROOT_SERVERS for a in addrs],
            tlds={t: [a for _, a, _ in lst] for t, lst in tree.TLD_SERVERS.items()},
            tld_servers={t: [s for s, _, _ in lst] for t, lst in tree.TLD_SERVERS.items()},
            pool=[s for s, _ in tree.POOL], dead_addr=tree.DEAD_ADDR,
            names=scen, registered={}, serials={t: 1 for t in tree.TLD_SERVERS},
            signed=signed, trust_anchor=anchor)

    def _sign(self, zonefiles, log):
        """Sign the tree (sign.py); writes trust-anchor.ds / .key and dnssec.json in the
        state dir. Returns the DS trust anchor's path."""
        ds, key = sign.sign_tree(zonefiles, os.path.join(self.state_dir, "signing"), log=log)
        path = os.path.join(self.state_dir, "trust-anchor.ds")
        with open(path, "w") as f:
            f.write("\n".join(ds) + "\n")
        with open(os.path.join(self.state_dir, "trust-anchor.key"), "w") as f:
            f.write(key + "\n")
        with open(os.path.join(self.state_dir, "dnssec.json"), "w") as f:
            json.dump(sign.expectations(zonefiles), f, indent=1, sort_keys=True)
        return path

    # ---------------------------------------------------------------- servers
    def _spawn(self, s):
        for f in (s["pidfile"],):
            if os.path.exists(f):
                os.unlink(f)
        r = subprocess.run([NSD, "-c", s["conf"]], capture_output=True, text=True)
        if r.returncode != 0:
            raise TestbedError("nsd %s failed to start: %s%s" % (s["name"], r.stdout, r.stderr))

    def _wait_ready(self, s, deadline):
        """Until the pid file exists and the server answers authoritatively for its zones."""
        probe = s["zones"][-1] if s["zones"] else "."
        addr = s["addrs"][0]
        while True:
            pid = read_pid(s["pidfile"])
            if pid and pid_alive(pid):
                try:
                    r = query(addr, probe, "SOA", timeout=0.2)
                    if r.flags & dns.flags.AA:
                        s["pid"] = pid
                        s["running"] = True
                        return
                except Exception:
                    pass
            if time.monotonic() > deadline:
                tail = ""
                if os.path.exists(s["log"]):
                    with open(s["log"]) as f:
                        tail = f.read()[-2000:]
                raise TestbedError("nsd %s (%s) did not come up; log:\n%s"
                                   % (s["name"], addr, tail))
            time.sleep(0.02)

    def _start_all(self):
        ss = list(self.state["servers"].values())
        for s in ss:
            self._spawn(s)
        deadline = time.monotonic() + 60
        for s in ss:
            self._wait_ready(s, deadline)
        self.save()

    def _stop(self, s, timeout=5.0):
        pid = read_pid(s["pidfile"]) or s.get("pid")
        if pid and pid_alive(pid) and is_our_nsd(pid, s["conf"]):
            pids = [pid] + [k for k in children_of(pid) if is_our_nsd(k, s["conf"])]
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.02)
            for p in pids:
                if pid_alive(p) and is_our_nsd(p, s["conf"]):
                    os.kill(p, signal.SIGKILL)
        s["running"] = False
        s["pid"] = None

    def stop_server(self, addr):
        self.load()
        s = self.server_for_addr(addr)
        self._stop(s)
        self.save()
        return s

    def start_server(self, addr):
        self.load()
        s = self.server_for_addr(addr)
        pid = read_pid(s["pidfile"])
        if pid and pid_alive(pid) and is_our_nsd(pid, s["conf"]):
            raise TestbedError("server %s (%s) is already running, pid %d"
                               % (s["name"], addr, pid))
        self._spawn(s)
        self._wait_ready(s, time.monotonic() + 30)
        self.save()
        return s

    # ---------------------------------------------------------------- down
    def down(self, log=print):
        """Stop every server this testbed started, delete the namespace and the state dir."""
        if os.path.exists(self.state_file):
            try:
                self.load()
            except Exception:
                self.state = None
        stopped = 0
        if self.state:
            for s in self.state["servers"].values():
                if s.get("pid") or os.path.exists(s["pidfile"]):
                    self._stop(s)
                    stopped += 1
        elif os.path.isdir(os.path.join(self.state_dir, "servers")):
            # partial state: stop whatever pid files exist
            for sname in os.listdir(os.path.join(self.state_dir, "servers")):
                d = os.path.join(self.state_dir, "servers", sname)
                s = dict(name=sname, pidfile=os.path.join(d, "nsd.pid"),
                         conf=os.path.join(d, "nsd.conf"))
                self._stop(s)
        left = []
        if os.path.exists(netns_path(self.name)):
            r = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
            left = [int(p) for p in r.stdout.split() if p.strip().isdigit() and
                    int(p) != os.getpid()]
            subprocess.run(["ip", "netns", "del", self.name], check=False)
        if os.path.isdir(self.state_dir):
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if os.path.exists(self.pointer):
            os.unlink(self.pointer)
        if left:
            log("warning: processes not started by the testbed still run in namespace %s: %s"
                % (self.name, " ".join(map(str, left))))
        log("testbed %s down (%d servers stopped)" % (self.name, stopped))

    # ---------------------------------------------------------------- status
    def status(self):
        self.load()
        out = []
        for s in self.state["servers"].values():
            pid = read_pid(s["pidfile"])
            alive = bool(pid and pid_alive(pid))
            answers = False
            if alive:
                try:
                    probe = s["zones"][0]
                    answers = bool(query(s["addrs"][0], probe, "SOA", timeout=0.5).flags
                                   & dns.flags.AA)
                except Exception:
                    answers = False
            out.append(dict(name=s["name"], addrs=s["addrs"], pid=pid if alive else None,
                            alive=alive, answers=answers, zones=len(s["zones"]),
                            zone_names=s["zones"][:6]))
        return out

    # ---------------------------------------------------------------- stats
    def query_counts(self, only=None):
        """{server name: num.queries} for every running server (or the named ones)."""
        self.load()
        procs = {}
        for s in self.state["servers"].values():
            if only is not None and s["name"] not in only:
                continue
            pid = read_pid(s["pidfile"])
            if not (pid and pid_alive(pid)):
                continue
            procs[s["name"]] = subprocess.Popen(
                [NSD_CONTROL, "-c", s["conf"], "stats_noreset"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        res = {}
        for name, p in procs.items():
            out = p.communicate(timeout=20)[0]
            if p.returncode != 0:
                raise TestbedError("nsd-control stats_noreset on %s failed: %s" % (name, out))
            m = re.search(r"^num\.queries=(\d+)", out, re.M)
            res[name] = int(m.group(1)) if m else 0
        return res

    def query_count(self, addr=None):
        """Queries received by the server at addr (0 if it is stopped), or by all servers."""
        if addr is None:
            return sum(self.query_counts().values())
        self.load()
        s = self.server_for_addr(addr)
        return self.query_counts(only=[s["name"]]).get(s["name"], 0)

    # ---------------------------------------------------------------- register
    def register(self, domain, log=print):
        """Register DOMAIN (NAME.TLD): hosted zone on four pool servers + delegation."""
        self.load()
        fd = self.lock()
        try:
            self.load()
            return self._register(domain, log)
        finally:
            os.close(fd)

    def _refuse_signed(self, what):
        if self.state.get("signed"):
            raise TestbedError("%s is not supported on a signed testbed: it would leave the "
                               "TLD's SOA signature and NSEC chain stale" % what)

    def _register(self, domain, log):
        self._refuse_signed("register")
        d = domain.strip().lower().rstrip(".")
        labels = d.split(".")
        if len(labels) != 2 or not all(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", l)
                                       for l in labels):
            raise TestbedError("cannot register %r: expected NAME.TLD (one label under a TLD)"
                               % domain)
        tld = labels[1]
        if tld not in tree.REGISTRABLE_TLDS:
            raise TestbedError("cannot register %s: unknown TLD .%s (the testbed has: %s)"
                               % (d, tld, ", ".join(tree.REGISTRABLE_TLDS)))
        zname = d + "."
        # 1. free at the TLD? Ask every TLD server over the wire.
        for addr in self.state["tlds"][tld]:
            try:
                r = query(addr, zname, "NS", timeout=2)
            except Exception as e:
                raise TestbedError("cannot register %s: TLD server %s does not answer (%s)"
                                   % (d, addr, e))
            if r.rcode() == dns.rcode.NXDOMAIN:
                continue
            ns = [rr.to_text() for rrs in r.authority + r.answer
                  if rrs.rdtype == dns.rdatatype.NS and rrs.name == dns.name.from_text(zname)
                  for rr in rrs]
            if ns:
                raise TestbedError("cannot register %s: already delegated at .%s (%s) to %s"
                                   % (d, tld, addr, ", ".join(ns)))
            raise TestbedError("cannot register %s: the name exists in the .%s zone (%s "
                               "answers %s)" % (d, tld, addr, dns.rcode.to_text(r.rcode())))
        if zname in self.state["registered"] or any(
                zname in s["zones"] for s in self.state["servers"].values()):
            raise TestbedError("cannot register %s: a zone of that name already exists" % d)
        # 2. four distinct running pool servers
        running = [self.state["servers"][p] for p in self.state["pool"]]
        running = [s for s in running if (read_pid(s["pidfile"]) and
                                          pid_alive(read_pid(s["pidfile"])))]
        if len(running) < 4:
            raise TestbedError("cannot register %s: need four running pool servers, have %d"
                               % (d, len(running)))
        k = len(self.state["registered"])
        running = running[k % len(running):] + running[:k % len(running)]
        chosen = running[:4]
        nss = []
        for i, s in enumerate(chosen):
            addr = s["addrs"][k % len(s["addrs"])]
            nss.append(("ns%d.%s" % (i + 1, zname), addr, s))
        default_a = "203.0.113.%d" % (k % 254 + 1)
        # 3. the hosted zone
        lines = ["$TTL 3600", tree.soa(zname, nss[0][0], 1, 300)]
        lines += ["%s IN NS %s" % (zname, n) for n, _, _ in nss]
        lines += [tree.addr_rr(n, a) for n, a, _ in nss]
        lines += ["%s IN A %s" % (zname, default_a), "www.%s IN A %s" % (zname, default_a)]
        text = "\n".join(lines) + "\n"
        for _, _, s in nss:
            with open(os.path.join(s["dir"], "zones", zone_file_name(zname)), "w") as f:
                f.write(text)
            nsd_control(s, "addzone", zname.rstrip("."), "leaf")
            s["zones"].append(zname)
        # 4. delegation with glue in the TLD zone, serial bumped, reload
        self.state["serials"][tld] += 1
        serial = self.state["serials"][tld]
        deleg = "\n".join("%s 86400 IN NS %s" % (zname, n) for n, _, _ in nss) + "\n" + \
            "\n".join(tree.addr_rr(n, a, 86400) for n, a, _ in nss) + "\n"
        for sname in self.state["tld_servers"][tld]:
            s = self.state["servers"][sname]
            path = os.path.join(s["dir"], "zones", zone_file_name(tld + "."))
            with open(path) as f:
                zt = f.read()
            zt = bump_serial(zt, tld + ".", serial) + deleg
            with open(path + ".tmp", "w") as f:
                f.write(zt)
            os.replace(path + ".tmp", path)
            nsd_control(s, "reload", tld + ".")
        self.state["registered"][zname] = dict(
            tld=tld, ns=[[n, a, s["name"]] for n, a, s in nss], a=default_a)
        self.save()
        # 5. wait until the TLD servers delegate and the four servers answer
        deadline = time.monotonic() + 15
        for addr in self.state["tlds"][tld]:
            wait_for(lambda: is_referral(query(addr, zname, "NS", timeout=0.5), zname, serial),
                     deadline, "TLD server %s to delegate %s" % (addr, zname))
        for _, addr, _ in nss:
            wait_for(lambda: query(addr, zname, "SOA", timeout=0.5).flags & dns.flags.AA,
                     deadline, "%s to serve %s" % (addr, zname))
        for n, a, s in nss:
            log("%s %s" % (n, a))
        return [(n, a) for n, a, _ in nss]

    # ---------------------------------------------------------------- delegate
    def delegate(self, child, ns, ttl=86400):
        """Delegate CHILD (any name below a TLD of the tree) from its TLD zone to servers
        the testbed does not run (the hardening tests' hostile servers on 127.66.x.y):
        ns is a list of (NS name, address or None); an address becomes glue (only for an
        NS name inside CHILD, as in a real parent zone), None leaves the name glueless.
        ttl: TTL of the NS and glue records. Reloads the TLD servers and waits until they
        refer CHILD. The lines are tagged so undelegate() removes them."""
        self.load()
        fd = self.lock()
        try:
            self.load()
            zname = child.strip().lower().rstrip(".") + "."
            tld = zname.rstrip(".").rsplit(".", 1)[-1]
            if tld not in self.state["tlds"] or zname == tld + ".":
                raise TestbedError("cannot delegate %s: not below a TLD of the testbed"
                                   % child)
            tag = " ; cairn-delegate %s" % zname
            lines = []
            for n, a in ns:
                n = n.lower() if n.endswith(".") else n.lower() + "."
                lines.append("%s %d IN NS %s%s" % (zname, ttl, n, tag))
            for n, a in ns:
                n = n.lower() if n.endswith(".") else n.lower() + "."
                if a and (n == zname or n.endswith("." + zname)):
                    lines.append("%s%s" % (tree.addr_rr(n, a, ttl), tag))
            self._edit_tld(tld, zname, lines)
            self.state.setdefault("delegated", {})[zname] = dict(ns=list(map(list, ns)),
                                                                 ttl=ttl)
            self.save()
        finally:
            os.close(fd)
        deadline = time.monotonic() + 15
        for addr in self.state["tlds"][tld]:
            wait_for(lambda: is_referral(query(addr, zname, "NS", timeout=0.5), zname),
                     deadline, "TLD server %s to delegate %s" % (addr, zname))

    def undelegate(self, child):
        """Remove a delegation made by delegate(); waits until the TLD servers answer
        NXDOMAIN for CHILD."""
        self.load()
        fd = self.lock()
        try:
            self.load()
            zname = child.strip().lower().rstrip(".") + "."
            tld = zname.rstrip(".").rsplit(".", 1)[-1]
            self._edit_tld(tld, zname, [])
            self.state.setdefault("delegated", {}).pop(zname, None)
            self.save()
        finally:
            os.close(fd)
        deadline = time.monotonic() + 15
        for addr in self.state["tlds"][tld]:
            wait_for(lambda: query(addr, zname, "NS", timeout=0.5).rcode() == dns.rcode.NXDOMAIN,
                     deadline, "TLD server %s to forget %s" % (addr, zname))

    def _edit_tld(self, tld, zname, lines):
        """Replace the tagged lines for zname in the TLD zone on every TLD server, bump the
        serial, reload (lock held)."""
        self._refuse_signed("delegate/undelegate")
        tag = " ; cairn-delegate %s" % zname
        self.state["serials"][tld] += 1
        serial = self.state["serials"][tld]
        for sname in self.state["tld_servers"][tld]:
            s = self.state["servers"][sname]
            path = os.path.join(s["dir"], "zones", zone_file_name(tld + "."))
            with open(path) as f:
                zt = f.read()
            kept = [l for l in zt.splitlines() if not l.endswith(tag)]
            zt = bump_serial("\n".join(kept) + "\n", tld + ".", serial)
            zt += "".join(l + "\n" for l in lines)
            with open(path + ".tmp", "w") as f:
                f.write(zt)
            os.replace(path + ".tmp", path)
            nsd_control(s, "reload", tld + ".")


# -------------------------------------------------------------------- helpers
def zone_file_name(zname):
    return "root.zone" if zname == "." else zname.rstrip(".") + ".zone"


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def is_our_nsd(pid, conf):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return conf.encode() in argv


def nsd_control(s, *args):
    r = subprocess.run([NSD_CONTROL, "-c", s["conf"]] + list(args),
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0 or r.stdout.startswith("error"):
        raise TestbedError("nsd-control %s on %s failed: %s%s"
                           % (" ".join(args), s["name"], r.stdout, r.stderr))
    return r.stdout


def bump_serial(text, zname, serial):
    pat = re.compile(r"^(%s\s+(?:\d+\s+)?IN\s+SOA\s+\S+\s+\S+\s+)(\d+)" % re.escape(zname), re.M)
    new, n = pat.subn(lambda m: m.group(1) + str(serial), text, count=1)
    if n != 1:
        raise TestbedError("no SOA line found in zone %s" % zname)
    return new


def is_referral(r, zname, serial=None):
    n = dns.name.from_text(zname)
    return any(rrs.rdtype == dns.rdatatype.NS and rrs.name == n for rrs in r.authority)


def wait_for(pred, deadline, what):
    last = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception as e:
            last = e
        time.sleep(0.02)
    raise TestbedError("timed out waiting for %s%s" % (what, " (%s)" % last if last else ""))


def write_nsd_conf(s):
    d = s["dir"]
    lines = ["server:"]
    lines += ["  ip-address: %s" % a for a in s["addrs"]]
    lines += [
        "  port: 53",
        "  server-count: 1",
        "  username: \"\"",
        "  chroot: \"\"",
        "  zonesdir: \"%s\"" % os.path.join(d, "zones"),
        "  pidfile: \"%s\"" % s["pidfile"],
        "  database: \"\"",
        "  zonelistfile: \"%s\"" % os.path.join(d, "zone.list"),
        "  xfrdfile: \"%s\"" % os.path.join(d, "xfrd.state"),
        "  xfrdir: \"%s\"" % os.path.join(d, "xfr"),
        "  logfile: \"%s\"" % s["log"],
        "  verbosity: 1",
        "  hide-version: yes",
        "  identity: \"%s\"" % s["name"],
        "  tcp-count: 200",
        # Debian's NSD has response rate limiting on (200 qps per /24): every resolver in
        # the testbed asks from 127.0.0.0/24, so RRL would drop and slip its queries.
        "  rrl-ratelimit: 0",
        "  rrl-whitelist-ratelimit: 0",
        "  zonefiles-check: yes",
        "remote-control:",
        "  control-enable: yes",
        "  control-interface: \"%s\"" % s["ctl"],
        "pattern:",
        "  name: \"leaf\"",
        "  zonefile: \"%s.zone\"",
    ]
    for z in s["zones"]:
        lines += ["zone:", "  name: \"%s\"" % z, "  zonefile: \"%s\"" % zone_file_name(z)]
    with open(s["conf"], "w") as f:
        f.write("\n".join(lines) + "\n")
