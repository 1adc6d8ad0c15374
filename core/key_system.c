/* The table of key systems (see protection_internal.h) and the simplest of
 * them, "aes128": HLS METHOD=AES-128 fetches the key as 16 raw bytes with a
 * GET of the EXT-X-KEY URI. To add a system, write its request_parse and
 * license_build (key_system_<name>.c) and add one line to `systems`. */
#include "protection_internal.h"

#include <stdlib.h>
#include <string.h>

static int aes128_request_parse(const char *body, size_t len, key_request_t *req,
				kino_error_t *err)
{
	(void)body;
	(void)err;
	(void)len; /* a GET: nothing to read */
	memset(req, 0, sizeof(*req));
	req->all_keys = true;
	return 0;
}

static int aes128_license_build(const key_request_t *req, const kino_protection_asset_key_t *key,
				uint8_t **out, size_t *out_len, kino_error_t *err)
{
	(void)req;
	*out = malloc(KINO_PROTECTION_KEY_LEN);
	if (*out == NULL)
		return kino_error_set(err, KINO_ENOMEM, "aes128: out of memory");
	memcpy(*out, key->key, KINO_PROTECTION_KEY_LEN);
	*out_len = KINO_PROTECTION_KEY_LEN;
	return 0;
}

static const key_system_t systems[] = {
	{.name = "aes128", .method = "GET", .content_type = "application/octet-stream",
	 .request_parse = aes128_request_parse, .license_build = aes128_license_build},
	{.name = "clearkey", .method = "POST", .content_type = "application/json",
	 .request_parse = key_system_clearkey_parse, .license_build = key_system_clearkey_build},
	/* Widevine: {"widevine", "POST", "application/octet-stream", a parse
	 * that keeps the challenge, a build that asks the licence server}. */
};

const key_system_t *key_system_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(systems) / sizeof(systems[0]); i++)
		if (strcmp(systems[i].name, name) == 0)
			return &systems[i];
	return NULL;
}

const key_system_t *key_system_at(size_t i)
{
	return i < key_system_count() ? &systems[i] : NULL;
}

size_t key_system_count(void)
{
	return sizeof(systems) / sizeof(systems[0]);
}
