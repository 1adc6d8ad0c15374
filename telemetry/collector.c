/* The beacon collector: submit -> validate -> bind -> queue -> writer ->
 * durable -> ack.
 *
 * submit() runs on the transport's thread (an event loop, or an HTTP
 * worker) and never touches the database or the disk: it parses, checks
 * the flood limit of the client address, validates, binds and puts each
 * beacon on the bounded queue of the writer that owns its session (a hash
 * of session_id, so one writer sees a session's beacons in order and owns
 * its play state without locks). A full queue is answered "back off" at
 * once.
 *
 * Binding: a session_start must carry the playback token that core signed
 * for this session and asset (verified with the keyring, no database);
 * its session is then remembered in a bounded table. Other beacons are
 * accepted for remembered sessions; for others (started on another
 * collector, or before a restart, or evicted) the writer looks for the
 * session_start in MongoDB, and rejects the beacon when there is none.
 *
 * Writers take batches, insert them unordered into `beacons` (duplicates
 * are success) or, while MongoDB is down or slow, append them to the spool
 * and fsync; only then is each beacon acknowledged. When the spool is full
 * too, the batch is answered "back off". Then each writer folds the new
 * beacons into its sessions' play states, upserts `plays` and the per-minute
 * `concurrency` rollups, closes ended or silent plays (refolded from
 * `beacons` unless this writer folded every beacon of the session in seq
 * order, so the closed document is exact whatever happened meanwhile),
 * and replays the spool once MongoDB answers again. */
#define KINO_LOG_MODULE "telemetry"
#include "telemetry_internal.h"

#include "kino/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>

#define SESSION_BUCKETS 4096
#define SWEEP_INTERVAL_MS 30000
#define STALE_BATCH 100
#define FLUSH_INTERVAL_MS 250 /* how often live plays and rollups are written */
/* ... while beacons wait in the writer's queue. Beacons come first: they
 * are what clients wait for, and a live play is derived data that the
 * close (or, after a crash, the stale sweep) rebuilds from `beacons`. On
 * FerretDB (SQLite) each upsert is a transaction of its own with its own
 * commit, some 100 times the cost of a beacon in a bulk insert, so a play
 * rewritten on every flush would cap the beacons at a few hundred a second. */
#define BUSY_FLUSH_INTERVAL_MS 30000
/* A live play is first written once it is this old (inserted whole, with
 * the others due then) and then rewritten at most this often: its document
 * trails the beacons by up to 10 s (concurrency comes from the per-minute
 * rollups, and the close writes the final figures at once). Each rewrite
 * is an upsert, a transaction of its own on FerretDB, with its own commit
 * and fsync under SQLite's one write lock: rewriting every live play on
 * every flush took 40 % of the writers' time in the db bench, and a play
 * that ends within 10 s is written once, whole. */
#define PLAY_REWRITE_MS 10000

void kino_telemetry_limits_defaults(kino_telemetry_limits_t *l)
{
	*l = (kino_telemetry_limits_t){
		.max_beacon = 8 * 1024,
		.max_message = 256 * 1024,
		.queue_capacity = 4096,
		.writers = 4,
		.batch_max = 500,
		.spool_max_bytes = 256LL << 20,
		.slow_db_ms = 2000,
		.bind_capacity = 20000,
		.session_timeout_s = 120,
		.max_past_s = 86400,
		.max_future_s = 300,
		.rate_per_s = 200,
		.rate_burst = 1000,
		.retry_after_s = 1,
	};
}

/* ---- writers ---- */

typedef struct item {
	bson_t *doc;
	char sid[BEACON_ID_MAX + 1];
	long long seq;
	unsigned long long tag;
	kino_beacon_done_fn done;
	void *ud;
	int64_t enq_ms;
	bool needs_bind;
	bool start_stored; /* its session_start was found in MongoDB: not coming */
	bool legacy;       /* ...stored before beacons had "<sid>:<seq>" _ids */
} item_t;

#define SESSION_AHEAD_MAX 128
/* Holes a play was folded across, remembered so that a beacon that fills
 * one later is noticed (past this many, any late beacon counts as one). */
#define SESSION_GAPS_MAX 16
/* A client told to back off retries after retry_after_s (1 s by default). */
#define AHEAD_WAIT_MS 15000
/* A closed play stays in memory this long, for its stragglers: the
 * session_end after an `ended` that closed it, a retry told to back off.
 * One forgotten at once would come back as a play begun elsewhere, held,
 * then refolded from `beacons`. */
#define CLOSED_LINGER_MS AHEAD_WAIT_MS

typedef struct sess {
	play_state_t st;
	bool partial; /* began mid-session: refold from `beacons` before writing */
	bool gapless; /* folded every beacon from seq 0 on, in order: exact as it is */
	bool legacy;  /* began before beacons had "<sid>:<seq>" _ids: refold by query */
	/* A refold could make the state more exact than it is: the session
	 * began before this writer saw it, or a beacon came into a hole the
	 * state was folded across (or, for a partial one, before it). A
	 * refold that finds no more clears it, so a session whose start is
	 * not in MongoDB is not read again and again. */
	bool mend;
	bool dirty;   /* changed since last written */
	bool closing; /* over: refold and close once the spool is empty */
	bool drop;    /* to forget: silent and never started, or closed a while */
	bool stored;  /* written to `plays` by this writer at least once */
	int64_t written_ms; /* when it last was */
	int64_t closed_ms;  /* when it was written closed; 0 while open */
	/* Beacons that came ahead of a missing one (told to back off, it
	 * comes again soon), held in seq order until it does: folding them
	 * now would make the play inexact, and mending it later is a refold,
	 * a scan of `beacons` on FerretDB. */
	bson_t *ahead[SESSION_AHEAD_MAX];
	long long ahead_seq[SESSION_AHEAD_MAX];
	int nahead;
	int64_t ahead_since; /* when the oldest held one came */
	/* Holes [gap_from, gap_to] the state was folded across. A play folded
	 * across a hole that never fills is exactly what a refold would give;
	 * only a beacon that fills one later makes it inexact (`mend`). */
	long long gap_from[SESSION_GAPS_MAX], gap_to[SESSION_GAPS_MAX];
	int ngaps;
	int64_t active_ms;
	struct sess *next;
} sess_t;

