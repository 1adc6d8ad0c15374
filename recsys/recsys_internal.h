/* What the recsys files share and nobody outside recsys/ sees: the layout
 * of the interaction matrix and of the model, the id lookup, and a small
 * deterministic PRNG (so results do not depend on libc's rand()). */
#ifndef KINO_RECSYS_INTERNAL_H
#define KINO_RECSYS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kino/recsys.h"

/* One direction of the sparse matrix: row r holds the columns
 * index[start[r] .. start[r+1]) with strengths value[...], columns sorted. */
typedef struct csr {
	size_t rows;
	uint64_t *start; /* rows + 1 */
	uint32_t *index;
	float *value;
} csr_t;

struct kino_recsys_interactions {
	size_t n_users, n_items, nnz;
	int64_t *user_ids; /* dense index -> external id, strictly increasing */
	int64_t *item_ids;
	csr_t by_user;     /* user -> items */
	csr_t by_item;     /* item -> users */
	kino_recsys_interactions_stats_t stats;
};

struct kino_recsys_model {
	size_t n_users, n_items, factors;
	int64_t *user_ids; /* strictly increasing */
	int64_t *item_ids; /* strictly increasing */
	float *user_factors; /* n_users x factors, row-major */
	float *item_factors; /* n_items x factors, row-major */
	float *item_gram;    /* factors x factors: YtY + regularization I, for fold-in */
	float *item_norms;   /* n_items: |y|, for cosine similarity */
	/* String keys (kino_recsys_model_set_keys), or all NULL: one blob of
	 * NUL-terminated keys, users first, and a pointer per user and item
	 * into it. */
	char *key_blob;
	size_t key_blob_len;
	const char **user_keys, **item_keys;
	kino_recsys_model_info_t info;
};

/* The dense index of id in ids[0..n) (strictly increasing), or -1. */
static inline int64_t recsys_id_find(const int64_t *ids, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < n && ids[lo] == id) ? (int64_t)lo : -1;
}

/* The first position in keys[0..n) (strictly increasing, strcmp order)
 * whose key is not less than key: its index when it is there. */
static inline size_t recsys_key_lower_bound(const char *const *keys, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(keys[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* splitmix64: a tiny, well-mixed generator; one state word per stream. */
static inline uint64_t recsys_rand_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* A uniform float in [0, 1). */
static inline float recsys_rand_float(uint64_t *state)
{
	return (float)(recsys_rand_next(state) >> 40) * (1.0f / 16777216.0f);
}

/* A model with room for the given shape, ids and factors zeroed; the caller
 * fills them. Used by training and by the loader. Free with _destroy. */
int recsys_model_alloc(size_t n_users, size_t n_items, size_t factors,
		       kino_recsys_model_t **out, kino_error_t *err);

/* Takes ownership of blob (len bytes: n_users + n_items NUL-terminated
 * keys, users first) and checks it like kino_recsys_model_set_keys; on
 * error frees blob and leaves the model without keys. */
int recsys_model_adopt_keys(kino_recsys_model_t *model, char *blob, size_t len,
			    kino_error_t *err);

/* From item_factors: item_gram = YtY + regularization I (full symmetric)
 * and item_norms. Call after the item factors change. */
void recsys_model_update_cache(kino_recsys_model_t *model);

/* The top k of scores[0..n) not flagged in skip (may be NULL), best first,
 * as dense indices; ties to the smaller index. Returns how many were filled. */
size_t recsys_topk_select(const float *scores, size_t n,
			  const unsigned char *skip, size_t k,
			  uint32_t *best_index, float *best_score);

/* Rows gathered per ssyrk call in an exact solve; bounds the scratch
 * memory whatever the popularity of an item. */
#define RECSYS_GATHER_ROWS 256

/* The exact solve of one row: x = A^-1 b with A = gram + sum (c_j - 1)
 * y_j y_j^T, b = sum c_j y_j, y_j = other[index[j]], c_j = 1 + alpha
 * strength[j]; gram holds YtY + lambda I (f x f, full). a (f x f) and
 * gathered (RECSYS_GATHER_ROWS x f) are scratch. Returns LAPACKE's info:
 * 0 on success. */
int recsys_solve_exact(const float *gram, const float *other, size_t f,
		       const uint32_t *index, const float *strength, size_t n,
		       float alpha, float *a, float *x, float *gathered);

/* A few conjugate-gradient steps (Takacs et al.) from the current x towards
 * the solution of A x = b for one row (a user, or an item), where
 * A = gram + sum_j (c_j - 1) y_j y_j^T and b = sum_j c_j y_j, with
 * y_j = other[index[j]] and c_j = 1 + alpha strength[j]. gram holds
 * YtY + lambda I (f x f, full). work holds 3 f floats. */
void recsys_cg_solve(const float *gram, const float *other,
		     const uint32_t *index, const float *strength, size_t n,
		     size_t f, float alpha, int steps, float *x, float *work);

/* FNV-1a, 64 bits, of n bytes: the hash of recsys/'s tables (genre names,
 * viewer ids) and of a play's _id. */
static inline uint64_t recsys_fnv1a(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(1099511628211);
	return h;
}

#endif
