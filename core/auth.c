/* Accounts: see include/kino/auth.h. This file holds the rules (what an
 * email and a password must be, when a sign-in is refused, what a session
 * is); core/auth_store.c holds the MongoDB side and core/auth_password.c
 * the cryptography. */
#define KINO_LOG_MODULE "auth"
#include "auth_internal.h"

#include "kino/error.h"
#include "kino/log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define EMAIL_MAX 254

/* A valid hash of a random password, verified when the email is unknown so
 * that a missing account takes as long to refuse as a wrong password. */
static char decoy_hash[256];
static pthread_once_t decoy_once = PTHREAD_ONCE_INIT;

static void decoy_init(void)
{
	char pw[KINO_AUTH_TOKEN_LEN + 1];

	if (auth_token_new(pw) != 0 ||
	    kino_auth_password_hash(pw, decoy_hash, sizeof(decoy_hash), NULL) != 0)
		decoy_hash[0] = '\0';
}

static const char *const role_names[] = {"viewer", "analyst", "admin"};

const char *kino_role_name(kino_role_t role)
{
	if ((int)role < 0 || role > KINO_ROLE_ADMIN)
		return "viewer";
	return role_names[role];
}

bool kino_role_parse(const char *s, kino_role_t *out)
{
	for (int i = 0; i <= KINO_ROLE_ADMIN; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (kino_role_t)i;
			return true;
		}
	}
	return false;
}

