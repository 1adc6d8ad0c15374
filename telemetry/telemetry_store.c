/* Everything the collector says to MongoDB, and the only file of the
 * collector that speaks libmongoc. Collections:
 *
 *   beacons      one document per accepted beacon (docs/telemetry.md),
 *                unique on (session_id, seq): retries and spool replays
 *                are no-ops
 *   plays        one per playback session, _id = session_id, upserted with
 *                $set/$setOnInsert as beacons arrive, closed at the end
 *   concurrency  _id "<minute ms>|<title>|<device>|<writer>.<n>", {minute,
 *                title_id, device, viewers}: each writer's own count,
 *                upserted with $set (concurrency_counts.c)
 *
 * Uses only what FerretDB v1.24 supports: unordered bulk inserts, upserts
 * with $set/$setOnInsert, find with sort/projection, createIndexes.
 * Blocking: writer threads only.
 *
 * Updates go UPDATES_PER_COMMAND at a time: FerretDB v1.24 (SQLite) keeps
 * one pooled SQLite connection open per statement of an update command
 * until the whole command ends (handler/msg_update.go defers each
 * statement's iterator close inside its loop), and its pool holds 100; a
 * command of 100 upserts, or a few smaller ones at once, then waits for a
 * connection that never comes and the server hangs for every client. */
#define KINO_LOG_MODULE "telemetry"
#include "telemetry_internal.h"

#include "kino/log.h"

#include <mongoc/mongoc.h>

#include <stdio.h>
#include <string.h>

#define UPDATES_PER_COMMAND 24 /* see the top of the file */

static int db_fail(kino_db_t *db, kino_error_t *err, const char *what,
		   const bson_error_t *berr)
{
	kino_db_record_error(db);
	return kino_error_set(err, KINO_EDB, "%s: %s", what, berr->message);
}

int kino_telemetry_ensure_indexes(kino_db_t *db, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_database_t *d = mongoc_client_get_database(c, kino_db_name(db));
	bson_error_t berr;
	int ret = 0;
	bson_t *cmds[4];

	/* one index a command: FerretDB v1.24 fails on several at once */
	cmds[0] = BCON_NEW("createIndexes", BCON_UTF8("beacons"), "indexes", "[",
			   "{", "key", "{", "session_id", BCON_INT32(1), "seq", BCON_INT32(1), "}",
			   "name", BCON_UTF8("session_seq_unique"), "unique", BCON_BOOL(true), "}",
			   "]");
	cmds[1] = BCON_NEW("createIndexes", BCON_UTF8("plays"), "indexes", "[",
			   "{", "key", "{", "started_at", BCON_INT32(1), "}",
			   "name", BCON_UTF8("started_at"), "}", "]");
	cmds[2] = BCON_NEW("createIndexes", BCON_UTF8("plays"), "indexes", "[",
			   "{", "key", "{", "closed", BCON_INT32(1), "updated_at", BCON_INT32(1), "}",
			   "name", BCON_UTF8("closed_updated"), "}", "]");
	cmds[3] = BCON_NEW("createIndexes", BCON_UTF8("concurrency"), "indexes", "[",
			   "{", "key", "{", "minute", BCON_INT32(1), "}",
			   "name", BCON_UTF8("minute"), "}", "]");
	for (int i = 0; i < 4; i++) {
		if (ret == 0 && !mongoc_database_write_command_with_opts(d, cmds[i], NULL, NULL, &berr))
			ret = db_fail(db, err, "creating the telemetry indexes", &berr);
		bson_destroy(cmds[i]);
	}
	mongoc_database_destroy(d);
	kino_db_client_push(db, c);
	return ret;
}

/* Reads a failed bulk insert's reply: true when every one of the n
 * documents was either inserted or refused on its own (a write error, as
 * opposed to a lost connection); refused[i] is then set for the documents
 * refused for another reason than being duplicates, and dup[i] (when dup
 * is not NULL) for the duplicates. */
static bool per_document(const bson_t *reply, int n, bool *refused, bool *dup)
{
	bson_iter_t it, errs;
	long long accounted = 0;

	if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it)) {
		bson_iter_recurse(&it, &errs);
		if (bson_iter_next(&errs))
			return false;
	}
	if (bson_iter_init_find(&it, reply, "nInserted") && BSON_ITER_HOLDS_NUMBER(&it))
		accounted = bson_iter_as_int64(&it);
	if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it))
		return false;
	bson_iter_recurse(&it, &errs);
	while (bson_iter_next(&errs)) {
		bson_iter_t d;
		long long idx = -1, code = 0;

		if (!BSON_ITER_HOLDS_DOCUMENT(&errs))
			return false;
		bson_iter_recurse(&errs, &d);
		while (bson_iter_next(&d)) {
			if (strcmp(bson_iter_key(&d), "index") == 0)
				idx = bson_iter_as_int64(&d);
			else if (strcmp(bson_iter_key(&d), "code") == 0)
				code = bson_iter_as_int64(&d);
		}
		if (idx < 0 || idx >= n)
			return false;
		if (code != DUPLICATE_KEY)
			refused[idx] = true;
		else if (dup != NULL)
			dup[idx] = true;
		accounted++;
	}
	return accounted == n;
}

