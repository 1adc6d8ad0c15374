/* The HTTP face of entitlement. There is no payment provider: these admin
 * routes stand in for a checkout.
 *
 *   PUT  /api/v1/admin/users/{id}/plan          (admin) {"plan","until"?} -> 200
 *   POST /api/v1/admin/users/{id}/grants        (admin) {"title_id","kind",
 *                                                "hours"|"seconds" for rentals} -> 201
 *   GET  /api/v1/admin/users/{id}/entitlements  (admin) plan and grants
 *   GET  /api/v1/me/entitlements                (viewer) one's own */
#define KINO_LOG_MODULE "entitlement"
#include "catalog_internal.h"

#include "kino/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RENTAL_HOURS_MAX 8760.0 /* a year */

static void plan_json(jbuf_t *b, const char *user_id, const entitlement_plan_row_t *p,
		      int64_t now)
{
	kino_plan_t eff = kino_entitlement_plan_effective(p->plan, p->until_ms, now);

	jbuf_printf(b, "{\"user_id\":\"%s\",\"plan\":\"%s\",\"until\":", user_id,
		    kino_entitlement_plan_name(p->plan));
	if (p->until_ms != 0)
		jbuf_time(b, p->until_ms, false);
	else
		jbuf_puts(b, "null");
	jbuf_printf(b, ",\"effective_plan\":\"%s\",\"max_streams\":%d",
		    kino_entitlement_plan_name(eff), kino_entitlement_plan_max_streams(eff));
}

static void grant_json(jbuf_t *b, const entitlement_grant_t *g, int64_t now)
{
	jbuf_printf(b, "{\"id\":\"%s\",\"title_id\":\"%s\",\"kind\":\"%s\",\"expires_at\":", g->id,
		    g->title_id, g->rental ? "rental" : "purchase");
	if (g->rental)
		jbuf_time(b, g->expires_at, false);
	else
		jbuf_puts(b, "null");
	jbuf_puts(b, ",\"created_at\":");
	jbuf_time(b, g->created_at, false);
	jbuf_printf(b, ",\"active\":%s}", !g->rental || g->expires_at > now ? "true" : "false");
}

/* The user named by the route, which must exist. On false it has answered. */
static const char *route_user(kino_catalog_t *c, kino_http_request_t *req)
{
	const char *id = kino_http_request_param(req, "id");
	kino_error_t err = {0};

	if (entitlement_user_check(c, id, &err) != 0) {
		catalog_respond_err(req, &err);
		return NULL;
	}
	return id;
}

void entitlement_route_plan_put(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	entitlement_plan_row_t row = {.plan = KINO_PLAN_FREE};
	kino_error_t err = {0};
	kino_user_t admin;
	const char *user_id;
	bool have_body = false, have_plan = false;
	bson_iter_t it;
	bson_t body;
	jbuf_t b;

	jbuf_init(&b);
	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &admin) ||
	    !catalog_body_parse(req, &body))
		goto out;
	have_body = true;
	bson_iter_init(&it, &body);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "plan") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(&it) ||
			    !kino_entitlement_plan_parse(bson_iter_utf8(&it, NULL), &row.plan)) {
				kino_http_respond_error(req, KINO_EINVAL,
							"plan: one of \"free\", \"basic\", \"premium\"");
				goto out;
			}
			have_plan = true;
		} else if (strcmp(k, "until") == 0) {
			if (BSON_ITER_HOLDS_NULL(&it)) {
				row.until_ms = 0;
			} else if (!BSON_ITER_HOLDS_UTF8(&it) ||
				   !catalog_time_parse(bson_iter_utf8(&it, NULL), &row.until_ms) ||
				   row.until_ms == 0) {
				kino_http_respond_error(req, KINO_EINVAL,
							"until: an ISO-8601 date or time, or null");
				goto out;
			}
		} else {
			char msg[128];
			snprintf(msg, sizeof(msg), "%.64s: unknown field", k);
			kino_http_respond_error(req, KINO_EINVAL, msg);
			goto out;
		}
	}
	if (!have_plan) {
		kino_http_respond_error(req, KINO_EINVAL, "plan: required");
		goto out;
	}
	if ((user_id = route_user(c, req)) == NULL)
		goto out;
	if (entitlement_plan_set(c, user_id, row.plan, row.until_ms, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	KINO_LOG_INFO("%s set the plan of %s to %s", admin.email, user_id,
		      kino_entitlement_plan_name(row.plan));
	plan_json(&b, user_id, &row, catalog_now_ms());
	jbuf_puts(&b, "}");
	catalog_respond_jbuf(req, 200, &b);
out:
	jbuf_free(&b);
	if (have_body)
		bson_destroy(&body);
}

/* Reads {"title_id","kind","hours"|"seconds"} into g. On false it has
 * answered 400. */
static bool grant_read(kino_http_request_t *req, const bson_t *body, entitlement_grant_t *g,
		       int64_t now)
{
	const char *msg = NULL;
	char buf[128];
	bool have_kind = false;
	double secs = -1;
	bson_iter_t it;

	bson_iter_init(&it, body);
	while (msg == NULL && bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "title_id") == 0) {
			bson_oid_t oid;
			if (!BSON_ITER_HOLDS_UTF8(&it) ||
			    !catalog_oid_parse(bson_iter_utf8(&it, NULL), &oid))
				msg = "title_id: a title's id (24 hex digits) is required";
			else
				bson_oid_to_string(&oid, g->title_id);
		} else if (strcmp(k, "kind") == 0) {
			const char *v = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";
			if (strcmp(v, "purchase") != 0 && strcmp(v, "rental") != 0)
				msg = "kind: \"purchase\" or \"rental\"";
			g->rental = strcmp(v, "rental") == 0;
			have_kind = true;
		} else if (strcmp(k, "hours") == 0 || strcmp(k, "seconds") == 0) {
			double v = BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_double(&it) : -1;
			double scale = k[0] == 'h' ? 3600.0 : 1.0;
			if (secs >= 0)
				msg = "hours, seconds: give one of them, not both";
			else if (!isfinite(v) || v <= 0 || v * scale > RENTAL_HOURS_MAX * 3600.0)
				msg = k[0] == 'h' ? "hours: a number above 0 and at most 8760"
						  : "seconds: a number above 0 and at most 31536000";
			else
				secs = v * scale;
		} else {
			snprintf(buf, sizeof(buf), "%.64s: unknown field", k);
			msg = buf;
		}
	}
	if (msg == NULL && g->title_id[0] == '\0')
		msg = "title_id: required";
	if (msg == NULL && !have_kind)
		msg = "kind: required (\"purchase\" or \"rental\")";
	if (msg == NULL && g->rental && secs < 0)
		msg = "hours: required for a rental (or seconds)";
	if (msg == NULL && !g->rental && secs >= 0)
		msg = "hours: only rentals expire";
	if (msg != NULL) {
		kino_http_respond_error(req, KINO_EINVAL, msg);
		return false;
	}
	if (g->rental)
		g->expires_at = now + (int64_t)(secs * 1000.0 + 0.5);
	return true;
}

