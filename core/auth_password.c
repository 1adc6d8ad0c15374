/* Passwords and tokens, on OpenSSL: scrypt for passwords, the OS RNG for
 * tokens, SHA-256 for what the database keeps of a token.
 *
 * scrypt with N=2^15, r=8, p=1 costs 32 MiB and a few tens of milliseconds
 * per hash: slow enough to make offline guessing expensive, cheap enough
 * for sign-in. The parameters are stored with each hash, so they can be
 * raised later without invalidating existing passwords. */
#include "auth_internal.h"

#include "base64url.h"
#include "kino/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCRYPT_N 32768ULL
#define SCRYPT_R 8ULL
#define SCRYPT_P 1ULL
#define SCRYPT_MAXMEM (64ULL * 1024 * 1024)
#define SALT_LEN 16
#define HASH_LEN 32

int64_t auth_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Standard base64 with padding, without newlines: the stored format of
 * scrypt salts and hashes. */
static void b64(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static int unb64(const char *in, unsigned char *out, size_t want)
{
	size_t len = strlen(in);
	unsigned char buf[128];
	int n;

	if (len == 0 || len > 88 || len % 4 != 0)
		return -1;
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts padding bytes as output; drop them. */
	if (in[len - 1] == '=')
		n--;
	if (len > 1 && in[len - 2] == '=')
		n--;
	if ((size_t)n != want)
		return -1;
	memcpy(out, buf, want);
	return 0;
}

static int scrypt(const char *password, const unsigned char *salt, uint64_t N,
		  uint64_t r, uint64_t p, unsigned char *out)
{
	return EVP_PBE_scrypt(password, strlen(password), salt, SALT_LEN, N, r, p,
			      SCRYPT_MAXMEM, out, HASH_LEN) == 1
		       ? 0
		       : -1;
}

int kino_auth_password_hash(const char *password, char *out, size_t size,
			    kino_error_t *err)
{
	unsigned char salt[SALT_LEN], hash[HASH_LEN];
	char salt64[64], hash64[64];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return kino_error_set(err, KINO_EIO, "the random number generator failed");
	if (scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, hash) != 0)
		return kino_error_set(err, KINO_ENOMEM, "scrypt failed");
	b64(salt, sizeof(salt), salt64);
	b64(hash, sizeof(hash), hash64);
	OPENSSL_cleanse(hash, sizeof(hash));
	if ((size_t)snprintf(out, size, "scrypt$%llu$%llu$%llu$%s$%s", SCRYPT_N,
			     SCRYPT_R, SCRYPT_P, salt64, hash64) >= size)
		return kino_error_set(err, KINO_EINVAL, "password hash buffer too small");
	return 0;
}

bool kino_auth_password_verify(const char *password, const char *stored)
{
	unsigned long long N, r, p;
	char salt64[65], hash64[65];
	unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	bool ok;

	if (sscanf(stored, "scrypt$%llu$%llu$%llu$%64[^$]$%64s", &N, &r, &p,
		   salt64, hash64) != 5)
		return false;
	/* Bounds keep a tampered record from costing unbounded memory. */
	if (N < 2 || N > (1ULL << 20) || (N & (N - 1)) != 0 || r < 1 || r > 32 ||
	    p < 1 || p > 16)
		return false;
	if (unb64(salt64, salt, sizeof(salt)) != 0 ||
	    unb64(hash64, want, sizeof(want)) != 0)
		return false;
	if (scrypt(password, salt, N, r, p, got) != 0)
		return false;
	ok = CRYPTO_memcmp(got, want, HASH_LEN) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

int auth_token_new(char token[KINO_AUTH_TOKEN_LEN + 1])
{
	unsigned char raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return KINO_EIO;
	b64url_encode(raw, sizeof(raw), token);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void auth_token_digest(const char *token, char hex[SHA256_HEX_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	static const char digits[] = "0123456789abcdef";

	SHA256((const unsigned char *)token, strlen(token), md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[SHA256_HEX_LEN] = '\0';
}
