/* The spool: where beacons go while MongoDB is slow or down, so that they
 * can be acknowledged anyway. Append-only segment files under the spool
 * directory, "seg-<number>.bson": the documents as they are, BSON one after
 * the other (the mongodump format, so bsondump reads a segment), because
 * turning each into extended JSON and back cost more CPU than everything
 * else a spooled beacon needs. A batch is written with one write() and
 * fsync'd before anyone is told it is durable; a write that fails is cut
 * back off, so a batch is in whole or not at all (and when even that fails,
 * the segment is closed so that the torn bytes stay its tail). A tail torn
 * by a crash was never fsync'd, so never acknowledged: replay stops there.
 *
 * Segments written by earlier versions, "seg-<number>.log" (one canonical
 * extended-JSON document a line), are still read, in the same numbering, so
 * an upgrade with a non-empty spool loses nothing.
 *
 * Replay closes the segment being appended to and feeds the closed ones,
 * oldest first, to a callback (the bulk insert); a segment is unlinked once
 * all of it went in. A segment with a malformed document before its tail
 * (disk corruption, not a crash) is replayed up to that document and then
 * renamed "<name>.bad" for an operator to look at, never deleted. Inserts
 * are idempotent on (session_id, seq), so replaying a segment twice (after
 * a crash mid-replay) is harmless.
 * Threads: every function may be called from any thread. */
#define KINO_LOG_MODULE "telemetry"
#include "telemetry_internal.h"

#include "kino/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct spool {
	pthread_mutex_t mu;
	char dir[4096];
	long long max_bytes;
	long long bytes;          /* every segment on disk */
	unsigned long long next;  /* number of the next segment to create */
	int fd;                   /* segment being appended to, or -1 */
	long long fd_size;
	bool replaying;
};

/* A segment on disk: its number orders it; legacy ones are JSON lines. */
typedef struct segment {
	unsigned long long num;
	bool legacy;
} segment_t;

static void seg_path(const spool_t *s, segment_t seg, char *out, size_t size)
{
	snprintf(out, size, "%s/seg-%016llu.%s", s->dir, seg.num, seg.legacy ? "log" : "bson");
}

/* Reads "seg-<number>.bson" or "seg-<number>.log" and nothing else (not a
 * "*.bad" left for an operator). */
static bool seg_parse(const char *name, segment_t *seg)
{
	int end = 0;

	if (sscanf(name, "seg-%llu%n", &seg->num, &end) != 1 || end == 0)
		return false;
	if (strcmp(name + end, ".bson") == 0)
		seg->legacy = false;
	else if (strcmp(name + end, ".log") == 0)
		seg->legacy = true;
	else
		return false;
	return true;
}

static int cmp_seg(const void *a, const void *b)
{
	const segment_t *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

/* The segments on disk, oldest first; caller frees. */
static segment_t *list_segments(const spool_t *s, size_t *n)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	segment_t *v = NULL, seg;
	size_t cap = 0;

	*n = 0;
	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (!seg_parse(e->d_name, &seg))
			continue;
		if (*n == cap) {
			segment_t *nv;
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		v[(*n)++] = seg;
	}
	closedir(d);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), cmp_seg);
	return v;
}

spool_t *spool_open(const char *dir, long long max_bytes, kino_error_t *err)
{
	spool_t *s = calloc(1, sizeof(*s));
	segment_t *segs = NULL;
	size_t n = 0;
	char path[4200];
	struct stat st;

	if (s == NULL) {
		kino_error_set(err, KINO_ENOMEM, "spool: out of memory");
		return NULL;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kino_error_set(err, KINO_EIO, "spool: cannot create %s: %s", dir, strerror(errno));
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->max_bytes = max_bytes;
	s->fd = -1;
	s->next = 1;
	segs = list_segments(s, &n);
	for (size_t i = 0; i < n; i++) {
		seg_path(s, segs[i], path, sizeof(path));
		if (stat(path, &st) == 0)
			s->bytes += st.st_size;
		if (segs[i].num >= s->next)
			s->next = segs[i].num + 1;
	}
	free(segs);
	if (s->bytes > 0)
		KINO_LOG_INFO("%s holds %lld bytes from an earlier run; they will be replayed",
			      dir, s->bytes);
	return s;
}

void spool_close(spool_t *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

long long spool_bytes(spool_t *s)
{
	long long b;

	pthread_mutex_lock(&s->mu);
	b = s->bytes;
	pthread_mutex_unlock(&s->mu);
	return b;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Writes all of buf to fd: false (errno set) when it could not. */
static bool write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return false;
		}
		done += (size_t)w;
	}
	return true;
}

