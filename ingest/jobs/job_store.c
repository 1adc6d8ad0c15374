/* Jobs and uploads in MongoDB: the only file of the jobs module that speaks
 * libmongoc. Collections:
 *
 *   jobs          {_id: 24 hex, kind, source, source_name, title, ladder,
 *                  state: "queued"|"running"|"done"|"failed", attempts, claim,
 *                  lease_owner, lease_until (running: the lease; queued: not
 *                  before), progress: {phase, fraction, fps, eta},
 *                  error, asset_id, hls, dash, created_at, updated_at}
 *   job_claims    {_id: "<job id>:<n>", job_id, n, owner, at}: who became
 *                  the n-th holder of a job (see "claims" below)
 *   uploads       {_id: 24 hex, length, offset, filename, title, ladder,
 *                  user_id, job_id, created_at, updated_at}
 *   upload_locks  {_id: "<upload id>:<offset>", upload_id, token, until}
 *
 * Mutual exclusion rests only on unique _id inserts, the one write that
 * both MongoDB and FerretDB v1.24 make atomic; every change to a running
 * job is also conditional on {state: "running", lease_owner: <holder>}.
 * Queries use $or, $lt/$lte/$gte on dates and numbers, sort and limit;
 * updates $set and $inc.
 *
 * Every function pops a pooled client, does its work and pushes it back:
 * blocking, for worker threads. */
#define KINO_LOG_MODULE "jobs"
#include "jobs_internal.h"

#include "kino/log.h"

#include <mongoc/mongoc.h>

#include <string.h>

#define DUPLICATE_KEY 11000

static int db_error(kino_error_t *err, const char *what, const bson_error_t *berr)
{
	return kino_error_set(err, KINO_EDB, "%s: %s", what, berr->message);
}

void jobs_id_new(char id[KINO_JOBS_ID_LEN + 1])
{
	bson_oid_t oid;

	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, id);
}

/* A pooled client and one of its collections, for one call. */
typedef struct conn {
	kino_jobs_t *jobs;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
} conn_t;

static void conn_open(conn_t *c, kino_jobs_t *jobs, const char *name)
{
	c->jobs = jobs;
	c->client = kino_db_client_pop(jobs->db);
	c->coll = mongoc_client_get_collection(c->client, kino_db_name(jobs->db), name);
}

static void conn_close(conn_t *c)
{
	mongoc_collection_destroy(c->coll);
	kino_db_client_push(c->jobs->db, c->client);
}

/* One createIndexes command per index: FerretDB v1.24 drops the
 * connection when a command that lists several indexes finds them all
 * there already (a second start of a worker). */
static int create_index(mongoc_database_t *d, const char *coll, bson_t *key,
			const char *name, kino_error_t *err)
{
	bson_error_t berr;
	bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(coll), "indexes", "[", "{", "key",
			       BCON_DOCUMENT(key), "name", BCON_UTF8(name), "}", "]");
	int ret = 0;

	if (!mongoc_database_write_command_with_opts(d, cmd, NULL, NULL, &berr))
		ret = kino_error_set(err, KINO_EDB, "creating the index %s.%s: %s", coll, name,
				     berr.message);
	bson_destroy(cmd);
	bson_destroy(key);
	return ret;
}

int store_indexes(kino_jobs_t *jobs, kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(jobs->db);
	mongoc_database_t *d = mongoc_client_get_database(c, kino_db_name(jobs->db));
	int ret;

	/* The claim filters on state and lease_until and sorts by age. */
	ret = create_index(d, "jobs", BCON_NEW("state", BCON_INT32(1), "lease_until",
					       BCON_INT32(1)),
			   "state_lease", err);
	if (ret == 0)
		ret = create_index(d, "jobs", BCON_NEW("created_at", BCON_INT32(1)),
				   "created_at", err);
	if (ret == 0)
		ret = create_index(d, "job_claims", BCON_NEW("job_id", BCON_INT32(1)),
				   "job_id", err);
	mongoc_database_destroy(d);
	kino_db_client_push(jobs->db, c);
	return ret;
}

/* ---- reading documents ------------------------------------------------------- */

static void get_str(const bson_t *doc, const char *path, char *out, size_t size)
{
	bson_iter_t it, child;

	out[0] = '\0';
	if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
	    BSON_ITER_HOLDS_UTF8(&child))
		snprintf(out, size, "%s", bson_iter_utf8(&child, NULL));
}

static double get_num(const bson_t *doc, const char *path, double def)
{
	bson_iter_t it, child;

	if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
	    BSON_ITER_HOLDS_NUMBER(&child))
		return bson_iter_as_double(&child);
	return def;
}

