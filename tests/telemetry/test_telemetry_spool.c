/* The spool on its own (telemetry/spool.c): batches written as BSON come
 * back the same, in order; a tail torn by a crash is skipped and the rest
 * replayed; a malformed document before the tail ends the replay of its
 * segment, which is kept aside as .bad and never deleted; segments in the
 * JSON-lines format of earlier versions are replayed too, in order with the
 * new ones, types intact; a full spool says so; two writers appending
 * while replays run lose nothing and replay nothing twice. */
#include "check.h"
#include "testenv.h"

#include "telemetry_internal.h"

#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DOCS 64

static char dir[512];

/* A `beacons`-like document, with the types the spool must keep. */
static bson_t *beacon_doc(const char *sid, long long seq)
{
	bson_t *d = bson_new();

	BSON_APPEND_UTF8(d, "session_id", sid);
	BSON_APPEND_INT64(d, "seq", seq);
	BSON_APPEND_DATE_TIME(d, "ts", 1700000000000LL + seq);
	BSON_APPEND_UTF8(d, "event", "heartbeat");
	BSON_APPEND_INT32(d, "v", 1);
	BSON_APPEND_INT64(d, "bitrate", 3000000 + seq);
	return d;
}

typedef struct got {
	bson_t *docs[MAX_DOCS];
	int n;
	int fail_calls; /* the chunk callback refuses this many calls first */
} got_t;

static int collect(bson_t **docs, int n, void *ud)
{
	got_t *g = ud;

	if (g->fail_calls > 0) {
		g->fail_calls--;
		return 1;
	}
	for (int i = 0; i < n; i++) {
		CHECK(g->n < MAX_DOCS);
		g->docs[g->n++] = bson_copy(docs[i]);
	}
	return 0;
}

static void got_clear(got_t *g)
{
	for (int i = 0; i < g->n; i++)
		bson_destroy(g->docs[i]);
	g->n = 0;
}

static void count_doc(const bson_t *doc, void *ud)
{
	(void)doc;
	(*(int *)ud)++;
}

static long long doc_seq(const bson_t *d)
{
	bson_iter_t it;

	CHECK(bson_iter_init_find(&it, d, "seq") && BSON_ITER_HOLDS_INT64(&it));
	return bson_iter_int64(&it);
}

/* How many files in the spool directory end with suffix. */
static int files_ending(const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t sl = strlen(suffix);
	int n = 0;

	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The path of the one .bson segment in the directory. */
static void only_segment(char *out, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, ".bson") != NULL && strstr(e->d_name, ".bad") == NULL) {
			snprintf(out, size, "%s/%s", dir, e->d_name);
			n++;
		}
	}
	closedir(d);
	CHECK_INT_EQ(n, 1);
}

static void append_seqs(spool_t *s, const char *sid, long long from, int n)
{
	bson_t *docs[MAX_DOCS];
	kino_error_t err = {0};

	for (int i = 0; i < n; i++)
		docs[i] = beacon_doc(sid, from + i);
	CHECK_MSG(spool_append(s, docs, n, &err) == 0, "%s", err.message);
	for (int i = 0; i < n; i++)
		bson_destroy(docs[i]);
}

