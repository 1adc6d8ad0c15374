/* The sparse user x item matrix that ALS trains on, kept twice: CSR by user
 * (user -> items, for solving user factors) and CSR by item (item -> users,
 * for solving item factors), with the external ids of both sides.
 *
 * Dense indices follow the sorted external ids, so the same rows give the
 * same matrix whatever their order, and an id is found by binary search.
 * Duplicate (user, item) rows add their strengths (a repeat play counts
 * more), and are counted in the stats. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recsys_internal.h"

typedef struct coo {
	uint32_t user, item;
	float value;
} coo_t;

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_coo(const void *a, const void *b)
{
	const coo_t *x = a, *y = b;
	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

/* Sorts ids[0..n) and drops repeats; returns the new count. */
static size_t sort_unique(int64_t *ids, size_t n)
{
	size_t w = 0;

	qsort(ids, n, sizeof(*ids), cmp_int64);
	for (size_t i = 0; i < n; i++)
		if (w == 0 || ids[w - 1] != ids[i])
			ids[w++] = ids[i];
	return w;
}

static void csr_free(csr_t *m)
{
	free(m->start);
	free(m->index);
	free(m->value);
	memset(m, 0, sizeof(*m));
}

static int csr_alloc(csr_t *m, size_t rows, size_t nnz)
{
	m->rows = rows;
	m->start = calloc(rows + 1, sizeof(*m->start));
	m->index = malloc((nnz ? nnz : 1) * sizeof(*m->index));
	m->value = malloc((nnz ? nnz : 1) * sizeof(*m->value));
	return (m->start && m->index && m->value) ? 0 : -1;
}

void kino_recsys_interactions_destroy(kino_recsys_interactions_t *inter)
{
	if (inter == NULL)
		return;
	csr_free(&inter->by_user);
	csr_free(&inter->by_item);
	free(inter->user_ids);
	free(inter->item_ids);
	free(inter);
}

