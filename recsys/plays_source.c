/* Learning from telemetry's plays: the strength of a (viewer, title) pair,
 * reading `plays` into keyed interactions, and training a model on them
 * (see "learning from plays" in include/kino/recsys.h and docs/recsys.md).
 *
 * Reading is one pass over the plays in the window with a projection of the
 * six fields used; the rows are then sorted by (viewer, title) so that each
 * pair is folded once, and the viewers and titles are numbered in key order,
 * which is the order a keyed model needs. */
#include "kino/db.h"
#include "kino/recsys.h"

#include "plays_doc.h"
#include "recsys_internal.h"

#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEANINGFUL_FRACTION 0.05
#define MEANINGFUL_WATCH_MS 30000
#define SHORT_TITLE_MS 120000
#define COMPLETED_FRACTION 0.95
#define STRENGTH_CAP 5.0f
#define IMPRESSION 0.1f

void kino_recsys_pair_add(kino_recsys_pair_t *pair, const kino_recsys_play_t *play)
{
	double c = play->completion;
	bool completed = play->completed || c >= COMPLETED_FRACTION;
	int64_t need_ms = MEANINGFUL_WATCH_MS;

	if (play->duration_ms > 0 && play->duration_ms < SHORT_TITLE_MS)
		need_ms = play->duration_ms / 4;
	if (c > 1.0)
		c = 1.0;
	if (completed && c < 1.0)
		c = 1.0;
	if (c > pair->best_completion)
		pair->best_completion = (float)c;
	pair->plays++;
	if (completed)
		pair->completions++;
	if (completed || (c >= MEANINGFUL_FRACTION && play->watch_ms >= need_ms))
		pair->meaningful = true;
}

float kino_recsys_pair_strength(const kino_recsys_pair_t *pair)
{
	float r;

	if (pair->plays == 0)
		return 0.0f;
	if (!pair->meaningful)
		return IMPRESSION;
	r = pair->best_completion + (float)pair->completions + 0.5f * (float)(pair->plays - 1);
	return r > STRENGTH_CAP ? STRENGTH_CAP : r;
}

void kino_recsys_keyed_close(kino_recsys_keyed_t *k)
{
	if (k == NULL)
		return;
	kino_recsys_ratings_close(&k->ratings);
	for (size_t i = 0; i < k->n_users; i++)
		free(k->users[i]);
	for (size_t i = 0; i < k->n_items; i++)
		free(k->items[i]);
	free(k->users);
	free(k->items);
	memset(k, 0, sizeof(*k));
}

/* A key as a model stores it: 1..64 printable ASCII bytes. */
static bool key_copy(char *dst, const bson_iter_t *it)
{
	uint32_t len;
	const char *s;

	if (!BSON_ITER_HOLDS_UTF8(it))
		return false;
	s = bson_iter_utf8(it, &len);
	if (len == 0 || len > KINO_RECSYS_KEY_MAX)
		return false;
	for (uint32_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

static double number(const bson_iter_t *it, double fallback)
{
	return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_double(it) : fallback;
}

/* The _id of a play names it in the home view's index; 0 means none. */
static uint64_t id_hash(const bson_iter_t *it)
{
	uint64_t h;

	if (BSON_ITER_HOLDS_UTF8(it)) {
		uint32_t len = 0;
		const char *s = bson_iter_utf8(it, &len);
		h = recsys_fnv1a(s, len);
	} else if (BSON_ITER_HOLDS_OID(it)) {
		h = recsys_fnv1a(bson_iter_oid(it)->bytes, 12);
	} else {
		return 0;
	}
	return h ? h : 1;
}

void recsys_play_doc_read(const bson_t *doc, recsys_play_doc_t *out)
{
	bson_iter_t it;

	memset(out, 0, sizeof(*out));
	out->play.completion = -1;
	if (!bson_iter_init(&it, doc))
		return;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "viewer_id") == 0 && !key_copy(out->viewer, &it))
			out->viewer[0] = '\0';
		else if (strcmp(k, "title_id") == 0 && !key_copy(out->title, &it))
			out->title[0] = '\0';
		else if (strcmp(k, "completion_pct") == 0)
			out->play.completion = number(&it, -100) / 100.0;
		else if (strcmp(k, "watch_ms") == 0)
			out->play.watch_ms = (int64_t)number(&it, 0);
		else if (strcmp(k, "duration_ms") == 0)
			out->play.duration_ms = (int64_t)number(&it, 0);
		else if (strcmp(k, "completed") == 0 && BSON_ITER_HOLDS_BOOL(&it))
			out->play.completed = bson_iter_bool(&it);
		else if (strcmp(k, "started_at") == 0 && BSON_ITER_HOLDS_DATE_TIME(&it))
			out->started_at = bson_iter_date_time(&it);
		else if (strcmp(k, "last_ts") == 0 && BSON_ITER_HOLDS_DATE_TIME(&it))
			out->last_at = bson_iter_date_time(&it);
		else if (strcmp(k, "updated_at") == 0 && BSON_ITER_HOLDS_DATE_TIME(&it))
			out->updated_at = bson_iter_date_time(&it);
		else if (strcmp(k, "_id") == 0)
			out->key = id_hash(&it);
	}
	if (out->started_at > out->last_at)
		out->last_at = out->started_at;
}