static int64_t get_int(const bson_t *doc, const char *path)
{
	bson_iter_t it, child;

	if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
	    BSON_ITER_HOLDS_NUMBER(&child))
		return bson_iter_as_int64(&child);
	return 0;
}

static int64_t get_date(const bson_t *doc, const char *path)
{
	bson_iter_t it, child;

	if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &child) &&
	    BSON_ITER_HOLDS_DATE_TIME(&child))
		return bson_iter_date_time(&child);
	return 0;
}

static void job_from_doc(const bson_t *doc, kino_jobs_info_t *j)
{
	char word[32];

	memset(j, 0, sizeof(*j));
	get_str(doc, "_id", j->id, sizeof(j->id));
	get_str(doc, "kind", word, sizeof(word));
	j->kind = strcmp(word, "url") == 0	  ? KINO_JOBS_KIND_URL
		  : strcmp(word, "upload") == 0 ? KINO_JOBS_KIND_UPLOAD
						: KINO_JOBS_KIND_FILE;
	get_str(doc, "state", word, sizeof(word));
	j->state = strcmp(word, "running") == 0	 ? KINO_JOBS_RUNNING
		   : strcmp(word, "done") == 0	 ? KINO_JOBS_DONE
		   : strcmp(word, "failed") == 0 ? KINO_JOBS_FAILED
						 : KINO_JOBS_QUEUED;
	get_str(doc, "source", j->source, sizeof(j->source));
	get_str(doc, "title", j->title, sizeof(j->title));
	get_str(doc, "ladder", j->ladder, sizeof(j->ladder));
	get_str(doc, "source_name", j->source_name, sizeof(j->source_name));
	j->attempts = (int)get_int(doc, "attempts");
	j->claim = get_int(doc, "claim");
	get_str(doc, "lease_owner", j->lease_owner, sizeof(j->lease_owner));
	j->lease_until_ms = get_date(doc, "lease_until");
	get_str(doc, "progress.phase", j->phase, sizeof(j->phase));
	j->fraction = get_num(doc, "progress.fraction", 0);
	j->fps = get_num(doc, "progress.fps", 0);
	j->eta_seconds = get_num(doc, "progress.eta", -1);
	get_str(doc, "error", j->error, sizeof(j->error));
	get_str(doc, "asset_id", j->asset_id, sizeof(j->asset_id));
	get_str(doc, "hls", j->hls, sizeof(j->hls));
	get_str(doc, "dash", j->dash, sizeof(j->dash));
	j->created_at_ms = get_date(doc, "created_at");
	j->updated_at_ms = get_date(doc, "updated_at");
}

