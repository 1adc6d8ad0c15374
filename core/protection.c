/* The key service: see include/kino/protection.h.
 *
 *     GET|POST /media/<token>/<asset_id>/key/<system>
 *     OPTIONS  /media/<token>/<asset_id>/key/<system>   (CORS preflight)
 *
 * The routes sit under the same token prefix as the asset's files, so a
 * key URI written relative to a playlist or MPD carries the token, and a
 * CDN edge could verify it the same way (docs/playback-tokens.md); unlike
 * files, keys are never cached (Cache-Control: no-store).
 *
 * Every request takes the same steps, cheapest refusal first:
 *   1. the key system named by the last segment (404 unknown_key_system),
 *      and its method (405);
 *   2. the playback token, for the path "<asset_id>/key/<system>" (403);
 *   3. the playback session the token names, in MongoDB: it must exist,
 *      belong to this asset, not be ended and hold a live lease (403
 *      unknown_session, session_ended, lease_expired). Core opened it only
 *      for an entitled viewer, so a live session is the entitlement;
 *   4. keys.json of the asset, unwrapped with the master key (404
 *      not_protected for a clear asset);
 *   5. the system parses the request and builds its answer.
 * Blocking: runs on the HTTP server's worker threads. */
#define KINO_LOG_MODULE "protection"
#include "protection_internal.h"

#include "kino/db.h"
#include "kino/log.h"

#include <mongoc/mongoc.h>
#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASSET_ID_MAX 64

struct kino_protection {
	kino_db_t *db;
	const kino_playback_keyring_t *keys;
	char media_root[4096];
	uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN];
};

kino_protection_t *kino_protection_new(kino_db_t *db, const kino_playback_keyring_t *keys,
				       const char *media_root,
				       const char *master_key_spec_or_path, kino_error_t *err)
{
	kino_protection_t *p = NULL;

	if (db == NULL || keys == NULL || media_root == NULL) {
		kino_error_set(err, KINO_EINVAL, "protection: db, keys and media root are required");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		kino_error_set(err, KINO_ENOMEM, "protection: out of memory");
		return NULL;
	}
	p->db = db;
	p->keys = keys;
	snprintf(p->media_root, sizeof(p->media_root), "%s", media_root);
	if (kino_protection_master_key_load(master_key_spec_or_path, p->master, err) != 0) {
		kino_error_prefix(err, "protection");
		kino_protection_destroy(p);
		return NULL;
	}
	return p;
}

void kino_protection_destroy(kino_protection_t *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p->master, sizeof(p->master));
	free(p);
}

static void add_cors(kino_http_request_t *req)
{
	kino_http_response_header(req, "Access-Control-Allow-Origin", "*");
}

static void refuse(kino_http_request_t *req, int status, const char *code, const char *message)
{
	add_cors(req);
	kino_http_response_header(req, "Cache-Control", "no-store");
	kino_http_respond_error_as(req, status, code, message);
}

/* Asset ids are Kino's hex ids; anything that could walk the store is not. */
static bool asset_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > ASSET_ID_MAX)
		return false;
	for (const char *c = id; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= 'A' && *c <= 'Z') || *c == '-' || *c == '_'))
			return false;
	return true;
}

typedef enum session_verdict {
	SESSION_LIVE,
	SESSION_UNKNOWN,
	SESSION_OTHER_ASSET,
	SESSION_ENDED,
	SESSION_LAPSED,
} session_verdict_t;

/* Is playback session `sid` live for asset_id? KINO_EDB when the database
 * cannot say. */
static int session_check(kino_protection_t *p, const char *sid, const char *asset_id,
			 session_verdict_t *verdict, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(p->db);
	mongoc_collection_t *coll = NULL;
	mongoc_cursor_t *cursor = NULL;
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(sid));
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
	const bson_t *doc;
	bson_error_t berr;
	bson_iter_t it;
	int ret = 0;

	*verdict = SESSION_UNKNOWN;
	if (client == NULL) {
		ret = kino_error_set(err, KINO_EDB, "protection: no database client");
		goto out;
	}
	coll = mongoc_client_get_collection(client, kino_db_name(p->db), "playback_sessions");
	cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	if (mongoc_cursor_next(cursor, &doc)) {
		int64_t now_ms = (int64_t)time(NULL) * 1000, lease = 0;
		bool ended = false;

		if (bson_iter_init_find(&it, doc, "ended") && BSON_ITER_HOLDS_BOOL(&it))
			ended = bson_iter_bool(&it);
		if (bson_iter_init_find(&it, doc, "lease_until") && BSON_ITER_HOLDS_DATE_TIME(&it))
			lease = bson_iter_date_time(&it);
		if (bson_iter_init_find(&it, doc, "asset_id") && BSON_ITER_HOLDS_UTF8(&it) &&
		    strcmp(bson_iter_utf8(&it, NULL), asset_id) != 0)
			*verdict = SESSION_OTHER_ASSET;
		else if (ended)
			*verdict = SESSION_ENDED;
		else if (lease <= now_ms)
			*verdict = SESSION_LAPSED;
		else
			*verdict = SESSION_LIVE;
	}
	if (mongoc_cursor_error(cursor, &berr)) {
		kino_db_record_error(p->db);
		ret = kino_error_set(err, KINO_EDB, "protection: reading the session: %s",
				     berr.message);
	}
