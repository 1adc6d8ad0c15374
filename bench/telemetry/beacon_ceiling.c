/* The database's own ceiling for Kino's beacons: unordered bulk inserts
 * straight into `beacons` with libmongoc, no collector in between. Used by
 * bench/telemetry/run, which compares it with what the collector achieves.
 *
 * "The same documents" is taken literally: the program reads back the
 * documents the collector stored for one run (session ids starting with
 * --from), gives them session ids with another prefix of the same length
 * (--as; the rest of each document is left byte for byte as the collector
 * wrote it, field order included), and inserts them into the same
 * collection, with the same unique (session_id, seq) index already in
 * place, in batches of --batch (the collector's telemetry.batch), from
 * --threads threads (the collector's writers), each with a client of its
 * own from one pool. Only the inserts are timed; reading the documents
 * back is not.
 *
 *   kino_beacon_ceiling --uri URI --db NAME --from PREFIX --as PREFIX
 *                       [--batch 500] [--threads 2]
 *
 * Prints one line:
 *   ceiling docs=N avg_bytes=B batch=K threads=T seconds=S docs_per_s=R
 * Exit status 0 when every document was inserted, 1 otherwise (a bulk
 * failed, or the database holds duplicates: --as already used), 2 for bad
 * arguments.
 *
 *   kino_beacon_ceiling --uri URI --db NAME --drop
 *
 * drops the database NAME (the benchmark's own) and exits. */
#include <mongoc/mongoc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFIX_MAX 64

typedef struct ceiling {
	mongoc_client_pool_t *pool;
	const char *db;
	bson_t **docs;
	size_t ndocs;
	int batch;
	atomic_size_t next;     /* the first document of the next batch */
	atomic_llong inserted;
	atomic_int failed;
} ceiling_t;

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A copy of doc whose session_id starts with `as` instead of its first
 * strlen(as) characters; every other field as it was, in its place. NULL
 * when doc has no session_id at least that long. Caller frees with
 * bson_destroy. */
static bson_t *renamed(const bson_t *doc, const char *as)
{
	size_t n = strlen(as);
	bson_t *out = bson_new();
	bson_iter_t it;
	bool named = false;

	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);

		/* the session id, and the _id that begins with it ("<sid>:<seq>");
		 * an ObjectId _id (older documents) is left to the driver */
		if ((strcmp(key, "session_id") == 0 || strcmp(key, "_id") == 0) &&
		    BSON_ITER_HOLDS_UTF8(&it)) {
			uint32_t len;
			const char *sid = bson_iter_utf8(&it, &len);
			char buf[PREFIX_MAX * 4];

			if (len < n || len >= sizeof(buf))
				break;
			memcpy(buf, as, n);
			memcpy(buf + n, sid + n, len - n);
			buf[len] = '\0';
			BSON_APPEND_UTF8(out, key, buf);
			named = named || strcmp(key, "session_id") == 0;
		} else if (strcmp(key, "_id") != 0) {
			bson_append_iter(out, key, -1, &it);
		}
	}
	if (!named) {
		bson_destroy(out);
		return NULL;
	}
	return out;
}

/* Reads the documents of the sessions whose id starts with `from`. */
static int load(mongoc_client_pool_t *pool, const char *db, const char *from, const char *as,
		bson_t ***docs, size_t *ndocs)
{
	mongoc_client_t *c = mongoc_client_pool_pop(pool);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, db, "beacons");
	char re[PREFIX_MAX + 2];
	bson_t *filter, *opts;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t berr;
	size_t cap = 0;
	int ret = 0;

	snprintf(re, sizeof(re), "^%s", from);
	filter = BCON_NEW("session_id", "{", "$regex", BCON_UTF8(re), "}");
	opts = bson_new();
	cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	*docs = NULL;
	*ndocs = 0;
	while (mongoc_cursor_next(cur, &doc)) {
		bson_t *r = renamed(doc, as);

		if (r == NULL)
			continue;
		if (*ndocs == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			bson_t **d = realloc(*docs, ncap * sizeof(*d));

			if (d == NULL) {
				bson_destroy(r);
				fprintf(stderr, "load: out of memory\n");
				ret = -1;
				break;
			}
			*docs = d;
			cap = ncap;
		}
		(*docs)[(*ndocs)++] = r;
	}
	if (ret == 0 && mongoc_cursor_error(cur, &berr)) {
		fprintf(stderr, "load: reading beacons: %s\n", berr.message);
		ret = -1;
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	mongoc_client_pool_push(pool, c);
	return ret;
}

