/* Signed playback tokens: see include/kino/playback.h for the format.
 *
 * Verification is the hot path of the origin (every segment request), so
 * it allocates nothing and does one HMAC-SHA256 over a short string. The
 * MAC covers everything before ".<mac>", so no field can be changed or
 * moved without breaking it, and the version and key id are bound too. */
#define KINO_LOG_MODULE "playback"
#include "kino/playback.h"

#include "base64url.h"
#include "kino/error.h"
#include "kino/fs.h"
#include "kino/log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEYS 16
#define KID_MAX 16
#define SECRET_MIN 32
#define SECRET_MAX 64
#define MAC_LEN 32
#define SESSION_MAX 32
#define PREFIX_MAX 255

typedef struct playback_key {
	char kid[KID_MAX + 1];
	unsigned char secret[SECRET_MAX];
	size_t len;
} playback_key_t;

struct kino_playback_keyring {
	playback_key_t keys[MAX_KEYS]; /* keys[0] signs */
	int nkeys;
};

static bool kid_ok(const char *kid, size_t len)
{
	if (len == 0 || len > KID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = kid[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool hex_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

kino_playback_keyring_t *kino_playback_keyring_new(const char *spec, kino_error_t *err)
{
	kino_playback_keyring_t *kr = calloc(1, sizeof(*kr));
	const char *p = spec;

	if (kr == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		char secret[128];
		playback_key_t *k;
		long n;

		while (len > 0 && (*p == ' ' || *p == '\n')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\n' || p[len - 1] == '\r'))
			len--;
		if (len == 0)
			goto next;
		colon = memchr(p, ':', len);
		if (kr->nkeys == MAX_KEYS) {
			kino_error_set(err, KINO_ECONFIG, "playback.keys: more than %d keys", MAX_KEYS);
			goto fail;
		}
		if (colon == NULL || !kid_ok(p, (size_t)(colon - p))) {
			kino_error_set(err, KINO_ECONFIG,
				       "playback.keys: key %d: expected kid:secret with a kid of 1 to %d letters, digits, '-' or '_'",
				       kr->nkeys + 1, KID_MAX);
			goto fail;
		}
		k = &kr->keys[kr->nkeys];
		memcpy(k->kid, p, (size_t)(colon - p));
		snprintf(secret, sizeof(secret), "%.*s", (int)(len - (size_t)(colon + 1 - p)), colon + 1);
		n = b64url_decode(secret, k->secret, sizeof(k->secret));
		OPENSSL_cleanse(secret, sizeof(secret));
		if (n < SECRET_MIN) {
			/* Never quote the secret itself. */
			kino_error_set(err, KINO_ECONFIG,
				       "playback.keys: key '%s': the secret must be base64url of %d to %d bytes",
				       k->kid, SECRET_MIN, SECRET_MAX);
			goto fail;
		}
		k->len = (size_t)n;
		for (int i = 0; i < kr->nkeys; i++) {
			if (strcmp(kr->keys[i].kid, k->kid) == 0) {
				kino_error_set(err, KINO_ECONFIG, "playback.keys: key id '%s' appears twice", k->kid);
				goto fail;
			}
		}
		kr->nkeys++;
next:
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (kr->nkeys == 0) {
		kino_error_set(err, KINO_ECONFIG, "playback.keys: no key given");
		goto fail;
	}
	return kr;
fail:
	kino_playback_keyring_destroy(kr);
	return NULL;
}

void kino_playback_keyring_destroy(kino_playback_keyring_t *kr)
{
	if (kr == NULL)
		return;
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

kino_playback_keyring_t *kino_playback_keyring_load_or_create(const char *path,
							      kino_error_t *err)
{
	char spec[4096], dir[4096], *slash;
	kino_playback_keyring_t *kr;
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		unsigned char raw[32];
		char secret[64], kid[KID_MAX + 1];
		time_t now = time(NULL);
		struct tm tm;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash != NULL) {
			*slash = '\0';
			if (kino_fs_mkdir_p(dir, 0700) != 0) {
				kino_error_set(err, KINO_EIO, "cannot create '%s': %s", dir, strerror(errno));
				return NULL;
			}
		}
		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			kino_error_set(err, KINO_EIO, "the random number generator failed");
			return NULL;
		}
		gmtime_r(&now, &tm);
		strftime(kid, sizeof(kid), "k%Y%m%d", &tm);
		b64url_encode(raw, sizeof(raw), secret);
		OPENSSL_cleanse(raw, sizeof(raw));
		n = snprintf(spec, sizeof(spec), "%s:%s\n", kid, secret);
		OPENSSL_cleanse(secret, sizeof(secret));
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, spec, (size_t)n) != n || fsync(fd) != 0) {
			kino_error_set(err, KINO_EIO, "cannot write '%s': %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			unlink(path);
			OPENSSL_cleanse(spec, sizeof(spec));
			return NULL;
		}
		close(fd);
		KINO_LOG_INFO("created playback signing key '%s' in %s", kid, path);
	} else if (fd < 0) {
		kino_error_set(err, KINO_EIO, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	} else {
		if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
			KINO_LOG_WARN("%s is readable by others (mode %03o): chmod 600 it",
				      path, (unsigned)(st.st_mode & 0777));
		n = read(fd, spec, sizeof(spec) - 1);
		close(fd);
		if (n < 0) {
			kino_error_set(err, KINO_EIO, "cannot read '%s': %s", path, strerror(errno));
			return NULL;
		}
		spec[n] = '\0';
	}
	kr = kino_playback_keyring_new(spec, err);
	OPENSSL_cleanse(spec, sizeof(spec));
	if (kr == NULL)
		kino_error_prefix(err, "%s", path);
	return kr;
}

static void mac_of(const playback_key_t *k, const char *text, size_t len,
		   unsigned char mac[MAC_LEN])
{
	unsigned int maclen = MAC_LEN;

	HMAC(EVP_sha256(), k->secret, (int)k->len, (const unsigned char *)text, len, mac,
	     &maclen);
}

int kino_playback_token_sign(const kino_playback_keyring_t *kr, const char *prefix,
			     const char *session_id, int64_t expires_at, char *out,
			     size_t size, kino_error_t *err)
{
	size_t plen = strlen(prefix), n;
	char prefix64[4 * (PREFIX_MAX + 2) / 3 + 4], mac64[48];
	unsigned char mac[MAC_LEN];
	int r;

	if (plen == 0 || plen > PREFIX_MAX || prefix[plen - 1] != '/' || prefix[0] == '/' ||
	    strstr(prefix, "..") != NULL)
		return kino_error_set(err, KINO_EINVAL,
				      "prefix: must be a relative path ending with '/', without '..'");
	if (!hex_ok(session_id, strlen(session_id), SESSION_MAX))
		return kino_error_set(err, KINO_EINVAL, "session_id: 1 to %d lower-case hex digits",
				      SESSION_MAX);
	if (expires_at <= 0)
		return kino_error_set(err, KINO_EINVAL, "expires_at: must be positive");
	b64url_encode((const unsigned char *)prefix, plen, prefix64);
	r = snprintf(out, size, "v1.%s.%lld.%s.%s", kr->keys[0].kid, (long long)expires_at,
		     session_id, prefix64);
	if (r < 0 || (size_t)r + 1 + 43 >= size)
		return kino_error_set(err, KINO_EINVAL, "token buffer too small");
	n = (size_t)r;
	mac_of(&kr->keys[0], out, n, mac);
	b64url_encode(mac, MAC_LEN, mac64);
	snprintf(out + n, size - n, ".%s", mac64);
	return 0;
}

static int refuse(kino_error_t *err, const char *why)
{
	return kino_error_set(err, KINO_EFORBIDDEN, "playback token: %s", why);
}

int kino_playback_token_verify(const kino_playback_keyring_t *kr, const char *token,
			       const char *path, int64_t now,
			       kino_playback_grant_t *grant, kino_error_t *err)
{
	const char *field[6], *p = token;
	size_t flen[6];
	int nf = 0;
	const playback_key_t *key = NULL;
	unsigned char mac[MAC_LEN], want[MAC_LEN];
	char num[24], prefix64[4 * (PREFIX_MAX + 2) / 3 + 4], prefix[PREFIX_MAX + 1];
	long long expires;
	char *end;
	long plen;

	if (strlen(token) >= KINO_PLAYBACK_TOKEN_MAX)
		return refuse(err, "malformed");
	for (;;) {
		const char *dot = strchr(p, '.');
		if (nf == 6)
			return refuse(err, "malformed");
		field[nf] = p;
		flen[nf] = dot ? (size_t)(dot - p) : strlen(p);
		nf++;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	if (nf != 6 || flen[0] != 2 || memcmp(field[0], "v1", 2) != 0)
		return refuse(err, "malformed");
	for (int i = 0; i < kr->nkeys; i++)
		if (strlen(kr->keys[i].kid) == flen[1] &&
		    memcmp(kr->keys[i].kid, field[1], flen[1]) == 0)
			key = &kr->keys[i];
	if (key == NULL)
		return refuse(err, "unknown key");
	if (flen[5] != 43)
		return refuse(err, "bad signature");
	char mac64[44];
	memcpy(mac64, field[5], 43);
	mac64[43] = '\0';
	if (b64url_decode(mac64, want, sizeof(want)) != MAC_LEN)
		return refuse(err, "bad signature");
	mac_of(key, token, (size_t)(field[5] - 1 - token), mac);
	if (CRYPTO_memcmp(mac, want, MAC_LEN) != 0)
		return refuse(err, "bad signature");

	/* Signed by us: the fields are ours, but still parse them strictly. */
	if (flen[2] == 0 || flen[2] >= sizeof(num))
		return refuse(err, "malformed");
	memcpy(num, field[2], flen[2]);
	num[flen[2]] = '\0';
	expires = strtoll(num, &end, 10);
	if (*end != '\0' || expires <= 0)
		return refuse(err, "malformed");
	if (expires <= now)
		return refuse(err, "expired");
	if (!hex_ok(field[3], flen[3], SESSION_MAX) || flen[4] >= sizeof(prefix64))
		return refuse(err, "malformed");
	memcpy(prefix64, field[4], flen[4]);
	prefix64[flen[4]] = '\0';
	plen = b64url_decode(prefix64, (unsigned char *)prefix, PREFIX_MAX);
	if (plen <= 0)
		return refuse(err, "malformed");
	prefix[plen] = '\0';
	if (strncmp(path, prefix, (size_t)plen) != 0 || strstr(path, "..") != NULL)
		return refuse(err, "the path is outside the token's prefix");
	if (grant != NULL) {
		snprintf(grant->kid, sizeof(grant->kid), "%s", key->kid);
		grant->expires_at = expires;
		snprintf(grant->session_id, sizeof(grant->session_id), "%.*s", (int)flen[3], field[3]);
		snprintf(grant->prefix, sizeof(grant->prefix), "%s", prefix);
	}
	return 0;
}
