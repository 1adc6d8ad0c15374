/* Ranking: every item scored against a user vector with one cblas_sgemv,
 * then a partial top-k selection with a k-sized heap (O(n log k), no full
 * sort), leaving out what the viewer has already seen; and item-item
 * similarity (cosine of item factors) for "Because you watched".
 *
 * Order is total and stable: higher score first, and among equal scores the
 * smaller dense index, i.e. the smaller external id. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recsys_internal.h"

/* true when (sa, ia) ranks below (sb, ib). */
static int ranks_below(float sa, uint32_t ia, float sb, uint32_t ib)
{
	return sa < sb || (sa == sb && ia > ib);
}

/* Restores the heap (worst at the root) below position at. */
static void sift_down(uint32_t *idx, float *score, size_t n, size_t at)
{
	for (;;) {
		size_t worst = at, l = 2 * at + 1, r = l + 1;
		if (l < n && ranks_below(score[l], idx[l], score[worst], idx[worst]))
			worst = l;
		if (r < n && ranks_below(score[r], idx[r], score[worst], idx[worst]))
			worst = r;
		if (worst == at)
			return;
		uint32_t ti = idx[at];
		float ts = score[at];
		idx[at] = idx[worst];
		score[at] = score[worst];
		idx[worst] = ti;
		score[worst] = ts;
		at = worst;
	}
}

static void sift_up(uint32_t *idx, float *score, size_t at)
{
	while (at > 0) {
		size_t parent = (at - 1) / 2;
		if (!ranks_below(score[at], idx[at], score[parent], idx[parent]))
			return;
		uint32_t ti = idx[at];
		float ts = score[at];
		idx[at] = idx[parent];
		score[at] = score[parent];
		idx[parent] = ti;
		score[parent] = ts;
		at = parent;
	}
}

size_t recsys_topk_select(const float *scores, size_t n,
			  const unsigned char *skip, size_t k,
			  uint32_t *best_index, float *best_score)
{
	size_t filled = 0;

	if (k == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		/* NaN cannot come from a loaded model (its factors are checked
		 * finite); ranking it anywhere would be arbitrary. */
		if ((skip != NULL && skip[i]) || isnan(scores[i]))
			continue;
		if (filled < k) {
			best_index[filled] = (uint32_t)i;
			best_score[filled] = scores[i];
			sift_up(best_index, best_score, filled);
			filled++;
		} else if (ranks_below(best_score[0], best_index[0], scores[i],
				       (uint32_t)i)) {
			best_index[0] = (uint32_t)i;
			best_score[0] = scores[i];
			sift_down(best_index, best_score, filled, 0);
		}
	}
	/* Heap sort in place: repeatedly move the worst to the end. */
	for (size_t end = filled; end > 1; end--) {
		uint32_t ti = best_index[0];
		float ts = best_score[0];
		best_index[0] = best_index[end - 1];
		best_score[0] = best_score[end - 1];
		best_index[end - 1] = ti;
		best_score[end - 1] = ts;
		sift_down(best_index, best_score, end - 1, 0);
	}
	return filled;
}

/* Selects the top k of scores into out as external ids. */
static int select_into(const kino_recsys_model_t *model, const float *scores,
		       const unsigned char *skip, size_t k,
		       kino_recsys_scored_t *out, size_t *n_out,
		       kino_error_t *err)
{
	uint32_t *idx = NULL;
	float *best = NULL;
	size_t m = k < model->n_items ? k : model->n_items;
	int ret = 0;

	idx = malloc((m ? m : 1) * sizeof(*idx));
	best = malloc((m ? m : 1) * sizeof(*best));
	if (idx == NULL || best == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "top-k: out of memory");
		goto out;
	}
	*n_out = recsys_topk_select(scores, model->n_items, skip, m, idx, best);
	for (size_t j = 0; j < *n_out; j++) {
		out[j].item = model->item_ids[idx[j]];
		out[j].score = best[j];
	}
out:
	free(best);
	free(idx);
	return ret;
}

int kino_recsys_model_recommend(const kino_recsys_model_t *model,
				const float *user_vector,
				const int64_t *exclude, size_t n_exclude,
				size_t k, kino_recsys_scored_t *out,
				size_t *n_out, kino_error_t *err)
{
	float *scores = NULL;
	unsigned char *skip = NULL;
	int ret = 0;

	*n_out = 0;
	scores = malloc((model->n_items ? model->n_items : 1) * sizeof(*scores));
	skip = n_exclude ? calloc(model->n_items ? model->n_items : 1, 1) : NULL;
	if (scores == NULL || (n_exclude && skip == NULL)) {
		ret = kino_error_set(err, KINO_ENOMEM, "recommend: out of memory");
		goto out;
	}
	for (size_t j = 0; j < n_exclude; j++) {
		int64_t i = recsys_id_find(model->item_ids, model->n_items, exclude[j]);
		if (i >= 0)
			skip[i] = 1;
	}
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)model->n_items,
		    (int)model->factors, 1.0f, model->item_factors,
		    (int)model->factors, user_vector, 1, 0.0f, scores, 1);
	ret = select_into(model, scores, skip, k, out, n_out, err);
out:
	free(skip);
	free(scores);
	return ret;
}

int kino_recsys_model_similar_items(const kino_recsys_model_t *model,
				    int64_t item, size_t k,
				    kino_recsys_scored_t *out, size_t *n_out,
				    kino_error_t *err)
{
	size_t f = model->factors;
	float *scores = NULL;
	unsigned char *skip = NULL;
	int64_t self = recsys_id_find(model->item_ids, model->n_items, item);
	float self_norm;
	int ret = 0;

	*n_out = 0;
	if (self < 0) {
		ret = kino_error_set(err, KINO_ENOENT,
				     "similar items: item %lld is not in the model",
				     (long long)item);
		goto out;
	}
	scores = malloc(model->n_items * sizeof(*scores));
	skip = calloc(model->n_items, 1);
	if (scores == NULL || skip == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "similar items: out of memory");
		goto out;
	}
	skip[self] = 1;
	self_norm = model->item_norms[self];
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)model->n_items, (int)f,
		    1.0f, model->item_factors, (int)f,
		    model->item_factors + (size_t)self * f, 1, 0.0f, scores, 1);
	for (size_t i = 0; i < model->n_items; i++) {
		float denom = model->item_norms[i] * self_norm;
		scores[i] = denom > 0.0f ? scores[i] / denom : 0.0f;
	}
	ret = select_into(model, scores, skip, k, out, n_out, err);
out:
	free(skip);
	free(scores);
	return ret;
}
