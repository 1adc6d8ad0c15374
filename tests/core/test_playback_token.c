/* Playback tokens: round trip, every way of tampering, expiry, escape from
 * the prefix, key rotation, keyring parsing that never echoes a secret, and
 * the key file created on first start. Also base64url against RFC 4648. */
#include "check.h"
#include "testenv.h"

#include "base64url.h"
#include "kino/error.h"
#include "kino/playback.h"

#include <sys/stat.h>

#define SECRET_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define SECRET_B "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"

static void test_base64url(void)
{
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	unsigned char buf[16];
	char out[16];

	for (int i = 0; i < 7; i++) {
		b64url_encode((const unsigned char *)plain[i], strlen(plain[i]), out);
		CHECK_STR_EQ(out, coded[i]);
		CHECK_INT_EQ(b64url_decode(coded[i], buf, sizeof(buf)), (long)strlen(plain[i]));
		CHECK(memcmp(buf, plain[i], strlen(plain[i])) == 0);
	}
	unsigned char bytes[] = {0xfb, 0xff};
	b64url_encode(bytes, 2, out);
	CHECK_STR_EQ(out, "-_8");
	CHECK_INT_EQ(b64url_decode("Zm9v=", buf, sizeof(buf)), -1);  /* padding */
	CHECK_INT_EQ(b64url_decode("Zm+v", buf, sizeof(buf)), -1);   /* alphabet */
	CHECK_INT_EQ(b64url_decode("Z", buf, sizeof(buf)), -1);      /* length */
	CHECK_INT_EQ(b64url_decode("Zh", buf, sizeof(buf)), -1);     /* stray bits */
	CHECK_INT_EQ(b64url_decode("Zm9vYmFy", buf, 5), -1);         /* room */
}

