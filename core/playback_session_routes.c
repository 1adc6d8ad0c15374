/* The HTTP face of playback:
 *
 *   POST /api/v1/playback/{title_id}              (viewer) -> 201
 *        {"session_id","hls_url","dash_url","expires_at","lease_until"}
 *        403 not_available | not_subscribed | rental_expired | too_many_streams
 *   POST /api/v1/playback/{session_id}/heartbeat  (the session's owner) -> 200
 *        {"session_id","lease_until"}; 404 unknown; 410 session_ended | lease_expired
 *   POST /api/v1/playback/{session_id}/stop       (the session's owner) -> 204; 404 unknown
 *
 * The URLs carry a token from kino_playback_token_sign() for the prefix
 * "<asset_id>/", the session and now + playback.token_ttl, as the first
 * path segment after /media/ (include/kino/playback.h says why). */
#define KINO_LOG_MODULE "playback"
#include "catalog_internal.h"

#include "kino/log.h"

#include <stdlib.h>
#include <string.h>

/* The facts about one viewer and one title, and the verdict. On false the
 * request has been answered (404 unknown title, 403 refusal, 5xx). */
static bool entitled(kino_http_request_t *req, kino_catalog_t *c, const kino_user_t *user,
		     const catalog_title_t *t, int *max_streams, kino_plan_t *plan)
{
	kino_entitlement_facts_t f = {0};
	kino_entitlement_verdict_t v;
	kino_error_t err = {0};
	int64_t now = catalog_now_ms();
	const char *msg = "";

	f.title_available = catalog_title_visible(t, now);
	f.title_tier = t->tier;
	if (entitlement_facts_load(c, user->id, t->id, &f, &err) != 0) {
		catalog_respond_err(req, &err);
		return false;
	}
	v = kino_entitlement_decide(&f, now);
	switch (v) {
	case KINO_ENTITLEMENT_OK:
		*plan = kino_entitlement_plan_effective(f.plan, f.plan_until_ms, now);
		*max_streams = kino_entitlement_plan_max_streams(*plan);
		return true;
	case KINO_ENTITLEMENT_NOT_AVAILABLE:
		msg = "this title is not available now";
		break;
	case KINO_ENTITLEMENT_RENTAL_EXPIRED:
		msg = "the rental of this title has expired";
		break;
	case KINO_ENTITLEMENT_NOT_SUBSCRIBED:
		msg = f.plan != KINO_PLAN_FREE && f.plan_until_ms != 0 && f.plan_until_ms <= now
			      ? "the subscription has expired"
			      : "this title needs a higher plan, a purchase or a rental";
		break;
	}
	kino_http_respond_error_as(req, 403, kino_entitlement_verdict_code(v), msg);
	return false;
}

