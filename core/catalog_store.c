/* The `titles` collection, and the small MongoDB helpers that the
 * catalog's other store files share. A document:
 *
 *   {_id: ObjectId, title, synopsis, genres: [..], genres_lc: [..], year,
 *    cast: [..], duration, maturity_rating, artwork: [..], asset_id, tier,
 *    available_from: Date, available_until: Date, published: bool,
 *    search: "<lower-cased title, synopsis and cast>", created_at, updated_at}
 *
 * An open window is stored as the dates CATALOG_TIME_MIN/MAX, so that a
 * viewer's query is two range conditions. Edits replace every field at once
 * under a condition on updated_at, so an edit based on a stale read is
 * refused (409). On MongoDB that condition is atomic; FerretDB v1.24 checks
 * it by reading then writing, so two edits racing within a few milliseconds
 * may both pass there (the last one wins, each one whole). Uses insert, find with sort/limit, $regex,
 * update with $set and createIndexes: all in FerretDB v1.24. Blocking. */
#define KINO_LOG_MODULE "catalog"
#include "catalog_internal.h"

#include "kino/log.h"

#include <mongoc/mongoc.h>

#include <stdlib.h>
#include <string.h>

mongoc_collection_t *catalog_collection(kino_catalog_t *c, mongoc_client_t *client,
					const char *name)
{
	return mongoc_client_get_collection(client, kino_db_name(c->db), name);
}

int catalog_db_error(kino_catalog_t *c, kino_error_t *err, const char *what,
		     const bson_error_t *berr)
{
	kino_db_record_error(c->db);
	return kino_error_set(err, KINO_EDB, "%s: %s", what, berr->message);
}

int catalog_index_create(kino_catalog_t *c, const char *collection, const bson_t *keys,
			 const char *name, bool unique, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_database_t *d = mongoc_client_get_database(client, kino_db_name(c->db));
	bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(collection), "indexes", "[", "{",
			       "key", BCON_DOCUMENT(keys), "name", BCON_UTF8(name), "unique",
			       BCON_BOOL(unique), "}", "]");
	bson_error_t berr;
	int ret = 0;

	if (!mongoc_database_write_command_with_opts(d, cmd, NULL, NULL, &berr))
		ret = kino_error_set(err, KINO_EDB, "creating the index %s.%s: %s", collection,
				     name, berr.message);
	bson_destroy(cmd);
	mongoc_database_destroy(d);
	kino_db_client_push(c->db, client);
	return ret;
}

int catalog_store_indexes(kino_catalog_t *c, kino_error_t *err)
{
	bson_t *keys = BCON_NEW("published", BCON_INT32(1), "_id", BCON_INT32(1));
	int ret = catalog_index_create(c, "titles", keys, "published_id", false, err);

	bson_destroy(keys);
	return ret;
}

int catalog_store_title_insert(kino_catalog_t *c, catalog_title_t *t, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *coll = catalog_collection(c, client, "titles");
	bson_t doc = BSON_INITIALIZER;
	bson_error_t berr;
	bson_oid_t oid;
	int ret = 0;

	bson_oid_init(&oid, NULL);
	t->created_at = t->updated_at = catalog_now_ms();
	BSON_APPEND_OID(&doc, "_id", &oid);
	catalog_title_to_bson(t, &doc);
	BSON_APPEND_DATE_TIME(&doc, "created_at", t->created_at);
	BSON_APPEND_DATE_TIME(&doc, "updated_at", t->updated_at);
	if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &berr))
		ret = catalog_db_error(c, err, "storing the title", &berr);
	else
		bson_oid_to_string(&oid, t->id);
	atomic_fetch_add(&c->generation, 1);
	bson_destroy(&doc);
	mongoc_collection_destroy(coll);
	kino_db_client_push(c->db, client);
	return ret;
}

int catalog_store_title_get(kino_catalog_t *c, const char *id, catalog_title_t *out,
			    kino_error_t *err)
{
	mongoc_client_t *client = NULL;
	mongoc_collection_t *coll = NULL;
	mongoc_cursor_t *cur = NULL;
	bson_t *filter = NULL, *opts = NULL;
	const bson_t *doc;
	bson_error_t berr;
	bson_oid_t oid;
	int ret = 0;

	if (!catalog_oid_parse(id, &oid)) {
		ret = kino_error_set(err, KINO_ENOENT, "no such title");
		goto out;
	}
	client = kino_db_client_pop(c->db);
	coll = catalog_collection(c, client, "titles");
	filter = BCON_NEW("_id", BCON_OID(&oid));
	opts = BCON_NEW("limit", BCON_INT64(1));
	cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	if (mongoc_cursor_next(cur, &doc))
		catalog_title_from_bson(out, doc);
	else if (mongoc_cursor_error(cur, &berr))
		ret = catalog_db_error(c, err, "reading the title", &berr);
	else
		ret = kino_error_set(err, KINO_ENOENT, "no such title");
out:
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	if (client != NULL)
		kino_db_client_push(c->db, client);
	return ret;
}

