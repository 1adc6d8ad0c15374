/* The model file: a versioned little-endian binary format (documented in
 * docs/recsys.md), written atomically and read as untrusted input.
 *
 *     header (416 bytes): magic "KINOALS1", format version,
 *         header length, shape, training parameters, data window, metrics,
 *         source
 *     int64 user ids [users], int64 item ids [items]   strictly increasing
 *     float32 user factors [users x factors], item factors [items x factors]
 *     (version 2) uint64 key bytes, then that many bytes: the users' and
 *         items' string keys, NUL-terminated, or nothing (0) without keys
 *     uint32 CRC-32 (the zlib polynomial) of every byte before it
 *
 * Version 2 writes; versions 1 and 2 read.
 *
 * The loader checks the magic and version, that the length the header
 * implies is exactly the file's length (with overflow-checked arithmetic,
 * before allocating anything), the checksum, that ids are in range and
 * strictly increasing, and that every factor is finite. Any failure is
 * EPARSE with what was wrong; nothing half-loaded escapes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "recsys_internal.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model_file.c writes arrays in host order, which must be little-endian"
#endif

#define MODEL_MAGIC "KINOALS1"
#define MODEL_FORMAT_VERSION 2
#define MODEL_HEADER_V1 416
#define MODEL_SOURCE_LEN 256

typedef struct crc32_state {
	uint32_t table[256];
	uint32_t crc;
} crc32_state_t;

static void crc32_init(crc32_state_t *c)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t v = i;
		for (int k = 0; k < 8; k++)
			v = (v & 1) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
		c->table[i] = v;
	}
	c->crc = 0xFFFFFFFFu;
}

static void crc32_update(crc32_state_t *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t crc = c->crc;

	for (size_t i = 0; i < len; i++)
		crc = c->table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
	c->crc = crc;
}

static uint32_t crc32_final(const crc32_state_t *c)
{
	return c->crc ^ 0xFFFFFFFFu;
}

/* A cursor over the header bytes; the host is little-endian (checked
 * above), so fields are copied as they are. */
typedef struct cursor {
	unsigned char *p;
} cursor_t;

#define PUT(cur, value)                                                        \
	do {                                                                   \
		__typeof__(value) put_v_ = (value);                            \
		memcpy((cur)->p, &put_v_, sizeof(put_v_));                     \
		(cur)->p += sizeof(put_v_);                                    \
	} while (0)

#define GET(cur, lvalue)                                                       \
	do {                                                                   \
		memcpy(&(lvalue), (cur)->p, sizeof(lvalue));                   \
		(cur)->p += sizeof(lvalue);                                    \
	} while (0)

static void header_encode(const kino_recsys_model_t *m,
			  unsigned char buf[MODEL_HEADER_V1])
{
	const kino_recsys_model_info_t *in = &m->info;
	cursor_t c = {buf};

	memset(buf, 0, MODEL_HEADER_V1);
	memcpy(c.p, MODEL_MAGIC, 8);
	c.p += 8;
	PUT(&c, (uint32_t)MODEL_FORMAT_VERSION);
	PUT(&c, (uint32_t)MODEL_HEADER_V1);
	PUT(&c, (uint64_t)m->n_users);
	PUT(&c, (uint64_t)m->n_items);
	PUT(&c, (uint32_t)m->factors);
	PUT(&c, in->iterations);
	PUT(&c, in->regularization);
	PUT(&c, in->alpha);
	PUT(&c, in->seed);
	PUT(&c, in->solver);
	PUT(&c, in->cg_steps);
	PUT(&c, in->created_at);
	PUT(&c, in->data_first_timestamp);
	PUT(&c, in->data_last_timestamp);
	PUT(&c, in->interactions);
	PUT(&c, in->train_seconds);
	PUT(&c, in->final_loss);
	PUT(&c, in->metrics.k);
	PUT(&c, in->metrics.users);
	PUT(&c, in->metrics.precision);
	PUT(&c, in->metrics.recall);
	PUT(&c, in->metrics.map);
	PUT(&c, in->metrics.ndcg);
	PUT(&c, in->metrics.coverage);
	/* source: NUL-padded; the last byte always stays NUL */
	memcpy(c.p, in->source, strnlen(in->source, MODEL_SOURCE_LEN - 1));
}

