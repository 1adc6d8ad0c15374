/* The admin face of accounts: who has an account, with which role and
 * plan, and changing roles.
 *
 *   GET   /api/v1/admin/users?q=&role=&limit=&cursor=  (admin) one page
 *   PATCH /api/v1/admin/users/{id}  (admin) {"role":"viewer"|"analyst"|"admin"}
 *
 * The accounts module owns the users collection and the rules (the last
 * administrator stays one); this file only adds each account's plan, which
 * lives with entitlement, so it sits with the other /api/v1/admin/users
 * routes. An account answers {"id","email","role","created_at","plan",
 * "plan_until"}, "plan" being the plan in force now (free without one).
 * Lists answer {"items":[...],"next_cursor":"<id>"|null} in creation order,
 * like the titles. */
#define KINO_LOG_MODULE "users"
#include "catalog_internal.h"

#include "kino/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_DEFAULT 20

static void account_json(jbuf_t *b, const kino_user_t *u, const entitlement_plan_row_t *p,
			 int64_t now)
{
	jbuf_printf(b, "{\"id\":\"%s\",\"email\":", u->id);
	jbuf_string(b, u->email);
	jbuf_printf(b, ",\"role\":\"%s\",\"created_at\":", kino_role_name(u->role));
	if (u->created_at > 0)
		jbuf_time(b, u->created_at, false);
	else
		jbuf_puts(b, "null");
	jbuf_printf(b, ",\"plan\":\"%s\",\"plan_until\":",
		    kino_entitlement_plan_name(
			    kino_entitlement_plan_effective(p->plan, p->until_ms, now)));
	if (p->until_ms != 0 && p->until_ms > now)
		jbuf_time(b, p->until_ms, false);
	else
		jbuf_puts(b, "null");
	jbuf_puts(b, "}");
}

typedef struct page {
	kino_user_t users[KINO_AUTH_LIST_MAX];
	const char *ids[KINO_AUTH_LIST_MAX];
	entitlement_plan_row_t plans[KINO_AUTH_LIST_MAX];
	size_t n;
} page_t;

static void page_add(const kino_user_t *u, void *ud)
{
	page_t *p = ud;

	if (p->n < KINO_AUTH_LIST_MAX) {
		p->users[p->n] = *u;
		p->ids[p->n] = p->users[p->n].id;
		p->n++;
	}
}

/* Reads q, role, limit and cursor. On false it has answered 400. */
static bool query_read(kino_http_request_t *req, kino_auth_user_query_t *q)
{
	const char *v;
	char *end;
	long limit;

	q->limit = LIMIT_DEFAULT;
	q->q = kino_http_request_query(req, "q");
	q->after = kino_http_request_query(req, "cursor");
	v = kino_http_request_query(req, "role");
	if (v != NULL && v[0] != '\0') {
		if (!kino_role_parse(v, &q->role)) {
			kino_http_respond_error(req, KINO_EINVAL,
						"role: one of \"viewer\", \"analyst\", \"admin\"");
			return false;
		}
		q->by_role = true;
	}
	v = kino_http_request_query(req, "limit");
	if (v != NULL) {
		errno = 0;
		limit = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || limit < 1 ||
		    limit > KINO_AUTH_LIST_MAX) {
			kino_http_respond_error(req, KINO_EINVAL, "limit: an integer from 1 to 100");
			return false;
		}
		q->limit = (int)limit;
	}
	return true;
}

void user_route_admin_list(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	kino_auth_user_query_t q = {0};
	kino_error_t err = {0};
	kino_user_t admin;
	page_t *p = NULL;
	int64_t now = catalog_now_ms();
	bool more;
	jbuf_t b;

	jbuf_init(&b);
	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &admin) || !query_read(req, &q))
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		goto out;
	}
	if (kino_auth_user_list(c->auth, &q, page_add, p, &more, &err) != 0 ||
	    entitlement_plan_get_many(c, p->ids, p->n, p->plans, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	jbuf_puts(&b, "{\"items\":[");
	for (size_t i = 0; i < p->n; i++) {
		if (i > 0)
			jbuf_puts(&b, ",");
		account_json(&b, &p->users[i], &p->plans[i], now);
	}
	if (more && p->n > 0)
		jbuf_printf(&b, "],\"next_cursor\":\"%s\"}", p->users[p->n - 1].id);
	else
		jbuf_puts(&b, "],\"next_cursor\":null}");
	catalog_respond_jbuf(req, 200, &b);
out:
	free(p);
	jbuf_free(&b);
}

/* Reads {"role": ...}, the only field an admin may change here. On false
 * it has answered 400. */
static bool role_read(kino_http_request_t *req, const bson_t *body, kino_role_t *role)
{
	bool have_role = false;
	bson_iter_t it;
	char msg[160];

	bson_iter_init(&it, body);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "role") != 0) {
			snprintf(msg, sizeof(msg), "%.64s: unknown field; only \"role\" can be changed",
				 k);
			kino_http_respond_error(req, KINO_EINVAL, msg);
			return false;
		}
		if (!BSON_ITER_HOLDS_UTF8(&it) || !kino_role_parse(bson_iter_utf8(&it, NULL), role)) {
			kino_http_respond_error(req, KINO_EINVAL,
						"role: one of \"viewer\", \"analyst\", \"admin\"");
			return false;
		}
		have_role = true;
	}
	if (!have_role)
		kino_http_respond_error(req, KINO_EINVAL, "role: required");
	return have_role;
}

void user_route_admin_patch(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	kino_error_t err = {0};
	kino_user_t admin, user;
	entitlement_plan_row_t plan;
	kino_role_t role = KINO_ROLE_VIEWER;
	const char *id;
	bool have_body = false;
	bson_t body;
	jbuf_t b;

	jbuf_init(&b);
	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &admin) ||
	    !catalog_body_parse(req, &body))
		goto out;
	have_body = true;
	if (!role_read(req, &body, &role))
		goto out;
	id = kino_http_request_param(req, "id");
	if (kino_auth_user_set_role(c->auth, id, role, &admin, &user, &err) != 0) {
		if (err.code == KINO_ECONFLICT)
			kino_http_respond_error_as(req, 409, "last_admin", kino_error_message(&err));
		else
			catalog_respond_err(req, &err);
		goto out;
	}
	if (entitlement_plan_get(c, user.id, &plan, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	account_json(&b, &user, &plan, catalog_now_ms());
	catalog_respond_jbuf(req, 200, &b);
out:
	jbuf_free(&b);
	if (have_body)
		bson_destroy(&body);
}