int catalog_store_title_replace(kino_catalog_t *c, catalog_title_t *t,
				int64_t seen_updated_at, kino_error_t *err)
{
	mongoc_client_t *client = NULL;
	mongoc_collection_t *coll = NULL;
	bson_t *filter = NULL;
	bson_t update = BSON_INITIALIZER, set, reply = BSON_INITIALIZER;
	bson_error_t berr;
	bson_iter_t it;
	bson_oid_t oid;
	int64_t now = catalog_now_ms();
	int ret = 0;

	if (!catalog_oid_parse(t->id, &oid)) {
		ret = kino_error_set(err, KINO_ENOENT, "no such title");
		goto out;
	}
	/* Two edits within one millisecond must still differ. */
	if (now <= seen_updated_at)
		now = seen_updated_at + 1;
	filter = BCON_NEW("_id", BCON_OID(&oid), "updated_at", BCON_DATE_TIME(seen_updated_at));
	bson_append_document_begin(&update, "$set", -1, &set);
	catalog_title_to_bson(t, &set);
	BSON_APPEND_DATE_TIME(&set, "updated_at", now);
	bson_append_document_end(&update, &set);
	client = kino_db_client_pop(c->db);
	coll = catalog_collection(c, client, "titles");
	if (!mongoc_collection_update_one(coll, filter, &update, NULL, &reply, &berr))
		ret = catalog_db_error(c, err, "updating the title", &berr);
	else if (!bson_iter_init_find(&it, &reply, "matchedCount") || bson_iter_as_int64(&it) != 1)
		ret = kino_error_set(err, KINO_ECONFLICT,
				     "the title was changed or deleted meanwhile: read it again");
	else
		t->updated_at = now;
	atomic_fetch_add(&c->generation, 1); /* even on a conflict: someone changed it */
out:
	bson_destroy(&reply);
	bson_destroy(&update);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	if (client != NULL)
		kino_db_client_push(c->db, client);
	return ret;
}

int catalog_store_title_list(kino_catalog_t *c, const catalog_query_t *q,
			     void (*fn)(const catalog_title_t *t, void *ud), void *ud,
			     bool *more, kino_error_t *err)
{
	mongoc_client_t *client = NULL;
	mongoc_collection_t *coll = NULL;
	mongoc_cursor_t *cur = NULL;
	catalog_title_t *t = NULL;
	bson_t filter = BSON_INITIALIZER, sub;
	bson_t *opts = NULL;
	const bson_t *doc;
	bson_error_t berr;
	bson_oid_t oid;
	int n = 0, ret = 0;

	*more = false;
	t = malloc(sizeof(*t));
	if (t == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto out;
	}
	if (q->viewer) {
		BSON_APPEND_BOOL(&filter, "published", true);
		bson_append_document_begin(&filter, "available_from", -1, &sub);
		BSON_APPEND_DATE_TIME(&sub, "$lte", q->now_ms);
		bson_append_document_end(&filter, &sub);
		bson_append_document_begin(&filter, "available_until", -1, &sub);
		BSON_APPEND_DATE_TIME(&sub, "$gt", q->now_ms);
		bson_append_document_end(&filter, &sub);
	}
	if (q->q != NULL) {
		char pattern[1024];
		if (!kino_db_regex_escape(pattern, sizeof(pattern), q->q)) {
			ret = kino_error_set(err, KINO_EINVAL, "q: too long");
			goto out;
		}
		bson_append_document_begin(&filter, "search", -1, &sub);
		BSON_APPEND_UTF8(&sub, "$regex", pattern);
		bson_append_document_end(&filter, &sub);
	}
	if (q->genre != NULL)
		BSON_APPEND_UTF8(&filter, "genres_lc", q->genre);
	if (q->after != NULL) {
		if (!catalog_oid_parse(q->after, &oid)) {
			ret = kino_error_set(err, KINO_EINVAL, "cursor: not a cursor of this list");
			goto out;
		}
		bson_append_document_begin(&filter, "_id", -1, &sub);
		BSON_APPEND_OID(&sub, "$gt", &oid);
		bson_append_document_end(&filter, &sub);
	}
	/* One more than the page tells whether there is a next page. */
	opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit",
			BCON_INT64(q->limit + 1), "projection", "{", "search", BCON_INT32(0),
			"genres_lc", BCON_INT32(0), "}");
	client = kino_db_client_pop(c->db);
	coll = catalog_collection(c, client, "titles");
	cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		if (n == q->limit) {
			*more = true;
			break;
		}
		catalog_title_from_bson(t, doc);
		fn(t, ud);
		n++;
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = catalog_db_error(c, err, "listing titles", &berr);
out:
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	if (client != NULL)
		kino_db_client_push(c->db, client);
	bson_destroy(opts);
	bson_destroy(&filter);
	free(t);
	return ret;
}