typedef struct writer {
	struct kino_telemetry_collector *c;
	int idx;
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	item_t *ring;
	int cap, head, count;
	bool clean; /* nothing dirty, closing or partial: for drain() */
	/* owned by the writer thread */
	sess_t *buckets[SESSION_BUCKETS];
	int nsess;
	conc_counts_t conc;
	int64_t last_sweep;
	int64_t last_flush;
} writer_t;

struct kino_telemetry_collector {
	kino_db_t *db;
	const kino_playback_keyring_t *keys;
	kino_telemetry_limits_t lim;
	spool_t *spool;
	bind_table_t binds;
	flood_table_t rate;
	writer_t *writers;
	int nwriters;
	atomic_bool stop;
	atomic_bool indexes_ready;
	pthread_mutex_t index_mu;
	atomic_llong inflight;
	atomic_ullong seq_fallback;
	atomic_ullong accepted, acked, rejected, backoff, throttled, spooled, replayed,
		refused, plays_closed, refolds;
	/* where the writers' time goes, in µs summed over writers */
	atomic_ullong us_insert, us_plays, us_lookups, us_idle;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Adds the µs since t0 (now_us()) to *acc. */
static void time_spent(atomic_ullong *acc, int64_t t0)
{
	atomic_fetch_add(acc, (unsigned long long)(now_us() - t0));
}

static void deliver(kino_telemetry_collector_t *c, kino_beacon_done_fn done, void *ud,
		    kino_beacon_result_t *r)
{
	switch (r->status) {
	case KINO_BEACON_ACK: atomic_fetch_add(&c->acked, 1); break;
	case KINO_BEACON_REJECT: atomic_fetch_add(&c->rejected, 1); break;
	case KINO_BEACON_BACKOFF: atomic_fetch_add(&c->backoff, 1); break;
	case KINO_BEACON_THROTTLED: atomic_fetch_add(&c->throttled, 1); break;
	}
	if (r->status == KINO_BEACON_REJECT)
		KINO_LOG_DEBUG("rejected %s/%lld: %s", r->session_id, r->seq, r->message);
	done(r, ud);
}

static void item_answer(kino_telemetry_collector_t *c, item_t *it,
			kino_beacon_status_t st, const char *field, const char *msg)
{
	kino_beacon_result_t r = {.status = st, .seq = it->seq, .tag = it->tag};

	memcpy(r.session_id, it->sid, sizeof(r.session_id));
	if (field != NULL)
		snprintf(r.field, sizeof(r.field), "%s", field);
	if (msg != NULL)
		snprintf(r.message, sizeof(r.message), "%s", msg);
	if (st == KINO_BEACON_BACKOFF)
		r.retry_after_s = c->lim.retry_after_s;
	deliver(c, it->done, it->ud, &r);
	bson_destroy(it->doc);
	it->doc = NULL;
	atomic_fetch_sub(&c->inflight, 1);
}

static bool db_up(kino_telemetry_collector_t *c)
{
	return kino_db_health(c->db, NULL, 0) != KINO_DB_UNREACHABLE;
}

/* The unique index must exist before the first insert, or retries could
 * duplicate beacons; until it does, beacons go to the spool. */
static bool indexes_ready(kino_telemetry_collector_t *c)
{
	kino_error_t err = {0};

	if (atomic_load(&c->indexes_ready))
		return true;
	pthread_mutex_lock(&c->index_mu);
	if (!atomic_load(&c->indexes_ready) && kino_telemetry_ensure_indexes(c->db, &err) == 0)
		atomic_store(&c->indexes_ready, true);
	else if (!atomic_load(&c->indexes_ready))
		KINO_LOG_WARN("%s", kino_error_message(&err));
	pthread_mutex_unlock(&c->index_mu);
	return atomic_load(&c->indexes_ready);
}

static sess_t *sess_find(writer_t *w, const char *sid, sess_t ***slot)
{
	sess_t **pp = &w->buckets[telemetry_hash(sid) % SESSION_BUCKETS];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->st.session_id, sid) == 0)
			break;
	}
	if (slot != NULL)
		*slot = pp;
	return *pp;
}

static void sess_remove(writer_t *w, const char *sid)
{
	sess_t **pp, *s = sess_find(w, sid, &pp);

	if (s != NULL) {
		*pp = s->next;
		for (int i = 0; i < s->nahead; i++)
			bson_destroy(s->ahead[i]);
		free(s);
		w->nsess--;
	}
}

static void fold_one(writer_t *w, sess_t *s, const beacon_t *b)
{
	int64_t minute = play_fold(&s->st, b);

	if (minute >= 0 && !s->partial &&
	    conc_counts_add(&w->conc, minute, s->st.title_id, s->st.device) != 0)
		KINO_LOG_ERROR("out of memory: a concurrency count is lost");
}

/* Holds a beacon that came ahead of a missing one; false when there is no
 * room (then the play needs a refold anyway). */
static bool hold_ahead(sess_t *s, const bson_t *doc, long long seq)
{
	int at = 0;

	while (at < s->nahead && s->ahead_seq[at] < seq)
		at++;
	if (at < s->nahead && s->ahead_seq[at] == seq)
		return true; /* a retry of one held already */
	if (s->nahead == SESSION_AHEAD_MAX)
		return false;
	bson_t *copy = bson_copy(doc);
	if (copy == NULL)
		return false;
	memmove(&s->ahead[at + 1], &s->ahead[at], (size_t)(s->nahead - at) * sizeof(*s->ahead));
	memmove(&s->ahead_seq[at + 1], &s->ahead_seq[at],
		(size_t)(s->nahead - at) * sizeof(*s->ahead_seq));
	s->ahead[at] = copy;
	s->ahead_seq[at] = seq;
	s->nahead++;
	return true;
}

/* Folds the held beacons that are next in line, and forgets those folded
 * already; with `all`, every held one (giving up on the gap). */
static void fold_ahead(writer_t *w, sess_t *s, bool all)
{
	int done = 0;

	while (done < s->nahead && (all || s->ahead_seq[done] <= s->st.last_seq + 1)) {
		beacon_t b;
		beacon_init(&b);
		if (beacon_from_doc(s->ahead[done], &b))
			fold_one(w, s, &b);
		beacon_cleanup(&b);
		bson_destroy(s->ahead[done]);
		done++;
	}
	memmove(&s->ahead[0], &s->ahead[done], (size_t)(s->nahead - done) * sizeof(*s->ahead));
	memmove(&s->ahead_seq[0], &s->ahead_seq[done],
		(size_t)(s->nahead - done) * sizeof(*s->ahead_seq));
	s->nahead -= done;
}

