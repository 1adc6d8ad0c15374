/* Users and sessions in MongoDB: the only file of the accounts module that
 * speaks libmongoc. Collections:
 *
 *   users     {_id: ObjectId, email (unique, lower case), password (scrypt
 *              string), role: "viewer"|"analyst"|"admin", created_at,
 *              role_changed_at (after an admin changed the role)}
 *   sessions  {_id: sha256(token) hex, user_id, created_at, expires_at,
 *              revoked: bool}
 *
 * Every function pops a pooled client, does its work and pushes it back:
 * blocking, for worker threads. Uses only operations that FerretDB v1.24
 * supports (insert, find with sort/limit/projection and $regex, update with
 * $set, count, createIndexes with unique). */
#define KINO_LOG_MODULE "auth"
#include "auth_internal.h"

#include "kino/error.h"
#include "kino/log.h"

#include <mongoc/mongoc.h>

#include <string.h>

#define DUPLICATE_KEY 11000

static mongoc_collection_t *collection(kino_auth_t *auth, mongoc_client_t *c,
				       const char *name)
{
	return mongoc_client_get_collection(c, kino_db_name(auth->db), name);
}

static int db_error(kino_auth_t *auth, kino_error_t *err, const char *what,
		    const bson_error_t *berr)
{
	kino_db_record_error(auth->db);
	return kino_error_set(err, KINO_EDB, "%s: %s", what, berr->message);
}

int store_ensure_indexes(kino_auth_t *auth, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(auth->db);
	mongoc_database_t *d = mongoc_client_get_database(c, kino_db_name(auth->db));
	bson_error_t berr;
	bson_t *cmd;
	int ret = 0;

	cmd = BCON_NEW("createIndexes", BCON_UTF8("users"), "indexes", "[", "{",
		       "key", "{", "email", BCON_INT32(1), "}", "name",
		       BCON_UTF8("email_unique"), "unique", BCON_BOOL(true), "}", "]");
	if (!mongoc_database_write_command_with_opts(d, cmd, NULL, NULL, &berr))
		ret = db_error(auth, err, "creating the users.email index", &berr);
	bson_destroy(cmd);
	if (ret == 0) {
		cmd = BCON_NEW("createIndexes", BCON_UTF8("sessions"), "indexes", "[",
			       "{", "key", "{", "user_id", BCON_INT32(1), "}", "name",
			       BCON_UTF8("user_id"), "}", "]");
		if (!mongoc_database_write_command_with_opts(d, cmd, NULL, NULL, &berr))
			ret = db_error(auth, err, "creating the sessions.user_id index", &berr);
		bson_destroy(cmd);
	}
	mongoc_database_destroy(d);
	kino_db_client_push(auth->db, c);
	return ret;
}

int store_user_insert(kino_auth_t *auth, const char *email, const char *hash,
		      kino_role_t role, kino_user_t *out, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(auth->db);
	mongoc_collection_t *coll = collection(auth, c, "users");
	bson_error_t berr;
	bson_oid_t oid;
	bson_t doc = BSON_INITIALIZER;
	int64_t now = auth_now_ms();
	int ret = 0;

	bson_oid_init(&oid, NULL);
	BSON_APPEND_OID(&doc, "_id", &oid);
	BSON_APPEND_UTF8(&doc, "email", email);
	BSON_APPEND_UTF8(&doc, "password", hash);
	BSON_APPEND_UTF8(&doc, "role", kino_role_name(role));
	BSON_APPEND_DATE_TIME(&doc, "created_at", now);
	if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &berr)) {
		if (berr.code == DUPLICATE_KEY)
			ret = kino_error_set(err, KINO_EEXIST,
					     "an account with this email exists already");
		else
			ret = db_error(auth, err, "creating the account", &berr);
	} else if (out != NULL) {
		bson_oid_to_string(&oid, out->id);
		snprintf(out->email, sizeof(out->email), "%s", email);
		out->role = role;
		out->created_at = now;
	}
	bson_destroy(&doc);
	mongoc_collection_destroy(coll);
	kino_db_client_push(auth->db, c);
	return ret;
}