/* Opens a new segment to append to. Called with s->mu held. */
static int segment_create(spool_t *s, kino_error_t *err)
{
	char path[4200];

	seg_path(s, (segment_t){.num = s->next++}, path, sizeof(path));
	s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	s->fd_size = 0;
	if (s->fd < 0)
		return kino_error_set(err, KINO_EIO, "spool: cannot create %s: %s", path,
				      strerror(errno));
	fsync_dir(s->dir);
	return 0;
}

int spool_append(spool_t *s, bson_t *const *docs, int n, kino_error_t *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = 0;

	for (int i = 0; i < n; i++)
		len += docs[i]->len;
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return kino_error_set(err, KINO_ENOMEM, "spool: out of memory");
	len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(buf + len, bson_get_data(docs[i]), docs[i]->len);
		len += docs[i]->len;
	}
	pthread_mutex_lock(&s->mu);
	if (s->bytes + (long long)len > s->max_bytes) {
		ret = kino_error_set(err, KINO_ENOSPC, "spool is full (%lld of %lld bytes)",
				     s->bytes, s->max_bytes);
		goto unlock;
	}
	if (s->fd < 0 && (ret = segment_create(s, err)) != 0)
		goto unlock;
	if (!write_all(s->fd, buf, len) || fsync(s->fd) != 0) {
		ret = kino_error_set(err, KINO_EIO, "spool: write failed: %s", strerror(errno));
		if (ftruncate(s->fd, s->fd_size) != 0) {
			/* What was written stays, unacknowledged: the segment ends
			 * there, so that no later batch follows a torn document.
			 * Whole documents of it are replayed (harmless: inserts
			 * are idempotent, and the client sends them again). */
			struct stat st;

			KINO_LOG_ERROR("cannot cut a failed write off the spool: %s",
				       strerror(errno));
			if (fstat(s->fd, &st) == 0 && st.st_size > s->fd_size)
				s->bytes += st.st_size - s->fd_size;
			close(s->fd);
			s->fd = -1;
		}
		goto unlock;
	}
	s->fd_size += (long long)len;
	s->bytes += (long long)len;
	if (s->fd_size >= SPOOL_SEGMENT_BYTES) {
		close(s->fd);
		s->fd = -1;
	}
unlock:
	pthread_mutex_unlock(&s->mu);
	free(buf);
	return ret;
}