/* Remembers that the play is folded across seqs from..to. */
static void note_gap(sess_t *s, long long from, long long to)
{
	if (s->ngaps == SESSION_GAPS_MAX) {
		s->mend = true; /* too many to follow: any late one may matter */
		return;
	}
	s->gap_from[s->ngaps] = from;
	s->gap_to[s->ngaps++] = to;
}

/* A beacon behind the state: one that fills a hole folded across makes the
 * play inexact (a refold mends it); others are retries. */
static void note_late(sess_t *s, long long seq)
{
	for (int i = 0; i < s->ngaps; i++) {
		if (seq >= s->gap_from[i] && seq <= s->gap_to[i]) {
			s->mend = true;
			return;
		}
	}
}

/* Stops waiting for a missing beacon: folds what came after it, across the
 * holes, which are remembered: should one fill later, the play is refolded
 * from `beacons` when it closes (write_plays). */
static void give_up_gap(writer_t *w, sess_t *s)
{
	long long prev = s->st.last_seq;

	s->gapless = false;
	for (int i = 0; i < s->nahead; i++) {
		if (s->ahead_seq[i] > prev + 1)
			note_gap(s, prev + 1, s->ahead_seq[i] - 1);
		if (s->ahead_seq[i] > prev)
			prev = s->ahead_seq[i];
	}
	fold_ahead(w, s, true);
	if (!s->st.has_start)
		s->partial = s->mend = true;
	if (play_is_over(&s->st))
		s->closing = true;
}

/* Folds one durable beacon into its session's state. start_stored: its
 * session began before this writer (its session_start is in MongoDB
 * already), so what is missing is not coming. */
static void fold(writer_t *w, const bson_t *doc, bool start_stored, bool legacy, int64_t now)
{
	sess_t **slot, *s;
	beacon_t b;

	beacon_init(&b);
	if (!beacon_from_doc(doc, &b))
		goto out;
	s = sess_find(w, b.session_id, &slot);
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			goto out; /* the close refold recovers it */
		play_state_init(&s->st, b.session_id);
		*slot = s;
		w->nsess++;
		/* until a beacon is missing for good */
		s->gapless = !start_stored;
		s->legacy = legacy;
		s->written_ms = now; /* first written PLAY_REWRITE_MS from now */
	}
	if (s->gapless && b.seq > s->st.last_seq + 1) {
		/* A beacon is missing, often session_start itself: told to
		 * back off, it comes again soon. */
		s->active_ms = now;
		if (s->nahead == 0)
			s->ahead_since = now;
		if (hold_ahead(s, doc, b.seq))
			goto out;
		/* too far ahead (or the rest went to another collector) */
		give_up_gap(w, s);
	}
	if (b.seq > s->st.last_seq + 1 && s->st.has_start)
		note_gap(s, s->st.last_seq + 1, b.seq - 1);
	else if (b.seq <= s->st.last_seq && s->partial)
		s->mend = true; /* maybe the beginning it lacks */
	else if (b.seq <= s->st.last_seq)
		note_late(s, b.seq);
	fold_one(w, s, &b);
	if (s->nahead > 0)
		fold_ahead(w, s, false);
	if (!s->st.has_start && s->nahead == 0) {
		/* A session this writer has not seen from its start: what came
		 * before is rebuilt from MongoDB when plays are next written
		 * (write_plays), not here, since on FerretDB a refold is a scan
		 * of `beacons` and this is the path every beacon waits on. */
		if (!s->partial)
			s->mend = true;
		s->partial = true;
		s->gapless = false;
	}
	s->dirty = true;
	s->active_ms = now;
	if (play_is_over(&s->st))
		s->closing = true;
out:
	beacon_cleanup(&b);
}

/* Resolves a beacon whose session was not bound when it was submitted.
 * false when it has been answered (rejected or told to back off). */
static bool bind_late(writer_t *w, item_t *it)
{
	kino_telemetry_collector_t *c = w->c;
	kino_error_t err = {0};
	beacon_t b;
	bool ok = false;
	int r;

	beacon_init(&b);
	memcpy(b.session_id, it->sid, sizeof(b.session_id));
	if (!binds_get(&c->binds, &b)) {
		if (!db_up(c)) {
			item_answer(c, it, KINO_BEACON_BACKOFF, "session_id",
				    "the session cannot be checked now; retry");
			goto out;
		}
		int64_t t0 = now_us();
		r = tel_session_start_find(c->db, it->sid, &b, &it->legacy, &err);
		time_spent(&c->us_lookups, t0);
		if (r == KINO_ENOENT) {
			item_answer(c, it, KINO_BEACON_REJECT, "session_id",
				    "no accepted session_start for this session_id");
			goto out;
		}
		if (r != 0) {
			item_answer(c, it, KINO_BEACON_BACKOFF, "session_id",
				    "the session cannot be checked now; retry");
			goto out;
		}
		binds_put(&c->binds, &b);
		it->start_stored = true;
	}
	BSON_APPEND_UTF8(it->doc, "title_id", b.title_id);
	BSON_APPEND_UTF8(it->doc, "asset_id", b.asset_id);
	BSON_APPEND_UTF8(it->doc, "device", b.device);
	it->needs_bind = false;
	ok = true;
out:
	beacon_cleanup(&b);
	return ok;
}

