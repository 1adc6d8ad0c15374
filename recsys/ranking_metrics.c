/* Offline evaluation: precision@k, recall@k, MAP@k, NDCG@k and catalog
 * coverage on a held-out test set, for a trained model and for the
 * popularity baseline, computed by the same code so the figures compare.
 *
 * For every test user known in train, the k best train items the user has
 * not interacted with in train are ranked; the relevant items are the user's
 * test items that a recommender could have ranked (known in train, not
 * already in the user's train row). Pairs that could not count are tallied
 * in kino_recsys_eval_stats_t rather than dropped silently. Definitions
 * (binary relevance, rel = relevant count, hits at ranks 1..k):
 *
 *     precision = hits / k              recall = hits / rel
 *     AP        = sum over hit ranks r of (hits up to r / r) / min(k, rel)
 *     NDCG      = sum 1/log2(r + 1) over hits / the same for the ideal list
 *     coverage  = distinct items recommended to anyone / items in train */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recsys_internal.h"

typedef struct pair {
	uint32_t user, item;
} pair_t;

static int cmp_pair(const void *a, const void *b)
{
	const pair_t *x = a, *y = b;
	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

static int in_train_row(const kino_recsys_interactions_t *train, uint32_t u,
			uint32_t i)
{
	const uint32_t *idx = train->by_user.index;
	uint64_t lo = train->by_user.start[u], hi = train->by_user.start[u + 1];

	while (lo < hi) { /* the row's columns are sorted */
		uint64_t mid = lo + (hi - lo) / 2;
		if (idx[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < train->by_user.start[u + 1] && idx[lo] == i;
}

/* Scores one user's ranked list against the relevant flags. */
static void score_list(const uint32_t *ranked, size_t n, size_t k,
		       const unsigned char *relevant, size_t n_relevant,
		       kino_recsys_metrics_t *sum)
{
	size_t hits = 0;
	double ap = 0.0, dcg = 0.0, idcg = 0.0;
	size_t ideal = n_relevant < k ? n_relevant : k;

	for (size_t r = 0; r < n; r++) {
		if (!relevant[ranked[r]])
			continue;
		hits++;
		ap += (double)hits / (double)(r + 1);
		dcg += 1.0 / log2((double)r + 2.0);
	}
	for (size_t r = 0; r < ideal; r++)
		idcg += 1.0 / log2((double)r + 2.0);
	sum->precision += (double)hits / (double)k;
	sum->recall += (double)hits / (double)n_relevant;
	sum->map += ap / (double)ideal;
	sum->ndcg += dcg / idcg;
}

/* Evaluates model (or, when NULL, popularity) on test. */
static int evaluate(const kino_recsys_model_t *model,
		    const kino_recsys_interactions_t *train,
		    const kino_recsys_ratings_t *test, size_t k,
		    kino_recsys_metrics_t *metrics,
		    kino_recsys_eval_stats_t *stats_out, kino_error_t *err)
{
	kino_recsys_eval_stats_t stats = {.test_rows = test->count};
	kino_recsys_metrics_t sum = {0};
	pair_t *pairs = NULL;
	float *scores = NULL;
	unsigned char *skip = NULL, *relevant = NULL, *recommended = NULL;
	uint32_t *ranked = NULL;
	float *ranked_score = NULL;
	size_t n_pairs = 0, n_items = train->n_items, covered = 0;
	int ret = 0;

	memset(metrics, 0, sizeof(*metrics));
	if (k == 0 || k > 100000) {
		ret = kino_error_set(err, KINO_EINVAL, "eval: k must be 1..100000");
		goto out;
	}
	if (model != NULL &&
	    (model->n_users != train->n_users || model->n_items != train->n_items ||
	     memcmp(model->user_ids, train->user_ids, train->n_users * 8) != 0 ||
	     memcmp(model->item_ids, train->item_ids, train->n_items * 8) != 0)) {
		ret = kino_error_set(err, KINO_EINVAL,
				     "eval: the model was not trained on this "
				     "train set (its users or items differ)");
		goto out;
	}
	pairs = malloc((test->count ? test->count : 1) * sizeof(*pairs));
	scores = malloc(n_items * sizeof(*scores));
	skip = calloc(n_items, 1);
	relevant = calloc(n_items, 1);
	recommended = calloc(n_items, 1);
	ranked = malloc(k * sizeof(*ranked));
	ranked_score = malloc(k * sizeof(*ranked_score));
	if (!pairs || !scores || !skip || !relevant || !recommended || !ranked ||
	    !ranked_score) {
		ret = kino_error_set(err, KINO_ENOMEM, "eval: out of memory");
		goto out;
	}
	for (size_t j = 0; j < test->count; j++) {
		int64_t u = recsys_id_find(train->user_ids, train->n_users,
					   test->rows[j].user);
		int64_t i = recsys_id_find(train->item_ids, train->n_items,
					   test->rows[j].item);
		if (u < 0) {
			stats.unknown_user++;
			continue;
		}
		if (i < 0) {
			stats.unknown_item++;
			continue;
		}
		if (in_train_row(train, (uint32_t)u, (uint32_t)i)) {
			stats.seen_in_train++;
			continue;
		}
		pairs[n_pairs].user = (uint32_t)u;
		pairs[n_pairs].item = (uint32_t)i;
		n_pairs++;
	}
	qsort(pairs, n_pairs, sizeof(*pairs), cmp_pair);
	if (model == NULL) /* popularity: how many train users have the item */
		for (size_t i = 0; i < n_items; i++)
			scores[i] = (float)(train->by_item.start[i + 1] -
					    train->by_item.start[i]);

	for (size_t lo = 0; lo < n_pairs;) {
		uint32_t u = pairs[lo].user;
		size_t hi = lo, n_relevant = 0, n_ranked;

		for (; hi < n_pairs && pairs[hi].user == u; hi++) {
			if (!relevant[pairs[hi].item])
				n_relevant++;
			relevant[pairs[hi].item] = 1;
		}
		for (uint64_t j = train->by_user.start[u];
		     j < train->by_user.start[u + 1]; j++)
			skip[train->by_user.index[j]] = 1;
		if (model != NULL)
			cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_items,
				    (int)model->factors, 1.0f,
				    model->item_factors, (int)model->factors,
				    model->user_factors + (size_t)u * model->factors,
				    1, 0.0f, scores, 1);
		n_ranked = recsys_topk_select(scores, n_items, skip, k, ranked,
					      ranked_score);
		score_list(ranked, n_ranked, k, relevant, n_relevant, &sum);
		sum.users++;
		for (size_t r = 0; r < n_ranked; r++) {
			covered += !recommended[ranked[r]];
			recommended[ranked[r]] = 1;
		}
		for (size_t j = lo; j < hi; j++)
			relevant[pairs[j].item] = 0;
		for (uint64_t j = train->by_user.start[u];
		     j < train->by_user.start[u + 1]; j++)
			skip[train->by_user.index[j]] = 0;
		lo = hi;
	}
	metrics->k = (uint32_t)k;
	metrics->users = sum.users;
	if (sum.users > 0) {
		metrics->precision = sum.precision / sum.users;
		metrics->recall = sum.recall / sum.users;
		metrics->map = sum.map / sum.users;
		metrics->ndcg = sum.ndcg / sum.users;
	}
	metrics->coverage = (double)covered / (double)n_items;
	if (stats_out != NULL)
		*stats_out = stats;
out:
	free(ranked_score);
	free(ranked);
	free(recommended);
	free(relevant);
	free(skip);
	free(scores);
	free(pairs);
	return ret;
}

int kino_recsys_eval_model(const kino_recsys_model_t *model,
			   const kino_recsys_interactions_t *train,
			   const kino_recsys_ratings_t *test, size_t k,
			   kino_recsys_metrics_t *metrics,
			   kino_recsys_eval_stats_t *stats, kino_error_t *err)
{
	return evaluate(model, train, test, k, metrics, stats, err);
}

int kino_recsys_eval_popularity(const kino_recsys_interactions_t *train,
				const kino_recsys_ratings_t *test, size_t k,
				kino_recsys_metrics_t *metrics,
				kino_recsys_eval_stats_t *stats, kino_error_t *err)
{
	return evaluate(NULL, train, test, k, metrics, stats, err);
}
