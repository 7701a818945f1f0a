/*
 * The DNSSEC crypto, through OpenSSL 3's libcrypto (EVP APIs only): signature verification
 * for RSA/SHA-256 and SHA-512 (RFC 5702), ECDSA P-256/SHA-256 and P-384/SHA-384 (RFC 6605),
 * Ed25519 and Ed448 (RFC 8080); DS digests SHA-256 (RFC 4509) and SHA-384 (RFC 6605); the
 * NSEC3 hash (RFC 5155 5). The only file of cairn that includes OpenSSL headers: keys are
 * built from their DNSKEY wire form for each verification and freed at once (no state).
 */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "resolver/dnssec.h"

#define RSA_MIN_BITS 1024 /* RFC 8624 3.1 is silent; keys below are refused (Unbound) */
#define RSA_MAX_BITS 4096 /* RFC 3110 allows 4096; bounds the work one key can cost */

bool cn_dnssec_alg_supported(uint8_t alg)
{
	switch (alg) {
	case CN_DNSSEC_ALG_RSASHA256:
	case CN_DNSSEC_ALG_RSASHA512:
	case CN_DNSSEC_ALG_ECDSAP256SHA256:
	case CN_DNSSEC_ALG_ECDSAP384SHA384:
	case CN_DNSSEC_ALG_ED25519:
	case CN_DNSSEC_ALG_ED448:
		return true;
	default:
		return false;
	}
}

bool cn_dnssec_digest_supported(uint8_t type)
{
	return type == CN_DNSSEC_DIGEST_SHA256 || type == CN_DNSSEC_DIGEST_SHA384;
}

/* RSA public key from RFC 3110 2: exponent length (1 octet, or 0 and 2 octets), exponent,
 * modulus. */
static EVP_PKEY *rsa_key(const uint8_t *k, size_t len)
{
	size_t elen, p;
	if (len < 1)
		return NULL;
	if (k[0]) {
		elen = k[0];
		p = 1;
	} else {
		if (len < 3)
			return NULL;
		elen = (size_t)k[1] << 8 | k[2];
		p = 3;
	}
	if (elen == 0 || elen > 8 || elen >= len - p)
		return NULL; /* exponents above 64 bits are refused: they only cost time */
	size_t mlen = len - p - elen;
	if (mlen * 8 < RSA_MIN_BITS || mlen * 8 > RSA_MAX_BITS || k[p + elen] == 0)
		return NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *e = BN_bin2bn(k + p, (int)elen, NULL);
	BIGNUM *n = BN_bin2bn(k + p + elen, (int)mlen, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!e || !n || !bld || !ctx || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/* ECDSA public key (RFC 6605 4): Q as x | y, each 32 (P-256) or 48 (P-384) octets. */
static EVP_PKEY *ec_key(const char *group, size_t coord, const uint8_t *k, size_t len)
{
	if (len != 2 * coord)
		return NULL;
	uint8_t point[1 + 2 * 48];
	point[0] = 0x04; /* uncompressed point (SEC 1 2.3.3) */
	memcpy(point + 1, k, len);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + len),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* ECDSA signature r | s (RFC 6605 4) to the DER form EVP expects. Returns the DER length
 * (in a buffer the caller frees with OPENSSL_free) or 0. */
static size_t ec_sig_der(const uint8_t *sig, size_t len, size_t coord, uint8_t **der)
{
	if (len != 2 * coord)
		return 0;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)coord, NULL);
	BIGNUM *s = BN_bin2bn(sig + coord, (int)coord, NULL);
	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return 0;
	}
	*der = NULL;
	int n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es); /* frees r and s */
	return n > 0 ? (size_t)n : 0;
}

static EVP_PKEY *make_key(uint8_t alg, const uint8_t *k, size_t len, const EVP_MD **md)
{
	switch (alg) {
	case CN_DNSSEC_ALG_RSASHA256:
		*md = EVP_sha256();
		return rsa_key(k, len);
	case CN_DNSSEC_ALG_RSASHA512:
		*md = EVP_sha512();
		return rsa_key(k, len);
	case CN_DNSSEC_ALG_ECDSAP256SHA256:
		*md = EVP_sha256();
		return ec_key("P-256", 32, k, len);
	case CN_DNSSEC_ALG_ECDSAP384SHA384:
		*md = EVP_sha384();
		return ec_key("P-384", 48, k, len);
	case CN_DNSSEC_ALG_ED25519:
		*md = NULL;
		return len == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k, len)
				 : NULL;
	case CN_DNSSEC_ALG_ED448:
		*md = NULL;
		return len == 57 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED448, NULL, k, len)
				 : NULL;
	default:
		return NULL;
	}
}