static void test_round_trip_and_tampering(void)
{
	kino_error_t err = {0};
	kino_playback_keyring_t *kr = kino_playback_keyring_new("k1:" SECRET_A, &err);
	kino_playback_grant_t g;
	char tok[KINO_PLAYBACK_TOKEN_MAX], bad[KINO_PLAYBACK_TOKEN_MAX];

	CHECK_MSG(kr != NULL, "%s", err.message);
	CHECK_INT_EQ(kino_playback_token_sign(kr, "a1b2c3/", "0123abcd", 2000000000, tok,
					      sizeof(tok), &err), 0);
	CHECK(strncmp(tok, "v1.k1.2000000000.0123abcd.", 26) == 0);
	CHECK(strchr(tok, '/') == NULL); /* it is one path segment */
	CHECK_INT_EQ(kino_playback_token_verify(kr, tok, "a1b2c3/720p/seg_1.m4s", 1000, &g, &err), 0);
	CHECK_STR_EQ(g.session_id, "0123abcd");
	CHECK_STR_EQ(g.prefix, "a1b2c3/");
	CHECK_STR_EQ(g.kid, "k1");
	CHECK_INT_EQ(g.expires_at, 2000000000);
	CHECK_INT_EQ(kino_playback_token_verify(kr, tok, "a1b2c3/master.m3u8", 1000, NULL, &err), 0);

	/* Expired, and outside the prefix in several spellings. */
	CHECK_INT_EQ(kino_playback_token_verify(kr, tok, "a1b2c3/x", 2000000000, NULL, &err), KINO_EFORBIDDEN);
	CHECK_CONTAINS(err.message, "expired");
	const char *outside[] = {"ffffff/master.m3u8", "a1b2c3", "a1b2c34/x", "a1b2c3/../ffffff/x", "", "/a1b2c3/x"};
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		CHECK_MSG(kino_playback_token_verify(kr, tok, outside[i], 1000, NULL, &err) == KINO_EFORBIDDEN,
			  "path '%s' was allowed", outside[i]);
		CHECK_CONTAINS(err.message, "outside");
	}

	/* Flipping any one character anywhere breaks it. */
	for (size_t i = 0; i < strlen(tok); i++) {
		snprintf(bad, sizeof(bad), "%s", tok);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		CHECK_MSG(kino_playback_token_verify(kr, bad, "a1b2c3/x", 1000, NULL, &err) == KINO_EFORBIDDEN,
			  "a token changed at %zu was accepted: %s", i, bad);
	}
	/* A longer expiry or another prefix, with the old MAC, is refused. */
	snprintf(bad, sizeof(bad), "v1.k1.2100000000%s", tok + strlen("v1.k1.2000000000"));
	CHECK_INT_EQ(kino_playback_token_verify(kr, bad, "a1b2c3/x", 1000, NULL, &err), KINO_EFORBIDDEN);
	CHECK_CONTAINS(err.message, "signature");
	const char *garbage[] = {"", "v1", "v1.k1.1.2.3", "v2.k1.2000000000.0123abcd.YTFiMmMzLw.AAAA",
				 "v1.k9.2000000000.0123abcd.YTFiMmMzLw.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				 "v1.k1.2000000000.0123abcd.YTFiMmMzLw.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x"};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		CHECK(kino_playback_token_verify(kr, garbage[i], "a1b2c3/x", 1000, NULL, &err) == KINO_EFORBIDDEN);

	/* Bad inputs to signing. */
	CHECK_INT_EQ(kino_playback_token_sign(kr, "a1b2c3", "ab", 2000000000, tok, sizeof(tok), &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_playback_token_sign(kr, "../x/", "ab", 2000000000, tok, sizeof(tok), &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_playback_token_sign(kr, "/abs/", "ab", 2000000000, tok, sizeof(tok), &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_playback_token_sign(kr, "a/", "XYZ", 2000000000, tok, sizeof(tok), &err), KINO_EINVAL);
	kino_playback_keyring_destroy(kr);
}

static void test_rotation(void)
{
	kino_error_t err = {0};
	kino_playback_keyring_t *old = kino_playback_keyring_new("k1:" SECRET_A, &err);
	kino_playback_keyring_t *both = kino_playback_keyring_new("k2:" SECRET_B ",k1:" SECRET_A, &err);
	kino_playback_keyring_t *other = kino_playback_keyring_new("k1:" SECRET_B, &err);
	char t1[KINO_PLAYBACK_TOKEN_MAX], t2[KINO_PLAYBACK_TOKEN_MAX];

	CHECK(old && both && other);
	CHECK_INT_EQ(kino_playback_token_sign(old, "a/", "ab", 2000000000, t1, sizeof(t1), &err), 0);
	CHECK_INT_EQ(kino_playback_token_sign(both, "a/", "ab", 2000000000, t2, sizeof(t2), &err), 0);
	CHECK(strncmp(t2, "v1.k2.", 6) == 0); /* the first key signs */
	CHECK_INT_EQ(kino_playback_token_verify(both, t1, "a/x", 1, NULL, &err), 0);
	CHECK_INT_EQ(kino_playback_token_verify(both, t2, "a/x", 1, NULL, &err), 0);
	CHECK_INT_EQ(kino_playback_token_verify(old, t2, "a/x", 1, NULL, &err), KINO_EFORBIDDEN);
	CHECK_CONTAINS(err.message, "unknown key");
	/* Same key id, different secret: the signature does not hold. */
	CHECK_INT_EQ(kino_playback_token_verify(other, t1, "a/x", 1, NULL, &err), KINO_EFORBIDDEN);
	kino_playback_keyring_destroy(old);
	kino_playback_keyring_destroy(both);
	kino_playback_keyring_destroy(other);
}

static void test_keyring_errors_never_show_secrets(void)
{
	const char *specs[] = {"", "nocolon", "k1:short", "bad kid:" SECRET_A, "k1:" SECRET_A ",k1:" SECRET_B,
			       "k1:" SECRET_A "*"};
	kino_error_t err = {0};

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		CHECK_MSG(kino_playback_keyring_new(specs[i], &err) == NULL, "accepted '%s'", specs[i]);
		CHECK_INT_EQ(err.code, KINO_ECONFIG);
		CHECK_CONTAINS(err.message, "playback.keys");
		CHECK(strstr(err.message, "AAECAwQF") == NULL && strstr(err.message, "ICEiIyQl") == NULL);
	}
}

static void test_key_file(void)
{
	char dir[512], path[700], tok[KINO_PLAYBACK_TOKEN_MAX];
	kino_error_t err = {0};
	struct stat st;

	tenv_tmpdir(dir, sizeof(dir), "keys");
	snprintf(path, sizeof(path), "%s/keys/playback.keys", dir);
	kino_playback_keyring_t *a = kino_playback_keyring_load_or_create(path, &err);
	CHECK_MSG(a != NULL, "%s", err.message);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	kino_playback_keyring_t *b = kino_playback_keyring_load_or_create(path, &err);
	CHECK(b != NULL);
	CHECK_INT_EQ(kino_playback_token_sign(a, "x/", "ab", 2000000000, tok, sizeof(tok), &err), 0);
	CHECK_INT_EQ(kino_playback_token_verify(b, tok, "x/y", 1, NULL, &err), 0);
	kino_playback_keyring_destroy(a);
	kino_playback_keyring_destroy(b);
	tenv_rmtree(dir);
}

int main(void)
{
	RUN_TEST(test_base64url);
	RUN_TEST(test_round_trip_and_tampering);
	RUN_TEST(test_rotation);
	RUN_TEST(test_keyring_errors_never_show_secrets);
	RUN_TEST(test_key_file);
	return 0;
}
