/* Accounts: users with roles, passwords under a slow salted KDF, session
 * tokens that are random, stored hashed, expiring and revocable, and a
 * sign-in rate limit per account and per address.
 *
 *   passwords   scrypt (OpenSSL, N=2^15, r=8, p=1, 16-byte salt), stored as
 *               "scrypt$N$r$p$<salt b64>$<hash b64>", compared in constant time
 *   tokens      32 random bytes, base64url (43 characters) to the client;
 *               MongoDB holds only their SHA-256 (collection `sessions`)
 *   roles       viewer < analyst < admin; a route that needs a role admits
 *               the roles above it
 *
 * Everything here that touches the database blocks: call it from a worker
 * thread (KINO_HTTP_BLOCKING routes), never from an event loop. A kino_auth_t
 * may be shared by all threads. */
#ifndef KINO_AUTH_H
#define KINO_AUTH_H

#include "kino/db.h"
#include "kino/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kino_error;

typedef enum kino_role {
	KINO_ROLE_VIEWER = 0,
	KINO_ROLE_ANALYST = 1,
	KINO_ROLE_ADMIN = 2,
} kino_role_t;

typedef struct kino_auth_config {
	int session_ttl_s;         /* auth.session_ttl: 30 days */
	int session_cache_ms;      /* auth.session_cache: 5 s; 0: every request reads */
	int signin_window_ms;      /* auth.signin_window: 15 minutes */
	int signin_limit_account;  /* auth.signin_limit_account: failures per window */
	int signin_limit_address;  /* auth.signin_limit_address: attempts per window */
} kino_auth_config_t;

typedef struct kino_user {
	char id[32];        /* hex ObjectId */
	char email[256];    /* lower-cased */
	kino_role_t role;
	int64_t created_at; /* Unix ms; 0 when unknown */
} kino_user_t;

#define KINO_AUTH_TOKEN_LEN 43 /* base64url of 32 bytes, without padding */

typedef struct kino_auth kino_auth_t;

/* db and cfg are borrowed and must outlive the result. Returns NULL only
 * when out of memory. Free with kino_auth_destroy(). */
kino_auth_t *kino_auth_new(kino_db_t *db, const kino_auth_config_t *cfg,
			   struct kino_error *err);
void kino_auth_destroy(kino_auth_t *auth);

/* Creates the unique index on users.email and the sessions indexes.
 * Idempotent. Blocking. */
int kino_auth_ensure_indexes(kino_auth_t *auth, struct kino_error *err);

const char *kino_role_name(kino_role_t role);
/* "viewer", "analyst", "admin"; false for anything else. */
bool kino_role_parse(const char *s, kino_role_t *out);

/* Checks an email address (syntax and length) and a password (8 to 1024
 * bytes). KINO_EINVAL with a message that names the field. */
int kino_auth_validate(const char *email, const char *password,
		       struct kino_error *err);

/* Creates a user. KINO_EEXIST when the email is taken, KINO_EINVAL for a
 * bad email or password, KINO_EDB when the database fails. Blocking. */
int kino_auth_user_create(kino_auth_t *auth, const char *email,
			  const char *password, kino_role_t role,
			  kino_user_t *out /* OUT, may be NULL */,
			  struct kino_error *err);

/* Checks email and password and opens a session. `peer` is the client's
 * address, for the rate limit. KINO_EAUTH for a wrong email or password
 * (the same answer for both, in the same time), KINO_ERATELIMIT when the
 * account or the address has tried too often. token receives
 * KINO_AUTH_TOKEN_LEN + 1 bytes. Blocking. */
int kino_auth_signin(kino_auth_t *auth, const char *email,
		     const char *password, const char *peer,
		     char token[KINO_AUTH_TOKEN_LEN + 1] /* OUT */,
		     kino_user_t *user /* OUT, may be NULL */,
		     struct kino_error *err);

/* Looks a user up by id. KINO_ENOENT when there is none. Blocking. */
int kino_auth_user_get(kino_auth_t *auth, const char *id,
		       kino_user_t *out /* OUT */, struct kino_error *err);

#define KINO_AUTH_LIST_MAX 100

typedef struct kino_auth_user_query {
	const char *q;      /* a substring of the email (matched in lower case), or NULL */
	bool by_role;       /* only accounts with `role` */
	kino_role_t role;
	const char *after;  /* a user id: the page starts after it; or NULL */
	int limit;          /* 1..KINO_AUTH_LIST_MAX */
} kino_auth_user_query_t;

/* Calls fn on each account of one page, in creation (_id) order, and sets
 * *more when there are accounts after it. fn's user is valid during the
 * call only. KINO_EINVAL (naming the parameter) for a bad cursor, limit or
 * q. Blocking. */
int kino_auth_user_list(kino_auth_t *auth, const kino_auth_user_query_t *q,
			void (*fn)(const kino_user_t *user, void *ud), void *ud,
			bool *more /* OUT */, struct kino_error *err);

/* Gives account `id` the role `role`; `actor` is the admin who asks (for
 * the log). Changing to the role it has already is a no-op. A demotion
 * that would leave no administrator is KINO_ECONFLICT and changes
 * nothing, also when two admins demote each other at once (the admins are
 * counted again after the write and the change undone when none is left:
 * a conditional update would not be atomic on FerretDB). KINO_ENOENT for an unknown id. Sessions
 * stay open: roles are read on every request, so the new role applies to
 * the account's next request. On success *out (may be NULL) is the account
 * with its new role. Blocking. */
int kino_auth_user_set_role(kino_auth_t *auth, const char *id, kino_role_t role,
			    const kino_user_t *actor, kino_user_t *out /* OUT */,
			    struct kino_error *err);

/* Opens a session for a user already known (after sign-up). Blocking. */
int kino_auth_session_open(kino_auth_t *auth, const kino_user_t *user,
			   char token[KINO_AUTH_TOKEN_LEN + 1] /* OUT */,
			   struct kino_error *err);

/* The user of a live session. KINO_EAUTH for an unknown, expired or
 * revoked token. Blocking. */
int kino_auth_session_check(kino_auth_t *auth, const char *token,
			    kino_user_t *user /* OUT */, struct kino_error *err);

/* Revokes a session; revoking an unknown token is KINO_EAUTH. Blocking. */
int kino_auth_signout(kino_auth_t *auth, const char *token,
		      struct kino_error *err);

/* For handlers: reads "Authorization: Bearer <token>" and checks that its
 * user has at least `role`. On success fills user and returns 0. Otherwise
 * it has already answered the request (401 unauthorized, 403 forbidden,
 * 503 when the database is down) and returns the error code. Blocking. */
int kino_auth_require(kino_auth_t *auth, kino_http_request_t *req,
		      kino_role_t role, kino_user_t *user /* OUT */);

/* The routes /api/v1/auth/{signup,signin,signout,me}, to add to a server's
 * table. auth is borrowed. Writes at most `max` routes into out and
 * returns how many it wrote. */
size_t kino_auth_routes(kino_auth_t *auth, kino_http_route_t *out, size_t max);

/* ---- the pieces, exposed for tests and for `kino user` ---- */

/* Hashes a password into "scrypt$..." (at most size bytes). */
int kino_auth_password_hash(const char *password, char *out, size_t size,
			    struct kino_error *err);
/* True when password matches stored; constant time in the hash compare. */
bool kino_auth_password_verify(const char *password, const char *stored);

#endif