static void write_bytes(const char *path, const void *p, size_t n, int flags)
{
	int fd = open(path, O_WRONLY | flags, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static spool_t *fresh(const char *tag)
{
	kino_error_t err = {0};
	char base[512];
	spool_t *s;

	tenv_tmpdir(base, sizeof(base), tag);
	snprintf(dir, sizeof(dir), "%s", base);
	s = spool_open(dir, 1LL << 30, &err);
	CHECK_MSG(s != NULL, "%s", err.message);
	return s;
}

static void test_round_trip(void)
{
	spool_t *s = fresh("spool-rt");
	got_t g = {.n = 0};
	char path[1024];
	struct stat st;
	long long bytes = 0;

	append_seqs(s, "rt", 0, 3);
	append_seqs(s, "rt", 3, 2);
	for (int i = 0; i < 5; i++) {
		bson_t *d = beacon_doc("rt", i);
		bytes += d->len;
		bson_destroy(d);
	}
	/* the documents as they are, one after the other */
	CHECK_INT_EQ(spool_bytes(s), bytes);
	only_segment(path, sizeof(path));
	CHECK(stat(path, &st) == 0);
	CHECK_INT_EQ(st.st_size, bytes);

	/* a refused chunk keeps the segment for later */
	g.fail_calls = 1;
	spool_replay(s, 2, 8, collect, &g);
	CHECK_INT_EQ(files_ending(".bson"), 1);
	got_clear(&g);

	CHECK_INT_EQ(spool_replay(s, 2, 8, collect, &g), 5);
	CHECK_INT_EQ(g.n, 5);
	for (int i = 0; i < 5; i++) {
		bson_t *want = beacon_doc("rt", i);
		CHECK_MSG(bson_equal(g.docs[i], want), "document %d changed on the way", i);
		bson_destroy(want);
	}
	CHECK_INT_EQ(spool_bytes(s), 0);
	CHECK_INT_EQ(files_ending(".bson"), 0);
	got_clear(&g);
	spool_close(s);
	tenv_rmtree(dir);
}

/* Whatever a crash left after the last whole document is skipped. */
static void torn(const void *tail, size_t n)
{
	spool_t *s = fresh("spool-torn");
	got_t g = {.n = 0};
	kino_error_t err = {0};
	char path[1024];
	int scanned = 0;

	append_seqs(s, "tt", 0, 3);
	spool_close(s);
	only_segment(path, sizeof(path));
	write_bytes(path, tail, n, O_APPEND);

	s = spool_open(dir, 1LL << 30, &err);
	CHECK(s != NULL);
	spool_scan(s, count_doc, &scanned);
	CHECK_INT_EQ(scanned, 3);
	CHECK_INT_EQ(spool_replay(s, 500, 8, collect, &g), 3);
	CHECK_INT_EQ(doc_seq(g.docs[2]), 2);
	CHECK_INT_EQ(files_ending(".bson"), 0);
	CHECK_INT_EQ(files_ending(".bad"), 0);
	got_clear(&g);
	spool_close(s);
	tenv_rmtree(dir);
}

static void test_torn_tail(void)
{
	bson_t *d = beacon_doc("tt", 3);
	static const uint8_t zeros[300], three[3] = {0x40, 0, 0};

	torn(bson_get_data(d), d->len - 7); /* a document cut short */
	torn(three, sizeof(three));         /* not even a length */
	torn(zeros, sizeof(zeros));         /* the file grew, its data did not land */
	bson_destroy(d);
}

/* A malformed document before the tail: what precedes it is replayed, the
 * segment is kept aside, and the spool is empty afterwards. */
static void test_corrupt_length(void)
{
	spool_t *s = fresh("spool-bad");
	got_t g = {.n = 0};
	kino_error_t err = {0};
	char path[1024];
	bson_t *first = beacon_doc("cc", 0);
	uint8_t bad_len[4] = {2, 0, 0, 0}; /* shorter than any document */
	int fd;

	append_seqs(s, "cc", 0, 3);
	spool_close(s);
	only_segment(path, sizeof(path));
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, bad_len, 4, first->len) == 4);
	close(fd);

	s = spool_open(dir, 1LL << 30, &err);
	CHECK(s != NULL);
	CHECK_INT_EQ(spool_replay(s, 500, 8, collect, &g), 1);
	CHECK_INT_EQ(doc_seq(g.docs[0]), 0);
	CHECK_INT_EQ(files_ending(".bson"), 0);
	CHECK_INT_EQ(files_ending(".bson.bad"), 1);
	CHECK_INT_EQ(spool_bytes(s), 0);
	got_clear(&g);
	/* the .bad file is not a segment: nothing more to replay */
	CHECK_INT_EQ(spool_replay(s, 500, 8, collect, &g), 0);
	spool_close(s);

	/* nor after a restart */
	s = spool_open(dir, 1LL << 30, &err);
	CHECK_INT_EQ(spool_bytes(s), 0);
	spool_close(s);
	bson_destroy(first);
	tenv_rmtree(dir);
}

/* A spool written by an earlier version (JSON lines) is replayed before
 * what this version appends, with BSON types intact. */
static void test_legacy_segments(void)
{
	kino_error_t err = {0};
	got_t g = {.n = 0};
	char base[512], path[1024], *j;
	size_t jl;
	spool_t *s;
	bson_iter_t it;
	int fd;

	tenv_tmpdir(base, sizeof(base), "spool-legacy");
	snprintf(dir, sizeof(dir), "%s", base);
	snprintf(path, sizeof(path), "%s/seg-%016llu.log", dir, 7ULL);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	for (int i = 0; i < 2; i++) {
		bson_t *d = beacon_doc("old", i);
		j = bson_as_canonical_extended_json(d, &jl);
		CHECK(write(fd, j, jl) == (ssize_t)jl && write(fd, "\n", 1) == 1);
		bson_free(j);
		bson_destroy(d);
	}
	CHECK(write(fd, "{\"session_id\":", 14) == 14); /* a torn line */
	close(fd);

	s = spool_open(dir, 1LL << 30, &err);
	CHECK_MSG(s != NULL, "%s", err.message);
	CHECK(spool_bytes(s) > 0);
	append_seqs(s, "new", 0, 1);
	/* numbered after the old segments, so replayed after them */
	snprintf(path, sizeof(path), "%s/seg-%016llu.bson", dir, 8ULL);
	CHECK(access(path, F_OK) == 0);

	CHECK_INT_EQ(spool_replay(s, 500, 8, collect, &g), 3);
	for (int i = 0; i < 2; i++) {
		bson_t *want = beacon_doc("old", i);
		CHECK_MSG(bson_equal(g.docs[i], want), "legacy document %d changed", i);
		bson_destroy(want);
	}
	CHECK(bson_iter_init_find(&it, g.docs[2], "session_id"));
	CHECK_STR_EQ(bson_iter_utf8(&it, NULL), "new");
	CHECK(bson_iter_init_find(&it, g.docs[0], "ts") && BSON_ITER_HOLDS_DATE_TIME(&it));
	CHECK_INT_EQ(files_ending(".log"), 0);
	CHECK_INT_EQ(files_ending(".bson"), 0);
	CHECK_INT_EQ(spool_bytes(s), 0);
	got_clear(&g);
	spool_close(s);
	tenv_rmtree(dir);
}

