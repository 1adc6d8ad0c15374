/* What the entitlement rules need from MongoDB, kept in the catalog's own
 * collections, keyed by the user's id (whether a user exists is asked of
 * the accounts module, kino_auth_user_get):
 *
 *   subscriptions  {_id: "<user id>", plan: "free"|"basic"|"premium",
 *                   until: Date|null, updated_at: Date}
 *   grants         {_id: ObjectId, user_id, title_id, kind: "purchase"|"rental",
 *                   expires_at: Date|null (rentals only), created_at: Date}
 *                  index (user_id, title_id)
 *
 * Setting a plan is one upsert with $set; grants are inserted and never
 * changed (a rental is extended by granting another). FerretDB v1.24 has
 * all of this. Blocking. */
#define KINO_LOG_MODULE "entitlement"
#include "catalog_internal.h"

#include <mongoc/mongoc.h>

#include <stdio.h>
#include <string.h>

int entitlement_store_indexes(kino_catalog_t *c, kino_error_t *err)
{
	bson_t *keys = BCON_NEW("user_id", BCON_INT32(1), "title_id", BCON_INT32(1));
	int ret = catalog_index_create(c, "grants", keys, "user_title", false, err);

	bson_destroy(keys);
	return ret;
}

int entitlement_user_check(kino_catalog_t *c, const char *user_id, kino_error_t *err)
{
	kino_user_t user;

	/* The users collection belongs to the accounts module: ask it. */
	return kino_auth_user_get(c->auth, user_id, &user, err);
}

int entitlement_plan_set(kino_catalog_t *c, const char *user_id, kino_plan_t plan,
			 int64_t until_ms, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *coll = catalog_collection(c, client, "subscriptions");
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(user_id));
	bson_t update = BSON_INITIALIZER, set;
	bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
	bson_error_t berr;
	int ret = 0;

	bson_append_document_begin(&update, "$set", -1, &set);
	BSON_APPEND_UTF8(&set, "plan", kino_entitlement_plan_name(plan));
	if (until_ms != 0)
		BSON_APPEND_DATE_TIME(&set, "until", until_ms);
	else
		BSON_APPEND_NULL(&set, "until");
	BSON_APPEND_DATE_TIME(&set, "updated_at", catalog_now_ms());
	bson_append_document_end(&update, &set);
	if (!mongoc_collection_update_one(coll, filter, &update, opts, NULL, &berr))
		ret = catalog_db_error(c, err, "setting the plan", &berr);
	bson_destroy(opts);
	bson_destroy(&update);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(c->db, client);
	return ret;
}

static void plan_row_from_bson(entitlement_plan_row_t *out, const bson_t *doc)
{
	bson_iter_t it;

	out->stored = true;
	if (bson_iter_init_find(&it, doc, "plan") && BSON_ITER_HOLDS_UTF8(&it))
		kino_entitlement_plan_parse(bson_iter_utf8(&it, NULL), &out->plan);
	if (bson_iter_init_find(&it, doc, "until") && BSON_ITER_HOLDS_DATE_TIME(&it))
		out->until_ms = bson_iter_date_time(&it);
	if (bson_iter_init_find(&it, doc, "updated_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		out->updated_at = bson_iter_date_time(&it);
}

int entitlement_plan_get(kino_catalog_t *c, const char *user_id, entitlement_plan_row_t *out,
			 kino_error_t *err)
{
	return entitlement_plan_get_many(c, &user_id, 1, out, err);
}

int entitlement_plan_get_many(kino_catalog_t *c, const char *const *user_ids, size_t n,
			      entitlement_plan_row_t *out, kino_error_t *err)
{
	mongoc_client_t *client = NULL;
	mongoc_collection_t *coll = NULL;
	mongoc_cursor_t *cur = NULL;
	bson_t filter = BSON_INITIALIZER, sub, in;
	const bson_t *doc;
	bson_error_t berr;
	bson_iter_t it;
	char key[16];
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].plan = KINO_PLAN_FREE;
	}
	if (n == 0)
		return 0;
	bson_append_document_begin(&filter, "_id", -1, &sub);
	bson_append_array_begin(&sub, "$in", -1, &in);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%zu", i);
		BSON_APPEND_UTF8(&in, key, user_ids[i]);
	}
	bson_append_array_end(&sub, &in);
	bson_append_document_end(&filter, &sub);
	client = kino_db_client_pop(c->db);
	coll = catalog_collection(c, client, "subscriptions");
	cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it))
			continue;
		for (size_t i = 0; i < n; i++)
			if (strcmp(bson_iter_utf8(&it, NULL), user_ids[i]) == 0)
				plan_row_from_bson(&out[i], doc);
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = catalog_db_error(c, err, "reading the plans", &berr);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	kino_db_client_push(c->db, client);
	bson_destroy(&filter);
	return ret;
}

