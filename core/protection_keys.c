/* The keys of protected assets: see include/kino/protection.h.
 *
 * A protected asset has one content key and one KID. The key never lies in
 * the media store in the clear: keys.json holds it wrapped with AES-256-GCM
 * under the master key, with the KID as additional data, so a keys.json
 * copied onto another asset (another KID) does not open:
 *
 *   {"version":1,"scheme":"cenc","kid":"<32 hex>","wrap":"A256GCM",
 *    "iv":"<b64url 12 bytes>","key":"<b64url 16 bytes>","tag":"<b64url 16>"}
 *
 * The master key is the one secret to keep: with it and the media store
 * one can decrypt every protected asset. It follows the pattern of the
 * playback keyring: configured, or a 0600 file made on first use. */
#define KINO_LOG_MODULE "protection"
#include "kino/protection.h"

#include "base64url.h"
#include "kino/error.h"
#include "kino/fs.h"
#include "kino/log.h"

#include <bson/bson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define KEYS_JSON_MAX 4096

/* Decodes exactly 32 bytes of base64url text (surrounding blanks allowed). */
static int master_from_text(const char *text, uint8_t out[KINO_PROTECTION_MASTER_KEY_LEN],
			    const char *where, kino_error_t *err)
{
	char buf[128];
	size_t n;
	long got;

	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	n = strcspn(text, " \t\r\n");
	if (n >= sizeof(buf))
		return kino_error_set(err, KINO_ECONFIG, "%s: the master key is too long", where);
	memcpy(buf, text, n);
	buf[n] = '\0';
	got = b64url_decode(buf, out, KINO_PROTECTION_MASTER_KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (got != KINO_PROTECTION_MASTER_KEY_LEN)
		return kino_error_set(err, KINO_ECONFIG,
				      "%s: the master key must be base64url (no padding) "
				      "of 32 bytes", where);
	return 0;
}

/* Creates path with a new random master key; mode 0600. */
static int master_file_create(const char *path, uint8_t out[KINO_PROTECTION_MASTER_KEY_LEN],
			      kino_error_t *err)
{
	char dir[4096], text[64], *slash;
	int ret = 0, fd = -1;
	size_t n;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (kino_fs_mkdir_p(dir, 0700) != 0) {
			ret = kino_error_set(err, KINO_EIO, "cannot create '%s': %s", dir,
					     strerror(errno));
			goto out;
		}
	}
	if (RAND_bytes(out, KINO_PROTECTION_MASTER_KEY_LEN) != 1) {
		ret = kino_error_set(err, KINO_EIO, "the random number generator failed");
		goto out;
	}
	n = b64url_encode(out, KINO_PROTECTION_MASTER_KEY_LEN, text);
	text[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* Another process made it first: use theirs. */
		ret = 1;
		goto out;
	}
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
		ret = kino_error_set(err, KINO_EIO, "cannot write '%s': %s", path, strerror(errno));
		if (fd >= 0)
			unlink(path);
		goto out;
	}
	KINO_LOG_INFO("created the content-protection master key in %s", path);
out:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(text, sizeof(text));
	if (ret != 0)
		OPENSSL_cleanse(out, KINO_PROTECTION_MASTER_KEY_LEN);
	return ret;
}

int kino_protection_master_key_load(const char *spec_or_path,
				    uint8_t out[KINO_PROTECTION_MASTER_KEY_LEN], kino_error_t *err)
{
	char text[256];
	struct stat st;
	ssize_t n;
	int fd, ret;

	if (spec_or_path == NULL || *spec_or_path == '\0')
		return kino_error_set(err, KINO_ECONFIG, "no content-protection master key");
	if (strchr(spec_or_path, '/') == NULL)
		return master_from_text(spec_or_path, out, "keys.master", err);

	fd = open(spec_or_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		ret = master_file_create(spec_or_path, out, err);
		if (ret <= 0)
			return ret;
		fd = open(spec_or_path, O_RDONLY | O_CLOEXEC); /* lost the race */
	}
	if (fd < 0)
		return kino_error_set(err, KINO_EIO, "cannot read '%s': %s", spec_or_path,
				      strerror(errno));
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		KINO_LOG_WARN("%s is readable by others (mode %03o): chmod 600 it", spec_or_path,
			      (unsigned)(st.st_mode & 0777));
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return kino_error_set(err, KINO_EIO, "cannot read '%s': %s", spec_or_path,
				      strerror(errno));
	text[n] = '\0';
	ret = master_from_text(text, out, spec_or_path, err);
	OPENSSL_cleanse(text, sizeof(text));
	return ret;
}

int kino_protection_asset_key_new(kino_protection_asset_key_t *out, kino_error_t *err)
{
	if (RAND_bytes(out->kid, sizeof(out->kid)) != 1 ||
	    RAND_bytes(out->key, sizeof(out->key)) != 1) {
		kino_protection_asset_key_wipe(out);
		return kino_error_set(err, KINO_EIO, "the random number generator failed");
	}
	return 0;
}

void kino_protection_asset_key_wipe(kino_protection_asset_key_t *k)
{
	if (k != NULL)
		OPENSSL_cleanse(k, sizeof(*k));
}

