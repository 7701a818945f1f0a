"""Signing the simulated tree (`scripts/testbed up --signed`): a real Debian signer
(ldns-keygen and ldns-signzone from ldnsutils) signs the root, the TLDs and most leaf zones,
bottom-up, each parent carrying its children's DS records; the root's KSK becomes the
testbed's trust anchor. Without --signed none of this runs and the tree is the plain one.

Per zone (SIGNING below): algorithm 8, 13 or 15; NSEC, NSEC3 or NSEC3 with opt-out;
KSK + ZSK or a single combined key; or unsigned (an insecure delegation: no DS in the
parent). BROKEN lists the deliberately broken zones below .test, added to the tree only when
it is signed; the kind of breakage is applied while signing (dates, a decoy DS) or to the
signed text afterwards (records removed, fake keys and signatures added). dnssec.json in
the state dir lists every zone with its signing and what a validator must make of it.
"""
import os
import subprocess
import time

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from . import tree

LDNS_KEYGEN = "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = "/usr/bin/ldns-signzone"
ALG_NAME = {8: "RSASHA256", 13: "ECDSAP256SHA256", 15: "ED25519"}
DS_TTL = 86400

# zone -> (algorithm, denial, split keys). denial: "nsec", "nsec3", "nsec3-optout";
# None: the zone stays unsigned (insecure delegation). Zones not listed (generated leaf
# zones, registrations): algorithm 13, NSEC, one combined key.
SIGNING = {
    ".": (8, "nsec", True),
    "com.": (13, "nsec3-optout", True),
    "net.": (8, "nsec3", True),
    "org.": (15, "nsec", True),
    "test.": (13, "nsec", True),
    "arpa.": (8, "nsec", True),
    "example.com.": (13, "nsec", True),
    "twoaddr.com.": None,                 # insecure, under the opt-out .com
    "example.net.": (15, "nsec3", False),
    "hoster.net.": (8, "nsec", False),
    "example.org.": None,                 # insecure, under the NSEC .org
    "dead.test.": (13, "nsec", False),
    "failover.test.": (13, "nsec", False),
    "in-addr.arpa.": (8, "nsec", False),
    "2.0.192.in-addr.arpa.": (13, "nsec3", False),
}
DEFAULT_SIGNING = (13, "nsec", False)

# Broken zones: name -> (kind, what a validator returns, RFC 8914 EDE)
BROKEN = {
    "expired.test.": ("expired", "bogus", 7),
    "notyet.test.": ("notyet", "bogus", 8),
    "wrongds.test.": ("wrongds", "bogus", 9),
    "norrsig.test.": ("norrsig", "bogus", 10),
    "nodnskey.test.": ("nodnskey", "bogus", 9),
    "badnsec.test.": ("badnsec", "bogus", 12),   # Unbound 1.17 says 6 ("proof failed")
    "keytrap.test.": ("keytrap", "bogus", 6),     # too many validations: over budget
}
KEYTRAP_FAKES = 24   # DNSKEYs sharing the ZSK's key tag, and as many fake RRSIGs over www A


def broken_zones():
    """The broken leaf zones (tree.Zone), on pool-1 and pool-2, for a signed tree."""
    zs = []
    for i, name in enumerate(BROKEN):
        ns = ["ns1." + name]
        body = ["www IN A 192.0.2.%d" % (150 + i), "www IN TXT \"%s\"" % BROKEN[name][0]]
        if BROKEN[name][0] == "badnsec":
            body.append("gone IN A 192.0.2.200")  # signed, then removed: its NSEC stays
        zs.append(tree.Zone(name, ["pool-1", "pool-2"], ns,
                            glue={ns[0]: [tree.pool_addr(1 + i % 2)]}, body=body))
    return zs


def signing_of(zone):
    if zone in BROKEN:
        return (8 if BROKEN[zone][0] == "keytrap" else 13, "nsec", BROKEN[zone][0] == "keytrap")
    return SIGNING.get(zone, DEFAULT_SIGNING)