void entitlement_route_grant_post(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	entitlement_grant_t g = {0};
	catalog_title_t *t = NULL;
	kino_error_t err = {0};
	kino_user_t admin;
	const char *user_id;
	bool have_body = false;
	bson_t body;
	jbuf_t b;

	jbuf_init(&b);
	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &admin) ||
	    !catalog_body_parse(req, &body))
		goto out;
	have_body = true;
	if (!grant_read(req, &body, &g, catalog_now_ms()) || (user_id = route_user(c, req)) == NULL)
		goto out;
	if ((t = malloc(sizeof(*t))) == NULL) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		goto out;
	}
	if (catalog_store_title_get(c, g.title_id, t, &err) != 0) {
		if (err.code == KINO_ENOENT)
			kino_error_set(&err, KINO_EINVAL, "title_id: no such title");
		catalog_respond_err(req, &err);
		goto out;
	}
	if (entitlement_grant_add(c, user_id, &g, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	KINO_LOG_INFO("%s granted a %s of %s to %s", admin.email, g.rental ? "rental" : "purchase",
		      g.title_id, user_id);
	jbuf_printf(&b, "{\"user_id\":\"%s\",\"grant\":", user_id);
	grant_json(&b, &g, catalog_now_ms());
	jbuf_puts(&b, "}");
	catalog_respond_jbuf(req, 201, &b);
out:
	free(t);
	jbuf_free(&b);
	if (have_body)
		bson_destroy(&body);
}

typedef struct grants_out {
	jbuf_t *b;
	int n;
	int64_t now;
} grants_out_t;

static void grants_add(const entitlement_grant_t *g, void *ud)
{
	grants_out_t *o = ud;

	if (o->n++ > 0)
		jbuf_puts(o->b, ",");
	grant_json(o->b, g, o->now);
}

static void respond_entitlements(kino_http_request_t *req, kino_catalog_t *c, const char *user_id)
{
	entitlement_plan_row_t plan;
	kino_error_t err = {0};
	jbuf_t b;
	grants_out_t o = {.b = &b, .now = catalog_now_ms()};

	jbuf_init(&b);
	if (entitlement_plan_get(c, user_id, &plan, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	plan_json(&b, user_id, &plan, o.now);
	jbuf_puts(&b, ",\"grants\":[");
	if (entitlement_grant_each(c, user_id, NULL, grants_add, &o, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	jbuf_puts(&b, "]}");
	catalog_respond_jbuf(req, 200, &b);
out:
	jbuf_free(&b);
}

void entitlement_route_admin_get(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	kino_user_t admin;
	const char *user_id;

	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &admin) ||
	    (user_id = route_user(c, req)) == NULL)
		return;
	respond_entitlements(req, c, user_id);
}

void entitlement_route_mine(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	kino_user_t user;

	if (!catalog_request_begin(c, req, KINO_ROLE_VIEWER, &user))
		return;
	respond_entitlements(req, c, user.id);
}