out:
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(coll);
	if (client != NULL)
		kino_db_client_push(p->db, client);
	bson_destroy(opts);
	bson_destroy(filter);
	return ret;
}

static void serve_key(kino_http_request_t *req, void *userdata)
{
	kino_protection_t *p = userdata;
	const char *token = kino_http_request_param(req, "token");
	const char *asset_id = kino_http_request_param(req, "asset_id");
	const char *name = kino_http_request_param(req, "system");
	const key_system_t *sys = key_system_find(name);
	char path[512], asset_dir[4200];
	kino_playback_grant_t grant;
	kino_protection_asset_key_t key = {0};
	key_request_t kreq;
	session_verdict_t verdict;
	kino_error_t err = {0};
	uint8_t *answer = NULL;
	size_t answer_len = 0, body_len = 0;
	const char *body;
	int ret;

	if (sys == NULL) {
		refuse(req, 404, "unknown_key_system", "no such key system");
		goto out;
	}
	if (strcmp(kino_http_request_method(req), sys->method) != 0) {
		kino_http_response_header(req, "Allow", sys->method);
		refuse(req, 405, "method_not_allowed", "this key system takes another method");
		goto out;
	}
	if (token == NULL || asset_id == NULL || !asset_id_ok(asset_id)) {
		refuse(req, 403, "forbidden", "the path is not allowed");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/key/%s", asset_id, sys->name);
	if (kino_playback_token_verify(p->keys, token, path, (int64_t)time(NULL), &grant, &err) != 0) {
		refuse(req, 403, "forbidden", kino_error_message(&err));
		goto out;
	}
	ret = session_check(p, grant.session_id, asset_id, &verdict, &err);
	if (ret != 0) {
		KINO_LOG_WARN("%s", kino_error_message(&err));
		refuse(req, 503, "unavailable", "the session cannot be checked now");
		goto out;
	}
	switch (verdict) {
	case SESSION_LIVE:
		break;
	case SESSION_UNKNOWN:
		refuse(req, 403, "unknown_session", "no such playback session");
		goto out;
	case SESSION_OTHER_ASSET:
		refuse(req, 403, "forbidden", "the playback session is for another asset");
		goto out;
	case SESSION_ENDED:
		refuse(req, 403, "session_ended", "the playback session has ended");
		goto out;
	case SESSION_LAPSED:
		refuse(req, 403, "lease_expired", "the playback session's lease has lapsed");
		goto out;
	}
	snprintf(asset_dir, sizeof(asset_dir), "%s/%s", p->media_root, asset_id);
	ret = kino_protection_keys_read(asset_dir, p->master, &key, &err);
	if (ret == KINO_ENOENT) {
		refuse(req, 404, "not_protected", "the asset has no keys: it is not protected");
		goto out;
	}
	if (ret != 0) {
		KINO_LOG_ERROR("asset %s: %s", asset_id, kino_error_message(&err));
		refuse(req, 500, "internal", "the asset's keys cannot be read");
		goto out;
	}
	body = kino_http_request_body(req, &body_len);
	ret = sys->request_parse(body, body_len, &kreq, &err);
	if (ret != 0) {
		refuse(req, 400, "bad_request", kino_error_message(&err));
		goto out;
	}
	ret = sys->license_build(&kreq, &key, &answer, &answer_len, &err);
	if (ret != 0) {
		refuse(req, kino_http_status_for(ret), kino_http_error_code_for(ret),
		       kino_error_message(&err));
		goto out;
	}
	add_cors(req);
	kino_http_response_header(req, "Cache-Control", "no-store");
	kino_http_respond(req, 200, sys->content_type, answer, answer_len);
	KINO_LOG_DEBUG("%s key for asset %s to session %s", sys->name, asset_id, grant.session_id);
out:
	kino_protection_asset_key_wipe(&key);
	if (answer != NULL) {
		OPENSSL_cleanse(answer, answer_len);
		free(answer);
	}
}

static void preflight(kino_http_request_t *req, void *userdata)
{
	(void)userdata;
	kino_http_response_header(req, "Access-Control-Allow-Origin", "*");
	kino_http_response_header(req, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
	kino_http_response_header(req, "Access-Control-Allow-Headers", "Content-Type");
	kino_http_response_header(req, "Access-Control-Max-Age", "86400");
	kino_http_respond(req, 204, "text/plain", NULL, 0);
}

size_t kino_protection_routes(kino_protection_t *p, kino_http_route_t *out, size_t max)
{
	const kino_http_route_t routes[] = {
		{.method = "GET", .pattern = "/media/{token}/{asset_id}/key/{system}",
		 .handler = serve_key, .mode = KINO_HTTP_BLOCKING, .userdata = p},
		{.method = "POST", .pattern = "/media/{token}/{asset_id}/key/{system}",
		 .handler = serve_key, .mode = KINO_HTTP_BLOCKING,
		 .max_body = KEY_REQUEST_BODY_MAX, .userdata = p},
		{.method = "OPTIONS", .pattern = "/media/{token}/{asset_id}/key/{system}",
		 .handler = preflight, .mode = KINO_HTTP_INLINE, .userdata = p},
	};
	size_t n = sizeof(routes) / sizeof(routes[0]);

	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof(routes[0]));
	return n;
}
