/* Playback sessions and the concurrent-stream limit, enforced with leases.
 *
 *   playback_sessions  {_id: "<24 hex>", user_id, title_id, asset_id,
 *                       slot: "<user id>/<n>", created_at, lease_until: Date,
 *                       ended: bool, ended_at: Date (once stopped)}
 *   stream_slots       {_id: "<user id>/<n>/<gen>", user_id, slot: "<user id>/<n>",
 *                       gen: int64, session_id, lease_until: Date}
 *                      indexes (slot, gen) and user_id
 *
 * Why slots, and why generations. FerretDB has no transactions, so "count
 * the live sessions, then insert one" lets simultaneous requests all see
 * room for one more. Worse, FerretDB v1.24 applies a conditional update by
 * reading the matching documents and writing them back, so two racing
 * update_one({lease_until <= now}) calls can both "win" (the test of
 * parallel requests caught exactly that). The one write that it does make
 * atomic is an insert into a unique _id. So every change of a slot's owner
 * or lease is the insert of the slot's next generation:
 *
 *   - a plan with N streams gives each user N slots; the head of a slot is
 *     its highest generation; the slot is busy while its head's lease is live;
 *   - claiming a free slot, renewing a lease (heartbeat) and giving a slot
 *     back (stop: lease 0) all read the head g and insert generation g + 1:
 *     of racing writers exactly one inserts it, the others get a duplicate
 *     key error and lose (a heartbeat then reads the head again);
 *   - older generations are deleted after each successful insert, so a slot
 *     holds one or two documents.
 *
 * At most N sessions thus hold a live lease whatever the concurrency, with
 * no false refusals but for a request that races with one that took the
 * last free slot. The session document mirrors its lease for readers; the
 * slot's head is the authority. A plan lowered while streams play may leave
 * live slots numbered past the new limit: a claim therefore also counts the
 * user's live slots and gives its slot back when they exceed the limit.
 * Blocking. */
#define KINO_LOG_MODULE "playback"
#include "catalog_internal.h"

#include "kino/log.h"

#include <mongoc/mongoc.h>

#include <stdio.h>
#include <string.h>

/* A user's slots counted for a plan change: more than any plan's limit. */
#define SLOTS_SCAN_MAX 64

int playback_session_indexes(kino_catalog_t *c, kino_error_t *err)
{
	bson_t *keys = BCON_NEW("slot", BCON_INT32(1), "gen", BCON_INT32(-1));
	int ret = catalog_index_create(c, "stream_slots", keys, "slot_gen", false, err);

	bson_destroy(keys);
	keys = BCON_NEW("user_id", BCON_INT32(1));
	if (ret == 0)
		ret = catalog_index_create(c, "stream_slots", keys, "user_id", false, err);
	if (ret == 0)
		ret = catalog_index_create(c, "playback_sessions", keys, "user_id", false, err);
	bson_destroy(keys);
	return ret;
}

static int64_t lease_ms(const kino_catalog_t *c)
{
	return (int64_t)c->cfg->playback.lease_ttl_s * 1000;
}

/* The head (highest generation) of a slot. */
typedef struct slot_head {
	bool exists;
	int64_t gen;
	char session_id[25];
	int64_t lease_until;
} slot_head_t;

