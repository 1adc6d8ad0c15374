/* Internals of the accounts module, shared by core/auth_*.c only. */
#ifndef KINO_CORE_AUTH_INTERNAL_H
#define KINO_CORE_AUTH_INTERNAL_H

#include "kino/auth.h"

#include <bson/bson.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SHA256_HEX_LEN 64

/* A fixed-window counter table. Keys that collide share a slot and evict
 * each other: an attacker spraying many keys can only make the limit
 * forget, never block someone else. */
#define RATE_SLOTS 4096

typedef struct rate_slot {
	char key[300];
	int64_t window_start_ms;
	int count;
} rate_slot_t;

typedef struct rate_limiter {
	pthread_mutex_t lock;
	int window_ms;
	rate_slot_t slots[RATE_SLOTS];
} rate_limiter_t;

/* Sessions looked up lately (core/auth_session_cache.c). */
#define SESSION_CACHE_SLOTS 4096

typedef struct session_cache_slot {
	char digest[SHA256_HEX_LEN];
	kino_user_t user;
	int64_t until_ms; /* 0: empty */
} session_cache_slot_t;

typedef struct session_cache {
	pthread_mutex_t lock;
	int ttl_ms; /* 0: off */
	session_cache_slot_t slots[SESSION_CACHE_SLOTS];
} session_cache_t;

struct kino_auth {
	kino_db_t *db;
	const kino_auth_config_t *cfg;
	rate_limiter_t by_account; /* failed sign-ins per email */
	rate_limiter_t by_address; /* sign-in attempts per peer address */
	session_cache_t sessions;
	atomic_bool indexes_ready;
};

void session_cache_init(session_cache_t *c, int ttl_ms);
void session_cache_destroy(session_cache_t *c);
/* The user of a session looked up less than ttl ago (and not expired). */
bool session_cache_get(session_cache_t *c, const char *digest, int64_t now_ms,
		       kino_user_t *out);
/* Remembers a session found live, until now + ttl or its expiry. */
void session_cache_put(session_cache_t *c, const char *digest, const kino_user_t *user,
		       int64_t now_ms, int64_t expires_ms);
void session_cache_forget(session_cache_t *c, const char *digest);
/* Every session of the user: after their role changed. */
void session_cache_forget_user(session_cache_t *c, const char *user_id);

void rate_init(rate_limiter_t *rl, int window_ms);
void rate_destroy(rate_limiter_t *rl);
/* The count in the current window for key, without changing it. Returns
 * the milliseconds until the window ends in *retry_ms. */
int rate_peek(rate_limiter_t *rl, const char *key, int64_t now_ms, int *retry_ms);
void rate_hit(rate_limiter_t *rl, const char *key, int64_t now_ms);
void rate_reset(rate_limiter_t *rl, const char *key);

/* 32 random bytes as base64url; KINO_EIO if the RNG fails. */
int auth_token_new(char token[KINO_AUTH_TOKEN_LEN + 1]);
/* The SHA-256 of a token, in hex: what the database stores. */
void auth_token_digest(const char *token, char hex[SHA256_HEX_LEN + 1]);

int64_t auth_now_ms(void);

/* The token of "Authorization: Bearer <token>", or NULL. */
const char *auth_request_token(kino_http_request_t *req);

/* ---- the store (core/auth_store.c): all blocking ---- */
typedef struct stored_user {
	kino_user_t user;
	char password_hash[256];
} stored_user_t;

int store_user_insert(kino_auth_t *auth, const char *email, const char *hash,
		      kino_role_t role, kino_user_t *out, struct kino_error *err);
/* KINO_ENOENT when there is no such user. */
int store_user_by_email(kino_auth_t *auth, const char *email,
			stored_user_t *out, struct kino_error *err);
int store_user_by_id(kino_auth_t *auth, const char *id, kino_user_t *out,
		     struct kino_error *err);
int store_session_insert(kino_auth_t *auth, const char *digest,
			 const kino_user_t *user, int64_t expires_ms,
			 struct kino_error *err);
/* The user id of a live session; KINO_ENOENT when unknown, expired or
 * revoked. */
int store_session_user(kino_auth_t *auth, const char *digest,
		       char user_id[32], int64_t *expires_ms, struct kino_error *err);
/* KINO_ENOENT when no live session had that digest. */
int store_session_revoke(kino_auth_t *auth, const char *digest,
			 struct kino_error *err);
int store_ensure_indexes(kino_auth_t *auth, struct kino_error *err);
/* One page of accounts (see kino_auth_user_list): `pattern` is a $regex on
 * the email or NULL, `role` and `after` may be NULL. */
int store_user_list(kino_auth_t *auth, const char *pattern, const kino_role_t *role,
		    const bson_oid_t *after, int limit,
		    void (*fn)(const kino_user_t *user, void *ud), void *ud, bool *more,
		    struct kino_error *err);
/* Sets the role and role_changed_at of a user; KINO_ENOENT when there is no
 * such user. */
int store_user_set_role(kino_auth_t *auth, const char *id, kino_role_t role,
			struct kino_error *err);
/* How many accounts have `role`. */
int store_role_count(kino_auth_t *auth, kino_role_t role, int64_t *n /* OUT */,
		     struct kino_error *err);

#endif