kino_auth_t *kino_auth_new(kino_db_t *db, const kino_auth_config_t *cfg,
			   kino_error_t *err)
{
	kino_auth_t *auth = calloc(1, sizeof(*auth));

	if (auth == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	auth->db = db;
	auth->cfg = cfg;
	rate_init(&auth->by_account, cfg->signin_window_ms);
	rate_init(&auth->by_address, cfg->signin_window_ms);
	session_cache_init(&auth->sessions, cfg->session_cache_ms);
	pthread_once(&decoy_once, decoy_init);
	return auth;
}

void kino_auth_destroy(kino_auth_t *auth)
{
	if (auth == NULL)
		return;
	rate_destroy(&auth->by_account);
	rate_destroy(&auth->by_address);
	session_cache_destroy(&auth->sessions);
	free(auth);
}

int kino_auth_ensure_indexes(kino_auth_t *auth, kino_error_t *err)
{
	int ret = store_ensure_indexes(auth, err);

	if (ret == 0)
		atomic_store(&auth->indexes_ready, true);
	return ret;
}

/* Deliberately plain: one '@', a non-empty local part, a domain with a dot
 * and no spaces or control characters. Deliverability is the mail
 * server's business, not a regex's. */
static bool email_ok(const char *email)
{
	const char *at = strchr(email, '@');
	size_t len = strlen(email);

	if (len < 3 || len > EMAIL_MAX || at == NULL || at == email ||
	    strchr(at + 1, '@') != NULL)
		return false;
	for (const unsigned char *p = (const unsigned char *)email; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	const char *dot = strrchr(at, '.');
	return dot != NULL && dot > at + 1 && dot[1] != '\0';
}

int kino_auth_validate(const char *email, const char *password, kino_error_t *err)
{
	size_t plen;

	if (email == NULL || !email_ok(email))
		return kino_error_set(err, KINO_EINVAL, "email: not a valid email address");
	plen = password ? strlen(password) : 0;
	if (plen < PASSWORD_MIN)
		return kino_error_set(err, KINO_EINVAL,
				      "password: must be at least %d characters", PASSWORD_MIN);
	if (plen > PASSWORD_MAX)
		return kino_error_set(err, KINO_EINVAL,
				      "password: must be at most %d bytes", PASSWORD_MAX);
	return 0;
}

static void lower(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

int kino_auth_user_create(kino_auth_t *auth, const char *email,
			  const char *password, kino_role_t role,
			  kino_user_t *out, kino_error_t *err)
{
	char norm[EMAIL_MAX + 2], hash[256];
	int ret;

	ret = kino_auth_validate(email, password, err);
	if (ret != 0)
		return ret;
	lower(norm, sizeof(norm), email);
	/* The unique index is what makes two sign-ups with one email
	 * impossible; make sure it exists before the first insert. */
	if (!atomic_load(&auth->indexes_ready)) {
		ret = store_ensure_indexes(auth, err);
		if (ret != 0)
			return ret;
		atomic_store(&auth->indexes_ready, true);
	}
	ret = kino_auth_password_hash(password, hash, sizeof(hash), err);
	if (ret != 0)
		return ret;
	ret = store_user_insert(auth, norm, hash, role, out, err);
	if (ret == 0)
		KINO_LOG_INFO("created %s account %s", kino_role_name(role), out ? out->id : "");
	return ret;
}

int kino_auth_user_get(kino_auth_t *auth, const char *id, kino_user_t *out,
		       kino_error_t *err)
{
	return store_user_by_id(auth, id, out, err);
}

int kino_auth_user_list(kino_auth_t *auth, const kino_auth_user_query_t *q,
			void (*fn)(const kino_user_t *user, void *ud), void *ud, bool *more,
			kino_error_t *err)
{
	char low[EMAIL_MAX + 2], pattern[2 * EMAIL_MAX + 4];
	bson_oid_t after;
	bool have_after = q->after != NULL && q->after[0] != '\0';

	*more = false;
	if (q->limit < 1 || q->limit > KINO_AUTH_LIST_MAX)
		return kino_error_set(err, KINO_EINVAL, "limit: an integer from 1 to %d",
				      KINO_AUTH_LIST_MAX);
	if (have_after) {
		if (strlen(q->after) != 24 || !bson_oid_is_valid(q->after, 24))
			return kino_error_set(err, KINO_EINVAL, "cursor: not a cursor of this list");
		bson_oid_init_from_string(&after, q->after);
	}
	if (q->q != NULL && q->q[0] != '\0') {
		/* Emails are stored in lower case, so lower-casing the query makes
		 * the search case-insensitive without $options, the same on
		 * MongoDB and FerretDB. */
		if (strlen(q->q) > EMAIL_MAX || !bson_utf8_validate(q->q, strlen(q->q), false))
			return kino_error_set(err, KINO_EINVAL, "q: at most %d bytes of UTF-8",
					      EMAIL_MAX);
		lower(low, sizeof(low), q->q);
		if (!kino_db_regex_escape(pattern, sizeof(pattern), low))
			return kino_error_set(err, KINO_EINVAL, "q: too long");
	}
	return store_user_list(auth, q->q != NULL && q->q[0] != '\0' ? pattern : NULL,
			       q->by_role ? &q->role : NULL, have_after ? &after : NULL, q->limit,
			       fn, ud, more, err);
}

static int last_admin(const kino_user_t *target, kino_error_t *err)
{
	return kino_error_set(err, KINO_ECONFLICT,
			      "role: %s is the last administrator; make another account an "
			      "administrator first",
			      target->email);
}

int kino_auth_user_set_role(kino_auth_t *auth, const char *id, kino_role_t role,
			    const kino_user_t *actor, kino_user_t *out, kino_error_t *err)
{
	kino_user_t target;
	kino_error_t undo = {0};
	int64_t admins;
	int ret;

	ret = store_user_by_id(auth, id, &target, err);
	if (ret == KINO_ENOENT)
		return kino_error_set(err, KINO_ENOENT, "no such user");
	if (ret != 0)
		return ret;
	if (target.role == role)
		goto done;
	if (target.role == KINO_ROLE_ADMIN) {
		/* The common case answered before any write... */
		ret = store_role_count(auth, KINO_ROLE_ADMIN, &admins, err);
		if (ret != 0)
			return ret;
		if (admins <= 1)
			return last_admin(&target, err);
	}
	ret = store_user_set_role(auth, id, role, err);
	if (ret != 0)
		return ret;
	session_cache_forget_user(&auth->sessions, id); /* the next request reads it */
	if (target.role == KINO_ROLE_ADMIN) {
		/* ...and the race checked after the write: two admins demoting
		 * each other may both have counted two. The last of them to
		 * count sees every demotion written before it, so whoever sees
		 * none left puts their target back. */
		ret = store_role_count(auth, KINO_ROLE_ADMIN, &admins, err);
		if (ret == 0 && admins < 1)
			ret = last_admin(&target, err);
		if (ret != 0) {
			if (store_user_set_role(auth, id, KINO_ROLE_ADMIN, &undo) != 0)
				KINO_LOG_ERROR("could not give %s back the admin role: %s", target.email,
					       kino_error_message(&undo));
			session_cache_forget_user(&auth->sessions, id);
			return ret;
		}
	}
	KINO_LOG_INFO("%s changed the role of %s from %s to %s", actor ? actor->email : "?",
		      target.email, kino_role_name(target.role), kino_role_name(role));
	target.role = role;
done:
	if (out != NULL)
		*out = target;
	return 0;
}

int kino_auth_session_open(kino_auth_t *auth, const kino_user_t *user,
			   char token[KINO_AUTH_TOKEN_LEN + 1], kino_error_t *err)
{
	char digest[SHA256_HEX_LEN + 1];

	if (auth_token_new(token) != 0)
		return kino_error_set(err, KINO_EIO, "the random number generator failed");
	auth_token_digest(token, digest);
	return store_session_insert(auth, digest, user,
				    auth_now_ms() + (int64_t)auth->cfg->session_ttl_s * 1000, err);
}

int kino_auth_signin(kino_auth_t *auth, const char *email, const char *password,
		     const char *peer, char token[KINO_AUTH_TOKEN_LEN + 1],
		     kino_user_t *user, kino_error_t *err)
{
	char norm[EMAIL_MAX + 2];
	stored_user_t found;
	int64_t now = auth_now_ms();
	int retry_ms = 0, ret;
	bool ok;

	if (email == NULL || password == NULL || strlen(email) > EMAIL_MAX ||
	    strlen(password) > PASSWORD_MAX)
		return kino_error_set(err, KINO_EAUTH, "wrong email or password");
	lower(norm, sizeof(norm), email);

	/* Every attempt counts against the address; failures against the
	 * account. Checked before any work, so a flood costs no scrypt. */
	if (rate_peek(&auth->by_address, peer, now, &retry_ms) >=
		    auth->cfg->signin_limit_address ||
	    rate_peek(&auth->by_account, norm, now, &retry_ms) >=
		    auth->cfg->signin_limit_account) {
		KINO_LOG_WARN("sign-in rate limit reached (address %s)", peer);
		return kino_error_set(err, KINO_ERATELIMIT,
				      "too many sign-in attempts; retry in %d s",
				      retry_ms / 1000 + 1);
	}
	rate_hit(&auth->by_address, peer, now);

	ret = store_user_by_email(auth, norm, &found, err);
	if (ret != 0 && ret != KINO_ENOENT)
		return ret;
	if (ret == KINO_ENOENT) {
		kino_auth_password_verify(password, decoy_hash);
		ok = false;
	} else {
		ok = kino_auth_password_verify(password, found.password_hash);
	}
	if (!ok) {
		rate_hit(&auth->by_account, norm, now);
		return kino_error_set(err, KINO_EAUTH, "wrong email or password");
	}
	rate_reset(&auth->by_account, norm);
	ret = kino_auth_session_open(auth, &found.user, token, err);
	if (ret == 0 && user != NULL)
		*user = found.user;
	return ret;
}

int kino_auth_session_check(kino_auth_t *auth, const char *token,
			    kino_user_t *user, kino_error_t *err)
{
	char digest[SHA256_HEX_LEN + 1], user_id[32];
	int64_t now = auth_now_ms(), expires_ms = 0;
	int ret;

	if (token == NULL || strlen(token) != KINO_AUTH_TOKEN_LEN)
		return kino_error_set(err, KINO_EAUTH, "a valid session token is required");
	auth_token_digest(token, digest);
	if (session_cache_get(&auth->sessions, digest, now, user))
		return 0;
	ret = store_session_user(auth, digest, user_id, &expires_ms, err);
	if (ret == KINO_ENOENT)
		return kino_error_set(err, KINO_EAUTH, "the session is unknown, expired or signed out");
	if (ret != 0)
		return ret;
	/* The role is read from the user, not the session, so that a
	 * demotion takes effect (here at once, elsewhere within
	 * auth.session_cache). */
	ret = store_user_by_id(auth, user_id, user, err);
	if (ret == KINO_ENOENT)
		return kino_error_set(err, KINO_EAUTH, "the account no longer exists");
	if (ret == 0)
		session_cache_put(&auth->sessions, digest, user, now, expires_ms);
	return ret;
}

int kino_auth_signout(kino_auth_t *auth, const char *token, kino_error_t *err)
{
	char digest[SHA256_HEX_LEN + 1];
	int ret;

	if (token == NULL || strlen(token) != KINO_AUTH_TOKEN_LEN)
		return kino_error_set(err, KINO_EAUTH, "a valid session token is required");
	auth_token_digest(token, digest);
	session_cache_forget(&auth->sessions, digest);
	ret = store_session_revoke(auth, digest, err);
	if (ret == KINO_ENOENT)
		return kino_error_set(err, KINO_EAUTH, "the session is unknown or signed out already");
	return ret;
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer(kino_http_request_t *req)
{
	const char *h = kino_http_request_header(req, "authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

int kino_auth_require(kino_auth_t *auth, kino_http_request_t *req,
		      kino_role_t role, kino_user_t *user)
{
	kino_error_t err = {0};
	const char *token = bearer(req);
	int ret;

	if (token == NULL) {
		kino_http_response_header(req, "WWW-Authenticate", "Bearer");
		kino_http_respond_error(req, KINO_EAUTH,
					"sign in first: send Authorization: Bearer <token>");
		return KINO_EAUTH;
	}
	ret = kino_auth_session_check(auth, token, user, &err);
	if (ret != 0) {
		if (ret == KINO_EAUTH)
			kino_http_response_header(req, "WWW-Authenticate",
						  "Bearer error=\"invalid_token\"");
		kino_http_respond_error(req, ret, kino_error_message(&err));
		return ret;
	}
	if (user->role < role) {
		char msg[128];
		snprintf(msg, sizeof(msg), "this needs the %s role", kino_role_name(role));
		kino_http_respond_error(req, KINO_EFORBIDDEN, msg);
		return KINO_EFORBIDDEN;
	}
	return 0;
}

const char *auth_request_token(kino_http_request_t *req)
{
	return bearer(req);
}