int tel_beacons_insert(kino_db_t *db, bson_t *const *docs, int n, bool *refused,
			 kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, kino_db_name(db), "beacons");
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
	mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
	bson_error_t berr;
	bson_t reply;
	int ret = 0;

	for (int i = 0; i < n; i++) {
		refused[i] = false;
		mongoc_bulk_operation_insert(bulk, docs[i]);
	}
	/* A bulk operation runs once; its reply is always destroyed. */
	if (!mongoc_bulk_operation_execute(bulk, &reply, &berr) && !per_document(&reply, n, refused, NULL)) {
		for (int i = 0; i < n; i++)
			refused[i] = false;
		ret = db_fail(db, err, "inserting beacons", &berr);
	}
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
	kino_db_client_push(db, c);
	return ret;
}

void tel_beacon_id(const char *session_id, long long seq, char *out, size_t size)
{
	snprintf(out, size, "%s:%lld", session_id, seq);
}

/* One beacon by its _id: 0 and *out (the caller destroys it), KINO_ENOENT,
 * or KINO_EDB. An _id lookup is the one filter FerretDB answers from an
 * index. */
static int beacon_get(kino_db_t *db, mongoc_collection_t *coll, const char *session_id,
		      long long seq, bson_t **out, kino_error_t *err)
{
	char id[BEACON_ID_MAX + 24];
	bson_t *filter, *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "cmcd",
					 BCON_INT32(0), "}");
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t berr;
	int ret = KINO_ENOENT;

	tel_beacon_id(session_id, seq, id, sizeof(id));
	filter = BCON_NEW("_id", BCON_UTF8(id));
	cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	*out = NULL;
	if (mongoc_cursor_next(cur, &doc)) {
		*out = bson_copy(doc);
		ret = *out != NULL ? 0 : kino_error_set(err, KINO_ENOMEM, "out of memory");
	} else if (mongoc_cursor_error(cur, &berr)) {
		ret = db_fail(db, err, "reading a beacon", &berr);
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(filter);
	bson_destroy(opts);
	return ret;
}

int tel_session_start_find(kino_db_t *db, const char *session_id, beacon_t *b,
			     bool *legacy, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, kino_db_name(db), "beacons");
	bson_t *filter = NULL, *opts = NULL, *first = NULL;
	mongoc_cursor_t *cur = NULL;
	const bson_t *doc;
	bson_error_t berr;
	int ret;

	/* Players number a session's beacons from its session_start, at 0:
	 * one _id lookup. Otherwise (a session stored before beacons had
	 * such _ids, or a player that starts elsewhere) a query, which on
	 * FerretDB is a scan of `beacons`. */
	*legacy = false;
	ret = beacon_get(db, coll, session_id, 0, &first, err);
	if (ret == 0 && beacon_from_doc(first, b) && b->event == EV_SESSION_START)
		goto out;
	if (ret != 0 && ret != KINO_ENOENT)
		goto out;
	beacon_cleanup(b); /* it may hold seq 0's fields */
	beacon_init(b);
	filter = BCON_NEW("session_id", BCON_UTF8(session_id), "event", BCON_UTF8("session_start"));
	opts = BCON_NEW("limit", BCON_INT64(1));
	cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	ret = KINO_ENOENT;
	if (mongoc_cursor_next(cur, &doc)) {
		ret = beacon_from_doc(doc, b) ? 0 : KINO_ENOENT;
		*legacy = ret == 0;
	} else if (mongoc_cursor_error(cur, &berr)) {
		ret = db_fail(db, err, "looking up a session_start", &berr);
	}
	if (ret == KINO_ENOENT)
		kino_error_set(err, KINO_ENOENT, "no session_start for this session");
out:
	if (first != NULL)
		bson_destroy(first);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(db, c);
	return ret;
}

/* The viewer of a play is the user core issued its playback session to
 * (playback_sessions.user_id): more trustworthy than what a player says.
 * Left as it is when core's document is not there. */
static void viewer_from_playback(kino_db_t *db, mongoc_client_t *c, play_state_t *p)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(c, kino_db_name(db),
								"playback_sessions");
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(p->session_id));
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "user_id",
				BCON_INT32(1), "}");
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	const bson_t *doc;
	bson_iter_t it;

	if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "user_id") &&
	    BSON_ITER_HOLDS_UTF8(&it))
		snprintf(p->viewer_id, sizeof(p->viewer_id), "%s", bson_iter_utf8(&it, NULL));
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
}