/* find_one by _id on a collection; fill(doc, out). */
static int find_by_id(kino_jobs_t *jobs, const char *name, const char *id,
		      void (*fill)(const bson_t *doc, void *out), void *out,
		      const char *what, kino_error_t *err)
{
	conn_t c;
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t berr;
	int ret;

	conn_open(&c, jobs, name);
	cur = mongoc_collection_find_with_opts(c.coll, filter, opts, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		fill(doc, out);
		ret = 0;
	} else if (mongoc_cursor_error(cur, &berr)) {
		ret = db_error(err, what, &berr);
	} else {
		ret = kino_error_set(err, KINO_ENOENT, "%s: no such id '%s'", what, id);
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	conn_close(&c);
	return ret;
}

/* update_one; *matched receives matchedCount. */
static int update_one(kino_jobs_t *jobs, const char *name, const bson_t *filter,
		      const bson_t *update, int64_t *matched, const char *what,
		      kino_error_t *err)
{
	conn_t c;
	bson_error_t berr;
	bson_t reply;
	bson_iter_t it;
	int ret = 0;

	conn_open(&c, jobs, name);
	*matched = 0;
	if (!mongoc_collection_update_one(c.coll, filter, update, NULL, &reply, &berr))
		ret = db_error(err, what, &berr);
	else if (bson_iter_init_find(&it, &reply, "matchedCount"))
		*matched = bson_iter_as_int64(&it);
	bson_destroy(&reply);
	conn_close(&c);
	return ret;
}

/* insert_one; KINO_EEXIST when the _id is taken. */
static int insert_one(kino_jobs_t *jobs, const char *name, const bson_t *doc,
		      const char *what, kino_error_t *err)
{
	conn_t c;
	bson_error_t berr;
	int ret = 0;

	conn_open(&c, jobs, name);
	if (!mongoc_collection_insert_one(c.coll, doc, NULL, NULL, &berr)) {
		if (berr.code == DUPLICATE_KEY)
			ret = kino_error_set(err, KINO_EEXIST, "%s: the id exists already", what);
		else
			ret = db_error(err, what, &berr);
	}
	conn_close(&c);
	return ret;
}

/* ---- jobs ------------------------------------------------------------------------- */

static void fill_job(const bson_t *doc, void *out)
{
	job_from_doc(doc, out);
}

int store_job_insert(kino_jobs_t *jobs, const char *id, const kino_jobs_spec_t *spec,
		     const char *title, kino_error_t *err)
{
	int64_t now = jobs_now_ms();
	bson_t *doc;
	int ret;

	doc = BCON_NEW("_id", BCON_UTF8(id), "kind", BCON_UTF8(kino_jobs_kind_name(spec->kind)),
		       "source", BCON_UTF8(spec->source), "title", BCON_UTF8(title),
		       "ladder", BCON_UTF8(spec->ladder ? spec->ladder : ""),
		       "source_name", BCON_UTF8(spec->source_name ? spec->source_name : ""),
		       "state", BCON_UTF8("queued"), "attempts", BCON_INT32(0),
		       "lease_owner", BCON_UTF8(""), "lease_until", BCON_DATE_TIME(now),
		       "progress", "{", "phase", BCON_UTF8(""), "fraction", BCON_DOUBLE(0),
		       "fps", BCON_DOUBLE(0), "eta", BCON_DOUBLE(-1), "}",
		       "error", BCON_UTF8(""), "asset_id", BCON_UTF8(""), "hls", BCON_UTF8(""),
		       "dash", BCON_UTF8(""), "created_at", BCON_DATE_TIME(now),
		       "updated_at", BCON_DATE_TIME(now));
	ret = insert_one(jobs, "jobs", doc, "queueing the job", err);
	bson_destroy(doc);
	return ret;
}

int store_job_get(kino_jobs_t *jobs, const char *id, kino_jobs_info_t *out,
		  kino_error_t *err)
{
	return find_by_id(jobs, "jobs", id, fill_job, out, "reading the job", err);
}

/* ---- claims -------------------------------------------------------------------------- */

/* Who may write to a job is decided by inserts into job_claims, whose _id
 * "<job id>:<n>" is unique: of all the workers that try to become the n-th
 * holder of a job, exactly one insert succeeds, on MongoDB and on FerretDB
 * alike (a unique key is the one primitive FerretDB v1.24 makes atomic: its
 * findAndModify and conditional updates read, then write the document back
 * by _id, so two claimers could both "win" one). A holder checks before
 * each write that no later claim exists; the conditional update that
 * follows ({state: "running", lease_owner: it}) is atomic on MongoDB and
 * narrows the window on FerretDB to a stale worker's single write, which at
 * worst wastes the new holder's attempt (it sees the job is not its own
 * any more, and the lapsed lease lets a third claim it). */

static void claim_key(char *buf, size_t size, const char *id, int64_t n)
{
	snprintf(buf, size, "%s:%lld", id, (long long)n);
}

/* The number of the job's last claim (0 without any) and when it was made. */
static int claim_last(kino_jobs_t *jobs, const char *id, int64_t *n, int64_t *at,
		      kino_error_t *err)
{
	conn_t c;
	bson_t *filter = BCON_NEW("job_id", BCON_UTF8(id));
	bson_t *opts = BCON_NEW("sort", "{", "n", BCON_INT32(-1), "}", "limit", BCON_INT64(1));
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t berr;
	int ret = 0;

	*n = *at = 0;
	conn_open(&c, jobs, "job_claims");
	cur = mongoc_collection_find_with_opts(c.coll, filter, opts, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		*n = get_int(doc, "n");
		*at = get_date(doc, "at");
	} else if (mongoc_cursor_error(cur, &berr)) {
		ret = db_error(err, "reading the job's claims", &berr);
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	conn_close(&c);
	return ret;
}

/* Becomes the n-th holder of the job. KINO_EEXIST when another is. */
static int claim_insert(kino_jobs_t *jobs, const char *id, int64_t n, const char *owner,
			kino_error_t *err)
{
	char key[64];
	bson_t *doc;
	int ret;

	claim_key(key, sizeof(key), id, n);
	doc = BCON_NEW("_id", BCON_UTF8(key), "job_id", BCON_UTF8(id), "n", BCON_INT64(n),
		       "owner", BCON_UTF8(owner), "at", BCON_DATE_TIME(jobs_now_ms()));
	ret = insert_one(jobs, "job_claims", doc, "claiming the job", err);
	bson_destroy(doc);
	return ret;
}

static void fill_nothing(const bson_t *doc, void *out)
{
	(void)doc;
	*(bool *)out = true;
}

/* Sets *later when someone claimed the job after the holder of lease. */
static int claim_superseded(kino_jobs_t *jobs, const jobs_lease_t *lease, bool *later,
			    kino_error_t *err)
{
	char key[64];
	int ret;

	*later = false;
	claim_key(key, sizeof(key), lease->id, lease->claim + 1);
	ret = find_by_id(jobs, "job_claims", key, fill_nothing, later, "reading the job's claims",
			 err);
	return ret == KINO_ENOENT ? 0 : ret;
}

static int delete_one(kino_jobs_t *jobs, const char *name, const bson_t *filter,
		      int64_t *deleted, const char *what, kino_error_t *err);

/* Takes back a claim that turned out void (the job had moved on). */
static void claim_withdraw(kino_jobs_t *jobs, const char *id, int64_t n, const char *owner)
{
	char key[64];
	int64_t deleted;
	bson_t *filter;

	claim_key(key, sizeof(key), id, n);
	filter = BCON_NEW("_id", BCON_UTF8(key), "owner", BCON_UTF8(owner));
	delete_one(jobs, "job_claims", filter, &deleted, "withdrawing a claim", NULL);
	bson_destroy(filter);
}

/* ---- jobs: claiming -------------------------------------------------------------------- */

/* Up to `max` jobs matching query, oldest first. Returns how many, or an
 * error. */
static int find_jobs(kino_jobs_t *jobs, const bson_t *query, kino_jobs_info_t *out, int max,
		     const char *what, kino_error_t *err)
{
	conn_t c;
	bson_t *opts = BCON_NEW("sort", "{", "created_at", BCON_INT32(1), "}", "limit",
				BCON_INT64(max));
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t berr;
	int n = 0;

	conn_open(&c, jobs, "jobs");
	cur = mongoc_collection_find_with_opts(c.coll, query, opts, NULL);
	while (n < max && mongoc_cursor_next(cur, &doc))
		job_from_doc(doc, &out[n++]);
	if (mongoc_cursor_error(cur, &berr))
		n = db_error(err, what, &berr);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	conn_close(&c);
	return n;
}

typedef bool (*claimable_fn)(const kino_jobs_t *jobs, const kino_jobs_info_t *j, int64_t now);

static bool claimable(const kino_jobs_t *jobs, const kino_jobs_info_t *j, int64_t now)
{
	return (j->state == KINO_JOBS_QUEUED && j->lease_until_ms <= now) ||
	       (j->state == KINO_JOBS_RUNNING && j->lease_until_ms < now &&
		j->attempts < jobs->cfg.max_attempts);
}

static bool sweepable(const kino_jobs_t *jobs, const kino_jobs_info_t *j, int64_t now)
{
	return j->state == KINO_JOBS_RUNNING && j->lease_until_ms < now &&
	       j->attempts >= jobs->cfg.max_attempts;
}

#define CANDIDATES 8

/* Takes the first of the jobs matching query (and `ok`) that owner can
 * claim; *lease and *out describe it. KINO_ENOENT when none. */
static int claim_first(kino_jobs_t *jobs, const bson_t *query, claimable_fn ok,
		       const char *owner, kino_jobs_info_t *out, jobs_lease_t *lease,
		       kino_error_t *err)
{
	kino_jobs_info_t *cand = calloc(CANDIDATES, sizeof(*cand));
	int n, ret = KINO_ENOENT;

	if (cand == NULL)
		return kino_error_set(err, KINO_ENOMEM, "jobs: out of memory");
	n = find_jobs(jobs, query, cand, CANDIDATES, "looking for jobs", err);
	if (n < 0)
		ret = n;
	for (int i = 0; i < n; i++) {
		int64_t last, at;

		ret = claim_last(jobs, cand[i].id, &last, &at, err);
		if (ret < 0)
			break;
		/* A claim the job does not show yet is another worker's, made
		 * between its read and its write: leave the job to it, unless
		 * that worker had a whole lease to write and did not (it died,
		 * or a stale holder's write hid the claim). */
		if (last > cand[i].claim &&
		    at + (int64_t)jobs->cfg.lease_s * 1000 > jobs_now_ms()) {
			ret = KINO_ENOENT;
			continue;
		}
		ret = claim_insert(jobs, cand[i].id, last + 1, owner, err);
		if (ret == KINO_EEXIST) {
			ret = KINO_ENOENT; /* another worker was quicker */
			continue;
		}
		if (ret < 0)
			break;
		/* Ours, unless the job moved on between the read and the claim
		 * (another worker ran it to its end meanwhile): read it again. */
		ret = store_job_get(jobs, cand[i].id, out, err);
		if (ret < 0)
			break;
		if (!ok(jobs, out, jobs_now_ms())) {
			claim_withdraw(jobs, cand[i].id, last + 1, owner);
			ret = KINO_ENOENT;
			continue;
		}
		snprintf(lease->id, sizeof(lease->id), "%s", out->id);
		snprintf(lease->owner, sizeof(lease->owner), "%s", owner);
		lease->claim = last + 1;
		break;
	}
	free(cand);
	if (ret == KINO_ENOENT)
		kino_error_clear(err);
	return ret;
}

int store_job_claim(kino_jobs_t *jobs, const char *owner, kino_jobs_info_t *out,
		    jobs_lease_t *lease, kino_error_t *err)
{
	int64_t now = jobs_now_ms(), matched;
	bson_t *query, *filter, *update;
	int ret;

	query = BCON_NEW("$or", "[",
			 "{", "state", BCON_UTF8("queued"), "lease_until", "{", "$lte",
			 BCON_DATE_TIME(now), "}", "}",
			 "{", "state", BCON_UTF8("running"), "lease_until", "{", "$lt",
			 BCON_DATE_TIME(now), "}", "attempts", "{", "$lt",
			 BCON_INT32(jobs->cfg.max_attempts), "}", "}",
			 "]");
	ret = claim_first(jobs, query, claimable, owner, out, lease, err);
	bson_destroy(query);
	if (ret < 0)
		return ret;
	now = jobs_now_ms();
	out->state = KINO_JOBS_RUNNING;
	out->attempts++;
	snprintf(out->lease_owner, sizeof(out->lease_owner), "%s", owner);
	out->lease_until_ms = now + (int64_t)jobs->cfg.lease_s * 1000;
	filter = BCON_NEW("_id", BCON_UTF8(out->id));
	update = BCON_NEW("$set", "{", "state", BCON_UTF8("running"), "lease_owner",
			  BCON_UTF8(owner), "lease_until", BCON_DATE_TIME(out->lease_until_ms),
			  "attempts", BCON_INT32(out->attempts), "claim", BCON_INT64(lease->claim),
			  "updated_at", BCON_DATE_TIME(now), "progress", "{", "phase",
			  BCON_UTF8(""), "fraction", BCON_DOUBLE(0), "fps", BCON_DOUBLE(0),
			  "eta", BCON_DOUBLE(-1), "}", "}");
	ret = update_one(jobs, "jobs", filter, update, &matched, "claiming a job", err);
	bson_destroy(update);
	bson_destroy(filter);
	return ret;
}

int store_job_sweep_one(kino_jobs_t *jobs, const char *owner, kino_jobs_info_t *out,
			kino_error_t *err)
{
	int64_t now = jobs_now_ms(), matched;
	bson_t *query, *filter, *update;
	jobs_lease_t lease;
	char reason[200];
	int ret;

	query = BCON_NEW("state", BCON_UTF8("running"), "lease_until", "{", "$lt",
			 BCON_DATE_TIME(now), "}", "attempts", "{", "$gte",
			 BCON_INT32(jobs->cfg.max_attempts), "}");
	/* The sweeper claims the job too, so that its dead holder, should it
	 * come back, finds it superseded. */
	ret = claim_first(jobs, query, sweepable, owner, out, &lease, err);
	bson_destroy(query);
	if (ret < 0)
		return ret;
	snprintf(reason, sizeof(reason),
		 "gave up after %d attempt%s: the worker of the last one stopped "
		 "renewing its lease (it died or lost the database)",
		 out->attempts, out->attempts == 1 ? "" : "s");
	out->state = KINO_JOBS_FAILED;
	snprintf(out->error, sizeof(out->error), "%s", reason);
	filter = BCON_NEW("_id", BCON_UTF8(out->id));
	update = BCON_NEW("$set", "{", "state", BCON_UTF8("failed"), "error", BCON_UTF8(reason),
			  "lease_owner", BCON_UTF8(""), "claim", BCON_INT64(lease.claim),
			  "updated_at", BCON_DATE_TIME(jobs_now_ms()), "}");
	ret = update_one(jobs, "jobs", filter, update, &matched, "failing a job with a lapsed lease",
			 err);
	bson_destroy(update);
	bson_destroy(filter);
	return ret;
}

/* ---- jobs: what a holder writes ----------------------------------------------------------- */

/* Applies update to the job while the holder of lease still holds it:
 * KINO_ESTATE otherwise (a later claim exists, or the job is not running
 * under it any more). */
static int update_held(kino_jobs_t *jobs, const jobs_lease_t *lease, const bson_t *update,
		       const char *what, kino_error_t *err)
{
	bson_t *filter;
	int64_t matched;
	bool later;
	int ret = claim_superseded(jobs, lease, &later, err);

	if (ret < 0)
		return ret;
	if (later)
		return kino_error_set(err, KINO_ESTATE, "%s: job %s was claimed again after %s",
				      what, lease->id, lease->owner);
	filter = BCON_NEW("_id", BCON_UTF8(lease->id), "state", BCON_UTF8("running"),
			  "lease_owner", BCON_UTF8(lease->owner));
	ret = update_one(jobs, "jobs", filter, update, &matched, what, err);
	bson_destroy(filter);
	if (ret == 0 && matched != 1)
		ret = kino_error_set(err, KINO_ESTATE, "%s: job %s is no longer running under %s",
				     what, lease->id, lease->owner);
	return ret;
}

int store_job_renew(kino_jobs_t *jobs, const jobs_lease_t *lease, const jobs_progress_t *p,
		    bool *ours, kino_error_t *err)
{
	int64_t now = jobs_now_ms();
	bson_t *update;
	int ret;

	update = BCON_NEW("$set", "{", "lease_until",
			  BCON_DATE_TIME(now + (int64_t)jobs->cfg.lease_s * 1000),
			  "updated_at", BCON_DATE_TIME(now), "progress", "{", "phase",
			  BCON_UTF8(p->phase ? p->phase : ""), "fraction",
			  BCON_DOUBLE(p->fraction), "fps", BCON_DOUBLE(p->fps), "eta",
			  BCON_DOUBLE(p->eta_seconds), "}", "}");
	ret = update_held(jobs, lease, update, "renewing the lease", err);
	bson_destroy(update);
	*ours = ret != KINO_ESTATE;
	return ret == KINO_ESTATE ? 0 : ret;
}

int store_job_done(kino_jobs_t *jobs, const jobs_lease_t *lease, const char *asset_id,
		   const char *hls, const char *dash, kino_error_t *err)
{
	int64_t now = jobs_now_ms();
	bson_t *update;
	int ret;

	update = BCON_NEW("$set", "{", "state", BCON_UTF8("done"), "asset_id",
			  BCON_UTF8(asset_id), "hls", BCON_UTF8(hls), "dash", BCON_UTF8(dash),
			  "error", BCON_UTF8(""), "lease_owner", BCON_UTF8(""),
			  "progress", "{", "phase", BCON_UTF8("done"), "fraction",
			  BCON_DOUBLE(1), "fps", BCON_DOUBLE(0), "eta", BCON_DOUBLE(0), "}",
			  "updated_at", BCON_DATE_TIME(now), "}");
	ret = update_held(jobs, lease, update, "marking the job done", err);
	bson_destroy(update);
	return ret;
}

int store_job_fail(kino_jobs_t *jobs, const jobs_lease_t *lease, const char *reason,
		   kino_error_t *err)
{
	bson_t *update = BCON_NEW("$set", "{", "state", BCON_UTF8("failed"), "error",
				  BCON_UTF8(reason), "lease_owner", BCON_UTF8(""),
				  "updated_at", BCON_DATE_TIME(jobs_now_ms()), "}");
	int ret = update_held(jobs, lease, update, "marking the job failed", err);

	bson_destroy(update);
	return ret;
}

int store_job_requeue(kino_jobs_t *jobs, const jobs_lease_t *lease, const char *reason,
		      int64_t delay_ms, kino_error_t *err)
{
	int64_t now = jobs_now_ms();
	bson_t *update = BCON_NEW("$set", "{", "state", BCON_UTF8("queued"), "error",
				  BCON_UTF8(reason), "lease_owner", BCON_UTF8(""),
				  "lease_until", BCON_DATE_TIME(now + delay_ms),
				  "updated_at", BCON_DATE_TIME(now), "}");
	int ret = update_held(jobs, lease, update, "queueing the job again", err);

	bson_destroy(update);
	return ret;
}

int store_job_release(kino_jobs_t *jobs, const jobs_lease_t *lease, kino_error_t *err)
{
	int64_t now = jobs_now_ms();
	bson_t *update = BCON_NEW("$set", "{", "state", BCON_UTF8("queued"),
				  "lease_owner", BCON_UTF8(""), "lease_until",
				  BCON_DATE_TIME(now), "updated_at", BCON_DATE_TIME(now), "}",
				  "$inc", "{", "attempts", BCON_INT32(-1), "}");
	int ret = update_held(jobs, lease, update, "releasing the job", err);

	bson_destroy(update);
	return ret;
}

/* ---- uploads ------------------------------------------------------------------------ */

static void fill_upload(const bson_t *doc, void *out)
{
	jobs_upload_t *u = out;

	memset(u, 0, sizeof(*u));
	get_str(doc, "_id", u->id, sizeof(u->id));
	u->length = get_int(doc, "length");
	u->offset = get_int(doc, "offset");
	get_str(doc, "filename", u->filename, sizeof(u->filename));
	get_str(doc, "title", u->title, sizeof(u->title));
	get_str(doc, "ladder", u->ladder, sizeof(u->ladder));
	get_str(doc, "job_id", u->job_id, sizeof(u->job_id));
	u->updated_at_ms = get_date(doc, "updated_at");
}

int store_upload_insert(kino_jobs_t *jobs, const jobs_upload_t *u, const char *user_id,
			kino_error_t *err)
{
	int64_t now = jobs_now_ms();
	bson_t *doc;
	int ret;

	doc = BCON_NEW("_id", BCON_UTF8(u->id), "length", BCON_INT64(u->length),
		       "offset", BCON_INT64(0), "filename", BCON_UTF8(u->filename),
		       "title", BCON_UTF8(u->title), "ladder", BCON_UTF8(u->ladder),
		       "user_id", BCON_UTF8(user_id),
		       "job_id", BCON_UTF8(""), "created_at", BCON_DATE_TIME(now),
		       "updated_at", BCON_DATE_TIME(now));
	ret = insert_one(jobs, "uploads", doc, "creating the upload", err);
	bson_destroy(doc);
	return ret;
}

int store_upload_get(kino_jobs_t *jobs, const char *id, jobs_upload_t *out,
		     kino_error_t *err)
{
	return find_by_id(jobs, "uploads", id, fill_upload, out, "reading the upload", err);
}

/* delete_one; *deleted receives deletedCount. */
static int delete_one(kino_jobs_t *jobs, const char *name, const bson_t *filter,
		      int64_t *deleted, const char *what, kino_error_t *err)
{
	conn_t c;
	bson_error_t berr;
	bson_t reply;
	bson_iter_t it;
	int ret = 0;

	conn_open(&c, jobs, name);
	*deleted = 0;
	if (!mongoc_collection_delete_one(c.coll, filter, NULL, &reply, &berr))
		ret = db_error(err, what, &berr);
	else if (bson_iter_init_find(&it, &reply, "deletedCount"))
		*deleted = bson_iter_as_int64(&it);
	bson_destroy(&reply);
	conn_close(&c);
	return ret;
}

/* An upload's write lock is a document of upload_locks whose _id is
 * "<upload id>:<offset>": unique, so of the PATCHes at one offset exactly
 * one inserts it (see the claims above for why not a conditional update).
 * A lock whose holder crashed lapses after lock_ms and is then taken over. */
static int lock_insert(kino_jobs_t *jobs, const char *key, const char *id, const char *token,
		       int64_t lock_ms, kino_error_t *err)
{
	bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "upload_id", BCON_UTF8(id), "token",
			       BCON_UTF8(token), "until",
			       BCON_DATE_TIME(jobs_now_ms() + lock_ms));
	int ret = insert_one(jobs, "upload_locks", doc, "locking the upload", err);

	bson_destroy(doc);
	return ret;
}

int store_upload_lock(kino_jobs_t *jobs, const char *id, int64_t offset,
		      const char *token, int64_t lock_ms, kino_error_t *err)
{
	char key[64];
	jobs_upload_t u;
	int64_t deleted = 0;
	bson_t *filter;
	int ret;

	claim_key(key, sizeof(key), id, offset);
	ret = lock_insert(jobs, key, id, token, lock_ms, err);
	if (ret == KINO_EEXIST) {
		filter = BCON_NEW("_id", BCON_UTF8(key), "until", "{", "$lt",
				  BCON_DATE_TIME(jobs_now_ms()), "}");
		ret = delete_one(jobs, "upload_locks", filter, &deleted, "locking the upload", err);
		bson_destroy(filter);
		if (ret == 0 && deleted == 1)
			ret = lock_insert(jobs, key, id, token, lock_ms, err);
		else if (ret == 0)
			ret = KINO_EEXIST;
	}
	if (ret == KINO_EEXIST)
		return kino_error_set(err, KINO_ECONFLICT,
				      "another request is writing at offset %lld", (long long)offset);
	if (ret < 0)
		return ret;
	/* Under the lock, the offset can only be checked, not moved by others. */
	ret = store_upload_get(jobs, id, &u, err);
	if (ret == 0 && u.offset != offset) {
		store_upload_unlock(jobs, id, offset, token, offset, NULL);
		ret = kino_error_set(err, KINO_ECONFLICT, "the upload is at offset %lld, not %lld",
				     (long long)u.offset, (long long)offset);
	}
	return ret;
}

typedef struct lock_check {
	const char *token;
	bool held;
} lock_check_t;

static void fill_lock(const bson_t *doc, void *out)
{
	lock_check_t *l = out;
	char token[64];

	get_str(doc, "token", token, sizeof(token));
	l->held = strcmp(token, l->token) == 0;
}

int store_upload_unlock(kino_jobs_t *jobs, const char *id, int64_t offset, const char *token,
			int64_t new_offset, kino_error_t *err)
{
	char key[64];
	int64_t matched, deleted;
	bson_t *filter, *update;
	int ret;

	claim_key(key, sizeof(key), id, offset);
	filter = BCON_NEW("_id", BCON_UTF8(key), "token", BCON_UTF8(token));
	if (new_offset != offset) {
		lock_check_t held = {.token = token};

		/* A lock that lapsed and was taken over is not ours to commit. */
		ret = find_by_id(jobs, "upload_locks", key, fill_lock, &held,
				 "checking the upload's lock", err);
		if (ret == KINO_ENOENT || (ret == 0 && !held.held))
			ret = kino_error_set(err, KINO_ECONFLICT,
					     "the upload's write lock lapsed while writing");
		if (ret == 0) {
			bson_t *idf = BCON_NEW("_id", BCON_UTF8(id));

			update = BCON_NEW("$set", "{", "offset", BCON_INT64(new_offset),
					  "updated_at", BCON_DATE_TIME(jobs_now_ms()), "}");
			ret = update_one(jobs, "uploads", idf, update, &matched,
					 "moving the upload's offset", err);
			bson_destroy(update);
			bson_destroy(idf);
		}
		if (ret < 0) {
			bson_destroy(filter);
			return ret;
		}
	}
	ret = delete_one(jobs, "upload_locks", filter, &deleted, "unlocking the upload", err);
	bson_destroy(filter);
	return ret;
}

int store_upload_stale(kino_jobs_t *jobs, int64_t before_ms,
		       char ids[][KINO_JOBS_ID_LEN + 1], int max, kino_error_t *err)
{
	conn_t c;
	bson_t *filter = BCON_NEW("job_id", BCON_UTF8(""), "updated_at", "{", "$lt",
				  BCON_DATE_TIME(before_ms), "}");
	bson_t *opts = BCON_NEW("limit", BCON_INT64(max));
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t berr;
	int n = 0;

	conn_open(&c, jobs, "uploads");
	cur = mongoc_collection_find_with_opts(c.coll, filter, opts, NULL);
	while (n < max && mongoc_cursor_next(cur, &doc)) {
		get_str(doc, "_id", ids[n], KINO_JOBS_ID_LEN + 1);
		n += jobs_id_valid(ids[n]);
	}
	if (mongoc_cursor_error(cur, &berr))
		n = db_error(err, "looking for abandoned uploads", &berr);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	conn_close(&c);
	return n;
}

int store_upload_delete_stale(kino_jobs_t *jobs, const char *id, int64_t before_ms,
			      bool *deleted, kino_error_t *err)
{
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "job_id", BCON_UTF8(""), "updated_at",
				  "{", "$lt", BCON_DATE_TIME(before_ms), "}");
	int64_t n = 0;
	int ret = delete_one(jobs, "uploads", filter, &n, "removing an abandoned upload", err);

	bson_destroy(filter);
	*deleted = n == 1;
	return ret;
}

int store_upload_set_job(kino_jobs_t *jobs, const char *id, const char *job_id,
			 kino_error_t *err)
{
	int64_t matched;
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
	bson_t *update = BCON_NEW("$set", "{", "job_id", BCON_UTF8(job_id), "updated_at",
				  BCON_DATE_TIME(jobs_now_ms()), "}");
	int ret = update_one(jobs, "uploads", filter, update, &matched,
			     "linking the upload to its job", err);

	bson_destroy(update);
	bson_destroy(filter);
	return ret;
}