static void process_batch(writer_t *w, item_t *items, int n)
{
	kino_telemetry_collector_t *c = w->c;
	bson_t **docs = malloc((size_t)n * sizeof(*docs));
	int *live = malloc((size_t)n * sizeof(int));
	bool *refused = calloc((size_t)n, sizeof(bool));
	int nlive = 0;
	int64_t now = telemetry_now_ms(), oldest = now;
	kino_error_t err = {0};
	bool to_spool;

	if (docs == NULL || live == NULL || refused == NULL) {
		for (int i = 0; i < n; i++)
			item_answer(c, &items[i], KINO_BEACON_BACKOFF, NULL, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (items[i].needs_bind && !bind_late(w, &items[i]))
			continue;
		docs[nlive] = items[i].doc;
		live[nlive++] = i;
		if (items[i].enq_ms < oldest)
			oldest = items[i].enq_ms;
	}
	if (nlive == 0)
		goto out;
	to_spool = !db_up(c) || now - oldest > c->lim.slow_db_ms || !indexes_ready(c);
	if (!to_spool) {
		int64_t t0 = now_us();
		if (tel_beacons_insert(c->db, docs, nlive, refused, &err) != 0) {
			KINO_LOG_WARN("%s; spooling %d beacons", kino_error_message(&err), nlive);
			to_spool = true;
		}
		time_spent(&c->us_insert, t0);
	}
	if (to_spool) {
		kino_error_clear(&err);
		if (spool_append(c->spool, docs, nlive, &err) != 0) {
			KINO_LOG_WARN("cannot spool: %s", kino_error_message(&err));
			for (int j = 0; j < nlive; j++)
				item_answer(c, &items[live[j]], KINO_BEACON_BACKOFF, NULL,
					    "the collector is overloaded; retry later");
			goto out;
		}
		atomic_fetch_add(&c->spooled, (unsigned long long)nlive);
	}
	for (int j = 0; j < nlive; j++) {
		if (refused[j]) { /* validated, yet refused: say so, never ack it */
			KINO_LOG_ERROR("the database refused beacon %s/%lld", items[live[j]].sid,
				       items[live[j]].seq);
			item_answer(c, &items[live[j]], KINO_BEACON_REJECT, "beacon",
				    "the database refused this beacon");
			continue;
		}
		fold(w, items[live[j]].doc, items[live[j]].start_stored, items[live[j]].legacy, now);
		item_answer(c, &items[live[j]], KINO_BEACON_ACK, NULL, NULL);
	}
out:
	free(refused);
	free(live);
	free(docs);
}

static int replay_chunk(bson_t **docs, int n, void *ud)
{
	kino_telemetry_collector_t *c = ud;
	kino_error_t err = {0};
	bool *refused = calloc((size_t)n, sizeof(bool));
	int ret = 1;

	if (refused == NULL || !db_up(c) || !indexes_ready(c))
		goto out;
	if (tel_beacons_insert(c->db, docs, n, refused, &err) != 0) {
		KINO_LOG_WARN("replaying the spool: %s", kino_error_message(&err));
		goto out;
	}
	/* A spooled beacon was acknowledged already: one the database refuses
	 * on its own cannot be stored by retrying, so it is logged in full
	 * (and counted), never skipped quietly. */
	for (int i = 0; i < n; i++) {
		if (refused[i]) {
			char *json = bson_as_canonical_extended_json(docs[i], NULL);
			KINO_LOG_ERROR("the database refused a spooled beacon: %s", json ? json : "?");
			bson_free(json);
			atomic_fetch_add(&c->refused, 1);
		}
	}
	atomic_fetch_add(&c->replayed, (unsigned long long)n);
	ret = 0;
out:
	free(refused);
	return ret;
}

/* Beacons are waiting for this writer. */
static bool queue_busy(writer_t *w)
{
	bool busy;

	pthread_mutex_lock(&w->mu);
	busy = w->count > 0;
	pthread_mutex_unlock(&w->mu);
	return busy;
}

/* Writes, on a flush, the plays that changed and are due (PLAY_REWRITE_MS)
 * with the pending concurrency counts, and closes those that are over or
 * silent: refolded from `beacons` first when `mend` says so, which needs
 * the spool empty (else some of their beacons are not in MongoDB yet) and,
 * unless stopping, the writer's queue empty (`busy` false): beacons first.
 * false when MongoDB failed. */
static bool write_plays(writer_t *w, int64_t now, bool flush, bool spool_empty, bool busy)
{
	kino_telemetry_collector_t *c = w->c;
	int64_t idle = (int64_t)c->lim.session_timeout_s * 1000;
	play_state_t **plays = malloc((size_t)(w->nsess + 1) * sizeof(*plays));
	bool *closed = malloc((size_t)(w->nsess + 1) * sizeof(*closed));
	bool *unwritten = malloc((size_t)(w->nsess + 1) * sizeof(*unwritten));
	conc_entry_t **conc = NULL;
	int nconc = 0;
	kino_error_t err = {0};
	bool ok = false;
	int np = 0;

	if (plays == NULL || closed == NULL || unwritten == NULL)
		goto out;
	for (int b = 0; b < SESSION_BUCKETS; b++) {
		for (sess_t *s = w->buckets[b]; s != NULL; s = s->next) {
			s->drop = false; /* decided afresh: a straggler may have come */
			if (s->closed_ms > 0 && !s->dirty && !s->closing && !s->mend && s->nahead == 0) {
				/* closed and written: forgotten once no straggler came */
				s->drop = now - s->closed_ms > CLOSED_LINGER_MS;
				continue;
			}
			bool close_now = spool_empty && (s->closing || now - s->active_ms > idle);

			if (s->nahead > 0 && (close_now || now - s->ahead_since > AHEAD_WAIT_MS ||
					      atomic_load(&c->stop))) {
				/* the missing beacon did not come: fold what came
				 * after it, across the hole (remembered, should it
				 * fill later) */
				give_up_gap(w, s);
				s->dirty = true;
			}

			/* Refolding reads the session's beacons back: on FerretDB
			 * (which filters in Go, using no index but _id's) that
			 * is a scan of `beacons`, so it is done only when the
			 * state in memory lacks a beacon that MongoDB has: the
			 * session began before this writer saw it, or a beacon
			 * came into a hole the state was folded across. */
			bool refold = s->mend && ((s->partial && flush) || close_now);
			if (refold && !atomic_load(&c->stop) && (busy || (busy = queue_busy(w))))
				continue; /* beacons first; it waits for a quiet moment */
			if (spool_empty && refold) {
				play_state_t fresh;
				atomic_fetch_add(&c->refolds, 1);
				/* rare, and a scan on FerretDB for older sessions: say why */
				KINO_LOG_INFO("refolding play %s from its beacons (%s)", s->st.session_id,
					      s->partial ? "begun before this writer saw it"
							 : "a beacon filled a hole it was folded across");
				long long upto = s->st.last_seq;
				for (int i = 0; i < s->nahead; i++)
					upto = s->ahead_seq[i] > upto ? s->ahead_seq[i] : upto;
				int64_t t0 = now_us();
				int r = tel_session_refold(c->db, s->st.session_id, upto, s->legacy, &fresh,
							   &err);
				time_spent(&c->us_lookups, t0);
				if (r == 0) {
					int64_t lm = s->st.last_minute;
					s->st = fresh;
					if (lm > s->st.last_minute)
						s->st.last_minute = lm;
					s->partial = !fresh.has_start;
					s->mend = false;
					s->ngaps = 0;
					s->dirty = true;
					/* e.g. a late retry of a play that ended */
					if (play_is_over(&s->st))
						s->closing = close_now = true;
				}
			} else if (close_now && s->st.has_start) {
				/* folded whole here, so no refold; the viewer still
				 * comes from core's playback session, as a refold's */
				int64_t t0 = now_us();
				tel_play_viewer(c->db, &s->st);
				time_spent(&c->us_lookups, t0);
			}
			if (s->partial || !s->st.has_start) {
				/* nothing to write: no session_start anywhere yet */
				s->drop = close_now;
				continue;
			}
			bool rewrite = atomic_load(&c->stop) ||
				       now - s->written_ms >= (busy ? BUSY_FLUSH_INTERVAL_MS : PLAY_REWRITE_MS);
			if ((s->dirty && flush && rewrite) || close_now) {
				plays[np] = &s->st;
				unwritten[np] = !s->stored;
				closed[np++] = close_now;
			}
		}
	}
	if (!flush && np == 0) { /* the rollups wait for the next flush too */
		ok = true;
		goto out;
	}
	/* sized now: give_up_gap above may have added counts */
	conc = malloc((size_t)(w->conc.n + 1) * sizeof(*conc));
	if (conc == NULL)
		goto out;
	nconc = conc_counts_dirty(&w->conc, conc, w->conc.n);
	if (np > 0 || nconc > 0) {
		int64_t t0 = now_us();
		int r = tel_plays_write(c->db, plays, closed, unwritten, np, conc, nconc, now, &err);
		time_spent(&c->us_plays, t0);
		if (r != 0) {
			KINO_LOG_WARN("%s", kino_error_message(&err));
			goto out; /* all of it again next time: absolute values */
		}
	}
	conc_counts_written(&w->conc, conc, nconc);
	w->last_flush = now;
	for (int b = 0; b < SESSION_BUCKETS; b++) {
		for (sess_t *s = w->buckets[b], *next; s != NULL; s = next) {
			next = s->next;
			if (s->drop)
				sess_remove(w, s->st.session_id);
		}
	}
	for (int i = 0; i < np; i++) {
		sess_t *s = sess_find(w, plays[i]->session_id, NULL);
		if (s == NULL)
			continue;
		if (closed[i] && s->closed_ms == 0)
			atomic_fetch_add(&c->plays_closed, 1);
		if (closed[i]) { /* it lingers (CLOSED_LINGER_MS) */
			s->closed_ms = now;
			s->closing = false;
		}
		s->dirty = false;
		s->stored = true;
		s->written_ms = now;
	}
	ok = true;
out:
	free(conc);
	free(unwritten);
	free(closed);
	free(plays);
	return ok;
}

/* Closes plays that some collector left open (it died, or the viewer
 * vanished) once they are idle past the timeout: those of this writer's
 * share of session ids that it does not hold itself. */
static void sweep_stale(writer_t *w, int64_t now)
{
	kino_telemetry_collector_t *c = w->c;
	int64_t idle = (int64_t)c->lim.session_timeout_s * 1000;
	char (*ids)[BEACON_ID_MAX + 1] = calloc(STALE_BATCH, sizeof(*ids));
	kino_error_t err = {0};
	int n = 0;

	w->last_sweep = now;
	if (ids == NULL || tel_plays_stale(c->db, now - idle, ids, STALE_BATCH, &n, &err) != 0)
		n = 0;
	for (int i = 0; i < n; i++) {
		play_state_t p, *pp = &p;
		bool yes = true;

		if ((int)(telemetry_hash(ids[i]) % (uint32_t)c->nwriters) != w->idx ||
		    sess_find(w, ids[i], NULL) != NULL)
			continue;
		atomic_fetch_add(&c->refolds, 1);
		KINO_LOG_INFO("refolding play %s from its beacons (left open, idle)", ids[i]);
		if (tel_session_refold(c->db, ids[i], -1, false, &p, &err) == 0 && p.has_start &&
		    tel_plays_write(c->db, &pp, &yes, NULL, 1, NULL, 0, now, &err) == 0)
			atomic_fetch_add(&c->plays_closed, 1);
	}
	free(ids);
}

/* Whether some play of this writer still waits to be written or closed. */
static bool sessions_pending(writer_t *w)
{
	for (int b = 0; b < SESSION_BUCKETS; b++) {
		for (sess_t *s = w->buckets[b]; s != NULL; s = s->next) {
			if (s->dirty || s->closing || s->partial || s->nahead > 0)
				return true;
		}
	}
	return conc_counts_pending(&w->conc);
}

/* A writer's housekeeping between batches, MongoDB up only: replays a
 * segment of the spool, writes and closes plays, sweeps stale plays. */
static void maintain(writer_t *w)
{
	kino_telemetry_collector_t *c = w->c;
	int64_t now = telemetry_now_ms();
	bool spool_empty, flush, busy, pending = true;

	if (!db_up(c))
		goto out;
	/* one segment at a time, so that new batches are not held up long */
	if (spool_bytes(c->spool) > 0)
		spool_replay(c->spool, c->lim.batch_max, 1, replay_chunk, c);
	spool_empty = spool_bytes(c->spool) == 0;
	busy = queue_busy(w);
	flush = now - w->last_flush >= (busy ? BUSY_FLUSH_INTERVAL_MS : FLUSH_INTERVAL_MS) ||
		atomic_load(&c->stop);
	if (!write_plays(w, now, flush, spool_empty, busy))
		goto out;
	if (spool_empty && now - w->last_sweep > SWEEP_INTERVAL_MS) {
		int64_t t0 = now_us();
		sweep_stale(w, now);
		time_spent(&c->us_lookups, t0);
	}
	pending = !spool_empty || sessions_pending(w);
out:
	pthread_mutex_lock(&w->mu);
	w->clean = !pending;
	pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg)
{
	writer_t *w = arg;
	kino_telemetry_collector_t *c = w->c;
	int max = c->lim.batch_max;
	item_t *batch = malloc((size_t)max * sizeof(*batch));

	for (;;) {
		int n = 0;
		bool stop;

		pthread_mutex_lock(&w->mu);
		if (w->count == 0 && !atomic_load(&c->stop)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			int64_t t0 = now_us();
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
			time_spent(&c->us_idle, t0);
		}
		while (batch != NULL && n < max && w->count > 0) {
			batch[n++] = w->ring[w->head];
			w->head = (w->head + 1) % w->cap;
			w->count--;
		}
		if (n > 0)
			w->clean = false;
		stop = atomic_load(&c->stop) && w->count == 0;
		pthread_mutex_unlock(&w->mu);
		if (n > 0)
			process_batch(w, batch, n);
		maintain(w);
		if (stop)
			break;
	}
	free(batch);
	return NULL;
}

/* ---- submit ---- */

static int b64url_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z') return ch - 'A';
	if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9') return ch - '0' + 52;
	if (ch == '-') return 62;
	if (ch == '_') return 63;
	return -1;
}