void tel_play_viewer(kino_db_t *db, play_state_t *p)
{
	mongoc_client_t *c = kino_db_client_pop(db);

	viewer_from_playback(db, c, p);
	kino_db_client_push(db, c);
}

/* Folds the session's beacons by _id, seq 0 on, up to `upto` and then
 * until REFOLD_PROBE lookups in a row find nothing. *found: how many. */
#define REFOLD_PROBE 32
static int refold_by_id(kino_db_t *db, mongoc_collection_t *coll, const char *session_id,
			long long upto, play_state_t *p, int *found, kino_error_t *err)
{
	int misses = 0, ret = 0;

	*found = 0;
	for (long long seq = 0; seq <= upto || misses < REFOLD_PROBE; seq++) {
		bson_t *doc;
		beacon_t b;

		ret = beacon_get(db, coll, session_id, seq, &doc, err);
		if (ret == KINO_ENOENT) {
			misses++;
			ret = 0;
			continue;
		}
		if (ret != 0)
			break;
		misses = 0;
		(*found)++;
		beacon_init(&b);
		if (beacon_from_doc(doc, &b))
			play_fold(p, &b);
		beacon_cleanup(&b);
		bson_destroy(doc);
	}
	return ret;
}

int tel_session_refold(kino_db_t *db, const char *session_id, long long upto, bool legacy,
			 play_state_t *p, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, kino_db_name(db), "beacons");
	bson_t *filter = NULL, *opts = NULL;
	mongoc_cursor_t *cur = NULL;
	const bson_t *doc;
	bson_error_t berr;
	int ret, found = 0;

	/* By _id first: lookups that cost the same however large `beacons`
	 * grows, where a query by session_id is a scan of it on FerretDB. */
	play_state_init(p, session_id);
	ret = legacy ? 0 : refold_by_id(db, coll, session_id, upto, p, &found, err);
	if (ret != 0 || found > 0)
		goto done;
	/* Nothing under those _ids (p is as initialised): beacons stored
	 * before they had them. */
	filter = BCON_NEW("session_id", BCON_UTF8(session_id));
	opts = BCON_NEW("sort", "{", "seq", BCON_INT32(1), "}", "projection", "{", "_id",
			BCON_INT32(0), "cmcd", BCON_INT32(0), "}");
	cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		beacon_t b;

		beacon_init(&b);
		if (beacon_from_doc(doc, &b))
			play_fold(p, &b);
		beacon_cleanup(&b);
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = db_fail(db, err, "reading a session's beacons", &berr);
done:
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	if (ret == 0)
		viewer_from_playback(db, c, p);
	kino_db_client_push(db, c);
	return ret;
}

/* Inserts whole, in one command, the plays that were never written (live
 * or closed): on FerretDB (SQLite) an insert command is one transaction for
 * all its documents, as for beacons, where every upsert is a transaction
 * of its own, about the cost of a hundred inserted beacons. A play that
 * turns out to be there already (written before a restart, say) is left
 * to the upserts: upsert[i] is set for it, as for every play not inserted
 * here. */
static int plays_insert(kino_db_t *db, mongoc_collection_t *pc, play_state_t *const *plays,
			const bool *closed, const bool *fresh, int nplays, int64_t now_ms,
			bool *upsert, kino_error_t *err)
{
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
	mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(pc, opts);
	int *idx = malloc((size_t)(nplays + 1) * sizeof(*idx));
	bool *refused = calloc((size_t)nplays + 1, sizeof(*refused));
	bool *dup = calloc((size_t)nplays + 1, sizeof(*dup));
	bson_error_t berr;
	bson_t reply = BSON_INITIALIZER;
	int n = 0, ret = 0;

	for (int i = 0; i < nplays; i++)
		upsert[i] = true;
	if (idx == NULL || refused == NULL || dup == NULL)
		goto out; /* everything goes the upsert way */
	for (int i = 0; i < nplays; i++) {
		if (fresh == NULL || !fresh[i])
			continue;
		bson_t doc = BSON_INITIALIZER;
		BSON_APPEND_UTF8(&doc, "_id", plays[i]->session_id);
		play_append_identity(plays[i], &doc);
		play_append_metrics(plays[i], closed[i], now_ms, &doc);
		mongoc_bulk_operation_insert(bulk, &doc);
		bson_destroy(&doc);
		idx[n++] = i;
	}
	if (n == 0)
		goto out;
	bson_destroy(&reply);
	if (!mongoc_bulk_operation_execute(bulk, &reply, &berr) &&
	    !per_document(&reply, n, refused, dup)) {
		ret = db_fail(db, err, "inserting plays", &berr);
		goto out;
	}
	for (int k = 0; k < n; k++)
		upsert[idx[k]] = dup[k] || refused[k];
out:
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(opts);
	free(idx);
	free(refused);
	free(dup);
	return ret;
}