void playback_route_start(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	catalog_title_t *t = NULL;
	kino_error_t err = {0};
	kino_user_t user;
	catalog_asset_t asset;
	playback_session_t s;
	kino_plan_t plan;
	char token[KINO_PLAYBACK_TOKEN_MAX], prefix[CATALOG_ASSET_ID_MAX + 2];
	int max_streams = 0;
	bool granted = false;
	int64_t expires_s;
	jbuf_t b;

	jbuf_init(&b);
	if (!catalog_request_begin(c, req, KINO_ROLE_VIEWER, &user))
		goto out;
	if ((t = malloc(sizeof(*t))) == NULL) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		goto out;
	}
	if (catalog_store_title_get(c, kino_http_request_param(req, "title_id"), t, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	if (!entitled(req, c, &user, t, &max_streams, &plan))
		goto out;
	/* Before a slot is taken: a title whose media vanished is not playable. */
	if (catalog_asset_read(c->cfg->data_dir, t->asset_id, &asset, &err) != 0) {
		KINO_LOG_ERROR("title %s: %s", t->id, kino_error_message(&err));
		kino_http_respond_error_as(req, 503, "media_unavailable",
					   "the media of this title cannot be read now");
		goto out;
	}
	if (playback_session_open(c, &user, t->id, t->asset_id, max_streams, &s, &granted, &err) !=
	    0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	if (!granted) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "the %s plan allows %d stream%s at once: stop one, or wait for its lease "
			 "to lapse",
			 kino_entitlement_plan_name(plan), max_streams, max_streams == 1 ? "" : "s");
		kino_http_respond_error_as(req, 403, "too_many_streams", msg);
		goto out;
	}
	expires_s = catalog_now_ms() / 1000 + c->cfg->playback.token_ttl_s;
	snprintf(prefix, sizeof(prefix), "%s/", t->asset_id);
	if (kino_playback_token_sign(c->keys, prefix, s.id, expires_s, token, sizeof(token),
				     &err) != 0) {
		playback_refusal_t why;
		kino_error_t ignored = {0};
		KINO_LOG_ERROR("signing a token for %s: %s", s.id, kino_error_message(&err));
		playback_session_stop(c, &user, s.id, &why, &ignored);
		kino_http_respond_error(req, KINO_EIO, "could not sign the playback URL");
		goto out;
	}
	KINO_LOG_INFO("session %s: %s plays title %s", s.id, user.email, t->id);
	jbuf_printf(&b, "{\"session_id\":\"%s\",\"title_id\":\"%s\",\"asset_id\":\"%s\"", s.id, t->id,
		    t->asset_id);
	jbuf_printf(&b, ",\"hls_url\":\"/media/%s/%s/%s\"", token, t->asset_id, asset.hls);
	jbuf_printf(&b, ",\"dash_url\":\"/media/%s/%s/%s\",\"expires_at\":", token, t->asset_id,
		    asset.dash);
	jbuf_time(&b, expires_s * 1000, false);
	jbuf_puts(&b, ",\"lease_until\":");
	jbuf_time(&b, s.lease_until, false);
	jbuf_printf(&b, ",\"lease_ttl_s\":%d}", c->cfg->playback.lease_ttl_s);
	catalog_respond_jbuf(req, 201, &b);
out:
	jbuf_free(&b);
	free(t);
}

static void respond_refusal(kino_http_request_t *req, playback_refusal_t why)
{
	switch (why) {
	case PLAYBACK_REFUSED_UNKNOWN:
		kino_http_respond_error(req, KINO_ENOENT, "no such playback session");
		break;
	case PLAYBACK_REFUSED_ENDED:
		kino_http_respond_error_as(req, 410, "session_ended",
					   "this playback session was stopped");
		break;
	case PLAYBACK_REFUSED_LAPSED:
		kino_http_respond_error_as(req, 410, "lease_expired",
					   "this playback session missed its heartbeats; start a "
					   "new one");
		break;
	case PLAYBACK_REFUSED_NONE:
		break;
	}
}

void playback_route_heartbeat(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	playback_refusal_t why;
	playback_session_t s;
	kino_error_t err = {0};
	kino_user_t user;
	jbuf_t b;

	jbuf_init(&b);
	if (!catalog_request_begin(c, req, KINO_ROLE_VIEWER, &user))
		goto out;
	if (playback_session_renew(c, &user, kino_http_request_param(req, "session_id"), &s, &why,
				   &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	if (why != PLAYBACK_REFUSED_NONE) {
		respond_refusal(req, why);
		goto out;
	}
	jbuf_printf(&b, "{\"session_id\":\"%s\",\"lease_until\":", s.id);
	jbuf_time(&b, s.lease_until, false);
	jbuf_puts(&b, "}");
	catalog_respond_jbuf(req, 200, &b);
out:
	jbuf_free(&b);
}

void playback_route_stop(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	playback_refusal_t why;
	kino_error_t err = {0};
	kino_user_t user;

	if (!catalog_request_begin(c, req, KINO_ROLE_VIEWER, &user))
		return;
	if (playback_session_stop(c, &user, kino_http_request_param(req, "session_id"), &why,
				  &err) != 0)
		catalog_respond_err(req, &err);
	else if (why != PLAYBACK_REFUSED_NONE)
		respond_refusal(req, why);
	else
		kino_http_respond(req, 204, "application/json", NULL, 0);
}