/* Fills a user from a users document. */
static void user_from_doc(const bson_t *doc, kino_user_t *u, char *hash, size_t hash_size)
{
	bson_iter_t it;

	memset(u, 0, sizeof(*u));
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
		bson_oid_to_string(bson_iter_oid(&it), u->id);
	if (bson_iter_init_find(&it, doc, "email") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(u->email, sizeof(u->email), "%s", bson_iter_utf8(&it, NULL));
	u->role = KINO_ROLE_VIEWER;
	if (bson_iter_init_find(&it, doc, "role") && BSON_ITER_HOLDS_UTF8(&it))
		kino_role_parse(bson_iter_utf8(&it, NULL), &u->role);
	if (bson_iter_init_find(&it, doc, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		u->created_at = bson_iter_date_time(&it);
	if (hash != NULL && bson_iter_init_find(&it, doc, "password") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		snprintf(hash, hash_size, "%s", bson_iter_utf8(&it, NULL));
}

/* Runs find_one(filter) on a collection; calls fill on the document. */
static int find_one(kino_auth_t *auth, const char *name, const bson_t *filter,
		    void (*fill)(const bson_t *doc, void *ud), void *ud,
		    const char *what, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(auth->db);
	mongoc_collection_t *coll = collection(auth, c, name);
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	const bson_t *doc;
	bson_error_t berr;
	int ret = KINO_ENOENT;

	if (mongoc_cursor_next(cur, &doc)) {
		fill(doc, ud);
		ret = 0;
	} else if (mongoc_cursor_error(cur, &berr)) {
		ret = db_error(auth, err, what, &berr);
	} else {
		kino_error_set(err, KINO_ENOENT, "%s: not found", what);
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
	kino_db_client_push(auth->db, c);
	return ret;
}

static void fill_stored(const bson_t *doc, void *ud)
{
	stored_user_t *s = ud;

	user_from_doc(doc, &s->user, s->password_hash, sizeof(s->password_hash));
}

static void fill_user(const bson_t *doc, void *ud)
{
	user_from_doc(doc, ud, NULL, 0);
}

int store_user_by_email(kino_auth_t *auth, const char *email, stored_user_t *out,
			kino_error_t *err)
{
	bson_t *filter = BCON_NEW("email", BCON_UTF8(email));
	int ret = find_one(auth, "users", filter, fill_stored, out, "looking up the account", err);

	bson_destroy(filter);
	return ret;
}

int store_user_by_id(kino_auth_t *auth, const char *id, kino_user_t *out,
		     kino_error_t *err)
{
	bson_oid_t oid;
	bson_t *filter;
	int ret;

	if (!bson_oid_is_valid(id, strlen(id)))
		return kino_error_set(err, KINO_ENOENT, "no such user");
	bson_oid_init_from_string(&oid, id);
	filter = BCON_NEW("_id", BCON_OID(&oid));
	ret = find_one(auth, "users", filter, fill_user, out, "looking up the user", err);
	bson_destroy(filter);
	return ret;
}

int store_session_insert(kino_auth_t *auth, const char *digest,
			 const kino_user_t *user, int64_t expires_ms,
			 kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(auth->db);
	mongoc_collection_t *coll = collection(auth, c, "sessions");
	bson_error_t berr;
	bson_t doc = BSON_INITIALIZER;
	int ret = 0;

	BSON_APPEND_UTF8(&doc, "_id", digest);
	BSON_APPEND_UTF8(&doc, "user_id", user->id);
	BSON_APPEND_DATE_TIME(&doc, "created_at", auth_now_ms());
	BSON_APPEND_DATE_TIME(&doc, "expires_at", expires_ms);
	BSON_APPEND_BOOL(&doc, "revoked", false);
	if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &berr))
		ret = db_error(auth, err, "opening the session", &berr);
	bson_destroy(&doc);
	mongoc_collection_destroy(coll);
	kino_db_client_push(auth->db, c);
	return ret;
}

typedef struct session_row {
	char user_id[32];
	int64_t expires_ms;
	bool revoked;
} session_row_t;

static void fill_session(const bson_t *doc, void *ud)
{
	session_row_t *s = ud;
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, "user_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(s->user_id, sizeof(s->user_id), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "expires_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		s->expires_ms = bson_iter_date_time(&it);
	if (bson_iter_init_find(&it, doc, "revoked") && BSON_ITER_HOLDS_BOOL(&it))
		s->revoked = bson_iter_bool(&it);
}

int store_session_user(kino_auth_t *auth, const char *digest, char user_id[32],
		       int64_t *expires_ms, kino_error_t *err)
{
	session_row_t row = {.revoked = true};
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(digest));
	int ret = find_one(auth, "sessions", filter, fill_session, &row,
			   "looking up the session", err);

	bson_destroy(filter);
	if (ret != 0)
		return ret;
	if (row.revoked || row.expires_ms <= auth_now_ms() || row.user_id[0] == '\0')
		return kino_error_set(err, KINO_ENOENT, "the session has ended");
	memcpy(user_id, row.user_id, sizeof(row.user_id));
	*expires_ms = row.expires_ms;
	return 0;
}

int store_session_revoke(kino_auth_t *auth, const char *digest, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(auth->db);
	mongoc_collection_t *coll = collection(auth, c, "sessions");
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(digest), "revoked", BCON_BOOL(false));
	bson_t *update = BCON_NEW("$set", "{", "revoked", BCON_BOOL(true), "}");
	bson_error_t berr;
	bson_t reply;
	bson_iter_t it;
	int ret = 0;

	if (!mongoc_collection_update_one(coll, filter, update, NULL, &reply, &berr))
		ret = db_error(auth, err, "revoking the session", &berr);
	else if (!bson_iter_init_find(&it, &reply, "matchedCount") ||
		 bson_iter_as_int64(&it) != 1)
		ret = kino_error_set(err, KINO_ENOENT, "no such session");
	bson_destroy(&reply);
	bson_destroy(update);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(auth->db, c);
	return ret;
}

int store_user_list(kino_auth_t *auth, const char *pattern, const kino_role_t *role,
		    const bson_oid_t *after, int limit,
		    void (*fn)(const kino_user_t *user, void *ud), void *ud, bool *more,
		    kino_error_t *err)
{
	mongoc_client_t *c = NULL;
	mongoc_collection_t *coll = NULL;
	mongoc_cursor_t *cur = NULL;
	bson_t filter = BSON_INITIALIZER, sub;
	bson_t *opts = NULL;
	const bson_t *doc;
	bson_error_t berr;
	kino_user_t user;
	int n = 0, ret = 0;

	*more = false;
	if (pattern != NULL) {
		bson_append_document_begin(&filter, "email", -1, &sub);
		BSON_APPEND_UTF8(&sub, "$regex", pattern);
		bson_append_document_end(&filter, &sub);
	}
	if (role != NULL)
		BSON_APPEND_UTF8(&filter, "role", kino_role_name(*role));
	if (after != NULL) {
		bson_append_document_begin(&filter, "_id", -1, &sub);
		BSON_APPEND_OID(&sub, "$gt", after);
		bson_append_document_end(&filter, &sub);
	}
	/* One more than the page tells whether there is a next page; the
	 * password hash never leaves the database. */
	opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64(limit + 1),
			"projection", "{", "password", BCON_INT32(0), "}");
	c = kino_db_client_pop(auth->db);
	coll = collection(auth, c, "users");
	cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		if (n == limit) {
			*more = true;
			break;
		}
		user_from_doc(doc, &user, NULL, 0);
		fn(&user, ud);
		n++;
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = db_error(auth, err, "listing the accounts", &berr);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	kino_db_client_push(auth->db, c);
	bson_destroy(opts);
	bson_destroy(&filter);
	return ret;
}