int entitlement_grant_add(kino_catalog_t *c, const char *user_id, entitlement_grant_t *g,
			  kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *coll = catalog_collection(c, client, "grants");
	bson_t doc = BSON_INITIALIZER;
	bson_error_t berr;
	bson_oid_t oid;
	int ret = 0;

	bson_oid_init(&oid, NULL);
	g->created_at = catalog_now_ms();
	BSON_APPEND_OID(&doc, "_id", &oid);
	BSON_APPEND_UTF8(&doc, "user_id", user_id);
	BSON_APPEND_UTF8(&doc, "title_id", g->title_id);
	BSON_APPEND_UTF8(&doc, "kind", g->rental ? "rental" : "purchase");
	if (g->rental)
		BSON_APPEND_DATE_TIME(&doc, "expires_at", g->expires_at);
	else
		BSON_APPEND_NULL(&doc, "expires_at");
	BSON_APPEND_DATE_TIME(&doc, "created_at", g->created_at);
	if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &berr))
		ret = catalog_db_error(c, err, "storing the grant", &berr);
	else
		bson_oid_to_string(&oid, g->id);
	bson_destroy(&doc);
	mongoc_collection_destroy(coll);
	kino_db_client_push(c->db, client);
	return ret;
}

static void grant_from_bson(entitlement_grant_t *g, const bson_t *doc)
{
	bson_iter_t it;

	memset(g, 0, sizeof(*g));
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
		bson_oid_to_string(bson_iter_oid(&it), g->id);
	if (bson_iter_init_find(&it, doc, "title_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(g->title_id, sizeof(g->title_id), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "kind") && BSON_ITER_HOLDS_UTF8(&it))
		g->rental = strcmp(bson_iter_utf8(&it, NULL), "rental") == 0;
	if (bson_iter_init_find(&it, doc, "expires_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		g->expires_at = bson_iter_date_time(&it);
	if (bson_iter_init_find(&it, doc, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		g->created_at = bson_iter_date_time(&it);
}

/* A user's grants are few (one per purchase or rental); they are read
 * whole, at most this many, newest first. */
#define GRANTS_MAX 1000

int entitlement_grant_each(kino_catalog_t *c, const char *user_id, const char *title_id,
			   void (*fn)(const entitlement_grant_t *g, void *ud), void *ud,
			   kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *coll = catalog_collection(c, client, "grants");
	bson_t *filter = title_id ? BCON_NEW("user_id", BCON_UTF8(user_id), "title_id",
					     BCON_UTF8(title_id))
				  : BCON_NEW("user_id", BCON_UTF8(user_id));
	bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit",
				BCON_INT64(GRANTS_MAX));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	entitlement_grant_t g;
	const bson_t *doc;
	bson_error_t berr;
	int ret = 0;

	while (mongoc_cursor_next(cur, &doc)) {
		grant_from_bson(&g, doc);
		fn(&g, ud);
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = catalog_db_error(c, err, "reading grants", &berr);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(c->db, client);
	return ret;
}

static void fact_add(const entitlement_grant_t *g, void *ud)
{
	kino_entitlement_facts_t *f = ud;

	if (!g->rental) {
		f->purchased = true;
	} else {
		f->rented = true;
		if (g->expires_at > f->rental_until_ms)
			f->rental_until_ms = g->expires_at;
	}
}

int entitlement_facts_load(kino_catalog_t *c, const char *user_id, const char *title_id,
			   kino_entitlement_facts_t *f, kino_error_t *err)
{
	entitlement_plan_row_t plan;
	int ret;

	f->purchased = f->rented = false;
	f->rental_until_ms = 0;
	ret = entitlement_plan_get(c, user_id, &plan, err);
	if (ret != 0)
		return ret;
	f->plan = plan.plan;
	f->plan_until_ms = plan.until_ms;
	return entitlement_grant_each(c, user_id, title_id, fact_add, f, err);
}