int kino_recsys_model_save(const kino_recsys_model_t *model, const char *path,
			   kino_error_t *err)
{
	unsigned char header[MODEL_HEADER_V1];
	recsys_atomic_file_t af;
	crc32_state_t crc;
	uint32_t sum;
	uint64_t key_bytes = model->key_blob_len;
	const struct {
		const void *data;
		size_t len;
	} parts[] = {
		{header, sizeof(header)},
		{model->user_ids, model->n_users * sizeof(int64_t)},
		{model->item_ids, model->n_items * sizeof(int64_t)},
		{model->user_factors, model->n_users * model->factors * sizeof(float)},
		{model->item_factors, model->n_items * model->factors * sizeof(float)},
		{&key_bytes, sizeof(key_bytes)},
		{model->key_blob, model->key_blob_len},
	};
	int ret = 0;

	header_encode(model, header);
	ret = recsys_atomic_open(path, &af, err);
	if (ret != 0)
		goto out;
	crc32_init(&crc);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (parts[i].len == 0)
			continue;
		crc32_update(&crc, parts[i].data, parts[i].len);
		if (fwrite(parts[i].data, 1, parts[i].len, af.fp) != parts[i].len) {
			ret = kino_error_set(err, KINO_EIO, "write %s: %s",
					     af.tmp_path, strerror(errno));
			recsys_atomic_abort(&af);
			goto out;
		}
	}
	sum = crc32_final(&crc);
	fwrite(&sum, sizeof(sum), 1, af.fp); /* checked by the commit's fflush */
	ret = recsys_atomic_commit(&af, path, err);
out:
	return ret;
}

/* Reads len bytes into dst, adding them to the checksum. */
static int read_part(FILE *fp, void *dst, size_t len, crc32_state_t *crc,
		     const char *path, const char *what, kino_error_t *err)
{
	if (fread(dst, 1, len, fp) != len)
		return kino_error_set(err, KINO_EPARSE,
				      "%s: truncated while reading the %s", path, what);
	crc32_update(crc, dst, len);
	return 0;
}

static int check_ids(const int64_t *ids, size_t n, const char *path,
		     const char *what, kino_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] > KINO_RECSYS_ID_MAX ||
		    (i > 0 && ids[i] <= ids[i - 1]))
			return kino_error_set(err, KINO_EPARSE,
					      "%s: %s id %zu (%lld) is out of "
					      "range or out of order", path, what,
					      i, (long long)ids[i]);
	}
	return 0;
}

static int check_finite(const float *v, size_t n, const char *path,
			const char *what, kino_error_t *err)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return kino_error_set(err, KINO_EPARSE,
					      "%s: %s factor %zu is not finite",
					      path, what, i);
	return 0;
}