int recsys_plays_each(kino_db_t *db, const bson_t *filter, const bson_t *opts,
		      recsys_play_fn fn, void *userdata, const char *what, kino_error_t *err)
{
	mongoc_client_t *cl = kino_db_client_pop(db);
	mongoc_collection_t *coll = mongoc_client_get_collection(cl, kino_db_name(db), "plays");
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	recsys_play_doc_t play;
	const bson_t *doc;
	bson_error_t berr;
	int ret = 0;

	while (mongoc_cursor_next(cur, &doc)) {
		recsys_play_doc_read(doc, &play);
		if (!fn(&play, userdata))
			break;
	}
	if (mongoc_cursor_error(cur, &berr)) {
		kino_db_record_error(db);
		ret = kino_error_set(err, KINO_EDB, "%s: %s", what, berr.message);
	}
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	kino_db_client_push(db, cl);
	return ret;
}

static int row_cmp(const void *a, const void *b)
{
	const recsys_play_doc_t *x = a, *y = b;
	int c = strcmp(x->viewer, y->viewer);

	return c != 0 ? c : strcmp(x->title, y->title);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted unique keys of rows (field at offset), as owned strings. */
static int unique_keys(const recsys_play_doc_t *rows, size_t n, size_t offset, char ***out,
		       size_t *nout)
{
	const char **all = malloc(sizeof(*all) * (n ? n : 1));
	char **keys = NULL;
	size_t m = 0;

	*out = NULL;
	*nout = 0;
	if (all == NULL)
		return KINO_ENOMEM;
	for (size_t i = 0; i < n; i++)
		all[i] = (const char *)&rows[i] + offset;
	qsort(all, n, sizeof(*all), str_cmp);
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (keys == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && strcmp(keys[m - 1], all[i]) == 0)
			continue;
		keys[m] = strdup(all[i]);
		if (keys[m] == NULL)
			goto nomem;
		m++;
	}
	free(all);
	*out = keys;
	*nout = m;
	return 0;
nomem:
	for (size_t i = 0; i < m; i++)
		free(keys[i]);
	free(keys);
	free(all);
	return KINO_ENOMEM;
}

/* Folds the sorted rows into one rating per pair. */
static int fold_rows(recsys_play_doc_t *rows, size_t n, kino_recsys_keyed_t *out, kino_error_t *err)
{
	int ret;

	if (unique_keys(rows, n, offsetof(recsys_play_doc_t, viewer), &out->users, &out->n_users) != 0 ||
	    unique_keys(rows, n, offsetof(recsys_play_doc_t, title), &out->items, &out->n_items) != 0)
		return kino_error_set(err, KINO_ENOMEM, "out of memory for %zu plays", n);
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n;) {
		kino_recsys_pair_t pair = {0};
		int64_t last = 0;
		size_t j = i;
		for (; j < n && row_cmp(&rows[i], &rows[j]) == 0; j++) {
			kino_recsys_pair_add(&pair, &rows[j].play);
			if (rows[j].started_at > last)
				last = rows[j].started_at;
		}
		kino_recsys_rating_t r = {
			.user = (int64_t)recsys_key_lower_bound((const char *const *)out->users,
								out->n_users, rows[i].viewer),
			.item = (int64_t)recsys_key_lower_bound((const char *const *)out->items,
								out->n_items, rows[i].title),
			.value = kino_recsys_pair_strength(&pair),
			.timestamp = last / 1000,
		};
		ret = kino_recsys_ratings_append(&out->ratings, &r, err);
		if (ret != 0)
			return ret;
		i = j;
	}
	return 0;
}