static void head_from_bson(slot_head_t *h, const bson_t *doc)
{
	bson_iter_t it;

	memset(h, 0, sizeof(*h));
	h->exists = true;
	if (bson_iter_init_find(&it, doc, "gen") && BSON_ITER_HOLDS_NUMBER(&it))
		h->gen = bson_iter_as_int64(&it);
	if (bson_iter_init_find(&it, doc, "session_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(h->session_id, sizeof(h->session_id), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "lease_until") && BSON_ITER_HOLDS_DATE_TIME(&it))
		h->lease_until = bson_iter_date_time(&it);
}

static int slot_head(kino_catalog_t *c, mongoc_collection_t *slots, const char *key, slot_head_t *h,
		     kino_error_t *err)
{
	bson_t *filter = BCON_NEW("slot", BCON_UTF8(key));
	bson_t *opts = BCON_NEW("sort", "{", "gen", BCON_INT32(-1), "}", "limit", BCON_INT64(1));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(slots, filter, opts, NULL);
	const bson_t *doc;
	bson_error_t berr;
	int ret = 0;

	memset(h, 0, sizeof(*h));
	if (mongoc_cursor_next(cur, &doc))
		head_from_bson(h, doc);
	else if (mongoc_cursor_error(cur, &berr))
		ret = catalog_db_error(c, err, "reading a stream slot", &berr);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	return ret;
}

/* Inserts generation `gen` of slot `key`. *won is false when another
 * writer inserted it first. On success the older generations go. */
static int slot_push(kino_catalog_t *c, mongoc_collection_t *slots, const char *user_id, const char *key,
		     int64_t gen, const char *sid, int64_t lease_until, bool *won,
		     kino_error_t *err)
{
	char id[128];
	bson_t *doc, *old;
	bson_error_t berr;
	int ret = 0;

	*won = false;
	snprintf(id, sizeof(id), "%s/%lld", key, (long long)gen);
	doc = BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user_id), "slot", BCON_UTF8(key),
		       "gen", BCON_INT64(gen), "session_id", BCON_UTF8(sid), "lease_until",
		       BCON_DATE_TIME(lease_until));
	if (mongoc_collection_insert_one(slots, doc, NULL, NULL, &berr))
		*won = true;
	else if (berr.code != CATALOG_DUPLICATE_KEY)
		ret = catalog_db_error(c, err, "writing a stream slot", &berr);
	bson_destroy(doc);
	if (*won) {
		/* Housekeeping only: the head decides, whatever is left below it. */
		old = BCON_NEW("slot", BCON_UTF8(key), "gen", "{", "$lt", BCON_INT64(gen), "}");
		if (!mongoc_collection_delete_many(slots, old, NULL, NULL, &berr))
			KINO_LOG_WARN("pruning slot %s: %s", key, berr.message);
		bson_destroy(old);
	}
	return ret;
}

/* Gives a slot back if `sid` still holds it. Retries when a heartbeat of
 * the same session races with it. */
static int slot_release(kino_catalog_t *c, mongoc_collection_t *slots, const char *user_id, const char *key,
			const char *sid, kino_error_t *err)
{
	slot_head_t h;
	bool won = false;
	int ret = 0;

	for (int attempt = 0; attempt < 5 && !won && ret == 0; attempt++) {
		ret = slot_head(c, slots, key, &h, err);
		if (ret != 0 || !h.exists || strcmp(h.session_id, sid) != 0 || h.lease_until == 0)
			break;
		ret = slot_push(c, slots, user_id, key, h.gen + 1, sid, 0, &won, err);
	}
	return ret;
}

/* How many of a user's slots have a live head. */
static int live_slots(kino_catalog_t *c, mongoc_collection_t *slots, const char *user_id, int64_t now,
		      int64_t *n, kino_error_t *err)
{
	bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user_id));
	bson_t *opts = BCON_NEW("sort", "{", "slot", BCON_INT32(1), "gen", BCON_INT32(-1), "}");
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(slots, filter, opts, NULL);
	char last[64] = "";
	const bson_t *doc;
	bson_error_t berr;
	bson_iter_t it;
	int ret = 0, seen = 0;

	*n = 0;
	while (seen < SLOTS_SCAN_MAX * 4 && mongoc_cursor_next(cur, &doc)) {
		const char *slot = "";
		slot_head_t h;

		seen++;
		if (bson_iter_init_find(&it, doc, "slot") && BSON_ITER_HOLDS_UTF8(&it))
			slot = bson_iter_utf8(&it, NULL);
		if (strcmp(slot, last) == 0)
			continue; /* a lower generation of the slot just counted */
		snprintf(last, sizeof(last), "%s", slot);
		head_from_bson(&h, doc);
		if (h.lease_until > now)
			(*n)++;
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = catalog_db_error(c, err, "counting live streams", &berr);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	return ret;
}

/* Claims slot `key` for session `sid` if its head is not live. */
static int slot_claim(kino_catalog_t *c, mongoc_collection_t *slots, const char *user_id, const char *key,
		      const char *sid, int64_t now, int64_t lease_until, bool *won,
		      kino_error_t *err)
{
	slot_head_t h;
	int ret = slot_head(c, slots, key, &h, err);

	*won = false;
	if (ret != 0 || (h.exists && h.lease_until > now))
		return ret;
	return slot_push(c, slots, user_id, key, h.exists ? h.gen + 1 : 0, sid, lease_until, won, err);
}