/* The path prefix a token claims (its fifth field, base64url), unverified:
 * verification then checks it against the MAC. */
static bool token_prefix(const char *token, char *out, size_t size)
{
	const char *p = token;
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;

	for (int f = 0; f < 4; f++) {
		p = strchr(p, '.');
		if (p == NULL)
			return false;
		p++;
	}
	for (; *p && *p != '.'; p++) {
		int v = b64url_value(*p);
		if (v < 0)
			return false;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= size)
				return false;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return n > 0;
}

static int reject_field(kino_beacon_result_t *r, const char *field, const char *msg)
{
	r->status = KINO_BEACON_REJECT;
	snprintf(r->field, sizeof(r->field), "%s", field);
	snprintf(r->message, sizeof(r->message), "%s", msg);
	return KINO_EFORBIDDEN;
}

/* Checks the playback token of a session_start. */
static int bind_start(kino_telemetry_collector_t *c, beacon_t *b, int64_t now,
		      kino_beacon_result_t *r)
{
	char prefix[256], want[BEACON_NAME_MAX + 2];
	kino_playback_grant_t g;
	kino_error_t err = {0};
	const char *tfield = b->cmcd ? "cmcd.com.kino-token" : "token";

	if (c->keys == NULL)
		return reject_field(r, tfield, "this collector has no playback keys");
	if (!token_prefix(b->token, prefix, sizeof(prefix)))
		return reject_field(r, tfield, "the playback token is malformed");
	if (kino_playback_token_verify(c->keys, b->token, prefix, now / 1000, &g, &err) != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "the playback token is not valid: %s",
			 kino_error_message(&err));
		return reject_field(r, tfield, msg);
	}
	if (strcmp(g.session_id, b->session_id) != 0)
		return reject_field(r, b->cmcd ? "cmcd.sid" : "session_id",
				    "the playback token was issued for another session");
	if (b->asset_id[0] == '\0') { /* CMCD: the asset is the token's */
		size_t n = strlen(g.prefix);
		if (n < 2 || n - 1 > BEACON_NAME_MAX)
			return reject_field(r, tfield, "the playback token's asset is unusable");
		memcpy(b->asset_id, g.prefix, n - 1);
		b->asset_id[n - 1] = '\0';
		if (b->title_id[0] == '\0')
			snprintf(b->title_id, sizeof(b->title_id), "%s", b->asset_id);
	}
	snprintf(want, sizeof(want), "%s/", b->asset_id);
	if (strcmp(g.prefix, want) != 0)
		return reject_field(r, "asset_id", "the playback token was issued for another asset");
	binds_put(&c->binds, b);
	return 0;
}

