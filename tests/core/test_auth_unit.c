/* Accounts without a database: password hashing, tokens, validation and
 * the rate limiter's windows. */
#include "check.h"

#include "auth_internal.h"
#include "kino/error.h"

static void test_password_hash(void)
{
	char h1[256], h2[256];
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_auth_password_hash("correct horse", h1, sizeof(h1), &err), 0);
	CHECK_INT_EQ(kino_auth_password_hash("correct horse", h2, sizeof(h2), &err), 0);
	CHECK(strncmp(h1, "scrypt$32768$8$1$", 17) == 0);
	CHECK(strcmp(h1, h2) != 0); /* salted */
	CHECK(strstr(h1, "correct") == NULL);
	CHECK(kino_auth_password_verify("correct horse", h1));
	CHECK(kino_auth_password_verify("correct horse", h2));
	CHECK(!kino_auth_password_verify("correct hors", h1));
	CHECK(!kino_auth_password_verify("", h1));

	/* Tampered or hostile records never verify, and never cost unbounded
	 * memory (N is bounded). */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s", h1);
	bad[strlen(bad) - 3] ^= 1;
	CHECK(!kino_auth_password_verify("correct horse", bad));
	CHECK(!kino_auth_password_verify("correct horse", "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"));
	CHECK(!kino_auth_password_verify("correct horse", "plain"));
	CHECK(!kino_auth_password_verify("correct horse", ""));
}

static void test_tokens(void)
{
	char a[KINO_AUTH_TOKEN_LEN + 1], b[KINO_AUTH_TOKEN_LEN + 1];
	char da[SHA256_HEX_LEN + 1], db[SHA256_HEX_LEN + 1];

	CHECK_INT_EQ(auth_token_new(a), 0);
	CHECK_INT_EQ(auth_token_new(b), 0);
	CHECK_INT_EQ(strlen(a), KINO_AUTH_TOKEN_LEN);
	CHECK(strcmp(a, b) != 0);
	for (const char *p = a; *p; p++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
	auth_token_digest(a, da);
	auth_token_digest(b, db);
	CHECK_INT_EQ(strlen(da), 64);
	CHECK(strcmp(da, db) != 0);
	/* The SHA-256 of "abc", a published test vector. */
	auth_token_digest("abc", da);
	CHECK_STR_EQ(da, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_validation(void)
{
	kino_error_t err = {0};
	char longpw[1100];

	CHECK_INT_EQ(kino_auth_validate("ana@example.com", "12345678", &err), 0);
	CHECK_INT_EQ(kino_auth_validate("ana.example.com", "12345678", &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "email");
	CHECK_INT_EQ(kino_auth_validate("ana@example", "12345678", &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_auth_validate("a b@example.com", "12345678", &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_auth_validate("a@b@example.com", "12345678", &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_auth_validate("ana@example.com", "1234567", &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "password");
	memset(longpw, 'x', 1025);
	longpw[1025] = '\0';
	CHECK_INT_EQ(kino_auth_validate("ana@example.com", longpw, &err), KINO_EINVAL);

	kino_role_t r;
	CHECK(kino_role_parse("analyst", &r) && r == KINO_ROLE_ANALYST);
	CHECK(!kino_role_parse("root", &r));
	CHECK(KINO_ROLE_VIEWER < KINO_ROLE_ANALYST && KINO_ROLE_ANALYST < KINO_ROLE_ADMIN);
}

static void test_rate_windows(void)
{
	static rate_limiter_t rl;
	int retry;

	rate_init(&rl, 1000);
	CHECK_INT_EQ(rate_peek(&rl, "a", 0, &retry), 0);
	rate_hit(&rl, "a", 0);
	rate_hit(&rl, "a", 10);
	rate_hit(&rl, "b", 10);
	CHECK_INT_EQ(rate_peek(&rl, "a", 500, &retry), 2);
	CHECK_INT_EQ(retry, 500);
	CHECK_INT_EQ(rate_peek(&rl, "b", 500, NULL), 1);
	CHECK_INT_EQ(rate_peek(&rl, "a", 1000, NULL), 0); /* a new window */
	rate_hit(&rl, "a", 1000);
	rate_reset(&rl, "a");
	CHECK_INT_EQ(rate_peek(&rl, "a", 1001, NULL), 0);
	rate_destroy(&rl);
}

int main(void)
{
	RUN_TEST(test_password_hash);
	RUN_TEST(test_tokens);
	RUN_TEST(test_validation);
	RUN_TEST(test_rate_windows);
	return 0;
}