typedef struct collect {
	recsys_play_rows_t *rows;
	int64_t since;
	bool nomem;
} collect_t;

static bool row_add(const recsys_play_doc_t *play, void *ud)
{
	collect_t *c = ud;
	recsys_play_rows_t *r = c->rows;

	if (play->viewer[0] == '\0' || play->title[0] == '\0') {
		r->skipped++;
		return true;
	}
	if (play->started_at < c->since)
		return true;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		recsys_play_doc_t *grown = realloc(r->rows, cap * sizeof(*grown));
		if (grown == NULL) {
			c->nomem = true;
			return false;
		}
		r->rows = grown;
		r->cap = cap;
	}
	r->rows[r->n++] = *play;
	return true;
}

int recsys_plays_collect(kino_db_t *db, const bson_t *filter, int64_t since,
			 recsys_play_rows_t *rows, const char *what, kino_error_t *err)
{
	bson_t *opts = BCON_NEW("projection", "{", "viewer_id", BCON_INT32(1), "title_id",
				BCON_INT32(1), "completion_pct", BCON_INT32(1), "watch_ms",
				BCON_INT32(1), "duration_ms", BCON_INT32(1), "completed",
				BCON_INT32(1), "started_at", BCON_INT32(1), "last_ts",
				BCON_INT32(1), "}", "batchSize", BCON_INT32(2000));
	collect_t c = {.rows = rows, .since = since};
	int ret = recsys_plays_each(db, filter, opts, row_add, &c, what, err);

	bson_destroy(opts);
	if (ret == 0 && c.nomem)
		ret = kino_error_set(err, KINO_ENOMEM, "%s: out of memory after %zu plays", what,
				     rows->n);
	return ret;
}

int kino_recsys_plays_read(kino_db_t *db, int64_t since_ms, kino_recsys_keyed_t *out,
			   kino_error_t *err)
{
	bson_t *filter = BCON_NEW("started_at", "{", "$gte", BCON_DATE_TIME(since_ms), "}");
	recsys_play_rows_t r = {0};
	int ret;

	kino_recsys_ratings_init(&out->ratings);
	ret = recsys_plays_collect(db, filter, since_ms, &r, "reading plays", err);
	out->skipped += r.skipped;
	if (ret == 0)
		ret = fold_rows(r.rows, r.n, out, err);
	free(r.rows);
	bson_destroy(filter);
	return ret;
}

int kino_recsys_train_plays(kino_db_t *db, int64_t since_ms,
			    const kino_recsys_train_config_t *cfg, const char *path,
			    kino_recsys_model_info_t *info, kino_error_t *err)
{
	kino_recsys_keyed_t keyed = {0};
	kino_recsys_interactions_t *inter = NULL;
	kino_recsys_model_t *model = NULL;
	char source[256];
	int ret;

	ret = kino_recsys_plays_read(db, since_ms, &keyed, err);
	if (ret != 0)
		goto out;
	if (keyed.ratings.count == 0) {
		ret = kino_error_set(err, KINO_ENOENT,
				     "no plays with a viewer to learn from (%zu without one)",
				     keyed.skipped);
		goto out;
	}
	ret = kino_recsys_interactions_new(&keyed.ratings, NULL, &inter, err);
	if (ret == 0)
		ret = kino_recsys_model_train(inter, cfg, &model, err);
	if (ret == 0)
		ret = kino_recsys_model_set_keys(model, (const char *const *)keyed.users,
						 (const char *const *)keyed.items, err);
	if (ret != 0)
		goto out;
	snprintf(source, sizeof(source), "plays:%s", kino_db_name(db));
	kino_recsys_model_set_source(model, source);
	ret = kino_recsys_model_save(model, path, err);
	if (ret == 0 && info != NULL)
		*info = *kino_recsys_model_info(model);
out:
	kino_recsys_model_destroy(model);
	kino_recsys_interactions_destroy(inter);
	kino_recsys_keyed_close(&keyed);
	return ret;
}