static void enqueue(kino_telemetry_collector_t *c, beacon_t *b, bool needs_bind, int64_t now,
		    unsigned long long tag, kino_beacon_done_fn done, void *ud,
		    kino_beacon_result_t *r)
{
	writer_t *w = &c->writers[telemetry_hash(b->session_id) % (uint32_t)c->nwriters];
	/* room for a heartbeat's ~350 bytes at once, rather than growing to it */
	bson_t *doc = bson_sized_new(512);
	item_t *it;

	beacon_to_doc(b, now, doc);
	pthread_mutex_lock(&w->mu);
	if (w->count == w->cap || atomic_load(&c->stop)) {
		pthread_mutex_unlock(&w->mu);
		bson_destroy(doc);
		r->status = KINO_BEACON_BACKOFF;
		r->retry_after_s = c->lim.retry_after_s;
		snprintf(r->message, sizeof(r->message), "the collector is busy; retry later");
		deliver(c, done, ud, r);
		return;
	}
	it = &w->ring[(w->head + w->count) % w->cap];
	*it = (item_t){.doc = doc, .seq = b->seq, .tag = tag, .done = done, .ud = ud,
		       .enq_ms = now, .needs_bind = needs_bind};
	memcpy(it->sid, b->session_id, sizeof(it->sid));
	w->count++;
	atomic_fetch_add(&c->inflight, 1);
	atomic_fetch_add(&c->accepted, 1);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* CMCD names the session "sid"; everything else is read as v1. One pass
 * over the keys: this runs for every beacon. */
static bool is_cmcd(const bson_t *obj)
{
	bson_iter_t it;
	bool sid = false;

	if (!bson_iter_init(&it, obj))
		return false;
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);

		if (strcmp(key, "session_id") == 0)
			return false;
		if (strcmp(key, "sid") == 0)
			sid = true;
	}
	return sid;
}

/* One beacon, as v1 JSON or as CMCD keys. */
static void submit_one(kino_telemetry_collector_t *c, const bson_t *obj, size_t size,
		       const char *client, unsigned long long tag, kino_beacon_done_fn done,
		       void *ud)
{
	kino_beacon_result_t r = {.seq = -1, .tag = tag};
	int64_t now = telemetry_now_ms();
	bool needs_bind = false;
	beacon_t b;
	int rc;

	beacon_init(&b);
	if (!flood_allow(&c->rate, c->lim.rate_per_s, c->lim.rate_burst, client, now)) {
		bson_iter_t it;
		if (bson_iter_init_find(&it, obj, "seq") && BSON_ITER_HOLDS_NUMBER(&it))
			r.seq = bson_iter_as_int64(&it);
		r.status = KINO_BEACON_THROTTLED;
		r.retry_after_s = 1;
		snprintf(r.message, sizeof(r.message), "too many beacons from this address; slow down");
		deliver(c, done, ud, &r);
		goto out;
	}
	if (size > c->lim.max_beacon) {
		reject_field(&r, "beacon", "the beacon is larger than the limit");
		deliver(c, done, ud, &r);
		goto out;
	}
	if (!is_cmcd(obj))
		rc = beacon_from_json(obj, &c->lim, now, &b, &r);
	else
		rc = beacon_from_cmcd(obj, &c->lim, now,
				      (long long)atomic_fetch_add(&c->seq_fallback, 1), &b, &r);
	if (rc == 0) {
		memcpy(r.session_id, b.session_id, sizeof(r.session_id));
		r.seq = b.seq;
		if (b.event == EV_SESSION_START)
			rc = bind_start(c, &b, now, &r);
		else
			needs_bind = !binds_get(&c->binds, &b);
	}
	if (rc != 0) {
		r.status = KINO_BEACON_REJECT;
		deliver(c, done, ud, &r);
		goto out;
	}
	enqueue(c, &b, needs_bind, now, tag, done, ud, &r);
out:
	beacon_cleanup(&b);
}

