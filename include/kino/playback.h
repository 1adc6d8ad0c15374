/* Signed playback URLs: who may fetch which manifests and segments, until
 * when, verifiable by anyone holding the key, with no database.
 *
 * A playback URL carries its token as the first path segment after /media/,
 * so that every URL a player derives from a manifest by relative reference
 * carries it too:
 *
 *     /media/<token>/<asset_id>/master.m3u8
 *     /media/<token>/<asset_id>/720p/seg_00001.m4s      (relative to the above)
 *
 * A token is "v1.<kid>.<expires>.<session>.<prefix>.<mac>", where
 *     kid      the key's id (letters, digits, '-', '_'; at most 16)
 *     expires  Unix seconds
 *     session  the playback session id (hex, at most 32)
 *     prefix   base64url (no padding) of the path prefix the token opens,
 *              "<asset_id>/": the token is good for that subtree only
 *     mac      base64url (no padding) of HMAC-SHA256(key, the text before
 *              ".<mac>"), 43 characters
 * docs/playback-tokens.md says how a CDN edge verifies one.
 *
 * Keys rotate: a keyring holds one signing key and any number of older keys
 * that still verify. Threads: a keyring is immutable once built and may be
 * shared by all threads. */
#ifndef KINO_PLAYBACK_H
#define KINO_PLAYBACK_H

#include <stddef.h>
#include <stdint.h>

struct kino_error;

#define KINO_PLAYBACK_TOKEN_MAX 512

typedef struct kino_playback_config {
	char keys[2048];   /* playback.keys: "" = <data_dir>/keys/playback.keys */
	int token_ttl_s;   /* playback.token_ttl: 6h */
	int lease_ttl_s;   /* playback.lease_ttl: 60s; heartbeats renew it */
} kino_playback_config_t;

typedef struct kino_playback_keyring kino_playback_keyring_t;

/* Builds a keyring from "kid:secret[,kid:secret...]", secrets in base64url
 * of at least 32 bytes; the first key signs. KINO_ECONFIG with a message
 * that never quotes a secret. Free with kino_playback_keyring_destroy(). */
kino_playback_keyring_t *kino_playback_keyring_new(const char *spec,
						   struct kino_error *err);

/* Reads the keyring spec from `path` (mode 0600), or creates the file with
 * one new random key when it does not exist. */
kino_playback_keyring_t *kino_playback_keyring_load_or_create(const char *path,
							      struct kino_error *err);

void kino_playback_keyring_destroy(kino_playback_keyring_t *kr);

/* What a valid token grants. */
typedef struct kino_playback_grant {
	char kid[17];
	int64_t expires_at;  /* Unix seconds */
	char session_id[33];
	char prefix[256];    /* "<asset_id>/" */
} kino_playback_grant_t;

/* Signs a token for `prefix` ("<asset_id>/", must end with '/'), a session
 * and an expiry, with the keyring's signing key, into out (at most size
 * bytes, KINO_PLAYBACK_TOKEN_MAX is enough). KINO_EINVAL for a bad prefix
 * or session id. */
int kino_playback_token_sign(const kino_playback_keyring_t *kr,
			     const char *prefix, const char *session_id,
			     int64_t expires_at, char *out, size_t size,
			     struct kino_error *err);

/* Checks a token for a request of `path` (the part after the token, e.g.
 * "<asset_id>/720p/seg_00001.m4s") at time `now`. Returns 0 and fills grant
 * (may be NULL) when the MAC is right for a known key, the token has not
 * expired and path lies under its prefix; KINO_EFORBIDDEN otherwise, with
 * err saying which (malformed, unknown key, bad signature, expired, outside
 * the prefix). The MAC is compared in constant time. */
int kino_playback_token_verify(const kino_playback_keyring_t *kr,
			       const char *token, const char *path, int64_t now,
			       kino_playback_grant_t *grant /* OUT */,
			       struct kino_error *err);

#endif
