#!/usr/bin/python3
"""Generate tests/unit/resolver/dnssec_vectors.h: real DNSSEC signatures for test_dnssec.c.

Two independent signers, neither of them cairn:
  - dnspython's dns.dnssec (python3-dnspython + python3-cryptography) signs one small zone per
    algorithm 8, 10, 13, 14, 15, 16 (KSK + ZSK, an A RRset, a mixed-case MX, a wildcard),
    and makes DS records (digest types 2 and 4) for each KSK;
  - ldns-signzone (ldnsutils, a real zone signer) signs three zones: algorithm 13 with NSEC,
    algorithm 8 with NSEC3 (salt, 5 iterations), algorithm 15 with NSEC3 opt-out (and an
    unsigned delegation).
The expected NSEC3 hashes come from dnspython's nsec3_hash. Every signature is valid from
2026-01-01 to 2036-01-01 (VEC_NOW is inside). Run it again to regenerate (new keys, new
signatures: the tests do not depend on their bytes):

    /usr/bin/python3 tests/unit/resolver/gen_dnssec_vectors.py > tests/unit/resolver/dnssec_vectors.h
"""
import calendar
import os
import subprocess
import sys
import tempfile

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

INCEPTION = calendar.timegm((2026, 1, 1, 0, 0, 0))
EXPIRATION = calendar.timegm((2036, 1, 1, 0, 0, 0))
NOW = calendar.timegm((2027, 6, 1, 0, 0, 0))

ALGS = {
    8: lambda: rsa.generate_private_key(65537, 2048),
    10: lambda: rsa.generate_private_key(65537, 2048),
    13: lambda: ec.generate_private_key(ec.SECP256R1()),
    14: lambda: ec.generate_private_key(ec.SECP384R1()),
    15: lambda: ed25519.Ed25519PrivateKey.generate(),
    16: lambda: ed448.Ed448PrivateKey.generate(),
}

out = []   # (case, owner text, type, ttl, rdata wire hex)


def emit(case, name, rdtype, ttl, rd):
    out.append((case, name.to_text(), int(rdtype), ttl, rd.to_wire().hex()))


def emit_rrset(case, rrset, owner=None):
    for rd in rrset:
        emit(case, owner or rrset.name, rrset.rdtype, rrset.ttl, rd)