int kino_telemetry_collector_submit(kino_telemetry_collector_t *c, const char *data,
				    size_t len, const char *client, unsigned long long tag,
				    kino_beacon_done_fn done, void *userdata, kino_error_t *err)
{
	const char *p = data, *end = data + len;
	bson_t msg = BSON_INITIALIZER;
	bson_iter_t sub;
	char perr[128];
	bool is_array;
	int ret = 0;

	if (client == NULL)
		client = "";
	if (len > c->lim.max_message)
		return kino_error_set(err, KINO_ETOOBIG, "the message is larger than %zu bytes",
				      c->lim.max_message);
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end)
		return kino_error_set(err, KINO_EPARSE, "the message is empty");
	if (*p != '{' && *p != '[') { /* CMCD text: one payload a line */
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *le = nl ? nl : end;
			kino_beacon_result_t r = {.seq = -1, .tag = tag};
			bson_t keys = BSON_INITIALIZER;

			if (le > p && !(le - p == 1 && *p == '\r')) {
				if (cmcd_parse_text(p, (size_t)(le - p), &keys, &r) == 0) {
					submit_one(c, &keys, (size_t)(le - p), client, tag, done, userdata);
				} else {
					deliver(c, done, userdata, &r);
				}
				ret++;
			}
			bson_destroy(&keys);
			p = nl ? nl + 1 : end;
		}
		return ret > 0 ? ret : kino_error_set(err, KINO_EPARSE, "the message is empty");
	}
	if (beacon_json_parse(data, len, &msg, &is_array, perr, sizeof(perr)) != 0) {
		ret = kino_error_set(err, KINO_EPARSE, "the message is not JSON: %s", perr);
		goto out;
	}
	if (!is_array) {
		submit_one(c, &msg, len, client, tag, done, userdata);
		ret = 1;
		goto out;
	}
	bson_iter_init(&sub, &msg);
	while (bson_iter_next(&sub)) {
		if (BSON_ITER_HOLDS_DOCUMENT(&sub)) {
			bson_t one;
			uint32_t dl;
			const uint8_t *dd;

			bson_iter_document(&sub, &dl, &dd);
			bson_init_static(&one, dd, dl);
			submit_one(c, &one, dl, client, tag, done, userdata);
		} else {
			kino_beacon_result_t r = {.seq = -1, .tag = tag};
			reject_field(&r, "beacon", "each element must be a beacon object");
			deliver(c, done, userdata, &r);
		}
		ret++;
	}
	if (ret == 0)
		ret = kino_error_set(err, KINO_EPARSE, "the array holds no beacon");
out:
	bson_destroy(&msg);
	return ret;
}

size_t collector_max_message(const kino_telemetry_collector_t *c)
{
	return c->lim.max_message;
}

/* ---- life cycle ---- */

typedef struct rebind {
	kino_telemetry_collector_t *c;
	int n;
} rebind_t;

/* Spooled session_starts bind their sessions again after a restart: their
 * session_start may not be in MongoDB yet. */
static void rebind_doc(const bson_t *doc, void *ud)
{
	rebind_t *rb = ud;
	beacon_t b;

	beacon_init(&b);
	if (beacon_from_doc(doc, &b) && b.event == EV_SESSION_START) {
		binds_put(&rb->c->binds, &b);
		rb->n++;
	}
	beacon_cleanup(&b);
}

kino_telemetry_collector_t *kino_telemetry_collector_new(
	kino_db_t *db, const kino_playback_keyring_t *keys, const char *spool_dir,
	const kino_telemetry_limits_t *limits, kino_error_t *err)
{
	kino_telemetry_collector_t *c = calloc(1, sizeof(*c));
	unsigned char rnd[6];
	char instance[2 * sizeof(rnd) + 1];
	rebind_t rb;

	if (c == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	c->db = db;
	c->keys = keys;
	if (limits != NULL)
		c->lim = *limits;
	else
		kino_telemetry_limits_defaults(&c->lim);
	if (c->lim.writers < 1 || c->lim.queue_capacity < 1 || c->lim.batch_max < 1 ||
	    c->lim.bind_capacity < 1 || c->lim.max_beacon < 64) {
		kino_error_set(err, KINO_ECONFIG, "telemetry limits: writers, queue, batch and "
						  "bind capacity must be positive");
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->index_mu, NULL);
	/* numbers for CMCD beacons without `sn`: microseconds, so that they
	 * grow across restarts */
	atomic_store(&c->seq_fallback, (unsigned long long)telemetry_now_ms() * 1000ULL);
	c->writers = calloc((size_t)c->lim.writers, sizeof(*c->writers));
	if (c->writers == NULL || flood_init(&c->rate) != 0 ||
	    binds_init(&c->binds, c->lim.bind_capacity) != 0) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto fail;
	}
	c->spool = spool_open(spool_dir, c->lim.spool_max_bytes, err);
	if (c->spool == NULL)
		goto fail;
	rb = (rebind_t){c, 0};
	spool_scan(c->spool, rebind_doc, &rb);
	if (rb.n > 0)
		KINO_LOG_INFO("rebound %d sessions from the spool", rb.n);
	/* names this process in its writers' concurrency documents */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		kino_error_set(err, KINO_EIO, "no random bytes for the collector's name");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(instance + 2 * i, 3, "%02x", rnd[i]);
	c->nwriters = c->lim.writers;
	for (int i = 0; i < c->nwriters; i++) {
		writer_t *w = &c->writers[i];

		char owner[40];

		w->c = c;
		w->idx = i;
		w->cap = c->lim.queue_capacity;
		w->ring = calloc((size_t)w->cap, sizeof(*w->ring));
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		snprintf(owner, sizeof(owner), "%s-%d", instance, i);
		if (w->ring == NULL || conc_counts_init(&w->conc, owner) != 0 ||
		    pthread_create(&w->th, NULL, writer_main, w) != 0) {
			kino_error_set(err, KINO_ENOMEM, "cannot start a telemetry writer");
			goto fail;
		}
		w->started = true;
	}
	return c;
fail:
	kino_telemetry_collector_destroy(c);
	return NULL;
}