int tel_plays_write(kino_db_t *db, play_state_t *const *plays, const bool *closed,
		      const bool *fresh, int nplays, conc_entry_t *const *conc, int nconc,
		      int64_t now_ms, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_collection_t *pc = mongoc_client_get_collection(c, kino_db_name(db), "plays");
	mongoc_collection_t *cc = mongoc_client_get_collection(c, kino_db_name(db), "concurrency");
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
	bson_t *upsert = BCON_NEW("upsert", BCON_BOOL(true));
	bson_error_t berr;
	bson_t reply;
	bool *todo = malloc((size_t)nplays + 1);
	int ret = 0;

	if (todo == NULL)
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
	if (ret == 0)
		ret = plays_insert(db, pc, plays, closed, fresh, nplays, now_ms, todo, err);
	for (int first = 0; ret == 0 && first < nplays;) {
		mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(pc, opts);
		int queued = 0;
		for (int i = first; i < nplays && queued < UPDATES_PER_COMMAND; i = ++first) {
			if (!todo[i])
				continue;
			queued++;
			bson_t *sel = BCON_NEW("_id", BCON_UTF8(plays[i]->session_id));
			bson_t upd = BSON_INITIALIZER, set, ins;

			/* identity on insert only; metrics are absolute values, so
			 * writing them again (a retry, a refold) is harmless */
			BSON_APPEND_DOCUMENT_BEGIN(&upd, "$setOnInsert", &ins);
			play_append_identity(plays[i], &ins);
			bson_append_document_end(&upd, &ins);
			BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
			play_append_metrics(plays[i], closed[i], now_ms, &set);
			bson_append_document_end(&upd, &set);
			mongoc_bulk_operation_update_one_with_opts(bulk, sel, &upd, upsert, NULL);
			bson_destroy(&upd);
			bson_destroy(sel);
		}
		if (queued > 0 && !mongoc_bulk_operation_execute(bulk, &reply, &berr))
			ret = db_fail(db, err, "upserting plays", &berr);
		if (queued > 0)
			bson_destroy(&reply);
		mongoc_bulk_operation_destroy(bulk);
	}
	free(todo);
	for (int first = 0; ret == 0 && first < nconc; first += UPDATES_PER_COMMAND) {
		int last = first + UPDATES_PER_COMMAND < nconc ? first + UPDATES_PER_COMMAND : nconc;
		mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(cc, opts);
		for (int i = first; i < last; i++) {
			/* absolute, in this writer's own document: concurrency_counts.c */
			bson_t *sel = BCON_NEW("_id", BCON_UTF8(conc[i]->id));
			bson_t *upd = BCON_NEW("$setOnInsert", "{", "minute", BCON_DATE_TIME(conc[i]->minute),
					       "title_id", BCON_UTF8(conc[i]->title_id), "device",
					       BCON_UTF8(conc[i]->device), "}", "$set", "{", "viewers",
					       BCON_INT64(conc[i]->viewers), "}");
			mongoc_bulk_operation_update_one_with_opts(bulk, sel, upd, upsert, NULL);
			bson_destroy(upd);
			bson_destroy(sel);
		}
		if (!mongoc_bulk_operation_execute(bulk, &reply, &berr))
			ret = db_fail(db, err, "counting concurrent viewers", &berr);
		bson_destroy(&reply);
		mongoc_bulk_operation_destroy(bulk);
	}
	bson_destroy(upsert);
	bson_destroy(opts);
	mongoc_collection_destroy(cc);
	mongoc_collection_destroy(pc);
	kino_db_client_push(db, c);
	return ret;
}

int tel_plays_stale(kino_db_t *db, int64_t idle_before_ms, char (*ids)[BEACON_ID_MAX + 1],
		      int max, int *n, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, kino_db_name(db), "plays");
	bson_t *filter = BCON_NEW("closed", BCON_BOOL(false), "updated_at", "{", "$lt",
				  BCON_DATE_TIME(idle_before_ms), "}");
	bson_t *opts = BCON_NEW("limit", BCON_INT64(max), "projection", "{", "_id",
				BCON_INT32(1), "}");
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	const bson_t *doc;
	bson_error_t berr;
	bson_iter_t it;
	int ret = 0;

	*n = 0;
	while (*n < max && mongoc_cursor_next(cur, &doc)) {
		if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
			snprintf(ids[(*n)++], BEACON_ID_MAX + 1, "%s", bson_iter_utf8(&it, NULL));
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = db_fail(db, err, "finding idle plays", &berr);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(db, c);
	return ret;
}