int kino_recsys_interactions_new(const kino_recsys_ratings_t *rows,
				 const kino_recsys_interactions_options_t *opt,
				 kino_recsys_interactions_t **out,
				 kino_error_t *err)
{
	kino_recsys_interactions_t *inter = NULL;
	coo_t *coo = NULL;
	size_t kept = 0;
	float threshold = opt ? opt->positive_threshold : 0.0f;
	int ret = 0;

	*out = NULL;
	if (!(threshold >= 0.0f) || !isfinite(threshold)) {
		ret = kino_error_set(err, KINO_EINVAL,
				     "positive threshold must be >= 0");
		goto out;
	}
	inter = calloc(1, sizeof(*inter));
	coo = malloc((rows->count ? rows->count : 1) * sizeof(*coo));
	if (inter == NULL || coo == NULL)
		goto nomem;
	inter->stats.rows = rows->count;
	inter->user_ids = malloc((rows->count ? rows->count : 1) * sizeof(int64_t));
	inter->item_ids = malloc((rows->count ? rows->count : 1) * sizeof(int64_t));
	if (inter->user_ids == NULL || inter->item_ids == NULL)
		goto nomem;

	for (size_t i = 0; i < rows->count; i++) {
		const kino_recsys_rating_t *r = &rows->rows[i];
		if (!isfinite(r->value) || r->value < 0.0f) {
			ret = kino_error_set(err, KINO_EINVAL,
					     "row %zu: strength %g is not a finite "
					     "number >= 0", i + 1, (double)r->value);
			goto out;
		}
		if (r->user < 0 || r->user > KINO_RECSYS_ID_MAX || r->item < 0 ||
		    r->item > KINO_RECSYS_ID_MAX) {
			ret = kino_error_set(err, KINO_EINVAL,
					     "row %zu: id out of range", i + 1);
			goto out;
		}
		if (threshold > 0.0f && r->value < threshold) {
			inter->stats.below_threshold++;
			continue;
		}
		if (kept == 0 || r->timestamp < inter->stats.first_timestamp)
			inter->stats.first_timestamp = r->timestamp;
		if (kept == 0 || r->timestamp > inter->stats.last_timestamp)
			inter->stats.last_timestamp = r->timestamp;
		inter->user_ids[kept] = r->user;
		inter->item_ids[kept] = r->item;
		kept++;
	}
	if (kept == 0) {
		ret = kino_error_set(err, KINO_EINVAL,
				     "no interactions (%zu rows, %zu below the "
				     "positive threshold)",
				     rows->count, inter->stats.below_threshold);
		goto out;
	}
	inter->n_users = sort_unique(inter->user_ids, kept);
	inter->n_items = sort_unique(inter->item_ids, kept);

	/* Dense (user, item, strength) triplets, then sorted and merged. */
	kept = 0;
	for (size_t i = 0; i < rows->count; i++) {
		const kino_recsys_rating_t *r = &rows->rows[i];
		if (threshold > 0.0f && r->value < threshold)
			continue;
		coo[kept].user = (uint32_t)recsys_id_find(inter->user_ids,
							  inter->n_users, r->user);
		coo[kept].item = (uint32_t)recsys_id_find(inter->item_ids,
							  inter->n_items, r->item);
		coo[kept].value = threshold > 0.0f ? 1.0f : r->value;
		kept++;
	}
	qsort(coo, kept, sizeof(*coo), cmp_coo);
	{
		size_t w = 0;
		for (size_t i = 0; i < kept; i++) {
			if (w > 0 && coo[w - 1].user == coo[i].user &&
			    coo[w - 1].item == coo[i].item) {
				coo[w - 1].value += coo[i].value;
				inter->stats.duplicates++;
			} else {
				coo[w++] = coo[i];
			}
		}
		inter->nnz = w;
	}

	if (csr_alloc(&inter->by_user, inter->n_users, inter->nnz) != 0 ||
	    csr_alloc(&inter->by_item, inter->n_items, inter->nnz) != 0)
		goto nomem;
	for (size_t i = 0; i < inter->nnz; i++) {
		inter->by_user.start[coo[i].user + 1]++;
		inter->by_item.start[coo[i].item + 1]++;
		inter->by_user.index[i] = coo[i].item;
		inter->by_user.value[i] = coo[i].value;
	}
	for (size_t u = 0; u < inter->n_users; u++)
		inter->by_user.start[u + 1] += inter->by_user.start[u];
	for (size_t i = 0; i < inter->n_items; i++)
		inter->by_item.start[i + 1] += inter->by_item.start[i];
	{
		/* Counting sort by item; users stay ascending within an item
		 * because coo is ordered by user. */
		uint64_t *fill = malloc(inter->n_items * sizeof(*fill));
		if (fill == NULL)
			goto nomem;
		memcpy(fill, inter->by_item.start, inter->n_items * sizeof(*fill));
		for (size_t i = 0; i < inter->nnz; i++) {
			uint64_t at = fill[coo[i].item]++;
			inter->by_item.index[at] = coo[i].user;
			inter->by_item.value[at] = coo[i].value;
		}
		free(fill);
	}
	*out = inter;
	inter = NULL;
	goto out;
nomem:
	ret = kino_error_set(err, KINO_ENOMEM, "interactions: out of memory for "
			     "%zu rows", rows->count);
out:
	free(coo);
	kino_recsys_interactions_destroy(inter);
	return ret;
}

size_t kino_recsys_interactions_users(const kino_recsys_interactions_t *inter)
{
	return inter->n_users;
}

size_t kino_recsys_interactions_items(const kino_recsys_interactions_t *inter)
{
	return inter->n_items;
}

size_t kino_recsys_interactions_nnz(const kino_recsys_interactions_t *inter)
{
	return inter->nnz;
}

const kino_recsys_interactions_stats_t *
kino_recsys_interactions_stats(const kino_recsys_interactions_t *inter)
{
	return &inter->stats;
}

size_t kino_recsys_interactions_user_items(const kino_recsys_interactions_t *inter,
					   int64_t user, int64_t *items,
					   size_t capacity)
{
	int64_t u = recsys_id_find(inter->user_ids, inter->n_users, user);
	uint64_t lo, hi;

	if (u < 0)
		return 0;
	lo = inter->by_user.start[u];
	hi = inter->by_user.start[u + 1];
	for (uint64_t j = lo; items != NULL && j < hi && j - lo < capacity; j++)
		items[j - lo] = inter->item_ids[inter->by_user.index[j]];
	return (size_t)(hi - lo);
}