def sign_wildcard(rrset, labels, priv, key, signer):
    """dns.dnssec.sign of dnspython 2.3 counts the "*" label of a wildcard owner (its RRSIG
    then fails dnspython's own validate): build the RRSIG with the right labels field and
    sign the data dnspython lays out for it (which puts back the "*." owner), with the
    same encodings as dnspython's _sign (RFC 3110, RFC 6605 r|s, RFC 8080)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils
    from dns.rdtypes.ANY.RRSIG import RRSIG
    tmpl = RRSIG(dns.rdataclass.IN, dns.rdatatype.RRSIG, rrset.rdtype, key.algorithm, labels,
                 rrset.ttl, EXPIRATION, INCEPTION, dns.dnssec.key_id(key), signer, b"")
    data = dns.dnssec._make_rrsig_signature_data(rrset, tmpl)
    h = {8: hashes.SHA256(), 10: hashes.SHA512(), 13: hashes.SHA256(), 14: hashes.SHA384()}
    if key.algorithm in (8, 10):
        sig = priv.sign(data, padding.PKCS1v15(), h[key.algorithm])
    elif key.algorithm in (13, 14):
        r, s = utils.decode_dss_signature(priv.sign(data, ec.ECDSA(h[key.algorithm])))
        n = 32 if key.algorithm == 13 else 48
        sig = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    else:
        sig = priv.sign(data)
    return tmpl.replace(signature=sig)


def dnspython_zone(alg):
    origin = dns.name.from_text("alg%d.example." % alg)
    ksk_priv, zsk_priv = ALGS[alg](), ALGS[alg]()
    ksk = dns.dnssec.make_dnskey(ksk_priv.public_key(), alg, flags=257)
    zsk = dns.dnssec.make_dnskey(zsk_priv.public_key(), alg, flags=256)
    case = "alg%d" % alg
    keys = dns.rrset.from_rdata(origin, 3600, ksk, zsk)

    def sign(rrset, priv, key, signer_owner=None):
        return dns.dnssec.sign(rrset, priv, origin, key, inception=INCEPTION,
                               expiration=EXPIRATION, verify=True)

    emit_rrset(case, keys)
    emit_rrset(case, dns.rrset.from_rdata(origin, 3600, sign(keys, ksk_priv, ksk)))
    www = dns.rrset.from_text("www.%s" % origin, 300, "IN", "A", "192.0.2.1", "192.0.2.2")
    emit_rrset(case, www)
    emit_rrset(case, dns.rrset.from_rdata(www.name, 300, sign(www, zsk_priv, zsk)))
    # a name inside the RDATA in mixed case: the canonical form lowercases it (RFC 4034 6.2)
    mx = dns.rrset.from_text(origin, 300, "IN", "MX", "10 Mail.%s" % origin.to_text().upper())
    emit_rrset(case, mx)
    emit_rrset(case, dns.rrset.from_rdata(origin, 300, sign(mx, zsk_priv, zsk)))
    # the answer a server synthesises for a.b.wild from *.wild: expanded owner, the
    # wildcard's RRSIG (labels 3: the "*" is not counted, RFC 4034 3.1.3)
    wild = dns.rrset.from_text("*.wild.%s" % origin, 300, "IN", "TXT", '"wildcard"')
    expanded = dns.rrset.from_text("a.b.wild.%s" % origin, 300, "IN", "TXT", '"wildcard"')
    sig = sign_wildcard(expanded, len(wild.name) - 2, zsk_priv, zsk, origin)
    dns.dnssec.validate(expanded, dns.rrset.from_rdata(expanded.name, 300, sig),
                        {origin: keys})
    emit_rrset(case + "_wild", expanded)
    emit(case + "_wild", expanded.name, dns.rdatatype.RRSIG, 300, sig)
    for digest in ("SHA256", "SHA384"):
        emit(case + "_ds", origin, dns.rdatatype.DS, 3600, dns.dnssec.make_ds(origin, ksk, digest))


LDNS_ZONES = [
    # case, zone, algorithm name, NSEC3 options
    ("ldns13", "nsec.example.", "ECDSAP256SHA256", []),
    ("ldns8", "nsec3.example.", "RSASHA256", ["-n", "-a", "1", "-t", "5", "-s", "beef01"]),
    ("ldns15", "optout.example.", "ED25519", ["-n", "-a", "1", "-t", "0", "-p"]),
]


def ldns_zone(case, zone, alg, nsec3, tmp):
    body = ["$TTL 300",
            "@ IN SOA ns.%s host.%s 1 3600 600 86400 60" % (zone, zone),
            "@ IN NS ns.%s" % zone,
            "ns IN A 192.0.2.53",
            "www IN A 192.0.2.1",
            "b.c IN A 192.0.2.3",            # c is an empty non-terminal
            "*.wild IN A 192.0.2.99",
            "txt IN TXT \"hello\"",
            "sub IN NS ns.sub.%s" % zone,     # an unsigned delegation (no DS)
            "ns.sub IN A 192.0.2.54"]
    path = os.path.join(tmp, zone + "zone")
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")
    keys = []
    for ksk in (True, False):
        r = subprocess.run(["ldns-keygen", "-a", alg] + (["-k"] if ksk else []) +
                           (["-b", "2048"] if alg.startswith("RSA") else []) + [zone],
                           cwd=tmp, capture_output=True, text=True, check=True)
        keys.append(os.path.join(tmp, r.stdout.strip()))
    subprocess.run(["ldns-signzone", "-i", str(INCEPTION), "-e", str(EXPIRATION),
                    "-o", zone, "-f", path + ".signed"] + nsec3 + [path] + keys,
                   cwd=tmp, check=True, capture_output=True)
    z = dns.zone.from_file(path + ".signed", origin=zone, relativize=False)
    for name, node in sorted(z.nodes.items()):
        for rds in node.rdatasets:
            for rd in rds:
                emit(case, name, rds.rdtype, rds.ttl, rd)
    if nsec3:
        salt = bytes.fromhex(nsec3[nsec3.index("-s") + 1]) if "-s" in nsec3 else b""
        iters = int(nsec3[nsec3.index("-t") + 1])
        for n in ("nope", "www", "a.b.c", "*", "*.c", "x.wild", "sub", "c", "@"):
            fq = dns.name.from_text(n if n != "@" else "", origin=dns.name.from_text(zone))
            h = dns.dnssec.nsec3_hash(fq, salt, iters, 1)
            out.append((case + "_hash", fq.to_text(), 0, iters, h.lower()))


def main():
    for alg in ALGS:
        dnspython_zone(alg)
    with tempfile.TemporaryDirectory() as tmp:
        for c in LDNS_ZONES:
            ldns_zone(*c, tmp)
    w = sys.stdout.write
    w("/* Generated by tests/unit/resolver/gen_dnssec_vectors.py: do not edit. Signatures\n"
      " * by dnspython's dns.dnssec (cases algN) and by ldns-signzone (cases ldnsN). */\n")
    w("#pragma once\n#include <stdint.h>\n\n")
    w("#define VEC_NOW %dULL        /* inside every validity period */\n" % NOW)
    w("#define VEC_INCEPTION %dULL\n#define VEC_EXPIRATION %dULL\n\n" % (INCEPTION, EXPIRATION))
    w("typedef struct vec_rr {\n\tconst char *kase;\n\tconst char *owner;\n\tuint16_t type;\n"
      "\tuint32_t ttl;  /* NSEC3 hash cases: the iterations */\n"
      "\tconst char *hex; /* RDATA; NSEC3 hash cases: the base32hex hash */\n} vec_rr_t;\n\n")
    w("static const vec_rr_t vec_rrs[] = {\n")
    for case, owner, t, ttl, hx in out:
        w('\t{"%s", "%s", %d, %d, "%s"},\n' % (case, owner.replace("\\", "\\\\"), t, ttl, hx))
    w("};\n#define VEC_COUNT (sizeof(vec_rrs) / sizeof(vec_rrs[0]))\n")


if __name__ == "__main__":
    main()