void kino_protection_kid_uuid(const uint8_t kid[KINO_PROTECTION_KEY_LEN], char out[37])
{
	char *p = out;

	for (int i = 0; i < KINO_PROTECTION_KEY_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", kid[i]);
	}
	*p = '\0';
}

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static int hex_decode(const char *hex, uint8_t *out, size_t len)
{
	if (strlen(hex) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* AES-256-GCM of 16 bytes; enc = 1 wraps, 0 unwraps (and checks tag). */
static int gcm(int enc, const uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN],
	       const uint8_t iv[GCM_IV_LEN], const uint8_t kid[KINO_PROTECTION_KEY_LEN],
	       const uint8_t in[KINO_PROTECTION_KEY_LEN], uint8_t out[KINO_PROTECTION_KEY_LEN],
	       uint8_t tag[GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ok, n = 0, fin = 0;

	ok = ctx != NULL &&
	     EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) == 1 &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, master, iv, enc) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &n, kid, KINO_PROTECTION_KEY_LEN) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, KINO_PROTECTION_KEY_LEN) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + n, &fin) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		OPENSSL_cleanse(out, KINO_PROTECTION_KEY_LEN);
	return ok ? 0 : -1;
}

int kino_protection_keys_write(const char *asset_dir,
			       const uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN],
			       const kino_protection_asset_key_t *k, kino_error_t *err)
{
	uint8_t iv[GCM_IV_LEN], wrapped[KINO_PROTECTION_KEY_LEN], tag[GCM_TAG_LEN];
	char path[4200], kid[33], siv[32], skey[32], stag[32], text[512];
	int ret = 0, fd = -1, n;

	if (RAND_bytes(iv, sizeof(iv)) != 1)
		return kino_error_set(err, KINO_EIO, "the random number generator failed");
	if (gcm(1, master, iv, k->kid, k->key, wrapped, tag) != 0)
		return kino_error_set(err, KINO_EIO, "keys: AES-256-GCM failed");
	hex_encode(k->kid, sizeof(k->kid), kid);
	b64url_encode(iv, sizeof(iv), siv);
	b64url_encode(wrapped, sizeof(wrapped), skey);
	b64url_encode(tag, sizeof(tag), stag);
	n = snprintf(text, sizeof(text),
		     "{\"version\":1,\"scheme\":\"cenc\",\"kid\":\"%s\",\"wrap\":\"A256GCM\","
		     "\"iv\":\"%s\",\"key\":\"%s\",\"tag\":\"%s\"}\n",
		     kid, siv, skey, stag);
	snprintf(path, sizeof(path), "%s/" KINO_PROTECTION_KEYS_FILE, asset_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
		ret = kino_error_set(err, errno == ENOSPC ? KINO_ENOSPC : KINO_EIO,
				     "keys: cannot write '%s': %s", path, strerror(errno));
		if (fd >= 0)
			unlink(path);
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/* A string member of doc, or NULL. */
static const char *member(const bson_t *doc, const char *name)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_UTF8(&it))
		return NULL;
	return bson_iter_utf8(&it, NULL);
}

int kino_protection_keys_read(const char *asset_dir,
			      const uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN],
			      kino_protection_asset_key_t *out, kino_error_t *err)
{
	uint8_t iv[GCM_IV_LEN], wrapped[KINO_PROTECTION_KEY_LEN], tag[GCM_TAG_LEN];
	char path[4200], text[KEYS_JSON_MAX];
	const char *kid, *siv, *skey, *stag, *wrap;
	bson_t doc;
	bson_error_t berr;
	bool parsed = false;
	ssize_t n;
	int ret = 0, fd;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/" KINO_PROTECTION_KEYS_FILE, asset_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return kino_error_set(err, errno == ENOENT ? KINO_ENOENT : KINO_EIO,
				      "keys: '%s': %s", path, strerror(errno));
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return kino_error_set(err, KINO_EIO, "keys: read '%s': %s", path, strerror(errno));
	if ((size_t)n == sizeof(text) - 1)
		return kino_error_set(err, KINO_EPARSE, "keys: '%s' is too large", path);
	text[n] = '\0';
	if (!bson_init_from_json(&doc, text, n, &berr))
		return kino_error_set(err, KINO_EPARSE, "keys: '%s': %s", path, berr.message);
	parsed = true;
	kid = member(&doc, "kid");
	siv = member(&doc, "iv");
	skey = member(&doc, "key");
	stag = member(&doc, "tag");
	wrap = member(&doc, "wrap");
	if (kid == NULL || siv == NULL || skey == NULL || stag == NULL || wrap == NULL ||
	    strcmp(wrap, "A256GCM") != 0 || hex_decode(kid, out->kid, sizeof(out->kid)) != 0 ||
	    b64url_decode(siv, iv, sizeof(iv)) != GCM_IV_LEN ||
	    b64url_decode(skey, wrapped, sizeof(wrapped)) != KINO_PROTECTION_KEY_LEN ||
	    b64url_decode(stag, tag, sizeof(tag)) != GCM_TAG_LEN) {
		ret = kino_error_set(err, KINO_EPARSE, "keys: '%s' is malformed", path);
		goto out;
	}
	if (gcm(0, master, iv, out->kid, wrapped, out->key, tag) != 0)
		ret = kino_error_set(err, KINO_EFORBIDDEN,
				     "keys: the master key does not open '%s'", path);
out:
	if (parsed)
		bson_destroy(&doc);
	if (ret != 0)
		kino_protection_asset_key_wipe(out);
	return ret;
}