void kino_telemetry_collector_destroy(kino_telemetry_collector_t *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, true);
	for (int i = 0; c->writers != NULL && i < c->nwriters; i++) {
		writer_t *w = &c->writers[i];

		if (w->started) {
			pthread_mutex_lock(&w->mu);
			pthread_cond_signal(&w->cv);
			pthread_mutex_unlock(&w->mu);
			pthread_join(w->th, NULL);
		}
	}
	for (int i = 0; c->writers != NULL && i < c->lim.writers; i++) {
		writer_t *w = &c->writers[i];

		for (int b = 0; b < SESSION_BUCKETS; b++) {
			while (w->buckets[b] != NULL) {
				sess_t *s = w->buckets[b];
				w->buckets[b] = s->next;
				free(s);
			}
		}
		conc_counts_free(&w->conc);
		free(w->ring);
		if (w->cap > 0) {
			pthread_mutex_destroy(&w->mu);
			pthread_cond_destroy(&w->cv);
		}
	}
	free(c->writers);
	spool_close(c->spool);
	binds_free(&c->binds);
	flood_free(&c->rate);
	pthread_mutex_destroy(&c->index_mu);
	free(c);
}

int kino_telemetry_collector_drain(kino_telemetry_collector_t *c, int timeout_ms,
				   kino_error_t *err)
{
	for (int waited = 0;; waited += 20) {
		bool clean = atomic_load(&c->inflight) == 0 && spool_bytes(c->spool) == 0;

		for (int i = 0; clean && i < c->nwriters; i++) {
			pthread_mutex_lock(&c->writers[i].mu);
			clean = c->writers[i].clean && c->writers[i].count == 0;
			pthread_mutex_unlock(&c->writers[i].mu);
		}
		if (clean)
			return 0;
		if (waited >= timeout_ms)
			return kino_error_set(err, KINO_ETIMEDOUT,
					      "telemetry: %lld beacons in flight, %lld spooled bytes",
					      (long long)atomic_load(&c->inflight),
					      spool_bytes(c->spool));
		usleep(20 * 1000);
	}
}

void kino_telemetry_collector_stats(const kino_telemetry_collector_t *cc,
				    kino_telemetry_stats_t *out)
{
	kino_telemetry_collector_t *c = (kino_telemetry_collector_t *)cc;

	*out = (kino_telemetry_stats_t){
		.accepted = atomic_load(&c->accepted),
		.acked = atomic_load(&c->acked),
		.rejected = atomic_load(&c->rejected),
		.backoff = atomic_load(&c->backoff),
		.throttled = atomic_load(&c->throttled),
		.spooled = atomic_load(&c->spooled),
		.replayed = atomic_load(&c->replayed),
		.refused = atomic_load(&c->refused),
		.spool_bytes = spool_bytes(c->spool),
		.queued = atomic_load(&c->inflight),
		.plays_closed = atomic_load(&c->plays_closed),
		.refolds = atomic_load(&c->refolds),
		.writer_us_insert = atomic_load(&c->us_insert),
		.writer_us_plays = atomic_load(&c->us_plays),
		.writer_us_lookups = atomic_load(&c->us_lookups),
		.writer_us_idle = atomic_load(&c->us_idle),
	};
}

#define GAUGE_FN(name, expr)                                                   \
	static int name(void *ud, double *v)                                   \
	{                                                                      \
		kino_telemetry_stats_t s;                                      \
		kino_telemetry_collector_stats(ud, &s);                        \
		*v = (double)(expr);                                           \
		return 0;                                                      \
	}
GAUGE_FN(g_acked, s.acked)
GAUGE_FN(g_rejected, s.rejected)
GAUGE_FN(g_backoff, s.backoff + s.throttled)
GAUGE_FN(g_spooled, s.spooled)
GAUGE_FN(g_spool_bytes, s.spool_bytes)
GAUGE_FN(g_queued, s.queued)
GAUGE_FN(g_plays_closed, s.plays_closed)
GAUGE_FN(g_refolds, s.refolds)
GAUGE_FN(g_us_insert, s.writer_us_insert / 1e6)
GAUGE_FN(g_us_plays, s.writer_us_plays / 1e6)
GAUGE_FN(g_us_lookups, s.writer_us_lookups / 1e6)
GAUGE_FN(g_us_idle, s.writer_us_idle / 1e6)

int kino_telemetry_collector_gauges_add(kino_telemetry_collector_t *c, kino_metrics_t *m,
					kino_error_t *err)
{
	static const struct {
		const char *name, *help;
		kino_metrics_gauge_fn fn;
	} g[] = {
		{"kino_telemetry_beacons_acked", "beacons acknowledged durable", g_acked},
		{"kino_telemetry_beacons_rejected", "beacons rejected as invalid or unbound", g_rejected},
		{"kino_telemetry_beacons_backoff", "beacons answered back-off or throttled", g_backoff},
		{"kino_telemetry_beacons_spooled", "beacons written to the spool", g_spooled},
		{"kino_telemetry_spool_bytes", "bytes in the spool now", g_spool_bytes},
		{"kino_telemetry_beacons_queued", "beacons waiting for a writer", g_queued},
		{"kino_telemetry_plays_closed", "plays closed (written whole)", g_plays_closed},
		{"kino_telemetry_refolds", "plays rebuilt from their stored beacons", g_refolds},
		{"kino_telemetry_writer_insert_seconds", "writers' time inserting beacons", g_us_insert},
		{"kino_telemetry_writer_plays_seconds", "writers' time writing plays and rollups",
		 g_us_plays},
		{"kino_telemetry_writer_lookup_seconds",
		 "writers' time reading back sessions, viewers and refolds", g_us_lookups},
		{"kino_telemetry_writer_idle_seconds", "writers' time waiting for beacons", g_us_idle},
	};
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		int r = kino_metrics_gauge_add(m, g[i].name, g[i].help, g[i].fn, c);
		if (r != 0)
			return kino_error_set(err, r, "telemetry: no room for gauge %s", g[i].name);
	}
	return 0;
}
