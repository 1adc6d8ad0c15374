/* Ratings files: MovieLens CSV (`userId,movieId,rating,timestamp`, header
 * line) and MovieLens `u.data` (tab-separated, no header), read into a
 * kino_recsys_ratings_t with the file's own ids; CSV writing; and the fixed
 * per-user train/test split used by evaluation.
 *
 * The files come from outside, so parsing is strict: every line has exactly
 * four fields, ids are integers in 0..KINO_RECSYS_ID_MAX, ratings finite
 * and not negative, timestamps integers. The first bad line stops the parse
 * with its line number; nothing is skipped silently. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "recsys_internal.h"

#define RATINGS_FILE_MAX (UINT64_C(4) << 30)
#define FIELD_MAX 64

void kino_recsys_ratings_init(kino_recsys_ratings_t *ratings)
{
	memset(ratings, 0, sizeof(*ratings));
}

void kino_recsys_ratings_close(kino_recsys_ratings_t *ratings)
{
	if (ratings == NULL)
		return;
	free(ratings->rows);
	memset(ratings, 0, sizeof(*ratings));
}

int kino_recsys_ratings_append(kino_recsys_ratings_t *ratings,
			       const kino_recsys_rating_t *row, kino_error_t *err)
{
	if (ratings->count == ratings->capacity) {
		size_t cap = ratings->capacity ? ratings->capacity * 2 : 1024;
		kino_recsys_rating_t *grown =
			realloc(ratings->rows, cap * sizeof(*grown));
		if (grown == NULL)
			return kino_error_set(err, KINO_ENOMEM,
					      "ratings: out of memory at %zu rows",
					      ratings->count);
		ratings->rows = grown;
		ratings->capacity = cap;
	}
	ratings->rows[ratings->count++] = *row;
	return 0;
}

/* Copies field [s, s+len) into buf as a C string; false when too long. */
static int field_copy(const char *s, size_t len, char buf[FIELD_MAX])
{
	if (len == 0 || len >= FIELD_MAX)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

static int parse_integer(const char *s, size_t len, int64_t min, int64_t max,
			 int64_t *out)
{
	char buf[FIELD_MAX];
	char *end;
	long long v;

	if (field_copy(s, len, buf) != 0 || buf[0] == ' ' || buf[0] == '+')
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_rating(const char *s, size_t len, float *out)
{
	char buf[FIELD_MAX];
	char *end;
	float v;

	if (field_copy(s, len, buf) != 0 || buf[0] == ' ')
		return -1;
	errno = 0;
	v = strtof(buf, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0.0f)
		return -1;
	*out = v;
	return 0;
}

/* Parses one data line of exactly four sep-separated fields into row, or
 * fills err with "name:lineno: why". */
static int parse_line(const char *line, size_t len, char sep, const char *name,
		      size_t lineno, kino_recsys_rating_t *row, kino_error_t *err)
{
	static const char *const field_names[4] = {"user id", "item id",
						   "rating", "timestamp"};
	const char *field[4];
	size_t field_len[4];
	size_t nfields = 0;
	const char *p = line;
	const char *end = line + len;

	while (nfields < 4) {
		const char *stop = memchr(p, sep, (size_t)(end - p));
		if (stop == NULL)
			stop = end;
		field[nfields] = p;
		field_len[nfields] = (size_t)(stop - p);
		nfields++;
		if (stop == end)
			break;
		p = stop + 1;
	}
	if (nfields != 4 || field[3] + field_len[3] != end)
		return kino_error_set(err, KINO_EPARSE,
				      "%s:%zu: expected 4 %s-separated fields "
				      "(user, item, rating, timestamp)",
				      name, lineno, sep == '\t' ? "tab" : "comma");
	for (int i = 0; i < 4; i++) {
		int bad;
		if (i == 0)
			bad = parse_integer(field[i], field_len[i], 0,
					    KINO_RECSYS_ID_MAX, &row->user);
		else if (i == 1)
			bad = parse_integer(field[i], field_len[i], 0,
					    KINO_RECSYS_ID_MAX, &row->item);
		else if (i == 2)
			bad = parse_rating(field[i], field_len[i], &row->value);
		else
			bad = parse_integer(field[i], field_len[i], INT64_MIN,
					    INT64_MAX, &row->timestamp);
		if (bad)
			return kino_error_set(
				err, KINO_EPARSE,
				"%s:%zu: bad %s '%.*s' (%s)", name, lineno,
				field_names[i],
				(int)(field_len[i] > 40 ? 40 : field_len[i]),
				field[i],
				i < 2 ? "want an integer 0..2147483647"
				: i == 2 ? "want a finite number >= 0"
					 : "want an integer");
	}
	return 0;
}

int kino_recsys_ratings_parse(const char *text, size_t len, const char *name,
			      kino_recsys_ratings_t *out, kino_error_t *err)
{
	const char *p = text;
	const char *end = text + len;
	size_t lineno = 0;
	size_t parsed = 0;
	char sep = ',';
	int ret = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line = p;
		size_t line_len = (size_t)((nl ? nl : end) - p);
		kino_recsys_rating_t row;

		p = nl ? nl + 1 : end;
		lineno++;
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		if (memchr(line, '\0', line_len) != NULL) {
			ret = kino_error_set(err, KINO_EPARSE,
					     "%s:%zu: NUL byte (binary file?)",
					     name, lineno);
			goto out;
		}
		if (lineno == 1) {
			/* The first line tells the format: tabs mean u.data;
			 * a CSV header starts with a letter. */
			if (memchr(line, '\t', line_len) != NULL)
				sep = '\t';
			else if (line_len > 0 &&
				 ((line[0] >= 'a' && line[0] <= 'z') ||
				  (line[0] >= 'A' && line[0] <= 'Z'))) {
				if (memchr(line, ',', line_len) == NULL) {
					ret = kino_error_set(
						err, KINO_EPARSE,
						"%s:1: neither a CSV header nor "
						"tab-separated ratings", name);
					goto out;
				}
				continue;
			}
		}
		if (line_len == 0) {
			ret = kino_error_set(err, KINO_EPARSE, "%s:%zu: empty line",
					     name, lineno);
			goto out;
		}
		ret = parse_line(line, line_len, sep, name, lineno, &row, err);
		if (ret != 0)
			goto out;
		ret = kino_recsys_ratings_append(out, &row, err);
		if (ret != 0)
			goto out;
		parsed++;
	}
	if (parsed == 0)
		ret = kino_error_set(err, KINO_EPARSE, "%s: no ratings in the file",
				     name);
out:
	return ret;
}

int kino_recsys_ratings_read(const char *path, kino_recsys_ratings_t *out,
			     kino_error_t *err)
{
	int fd = -1;
	char *text = NULL;
	struct stat st;
	size_t have = 0;
	int ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = kino_error_set(err, errno == ENOENT ? KINO_ENOENT : KINO_EIO,
				     "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ret = kino_error_set(err, KINO_EIO, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > RATINGS_FILE_MAX) {
		ret = kino_error_set(err, KINO_ETOOBIG,
				     "%s: %lld bytes, more than 4 GiB", path,
				     (long long)st.st_size);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	while (have < (size_t)st.st_size) {
		ssize_t n = read(fd, text + have, (size_t)st.st_size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = kino_error_set(err, KINO_EIO, "%s: read: %s", path,
					     n == 0 ? "file shrank" : strerror(errno));
			goto out;
		}
		have += (size_t)n;
	}
	ret = kino_recsys_ratings_parse(text, have, path, out, err);
out:
	free(text);
	if (fd >= 0)
		close(fd);
	return ret;
}

int kino_recsys_ratings_write_csv(const char *path,
				  const kino_recsys_ratings_t *ratings,
				  kino_error_t *err)
{
	recsys_atomic_file_t af;
	int ret = 0;

	ret = recsys_atomic_open(path, &af, err);
	if (ret != 0)
		goto out;
	fputs("userId,movieId,rating,timestamp\n", af.fp);
	for (size_t i = 0; i < ratings->count; i++) {
		const kino_recsys_rating_t *r = &ratings->rows[i];
		fprintf(af.fp, "%lld,%lld,%.7g,%lld\n", (long long)r->user,
			(long long)r->item, (double)r->value,
			(long long)r->timestamp);
	}
	ret = recsys_atomic_commit(&af, path, err);
out:
	return ret;
}

/* A row and where it was, sorted by user and then by content so that a
 * user's group is the same whatever order the file had. */
typedef struct split_entry {
	kino_recsys_rating_t row;
	size_t index;
} split_entry_t;

static int cmp_split_entry(const void *a, const void *b)
{
	const kino_recsys_rating_t *x = &((const split_entry_t *)a)->row;
	const kino_recsys_rating_t *y = &((const split_entry_t *)b)->row;

	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	if (x->item != y->item)
		return x->item < y->item ? -1 : 1;
	if (x->timestamp != y->timestamp)
		return x->timestamp < y->timestamp ? -1 : 1;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return 0;
}

int kino_recsys_ratings_split(const kino_recsys_ratings_t *ratings,
			      uint64_t seed, double test_fraction,
			      kino_recsys_ratings_t *train,
			      kino_recsys_ratings_t *test, kino_error_t *err)
{
	split_entry_t *order = NULL;
	unsigned char *to_test = NULL;
	size_t n = ratings->count;
	int ret = 0;

	if (!(test_fraction >= 0.0 && test_fraction < 1.0)) {
		ret = kino_error_set(err, KINO_EINVAL,
				     "split: test fraction %g is not in [0, 1)",
				     test_fraction);
		goto out;
	}
	order = malloc((n ? n : 1) * sizeof(*order));
	to_test = calloc(n ? n : 1, 1);
	if (order == NULL || to_test == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "split: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		order[i].row = ratings->rows[i];
		order[i].index = i;
	}
	qsort(order, n, sizeof(*order), cmp_split_entry);
	for (size_t lo = 0; lo < n;) {
		size_t hi = lo;
		int64_t user = order[lo].row.user;
		uint64_t state = seed ^ ((uint64_t)user * UINT64_C(0xD6E8FEB86659FD93));
		size_t count, n_test;

		while (hi < n && order[hi].row.user == user)
			hi++;
		count = hi - lo;
		for (size_t i = count; i > 1; i--) { /* Fisher-Yates */
			size_t j = (size_t)(recsys_rand_next(&state) % i);
			split_entry_t t = order[lo + i - 1];
			order[lo + i - 1] = order[lo + j];
			order[lo + j] = t;
		}
		n_test = (size_t)llround(test_fraction * (double)count);
		if (count >= 2 && n_test == 0 && test_fraction > 0.0)
			n_test = 1;
		if (count >= 1 && n_test >= count)
			n_test = count - 1;
		for (size_t i = 0; i < n_test; i++)
			to_test[order[lo + i].index] = 1;
		lo = hi;
	}
	for (size_t i = 0; i < n; i++) {
		ret = kino_recsys_ratings_append(to_test[i] ? test : train,
						 &ratings->rows[i], err);
		if (ret != 0)
			goto out;
	}
out:
	free(to_test);
	free(order);
	return ret;
}