int store_user_set_role(kino_auth_t *auth, const char *id, kino_role_t role,
			kino_error_t *err)
{
	mongoc_client_t *c = NULL;
	mongoc_collection_t *coll = NULL;
	bson_t *filter = NULL, *update = NULL;
	bson_t reply = BSON_INITIALIZER;
	bson_error_t berr;
	bson_iter_t it;
	bson_oid_t oid;
	int ret = 0;

	if (!bson_oid_is_valid(id, strlen(id))) {
		ret = kino_error_set(err, KINO_ENOENT, "no such user");
		goto out;
	}
	bson_oid_init_from_string(&oid, id);
	filter = BCON_NEW("_id", BCON_OID(&oid));
	update = BCON_NEW("$set", "{", "role", BCON_UTF8(kino_role_name(role)), "role_changed_at",
			  BCON_DATE_TIME(auth_now_ms()), "}");
	c = kino_db_client_pop(auth->db);
	coll = collection(auth, c, "users");
	if (!mongoc_collection_update_one(coll, filter, update, NULL, &reply, &berr))
		ret = db_error(auth, err, "changing the role", &berr);
	else if (!bson_iter_init_find(&it, &reply, "matchedCount") ||
		 bson_iter_as_int64(&it) != 1)
		ret = kino_error_set(err, KINO_ENOENT, "no such user");
out:
	bson_destroy(&reply);
	bson_destroy(update);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	if (c != NULL)
		kino_db_client_push(auth->db, c);
	return ret;
}

int store_role_count(kino_auth_t *auth, kino_role_t role, int64_t *n, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(auth->db);
	mongoc_collection_t *coll = collection(auth, c, "users");
	bson_t *filter = BCON_NEW("role", BCON_UTF8(kino_role_name(role)));
	bson_error_t berr;
	int ret = 0;

	*n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &berr);
	if (*n < 0)
		ret = db_error(auth, err, "counting the accounts", &berr);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(auth->db, c);
	return ret;
}
