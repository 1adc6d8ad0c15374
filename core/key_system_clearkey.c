/* The "clearkey" key system: W3C Encrypted Media Extensions' Clear Key
 * licence exchange (EME 9.1.3/9.1.4). The browser's CDM sends
 *     {"kids":["<base64url KID>",...],"type":"temporary"}
 * and takes back a JSON Web Key Set
 *     {"keys":[{"kty":"oct","kid":"<base64url>","k":"<base64url>"}],
 *      "type":"temporary"}
 * with base64url without padding. Only the asset's own KID gets a key; an
 * unknown KID is left out (the CDM then reports it missing). */
#include "protection_internal.h"

#include "base64url.h"

#include <bson/bson.h>
#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int key_system_clearkey_parse(const char *body, size_t len, key_request_t *req,
			      kino_error_t *err)
{
	bson_t doc;
	bson_error_t berr;
	bson_iter_t it, kids;
	int ret = 0;

	memset(req, 0, sizeof(*req));
	snprintf(req->session_type, sizeof(req->session_type), "temporary");
	if (body == NULL || len == 0)
		return kino_error_set(err, KINO_EPARSE, "clearkey: the request has no body");
	if (!bson_init_from_json(&doc, body, (ssize_t)len, &berr))
		return kino_error_set(err, KINO_EPARSE, "clearkey: the request is not JSON: %s",
				      berr.message);
	if (!bson_iter_init_find(&it, &doc, "kids") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &kids)) {
		ret = kino_error_set(err, KINO_EPARSE, "clearkey: \"kids\" must be an array");
		goto out;
	}
	while (bson_iter_next(&kids)) {
		char text[64];
		uint32_t n = 0;
		const char *s;

		if (!BSON_ITER_HOLDS_UTF8(&kids)) {
			ret = kino_error_set(err, KINO_EPARSE, "clearkey: a kid is not a string");
			goto out;
		}
		if (req->nkids == KEY_REQUEST_KIDS_MAX) {
			ret = kino_error_set(err, KINO_ETOOBIG, "clearkey: more than %d kids",
					     KEY_REQUEST_KIDS_MAX);
			goto out;
		}
		s = bson_iter_utf8(&kids, &n);
		/* Some players pad; the format has none. */
		while (n > 0 && s[n - 1] == '=')
			n--;
		if (n >= sizeof(text) ||
		    (memcpy(text, s, n), text[n] = '\0',
		     b64url_decode(text, req->kids[req->nkids], KINO_PROTECTION_KEY_LEN)) !=
			    KINO_PROTECTION_KEY_LEN) {
			ret = kino_error_set(err, KINO_EPARSE,
					     "clearkey: a kid is not base64url of 16 bytes");
			goto out;
		}
		req->nkids++;
	}
	if (bson_iter_init_find(&it, &doc, "type") && BSON_ITER_HOLDS_UTF8(&it)) {
		const char *type = bson_iter_utf8(&it, NULL);
		/* Keys are never persisted by a player of ours. */
		if (strcmp(type, "temporary") != 0) {
			ret = kino_error_set(err, KINO_EUNSUPPORTED,
					     "clearkey: only \"temporary\" sessions");
			goto out;
		}
	}
out:
	bson_destroy(&doc);
	return ret;
}

int key_system_clearkey_build(const key_request_t *req, const kino_protection_asset_key_t *key,
			      uint8_t **out, size_t *out_len, kino_error_t *err)
{
	char kid[32], k[32];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool first = true;

	*out = NULL;
	if (f == NULL)
		return kino_error_set(err, KINO_ENOMEM, "clearkey: out of memory");
	fputs("{\"keys\":[", f);
	for (size_t i = 0; i < req->nkids; i++) {
		if (CRYPTO_memcmp(req->kids[i], key->kid, KINO_PROTECTION_KEY_LEN) != 0)
			continue;
		b64url_encode(key->kid, KINO_PROTECTION_KEY_LEN, kid);
		b64url_encode(key->key, KINO_PROTECTION_KEY_LEN, k);
		fprintf(f, "%s{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"%s\"}", first ? "" : ",", kid,
			k);
		OPENSSL_cleanse(k, sizeof(k));
		first = false;
		break; /* one key per asset: a repeated KID gets it once */
	}
	fprintf(f, "],\"type\":\"%s\"}", req->session_type);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return kino_error_set(err, KINO_ENOMEM, "clearkey: out of memory");
	}
	*out = (uint8_t *)buf;
	*out_len = len;
	return 0;
}