/* One writer: takes the next batch until none is left. */
static void *insert_loop(void *arg)
{
	ceiling_t *cl = arg;
	mongoc_client_t *c = mongoc_client_pool_pop(cl->pool);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, cl->db, "beacons");
	bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));

	for (;;) {
		size_t first = atomic_fetch_add(&cl->next, (size_t)cl->batch);
		size_t last = first + (size_t)cl->batch;
		mongoc_bulk_operation_t *bulk;
		bson_error_t berr;
		bson_iter_t it;
		bson_t reply;

		if (first >= cl->ndocs)
			break;
		if (last > cl->ndocs)
			last = cl->ndocs;
		bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
		for (size_t i = first; i < last; i++)
			mongoc_bulk_operation_insert(bulk, cl->docs[i]);
		/* a bulk operation runs once; its reply is always destroyed */
		if (!mongoc_bulk_operation_execute(bulk, &reply, &berr)) {
			fprintf(stderr, "insert_loop: %s\n", berr.message);
			atomic_store(&cl->failed, 1);
		}
		if (bson_iter_init_find(&it, &reply, "nInserted") && BSON_ITER_HOLDS_NUMBER(&it))
			atomic_fetch_add(&cl->inserted, bson_iter_as_int64(&it));
		bson_destroy(&reply);
		mongoc_bulk_operation_destroy(bulk);
	}
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
	mongoc_client_pool_push(cl->pool, c);
	return NULL;
}

/* Drops the benchmark's database; 0 or 1. */
static int drop(const char *uri_s, const char *db)
{
	mongoc_client_t *c;
	mongoc_database_t *d;
	bson_error_t berr;
	int ret = 1;

	mongoc_init();
	c = mongoc_client_new(uri_s);
	if (c == NULL) {
		fprintf(stderr, "drop: bad URI\n");
		goto out;
	}
	mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
	d = mongoc_client_get_database(c, db);
	if (mongoc_database_drop(d, &berr))
		ret = 0;
	else
		fprintf(stderr, "drop: %s\n", berr.message);
	mongoc_database_destroy(d);
	mongoc_client_destroy(c);
out:
	mongoc_cleanup();
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: kino_beacon_ceiling --uri URI --db NAME --from PREFIX --as PREFIX "
			"[--batch 500] [--threads 2]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *uri_s = NULL, *from = NULL, *as = NULL;
	ceiling_t cl = {.db = "kino", .batch = 500};
	int threads = 2, ret = 1;
	mongoc_uri_t *uri = NULL;
	pthread_t th[64];
	bson_error_t berr;
	size_t bytes = 0;
	double t0, t1;

	if (argc == 6 && strcmp(argv[1], "--uri") == 0 && strcmp(argv[3], "--db") == 0 &&
	    strcmp(argv[5], "--drop") == 0)
		return drop(argv[2], argv[4]);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--uri") == 0)
			uri_s = argv[i + 1];
		else if (strcmp(argv[i], "--db") == 0)
			cl.db = argv[i + 1];
		else if (strcmp(argv[i], "--from") == 0)
			from = argv[i + 1];
		else if (strcmp(argv[i], "--as") == 0)
			as = argv[i + 1];
		else if (strcmp(argv[i], "--batch") == 0)
			cl.batch = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--threads") == 0)
			threads = atoi(argv[i + 1]);
		else
			return usage();
	}
	if (argc % 2 != 1 || uri_s == NULL || from == NULL || as == NULL || cl.batch < 1 ||
	    cl.batch > 100000 || threads < 1 || threads > 64 || strlen(from) == 0 ||
	    strlen(from) > PREFIX_MAX || strlen(as) != strlen(from))
		return usage();
	mongoc_init();
	uri = mongoc_uri_new_with_error(uri_s, &berr);
	if (uri == NULL) {
		fprintf(stderr, "kino_beacon_ceiling: %s\n", berr.message);
		goto out;
	}
	cl.pool = mongoc_client_pool_new(uri);
	mongoc_client_pool_set_error_api(cl.pool, MONGOC_ERROR_API_VERSION_2);
	if (load(cl.pool, cl.db, from, as, &cl.docs, &cl.ndocs) != 0)
		goto out;
	if (cl.ndocs == 0) {
		fprintf(stderr, "kino_beacon_ceiling: no beacons with session ids ^%s\n", from);
		goto out;
	}
	for (size_t i = 0; i < cl.ndocs; i++)
		bytes += cl.docs[i]->len;
	t0 = mono_s();
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&th[i], NULL, insert_loop, &cl) != 0) {
			fprintf(stderr, "kino_beacon_ceiling: cannot start a thread\n");
			threads = i;
			atomic_store(&cl.failed, 1);
			break;
		}
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t1 = mono_s();
	printf("ceiling docs=%zu avg_bytes=%zu batch=%d threads=%d seconds=%.3f docs_per_s=%.1f\n",
	       cl.ndocs, bytes / cl.ndocs, cl.batch, threads, t1 - t0, (double)cl.ndocs / (t1 - t0));
	if (atomic_load(&cl.failed) || atomic_load(&cl.inserted) != (long long)cl.ndocs)
		fprintf(stderr, "kino_beacon_ceiling: inserted %lld of %zu\n",
			(long long)atomic_load(&cl.inserted), cl.ndocs);
	else
		ret = 0;
out:
	for (size_t i = 0; i < cl.ndocs; i++)
		bson_destroy(cl.docs[i]);
	free(cl.docs);
	if (cl.pool != NULL)
		mongoc_client_pool_destroy(cl.pool);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return ret;
}