class Signer:
    """Keys and signatures for the zones of one testbed, in keydir."""

    def __init__(self, keydir, now=None):
        self.keydir = keydir
        self.now = int(now or time.time())
        os.makedirs(keydir, exist_ok=True)

    def keygen(self, zone, alg, ksk):
        args = [LDNS_KEYGEN, "-a", ALG_NAME[alg]] + (["-k"] if ksk else [])
        if alg == 8:
            args += ["-b", "2048"]
        r = subprocess.run(args + [zone], cwd=self.keydir, capture_output=True, text=True,
                           check=True)
        base = os.path.join(self.keydir, r.stdout.strip())
        with open(base + ".key") as f:
            line = f.read().split(";", 1)[0]   # "owner [ttl] IN DNSKEY rdata ;{id = ...}"
        toks = line.split()
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY,
                                 " ".join(toks[toks.index("DNSKEY") + 1:]))
        return base, rd

    def ds_lines(self, zone, key):
        ds = dns.dnssec.make_ds(dns.name.from_text(zone), key, "SHA256")
        return ["%s %d IN DS %s" % (zone, DS_TTL, ds.to_text())]

    def sign(self, zone, text, path):
        """Sign text (the zone file) into path; returns (DS lines for the parent, KSK)."""
        alg, denial, split = signing_of(zone)
        kind = BROKEN.get(zone, (None,))[0]
        keys = [self.keygen(zone, alg, True)]
        if split:
            keys.append(self.keygen(zone, alg, False))
        ksk = keys[0][1]
        if kind == "keytrap":
            text += "".join("%s 3600 IN DNSKEY %s\n" % (zone, k.to_text())
                            for k in fake_keys(keys[1][1], KEYTRAP_FAKES))
        unsigned = path + ".unsigned"
        with open(unsigned, "w") as f:
            f.write(text)
        inc, exp = self.now - 3600, self.now + 30 * 86400
        # a week past or ahead: beyond any validator's clock-skew allowance (Unbound's
        # val-sig-skew-max is a day)
        if kind == "expired":
            inc, exp = self.now - 37 * 86400, self.now - 7 * 86400
        elif kind == "notyet":
            inc, exp = self.now + 7 * 86400, self.now + 37 * 86400
        args = [LDNS_SIGNZONE, "-i", str(inc), "-e", str(exp), "-o", zone, "-f", path]
        if denial.startswith("nsec3"):
            args += ["-n", "-a", "1", "-t", "0"] + (["-p"] if denial == "nsec3-optout" else [])
        r = subprocess.run(args + [unsigned] + [k[0] for k in keys], cwd=self.keydir,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("ldns-signzone %s: %s%s" % (zone, r.stdout, r.stderr))
        if kind:
            break_zone(kind, zone, path, keys)
        if kind == "wrongds":
            _, decoy = self.keygen(zone, alg, True)   # a key the zone never published
            return self.ds_lines(zone, decoy), ksk
        return self.ds_lines(zone, ksk), ksk


def fake_keys(real, n):
    """n DNSKEYs with real's key tag and flags, differing from it and from each other
    (two octets of the modulus moved by +1 and -1: the tag, a plain sum, is kept)."""
    out = []
    key = bytearray(real.key)
    for f in range(n):
        k = bytearray(key)
        i, j = 20 + 2 * f, 120 + 2 * f
        while k[i] == 0xFF:
            i += 2
        while k[j] == 0x00:
            j += 2
        k[i] += 1
        k[j] -= 1
        rd = real.replace(key=bytes(k))
        assert dns.dnssec.key_id(rd) == dns.dnssec.key_id(real)
        out.append(rd)
    return out


def _split(line):
    """(owner, type, rdata) of a zone-file line ldns-signzone wrote, or None."""
    f = line.split(None, 4)
    if len(f) < 5 or line.startswith(";"):
        return None
    return f[0].lower(), f[3].upper(), f[4]


def break_zone(kind, zone, path, keys):
    """Apply one breakage to the signed zone file at path (each keeps the rest valid)."""
    with open(path) as f:
        lines = f.read().splitlines()
    www = "www." + zone
    out = []
    for line in lines:
        s = _split(line)
        if s is None:
            out.append(line)
            continue
        owner, rtype, rdata = s
        covered = rdata.split()[0].upper() if rtype == "RRSIG" else None
        if kind == "norrsig" and owner == www and covered == "A":
            continue                         # www A served without its RRSIG
        if kind == "nodnskey" and (rtype == "DNSKEY" or covered == "DNSKEY"):
            continue                         # the keys the DS points to are gone
        if kind == "badnsec" and owner == "gone." + zone:
            continue                         # name removed, the NSEC chain still names it
        out.append(line)
        if kind == "keytrap" and owner == www and covered == "A":
            out += fake_sigs(line, KEYTRAP_FAKES)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def fake_sigs(line, n):
    """n copies of an RRSIG line with other signature bytes (same tag, same length)."""
    head, b64 = line.rsplit(None, 1)
    import base64
    raw = bytearray(base64.b64decode(b64))
    out = []
    for f in range(n):
        raw[f % len(raw)] ^= 0x5A
        out.append("%s %s" % (head, base64.b64encode(bytes(raw)).decode()))
    return out


def expectations(zones):
    """The dnssec.json table: zone -> signing and what a validator must conclude."""
    res = {}
    for z in zones:
        sg = signing_of(z)
        if z in BROKEN:
            kind, verdict, ede = BROKEN[z]
            res[z] = dict(alg=sg[0], denial=sg[1], kind=kind, expect=verdict, ede=ede,
                          qname="www." + z, qtype="A")
        elif SIGNING.get(z, DEFAULT_SIGNING) is None:
            res[z] = dict(alg=None, denial=None, kind="unsigned", expect="insecure")
        else:
            res[z] = dict(alg=sg[0], denial=sg[1], kind="signed", expect="secure")
    res["badnsec.test."].update(qname="gone.badnsec.test.", qtype="A")
    return res


def sign_tree(zonefiles, work, log=print):
    """Sign every zone of zonefiles ({zone: (text, servers)}) deepest first, adding each
    signed child's DS to its parent's text; writes work/<zone>.signed and replaces the texts
    with the signed ones. Returns (root DS lines, root KSK presentation line)."""
    signer = Signer(os.path.join(work, "keys"))
    order = sorted(zonefiles, key=lambda z: -len(dns.name.from_text(z).labels))
    root = None
    t0 = time.monotonic()
    signed = 0
    for z in order:
        text, servers = zonefiles[z]
        if SIGNING.get(z, DEFAULT_SIGNING) is None and z not in BROKEN:
            continue
        signed += 1
        path = os.path.join(work, ("root" if z == "." else z.rstrip(".")) + ".signed")
        ds, ksk = signer.sign(z, text, path)
        with open(path) as f:
            zonefiles[z] = (f.read(), servers)
        if z == ".":
            root = (ds, ". %d IN DNSKEY %s" % (DS_TTL, ksk.to_text()))
            continue
        parent = z.split(".", 1)[1] or "."
        while parent not in zonefiles:
            parent = parent.split(".", 1)[1] or "."
        ptext, pservers = zonefiles[parent]
        zonefiles[parent] = (ptext + "\n".join(ds) + "\n", pservers)
    log("signed %d of %d zones in %.1fs" % (signed, len(order), time.monotonic() - t0))
    return root
