/* Private to core/protection*.c and core/key_system*.c: the key-system
 * interface behind the key routes.
 *
 * A key system is one way of handing an asset's content key to a player:
 * "aes128" (HLS AES-128: the 16 raw bytes) and "clearkey" (W3C EME
 * ClearKey: a JSON licence) today. Each is an entry in one table, found by
 * the last segment of /media/<token>/<asset_id>/key/<name>. The service
 * does everything they share first (the token, the live session, reading
 * and unwrapping keys.json); a system only parses its request and builds
 * its answer. A DRM system with a licence server (Widevine, FairPlay,
 * PlayReady) fits the same shape: its request_parse keeps the opaque
 * licence challenge, its license_build forwards it with the content key to
 * the vendor's server (or a local licence SDK) and returns the licence. */
#ifndef KINO_CORE_PROTECTION_INTERNAL_H
#define KINO_CORE_PROTECTION_INTERNAL_H

#include "kino/error.h"
#include "kino/protection.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many key ids in one licence request. */
#define KEY_REQUEST_KIDS_MAX 16
/* Licence requests are small JSON (ClearKey) or binary challenges. */
#define KEY_REQUEST_BODY_MAX 16384

/* What a player asked for, as a key system parsed it. Caller-owned. */
typedef struct key_request {
	uint8_t kids[KEY_REQUEST_KIDS_MAX][KINO_PROTECTION_KEY_LEN];
	size_t nkids;
	bool all_keys;            /* no KID list: the asset's key (aes128) */
	char session_type[32];    /* ClearKey "temporary" */
} key_request_t;

typedef struct key_system {
	const char *name;         /* the route's last segment: "clearkey" */
	const char *method;       /* "GET" or "POST" */
	const char *content_type; /* of the answer */
	/* Parses a request body (len may be 0, body NULL for GET) into req.
	 * KINO_EPARSE/KINO_EINVAL with err saying what is wrong. */
	int (*request_parse)(const char *body, size_t len, key_request_t *req,
			     kino_error_t *err);
	/* Builds the answer for the asset's key into *out (malloc'd, caller
	 * frees and wipes) of *out_len bytes. key is borrowed for the call. */
	int (*license_build)(const key_request_t *req,
			     const kino_protection_asset_key_t *key, uint8_t **out,
			     size_t *out_len, kino_error_t *err);
} key_system_t;

/* The "clearkey" system's two functions (key_system_clearkey.c). */
int key_system_clearkey_parse(const char *body, size_t len, key_request_t *req,
			      kino_error_t *err);
int key_system_clearkey_build(const key_request_t *req,
			      const kino_protection_asset_key_t *key, uint8_t **out,
			      size_t *out_len, kino_error_t *err);

/* The key system named `name`, or NULL. */
const key_system_t *key_system_find(const char *name);

/* The registered systems, for documentation and tests. */
const key_system_t *key_system_at(size_t i);
size_t key_system_count(void);

#endif