static void test_full(void)
{
	kino_error_t err = {0};
	char base[512];
	bson_t *d = beacon_doc("ff", 0);
	spool_t *s;

	tenv_tmpdir(base, sizeof(base), "spool-full");
	snprintf(dir, sizeof(dir), "%s", base);
	s = spool_open(dir, (long long)d->len * 2, &err);
	CHECK(s != NULL);
	CHECK_INT_EQ(spool_append(s, &d, 1, &err), 0);
	CHECK_INT_EQ(spool_append(s, &d, 1, &err), 0);
	CHECK_INT_EQ(spool_append(s, &d, 1, &err), KINO_ENOSPC);
	CHECK_INT_EQ(spool_bytes(s), (long long)d->len * 2);
	bson_destroy(d);
	spool_close(s);
	tenv_rmtree(dir);
}

#define WRITER_BATCHES 300
#define WRITER_BATCH 3

typedef struct writer_arg {
	spool_t *s;
	int writer;
} writer_arg_t;

static void *append_main(void *arg)
{
	writer_arg_t *a = arg;
	char sid[8];
	bson_t *docs[WRITER_BATCH];
	kino_error_t err = {0};

	snprintf(sid, sizeof(sid), "w%d", a->writer); /* one session per writer */
	for (int b = 0; b < WRITER_BATCHES; b++) {
		for (int i = 0; i < WRITER_BATCH; i++)
			docs[i] = beacon_doc(sid, (long long)b * WRITER_BATCH + i);
		CHECK_MSG(spool_append(a->s, docs, WRITER_BATCH, &err) == 0, "%s",
			  err.message);
		for (int i = 0; i < WRITER_BATCH; i++)
			bson_destroy(docs[i]);
	}
	return NULL;
}

typedef struct seen {
	unsigned char n[2][WRITER_BATCHES * WRITER_BATCH];
} seen_t;

static int mark_seen(bson_t **docs, int n, void *ud)
{
	seen_t *sn = ud;
	bson_iter_t it;

	for (int i = 0; i < n; i++) {
		int writer;

		CHECK(bson_iter_init_find(&it, docs[i], "session_id"));
		writer = bson_iter_utf8(&it, NULL)[1] - '0';
		CHECK(writer == 0 || writer == 1);
		sn->n[writer][doc_seq(docs[i])]++;
	}
	return 0;
}

static void test_concurrent_writers(void)
{
	spool_t *s;
	kino_error_t err = {0};
	pthread_t th[2];
	writer_arg_t args[2];
	static seen_t sn;
	char base[512];

	tenv_tmpdir(base, sizeof(base), "spool-writers");
	snprintf(dir, sizeof(dir), "%s", base);
	s = spool_open(dir, 1LL << 30, &err);
	CHECK_MSG(s != NULL, "%s", err.message);
	for (int i = 0; i < 2; i++) {
		args[i] = (writer_arg_t){s, i};
		CHECK(pthread_create(&th[i], NULL, append_main, &args[i]) == 0);
	}
	/* replays close the segment being appended to under their feet */
	for (int i = 0; i < 50; i++) {
		spool_replay(s, 64, 1000, mark_seen, &sn);
		usleep(2000);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	spool_replay(s, 64, 1000, mark_seen, &sn);
	CHECK_INT_EQ(spool_bytes(s), 0);
	CHECK_INT_EQ(files_ending(".bson"), 0);
	for (int l = 0; l < 2; l++) {
		for (int q = 0; q < WRITER_BATCHES * WRITER_BATCH; q++)
			CHECK_MSG(sn.n[l][q] == 1, "writer %d seq %d replayed %d times", l, q, sn.n[l][q]);
	}
	spool_close(s);
	tenv_rmtree(dir);
}

int main(void)
{
	RUN_TEST(test_round_trip);
	RUN_TEST(test_torn_tail);
	RUN_TEST(test_corrupt_length);
	RUN_TEST(test_legacy_segments);
	RUN_TEST(test_full);
	RUN_TEST(test_concurrent_writers);
	return 0;
}