int playback_session_open(kino_catalog_t *c, const kino_user_t *user, const char *title_id,
			  const char *asset_id, int max_streams, playback_session_t *out,
			  bool *granted, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *slots = catalog_collection(c, client, "stream_slots");
	mongoc_collection_t *sessions = catalog_collection(c, client, "playback_sessions");
	int64_t now = catalog_now_ms(), live = 0;
	bson_t *doc = NULL;
	bson_error_t berr;
	bson_oid_t oid;
	bool won = false;
	int ret = 0;

	*granted = false;
	memset(out, 0, sizeof(*out));
	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, out->id);
	snprintf(out->user_id, sizeof(out->user_id), "%s", user->id);
	snprintf(out->title_id, sizeof(out->title_id), "%s", title_id);
	snprintf(out->asset_id, sizeof(out->asset_id), "%s", asset_id);
	out->created_at = now;
	out->lease_until = now + lease_ms(c);
	for (int i = 0; i < max_streams && !won && ret == 0; i++) {
		snprintf(out->slot, sizeof(out->slot), "%s/%d", user->id, i);
		ret = slot_claim(c, slots, user->id, out->slot, out->id, now, out->lease_until, &won,
				 err);
	}
	if (ret != 0 || !won)
		goto out;
	ret = live_slots(c, slots, user->id, now, &live, err);
	if (ret != 0 || live > max_streams) {
		slot_release(c, slots, user->id, out->slot, out->id, NULL);
		goto out;
	}
	doc = BCON_NEW("_id", BCON_UTF8(out->id), "user_id", BCON_UTF8(out->user_id), "title_id",
		       BCON_UTF8(out->title_id), "asset_id", BCON_UTF8(out->asset_id), "slot",
		       BCON_UTF8(out->slot), "created_at", BCON_DATE_TIME(now), "lease_until",
		       BCON_DATE_TIME(out->lease_until), "ended", BCON_BOOL(false));
	if (!mongoc_collection_insert_one(sessions, doc, NULL, NULL, &berr)) {
		ret = catalog_db_error(c, err, "storing the playback session", &berr);
		slot_release(c, slots, user->id, out->slot, out->id, NULL);
		goto out;
	}
	*granted = true;
out:
	bson_destroy(doc);
	mongoc_collection_destroy(sessions);
	mongoc_collection_destroy(slots);
	kino_db_client_push(c->db, client);
	return ret;
}