/* Reads a whole segment; caller frees. */
static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)sz + 1);
		if (buf != NULL) {
			*len = fread(buf, 1, (size_t)sz, f);
			buf[*len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

typedef int (*doc_fn)(bson_t *doc, void *ud); /* takes doc */

/* A legacy segment: calls fn(doc) for each complete, readable line. */
static int each_json_doc(const char *path, const char *buf, size_t len, doc_fn fn, void *ud)
{
	const char *p, *nl;
	int ret = 0;

	for (p = buf; ret == 0 && (nl = memchr(p, '\n', len - (size_t)(p - buf))) != NULL; p = nl + 1) {
		bson_t *doc;
		bson_error_t berr;

		doc = bson_new_from_json((const uint8_t *)p, nl - p, &berr);
		if (doc == NULL) {
			KINO_LOG_WARN("%s: skipping an unreadable line: %s", path, berr.message);
			continue;
		}
		ret = fn(doc, ud);
	}
	return ret;
}

#define SPOOL_DOC_MAX (16 << 20) /* MongoDB's own limit on a document */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

/* The length of the BSON document at p (avail bytes there), 0 when there
 * is no whole, valid document: a torn tail when *torn, corruption
 * otherwise. A tail of zeros is torn too: a crash can leave a file longer
 * than the data that reached the disk. */
static uint32_t bson_doc_at(const uint8_t *p, size_t avail, bool *torn)
{
	uint32_t dl;
	bson_t view;

	*torn = true;
	if (avail < 4 || all_zero(p, avail))
		return 0;
	dl = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	if (dl > avail && dl <= SPOOL_DOC_MAX)
		return 0;
	*torn = false;
	if (dl < 5 || dl > SPOOL_DOC_MAX || !bson_init_static(&view, p, dl) ||
	    !bson_validate(&view, BSON_VALIDATE_UTF8, NULL))
		return 0;
	return dl;
}

/* A BSON segment: calls fn(doc) for each whole document, up to a torn
 * tail. *corrupt is set when a malformed document ends it early. */
static int each_bson_doc(const char *path, const char *buf, size_t len, doc_fn fn, void *ud,
			 bool *corrupt)
{
	const uint8_t *p = (const uint8_t *)buf;
	size_t off = 0;
	int ret = 0;

	while (ret == 0 && off < len) {
		bool torn;
		uint32_t dl = bson_doc_at(p + off, len - off, &torn);
		bson_t *doc;

		if (dl == 0) {
			if (torn) {
				KINO_LOG_WARN("%s: %zu bytes of a batch torn by a crash at offset %zu "
					      "(never acknowledged)", path, len - off, off);
			} else {
				KINO_LOG_ERROR("%s: a malformed document at offset %zu; %zu bytes "
					       "from there cannot be read", path, off, len - off);
				*corrupt = true;
			}
			break;
		}
		doc = bson_new_from_data(p + off, dl);
		if (doc == NULL)
			return KINO_ENOMEM;
		ret = fn(doc, ud);
		off += dl;
	}
	return ret;
}

/* Calls fn(doc) for each document of a segment. Returns non-zero as soon
 * as fn does. */
static int each_doc(const char *path, segment_t seg, doc_fn fn, void *ud, bool *corrupt)
{
	size_t len;
	char *buf = read_all(path, &len);
	int ret;

	*corrupt = false;
	if (buf == NULL)
		return 0;
	if (seg.legacy)
		ret = each_json_doc(path, buf, len, fn, ud);
	else
		ret = each_bson_doc(path, buf, len, fn, ud, corrupt);
	free(buf);
	return ret;
}

typedef struct chunker {
	bson_t **docs;
	int n, max;
	long long total;
	spool_chunk_fn fn;
	void *ud;
} chunker_t;

static int chunk_flush(chunker_t *c)
{
	int r = 0;

	if (c->n > 0)
		r = c->fn(c->docs, c->n, c->ud);
	if (r == 0)
		c->total += c->n;
	for (int i = 0; i < c->n; i++)
		bson_destroy(c->docs[i]);
	c->n = 0;
	return r;
}

/* Forgets the documents read since the last flush (the segment stays and
 * is replayed again later). */
static void chunk_discard(chunker_t *c)
{
	for (int i = 0; i < c->n; i++)
		bson_destroy(c->docs[i]);
	c->n = 0;
}

static int chunk_doc(bson_t *doc, void *ud)
{
	chunker_t *c = ud;

	c->docs[c->n++] = doc;
	return c->n == c->max ? chunk_flush(c) : 0;
}

/* A replayed segment leaves the spool: deleted, or kept aside as .bad. */
static void segment_retire(spool_t *s, const char *path, long long size, bool corrupt)
{
	char bad[4300];

	if (corrupt) {
		snprintf(bad, sizeof(bad), "%s.bad", path);
		if (rename(path, bad) != 0)
			KINO_LOG_ERROR("cannot rename %s: %s", path, strerror(errno));
		else
			KINO_LOG_ERROR("kept what could not be read as %s", bad);
	} else {
		unlink(path);
	}
	pthread_mutex_lock(&s->mu);
	s->bytes -= size;
	if (s->bytes < 0)
		s->bytes = 0;
	pthread_mutex_unlock(&s->mu);
}

long long spool_replay(spool_t *s, int chunk, int max_segments, spool_chunk_fn fn, void *ud)
{
	segment_t *segs;
	size_t n = 0;
	chunker_t c = {.max = chunk > 0 ? chunk : 500, .fn = fn, .ud = ud};
	char path[4200];

	pthread_mutex_lock(&s->mu);
	if (s->replaying || s->bytes == 0) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	s->replaying = true;
	if (s->fd >= 0) { /* close it: new appends start a new segment */
		close(s->fd);
		s->fd = -1;
	}
	segs = list_segments(s, &n);
	pthread_mutex_unlock(&s->mu);

	c.docs = calloc((size_t)c.max, sizeof(*c.docs));
	for (size_t i = 0; c.docs != NULL && i < n && (int)i < max_segments; i++) {
		struct stat st;
		bool corrupt;
		int r;

		seg_path(s, segs[i], path, sizeof(path));
		if (stat(path, &st) != 0)
			continue;
		/* a non-zero r comes from a failed chunk_flush, which has
		 * freed its documents already, or from a lack of memory */
		r = each_doc(path, segs[i], chunk_doc, &c, &corrupt);
		if (r == 0)
			r = chunk_flush(&c);
		else
			chunk_discard(&c);
		if (r != 0)
			break;
		segment_retire(s, path, st.st_size, corrupt);
	}
	free(c.docs);
	free(segs);
	pthread_mutex_lock(&s->mu);
	s->replaying = false;
	pthread_mutex_unlock(&s->mu);
	return c.total;
}

typedef struct scanner {
	void (*fn)(const bson_t *doc, void *ud);
	void *ud;
} scanner_t;

static int scan_doc(bson_t *doc, void *ud)
{
	scanner_t *sc = ud;

	sc->fn(doc, sc->ud);
	bson_destroy(doc);
	return 0;
}

void spool_scan(spool_t *s, void (*fn)(const bson_t *doc, void *ud), void *ud)
{
	segment_t *segs;
	size_t n = 0;
	scanner_t sc = {fn, ud};
	char path[4200];
	bool corrupt;

	pthread_mutex_lock(&s->mu);
	segs = list_segments(s, &n);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		seg_path(s, segs[i], path, sizeof(path));
		each_doc(path, segs[i], scan_doc, &sc, &corrupt);
	}
	free(segs);
}
