/* The spool: where beacons go while MongoDB is slow or down, so that they
 * can be acknowledged anyway. Append-only segment files under the spool
 * directory, "seg-<number>.log", one document a line in canonical extended
 * JSON (types survive the round trip). A batch is written with one write()
 * and fsync'd before anyone is told it is durable; a write that fails is
 * cut back off, so a batch is in whole or not at all. A line torn by a
 * crash was never fsync'd, so never acknowledged: replay skips it.
 *
 * Replay closes the segment being appended to and feeds the closed ones,
 * oldest first, to a callback (the bulk insert); a segment is unlinked once
 * all of it went in. Inserts are idempotent on (session_id, seq), so
 * replaying a segment twice (after a crash mid-replay) is harmless.
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

static void seg_path(const spool_t *s, unsigned long long n, char *out, size_t size)
{
	snprintf(out, size, "%s/seg-%016llu.log", s->dir, n);
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
	return x < y ? -1 : x > y;
}

/* The numbers of the segments on disk, sorted; caller frees. */
static unsigned long long *list_segments(const spool_t *s, size_t *n)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	unsigned long long *v = NULL, num;
	size_t cap = 0;

	*n = 0;
	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (sscanf(e->d_name, "seg-%llu.log", &num) != 1)
			continue;
		if (*n == cap) {
			unsigned long long *nv;
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		v[(*n)++] = num;
	}
	closedir(d);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), cmp_ull);
	return v;
}

spool_t *spool_open(const char *dir, long long max_bytes, kino_error_t *err)
{
	spool_t *s = calloc(1, sizeof(*s));
	unsigned long long *segs = NULL;
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
		if (segs[i] >= s->next)
			s->next = segs[i] + 1;
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

int spool_append(spool_t *s, bson_t *const *docs, int n, kino_error_t *err)
{
	char *buf = NULL, path[4200];
	size_t len = 0, cap = 0;
	int ret = 0;

	for (int i = 0; i < n; i++) {
		size_t jl;
		char *j = bson_as_canonical_extended_json(docs[i], &jl);

		if (j == NULL) {
			ret = kino_error_set(err, KINO_EIO, "spool: a document cannot be written as JSON");
			goto out;
		}
		if (len + jl + 1 > cap) {
			char *nb;
			cap = (len + jl + 1) * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				bson_free(j);
				ret = kino_error_set(err, KINO_ENOMEM, "spool: out of memory");
				goto out;
			}
			buf = nb;
		}
		memcpy(buf + len, j, jl);
		buf[len + jl] = '\n';
		len += jl + 1;
		bson_free(j);
	}
	pthread_mutex_lock(&s->mu);
	if (s->bytes + (long long)len > s->max_bytes) {
		pthread_mutex_unlock(&s->mu);
		ret = kino_error_set(err, KINO_ENOSPC, "spool is full (%lld of %lld bytes)",
				     s->bytes, s->max_bytes);
		goto out;
	}
	if (s->fd < 0) {
		seg_path(s, s->next++, path, sizeof(path));
		s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		s->fd_size = 0;
		if (s->fd < 0) {
			ret = kino_error_set(err, KINO_EIO, "spool: cannot create %s: %s", path,
					     strerror(errno));
			pthread_mutex_unlock(&s->mu);
			goto out;
		}
		fsync_dir(s->dir);
	}
	{
		size_t done = 0;
		while (done < len) {
			ssize_t w = write(s->fd, buf + done, len - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			done += (size_t)w;
		}
		if (done < len || fsync(s->fd) != 0) {
			ret = kino_error_set(err, KINO_EIO, "spool: write failed: %s", strerror(errno));
			if (ftruncate(s->fd, s->fd_size) != 0)
				KINO_LOG_ERROR("cannot cut a failed write off the spool: %s",
					       strerror(errno));
		} else {
			s->fd_size += (long long)len;
			s->bytes += (long long)len;
			if (s->fd_size >= SPOOL_SEGMENT_BYTES) {
				close(s->fd);
				s->fd = -1;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
out:
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

/* Calls line(doc) for each complete, readable line of a segment. Returns
 * non-zero as soon as line does. */
static int each_doc(const char *path, int (*line)(bson_t *doc, void *ud), void *ud)
{
	size_t len;
	char *buf = read_all(path, &len), *p, *nl;
	int ret = 0;

	if (buf == NULL)
		return 0;
	for (p = buf; ret == 0 && (nl = memchr(p, '\n', len - (size_t)(p - buf))) != NULL; p = nl + 1) {
		bson_t *doc;
		bson_error_t berr;

		doc = bson_new_from_json((const uint8_t *)p, nl - p, &berr);
		if (doc == NULL) {
			KINO_LOG_WARN("%s: skipping an unreadable line: %s", path, berr.message);
			continue;
		}
		ret = line(doc, ud); /* takes doc */
	}
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

static int chunk_line(bson_t *doc, void *ud)
{
	chunker_t *c = ud;

	c->docs[c->n++] = doc;
	return c->n == c->max ? chunk_flush(c) : 0;
}

long long spool_replay(spool_t *s, int chunk, int max_segments, spool_chunk_fn fn, void *ud)
{
	unsigned long long *segs;
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
		int r;

		seg_path(s, segs[i], path, sizeof(path));
		if (stat(path, &st) != 0)
			continue;
		/* a non-zero r comes from a failed chunk_flush, which has
		 * freed its documents already */
		r = each_doc(path, chunk_line, &c);
		if (r == 0)
			r = chunk_flush(&c);
		if (r != 0)
			break;
		unlink(path);
		pthread_mutex_lock(&s->mu);
		s->bytes -= st.st_size;
		if (s->bytes < 0)
			s->bytes = 0;
		pthread_mutex_unlock(&s->mu);
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

static int scan_line(bson_t *doc, void *ud)
{
	scanner_t *sc = ud;

	sc->fn(doc, sc->ud);
	bson_destroy(doc);
	return 0;
}

void spool_scan(spool_t *s, void (*fn)(const bson_t *doc, void *ud), void *ud)
{
	unsigned long long *segs;
	size_t n = 0;
	scanner_t sc = {fn, ud};
	char path[4200];

	pthread_mutex_lock(&s->mu);
	segs = list_segments(s, &n);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		seg_path(s, segs[i], path, sizeof(path));
		each_doc(path, scan_line, &sc);
	}
	free(segs);
}