cn_dnssec_result_t cn_dnssec_verify_sig(const cn_dnskey_t *key, const cn_rrsig_t *sig,
					const uint8_t *data, size_t len)
{
	if (!cn_dnssec_alg_supported(sig->alg))
		return CN_DNSSEC_UNSUPPORTED_ALG;
	if (key->alg != sig->alg)
		return CN_DNSSEC_BOGUS;
	const EVP_MD *md = NULL;
	EVP_PKEY *pkey = make_key(key->alg, key->key, key->key_len, &md);
	if (!pkey)
		return CN_DNSSEC_BOGUS;
	const uint8_t *s = sig->sig;
	size_t slen = sig->sig_len;
	uint8_t *der = NULL;
	if (key->alg == CN_DNSSEC_ALG_ECDSAP256SHA256 || key->alg == CN_DNSSEC_ALG_ECDSAP384SHA384) {
		slen = ec_sig_der(sig->sig, sig->sig_len,
				  key->alg == CN_DNSSEC_ALG_ECDSAP256SHA256 ? 32 : 48, &der);
		s = der;
	}
	int ok = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx && slen && EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1)
		ok = EVP_DigestVerify(ctx, s, slen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return ok ? CN_DNSSEC_SECURE : CN_DNSSEC_BOGUS;
}

/* ------------------------------------------------------------------------------------ */

static bool digest(const EVP_MD *md, const uint8_t *a, size_t alen, const uint8_t *b,
		   size_t blen, uint8_t *out, unsigned *out_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		  EVP_DigestUpdate(ctx, a, alen) == 1 &&
		  (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
		  EVP_DigestFinal_ex(ctx, out, out_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

cn_dnssec_result_t cn_dnssec_ds_match(const cn_ds_t *ds, const uint8_t *owner,
				      const cn_dnskey_t *key)
{
	if (!cn_dnssec_digest_supported(ds->digest_type))
		return CN_DNSSEC_UNSUPPORTED_DIGEST;
	if (!cn_dnssec_alg_supported(ds->alg))
		return CN_DNSSEC_UNSUPPORTED_ALG;
	if (ds->tag != key->tag || ds->alg != key->alg)
		return CN_DNSSEC_BOGUS;
	const EVP_MD *md = ds->digest_type == CN_DNSSEC_DIGEST_SHA256 ? EVP_sha256()
								     : EVP_sha384();
	/* digest = hash(canonical owner name | DNSKEY RDATA), RFC 4034 5.1.4 */
	uint8_t name[CN_DNAME_MAX], out[EVP_MAX_MD_SIZE];
	size_t nlen = cn_dname_copy(name, owner);
	cn_dname_lower(name);
	unsigned olen = 0;
	if (!digest(md, name, nlen, key->rdata, key->rdlen, out, &olen))
		return CN_DNSSEC_BOGUS;
	return olen == ds->digest_len && memcmp(out, ds->digest, olen) == 0 ? CN_DNSSEC_SECURE
									   : CN_DNSSEC_BOGUS;
}

int cn_nsec3_hash(const uint8_t *name, uint8_t alg, const uint8_t *salt, size_t salt_len,
		  uint16_t iterations, uint8_t *out)
{
	if (alg != CN_NSEC3_HASH_SHA1)
		return -EINVAL;
	/* IH(salt, x, 0) = H(x | salt); IH(salt, x, k) = H(IH(salt, x, k-1) | salt) */
	uint8_t lower[CN_DNAME_MAX];
	size_t nlen = cn_dname_copy(lower, name);
	cn_dname_lower(lower);
	unsigned olen = 0;
	if (!digest(EVP_sha1(), lower, nlen, salt, salt_len, out, &olen))
		return -ENOMEM;
	for (unsigned i = 0; i < iterations; i++)
		if (!digest(EVP_sha1(), out, CN_NSEC3_HASH_LEN, salt, salt_len, out, &olen))
			return -ENOMEM;
	return 0;
}