int kino_recsys_model_load(const char *path, kino_recsys_model_t **out,
			   kino_error_t *err)
{
	FILE *fp = NULL;
	kino_recsys_model_t *model = NULL;
	unsigned char header[MODEL_HEADER_V1];
	kino_recsys_model_info_t info;
	struct stat st;
	crc32_state_t crc;
	uint32_t version, header_len, factors, stored_sum;
	uint64_t n_users, n_items, ids_bytes, factor_bytes, expected, key_bytes = 0;
	char *keys = NULL;
	cursor_t c = {header};
	int ret = 0;

	*out = NULL;
	memset(&info, 0, sizeof(info));
	fp = fopen(path, "rb");
	if (fp == NULL) {
		ret = kino_error_set(err, errno == ENOENT ? KINO_ENOENT : KINO_EIO,
				     "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		ret = kino_error_set(err, KINO_EIO, "%s: not a regular file", path);
		goto out;
	}
	crc32_init(&crc);
	if (fread(header, 1, 16, fp) != 16 || memcmp(header, MODEL_MAGIC, 8) != 0) {
		ret = kino_error_set(err, KINO_EPARSE,
				     "%s: not a Kino model file (bad magic)", path);
		goto out;
	}
	c.p += 8;
	GET(&c, version);
	GET(&c, header_len);
	if (version != 1 && version != 2) {
		ret = kino_error_set(err, KINO_EUNSUPPORTED,
				     "%s: model format version %u, this build "
				     "reads versions 1 and 2", path, version);
		goto out;
	}
	if (header_len != MODEL_HEADER_V1) {
		ret = kino_error_set(err, KINO_EPARSE,
				     "%s: header length %u, version %u has %d",
				     path, header_len, version, MODEL_HEADER_V1);
		goto out;
	}
	if (fread(header + 16, 1, MODEL_HEADER_V1 - 16, fp) != MODEL_HEADER_V1 - 16) {
		ret = kino_error_set(err, KINO_EPARSE, "%s: truncated header", path);
		goto out;
	}
	crc32_update(&crc, header, sizeof(header));
	GET(&c, n_users);
	GET(&c, n_items);
	GET(&c, factors);
	GET(&c, info.iterations);
	GET(&c, info.regularization);
	GET(&c, info.alpha);
	GET(&c, info.seed);
	GET(&c, info.solver);
	GET(&c, info.cg_steps);
	GET(&c, info.created_at);
	GET(&c, info.data_first_timestamp);
	GET(&c, info.data_last_timestamp);
	GET(&c, info.interactions);
	GET(&c, info.train_seconds);
	GET(&c, info.final_loss);
	GET(&c, info.metrics.k);
	GET(&c, info.metrics.users);
	GET(&c, info.metrics.precision);
	GET(&c, info.metrics.recall);
	GET(&c, info.metrics.map);
	GET(&c, info.metrics.ndcg);
	GET(&c, info.metrics.coverage);
	if (c.p[MODEL_SOURCE_LEN - 1] != '\0') {
		ret = kino_error_set(err, KINO_EPARSE,
				     "%s: source string not terminated", path);
		goto out;
	}
	memcpy(info.source, c.p, MODEL_SOURCE_LEN);

	/* Sizes: every product is bounded before it is formed. */
	if (factors < 1 || factors > KINO_RECSYS_FACTORS_MAX ||
	    n_users < 1 || n_users > UINT32_MAX || n_items < 1 ||
	    n_items > UINT32_MAX || !isfinite(info.regularization) ||
	    !(info.regularization > 0.0f) || !isfinite(info.alpha) ||
	    info.alpha < 0.0f) {
		ret = kino_error_set(err, KINO_EPARSE,
				     "%s: implausible shape or parameters "
				     "(%llu users, %llu items, %u factors)", path,
				     (unsigned long long)n_users,
				     (unsigned long long)n_items, factors);
		goto out;
	}
	ids_bytes = (n_users + n_items) * 8;
	factor_bytes = (n_users + n_items) * factors * 4;
	expected = MODEL_HEADER_V1 + ids_bytes + factor_bytes + 4;
	if (version >= 2) {
		/* the key length sits after the factors; read it first so the
		 * total can be checked before anything is allocated */
		expected += 8;
		if ((uint64_t)st.st_size < expected ||
		    fseeko(fp, (off_t)(expected - 12), SEEK_SET) != 0 ||
		    fread(&key_bytes, 8, 1, fp) != 1 ||
		    fseeko(fp, MODEL_HEADER_V1, SEEK_SET) != 0) {
			ret = kino_error_set(err, KINO_EPARSE,
					     "%s: %lld bytes, too short for the shape the "
					     "header describes (truncated or corrupt)", path,
					     (long long)st.st_size);
			goto out;
		}
		if (key_bytes > (uint64_t)st.st_size) {
			ret = kino_error_set(err, KINO_EPARSE, "%s: key table of %llu bytes "
					     "is longer than the file", path,
					     (unsigned long long)key_bytes);
			goto out;
		}
		expected += key_bytes;
	}
	if ((uint64_t)st.st_size != expected) {
		ret = kino_error_set(err, KINO_EPARSE,
				     "%s: %lld bytes, but the header describes "
				     "%llu (truncated or corrupt)", path,
				     (long long)st.st_size,
				     (unsigned long long)expected);
		goto out;
	}
	ret = recsys_model_alloc((size_t)n_users, (size_t)n_items, factors, &model,
				 err);
	if (ret != 0)
		goto out;
	ret = read_part(fp, model->user_ids, n_users * 8, &crc, path, "user ids", err);
	if (ret == 0)
		ret = read_part(fp, model->item_ids, n_items * 8, &crc, path,
				"item ids", err);
	if (ret == 0)
		ret = read_part(fp, model->user_factors, n_users * factors * 4,
				&crc, path, "user factors", err);
	if (ret == 0)
		ret = read_part(fp, model->item_factors, n_items * factors * 4,
				&crc, path, "item factors", err);
	if (ret == 0 && version >= 2) {
		uint64_t again;
		ret = read_part(fp, &again, 8, &crc, path, "key length", err);
		if (ret == 0 && key_bytes > 0) {
			keys = malloc((size_t)key_bytes);
			if (keys == NULL)
				ret = kino_error_set(err, KINO_ENOMEM, "%s: out of memory for keys",
						     path);
			else
				ret = read_part(fp, keys, (size_t)key_bytes, &crc, path, "keys", err);
		}
	}
	if (ret != 0)
		goto out;
	if (fread(&stored_sum, sizeof(stored_sum), 1, fp) != 1) {
		ret = kino_error_set(err, KINO_EPARSE, "%s: truncated checksum", path);
		goto out;
	}
	if (stored_sum != crc32_final(&crc)) {
		ret = kino_error_set(err, KINO_EPARSE,
				     "%s: checksum mismatch (file corrupt)", path);
		goto out;
	}
	ret = check_ids(model->user_ids, model->n_users, path, "user", err);
	if (ret == 0)
		ret = check_ids(model->item_ids, model->n_items, path, "item", err);
	if (ret == 0)
		ret = check_finite(model->user_factors, model->n_users * factors,
				   path, "user", err);
	if (ret == 0)
		ret = check_finite(model->item_factors, model->n_items * factors,
				   path, "item", err);
	if (ret == 0 && keys != NULL) {
		ret = recsys_model_adopt_keys(model, keys, (size_t)key_bytes, err);
		keys = NULL; /* adopted or freed */
		if (ret != 0) {
			kino_error_prefix(err, "%s", path);
			ret = KINO_EPARSE;
			if (err != NULL)
				err->code = KINO_EPARSE;
		}
	}
	if (ret != 0)
		goto out;
	info.format_version = version;
	info.factors = factors;
	model->info = info;
	recsys_model_update_cache(model);
	*out = model;
	model = NULL;
out:
	free(keys);
	kino_recsys_model_destroy(model);
	if (fp != NULL)
		fclose(fp);
	return ret;
}