static void session_from_bson(playback_session_t *s, const bson_t *doc)
{
	bson_iter_t it;

	memset(s, 0, sizeof(*s));
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(s->id, sizeof(s->id), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "user_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(s->user_id, sizeof(s->user_id), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "title_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(s->title_id, sizeof(s->title_id), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "asset_id") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(s->asset_id, sizeof(s->asset_id), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "slot") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(s->slot, sizeof(s->slot), "%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
		s->created_at = bson_iter_date_time(&it);
	if (bson_iter_init_find(&it, doc, "lease_until") && BSON_ITER_HOLDS_DATE_TIME(&it))
		s->lease_until = bson_iter_date_time(&it);
	if (bson_iter_init_find(&it, doc, "ended") && BSON_ITER_HOLDS_BOOL(&it))
		s->ended = bson_iter_bool(&it);
}

/* The user's session `id`; *found is false for an unknown id or another
 * user's session (which is answered as if it did not exist). */
static int session_get(kino_catalog_t *c, mongoc_collection_t *sessions, const kino_user_t *user, const char *id,
		       playback_session_t *out, bool *found, kino_error_t *err)
{
	bson_t *filter, *opts;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t berr;
	bson_oid_t oid;
	int ret = 0;

	*found = false;
	if (!catalog_oid_parse(id, &oid))
		return 0;
	filter = BCON_NEW("_id", BCON_UTF8(id));
	opts = BCON_NEW("limit", BCON_INT64(1));
	cur = mongoc_collection_find_with_opts(sessions, filter, opts, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		session_from_bson(out, doc);
		*found = strcmp(out->user_id, user->id) == 0;
	} else if (mongoc_cursor_error(cur, &berr)) {
		ret = catalog_db_error(c, err, "reading the playback session", &berr);
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	return ret;
}

/* Marks a session ended (now) and gives its slot back. */
static int session_end(kino_catalog_t *c, mongoc_collection_t *sessions, mongoc_collection_t *slots,
		       const playback_session_t *s, int64_t now, kino_error_t *err)
{
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(s->id));
	bson_t *update = BCON_NEW("$set", "{", "ended", BCON_BOOL(true), "ended_at",
				  BCON_DATE_TIME(now), "}");
	bson_error_t berr;
	int ret = 0;

	/* The slot first: it is what frees the stream. */
	if (s->slot[0] != '\0')
		ret = slot_release(c, slots, s->user_id, s->slot, s->id, err);
	if (ret == 0 && !s->ended &&
	    !mongoc_collection_update_one(sessions, filter, update, NULL, NULL, &berr))
		ret = catalog_db_error(c, err, "ending the playback session", &berr);
	bson_destroy(update);
	bson_destroy(filter);
	return ret;
}

int playback_session_renew(kino_catalog_t *c, const kino_user_t *user, const char *id,
			   playback_session_t *out, playback_refusal_t *why, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *slots = catalog_collection(c, client, "stream_slots");
	mongoc_collection_t *sessions = catalog_collection(c, client, "playback_sessions");
	bson_t *filter = NULL, *update = NULL;
	int64_t now = catalog_now_ms(), lease_until = now + lease_ms(c);
	bson_error_t berr;
	slot_head_t h;
	bool found, won = false;
	int ret;

	*why = PLAYBACK_REFUSED_NONE;
	ret = session_get(c, sessions, user, id, out, &found, err);
	if (ret != 0)
		goto out;
	if (!found) {
		*why = PLAYBACK_REFUSED_UNKNOWN;
		goto out;
	}
	if (out->ended) {
		*why = PLAYBACK_REFUSED_ENDED;
		goto out;
	}
	/* The slot's head says whether the session still holds its stream;
	 * two heartbeats of one session may race, hence the second look. */
	for (int attempt = 0; attempt < 2 && !won && ret == 0 && *why == PLAYBACK_REFUSED_NONE;
	     attempt++) {
		ret = slot_head(c, slots, out->slot, &h, err);
		if (ret != 0)
			break;
		if (h.exists && strcmp(h.session_id, out->id) == 0 && h.lease_until == 0)
			*why = PLAYBACK_REFUSED_ENDED;
		else if (!h.exists || strcmp(h.session_id, out->id) != 0 || h.lease_until <= now)
			*why = PLAYBACK_REFUSED_LAPSED;
		else if (attempt > 0 && h.lease_until >= lease_until - 1000)
			won = true; /* the racing heartbeat renewed it */
		else
			ret = slot_push(c, slots, out->user_id, out->slot, h.gen + 1, out->id,
					lease_until, &won, err);
	}
	if (ret != 0 || *why != PLAYBACK_REFUSED_NONE)
		goto out;
	if (!won) {
		*why = PLAYBACK_REFUSED_LAPSED;
		goto out;
	}
	filter = BCON_NEW("_id", BCON_UTF8(out->id));
	update = BCON_NEW("$set", "{", "lease_until", BCON_DATE_TIME(lease_until), "}");
	if (!mongoc_collection_update_one(sessions, filter, update, NULL, NULL, &berr))
		ret = catalog_db_error(c, err, "renewing the playback session", &berr);
	else
		out->lease_until = lease_until;
out:
	bson_destroy(update);
	bson_destroy(filter);
	mongoc_collection_destroy(sessions);
	mongoc_collection_destroy(slots);
	kino_db_client_push(c->db, client);
	return ret;
}

int playback_session_stop(kino_catalog_t *c, const kino_user_t *user, const char *id,
			  playback_refusal_t *why, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *slots = catalog_collection(c, client, "stream_slots");
	mongoc_collection_t *sessions = catalog_collection(c, client, "playback_sessions");
	playback_session_t s;
	bool found;
	int ret;

	*why = PLAYBACK_REFUSED_NONE;
	ret = session_get(c, sessions, user, id, &s, &found, err);
	if (ret == 0 && !found)
		*why = PLAYBACK_REFUSED_UNKNOWN;
	else if (ret == 0)
		ret = session_end(c, sessions, slots, &s, catalog_now_ms(), err);
	mongoc_collection_destroy(sessions);
	mongoc_collection_destroy(slots);
	kino_db_client_push(c->db, client);
	return ret;
}

int kino_catalog_active_streams(kino_catalog_t *c, long long *out, kino_error_t *err)
{
	mongoc_client_t *client = kino_db_client_pop(c->db);
	mongoc_collection_t *coll = catalog_collection(c, client, "playback_sessions");
	bson_t *filter = BCON_NEW("ended", BCON_BOOL(false), "lease_until", "{", "$gt",
				  BCON_DATE_TIME(catalog_now_ms()), "}");
	bson_error_t berr;
	int64_t n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &berr);
	int ret = 0;

	if (n < 0)
		ret = catalog_db_error(c, err, "counting active streams", &berr);
	else
		*out = n;
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(c->db, client);
	return ret;
}
