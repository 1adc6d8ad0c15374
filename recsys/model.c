/* The trained model: user and item factors with the external ids of both
 * sides and the metadata a model file carries, plus fold-in, which gives a
 * viewer who played something since training a fresh vector from the item
 * factors alone (the user half of one ALS step, for one user).
 *
 * The model keeps YtY + lambda I, computed once after training or loading,
 * so a fold-in costs one f x f Cholesky solve plus O(n f^2) for the
 * viewer's n items. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recsys_internal.h"

void kino_recsys_model_destroy(kino_recsys_model_t *model)
{
	if (model == NULL)
		return;
	free(model->user_ids);
	free(model->item_ids);
	free(model->user_factors);
	free(model->item_factors);
	free(model->item_gram);
	free(model->item_norms);
	free(model->key_blob);
	free(model->user_keys); /* item_keys point into the same array */
	free(model);
}

int recsys_model_alloc(size_t n_users, size_t n_items, size_t factors,
		       kino_recsys_model_t **out, kino_error_t *err)
{
	kino_recsys_model_t *model = NULL;
	int ret = 0;

	*out = NULL;
	if (factors == 0 || factors > KINO_RECSYS_FACTORS_MAX ||
	    n_users > SIZE_MAX / sizeof(float) / factors ||
	    n_items > SIZE_MAX / sizeof(float) / factors) {
		ret = kino_error_set(err, KINO_ETOOBIG,
				     "model of %zu users, %zu items, %zu factors "
				     "is too large", n_users, n_items, factors);
		goto out;
	}
	model = calloc(1, sizeof(*model));
	if (model == NULL)
		goto nomem;
	model->n_users = n_users;
	model->n_items = n_items;
	model->factors = factors;
	model->user_ids = calloc(n_users ? n_users : 1, sizeof(int64_t));
	model->item_ids = calloc(n_items ? n_items : 1, sizeof(int64_t));
	model->user_factors = calloc(n_users ? n_users * factors : 1, sizeof(float));
	model->item_factors = calloc(n_items ? n_items * factors : 1, sizeof(float));
	model->item_gram = calloc(factors * factors, sizeof(float));
	model->item_norms = calloc(n_items ? n_items : 1, sizeof(float));
	if (model->user_ids == NULL || model->item_ids == NULL ||
	    model->user_factors == NULL || model->item_factors == NULL ||
	    model->item_gram == NULL || model->item_norms == NULL)
		goto nomem;
	model->info.format_version = 2;
	model->info.factors = (uint32_t)factors;
	*out = model;
	model = NULL;
	goto out;
nomem:
	ret = kino_error_set(err, KINO_ENOMEM,
			     "out of memory for a model of %zu users, %zu items",
			     n_users, n_items);
out:
	kino_recsys_model_destroy(model);
	return ret;
}

static bool key_ok(const char *k, size_t len)
{
	if (len == 0 || len > KINO_RECSYS_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return false;
	return true;
}

int recsys_model_adopt_keys(kino_recsys_model_t *model, char *blob, size_t len,
			    kino_error_t *err)
{
	size_t n = model->n_users + model->n_items, at = 0;
	const char **keys = malloc(sizeof(*keys) * (n ? n : 1));

	if (keys == NULL) {
		free(blob);
		return kino_error_set(err, KINO_ENOMEM, "out of memory for %zu keys", n);
	}
	/* keyed models number users and items 0..n-1 in key order, so an id
	 * is also an index */
	for (size_t i = 0; i < n; i++) {
		bool user = i < model->n_users;
		size_t idx = user ? i : i - model->n_users;
		if ((user ? model->user_ids : model->item_ids)[idx] != (int64_t)idx) {
			free(keys);
			free(blob);
			return kino_error_set(err, KINO_EINVAL,
					      "a keyed model numbers its %ss 0..n-1; %s %zu has id %lld",
					      user ? "user" : "item", user ? "user" : "item", idx,
					      (long long)(user ? model->user_ids : model->item_ids)[idx]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *k = blob + at;
		const char *nul = at < len ? memchr(k, '\0', len - at) : NULL;
		bool user = i < model->n_users;
		size_t idx = user ? i : i - model->n_users;
		if (nul == NULL || !key_ok(k, (size_t)(nul - k)) ||
		    (idx > 0 && strcmp(keys[i - 1], k) >= 0)) {
			free(keys);
			free(blob);
			return kino_error_set(err, KINO_EINVAL,
					      "%s key %zu is missing, empty, longer than %d bytes, "
					      "not printable ASCII or out of order",
					      user ? "user" : "item", idx, KINO_RECSYS_KEY_MAX);
		}
		keys[i] = k;
		at += (size_t)(nul - k) + 1;
	}
	if (at != len) {
		free(keys);
		free(blob);
		return kino_error_set(err, KINO_EINVAL, "%zu bytes after the last key", len - at);
	}
	free(model->key_blob);
	free(model->user_keys);
	model->key_blob = blob;
	model->key_blob_len = len;
	model->user_keys = keys;
	model->item_keys = keys + model->n_users;
	return 0;
}

int kino_recsys_model_set_keys(kino_recsys_model_t *model, const char *const *users,
			       const char *const *items, kino_error_t *err)
{
	size_t len = 0;
	char *blob, *p;

	for (size_t i = 0; i < model->n_users + model->n_items; i++) {
		const char *k = i < model->n_users ? users[i] : items[i - model->n_users];
		len += strnlen(k, KINO_RECSYS_KEY_MAX + 1) + 1;
	}
	blob = malloc(len ? len : 1);
	if (blob == NULL)
		return kino_error_set(err, KINO_ENOMEM, "out of memory for keys");
	p = blob;
	for (size_t i = 0; i < model->n_users + model->n_items; i++) {
		const char *k = i < model->n_users ? users[i] : items[i - model->n_users];
		size_t n = strnlen(k, KINO_RECSYS_KEY_MAX + 1);
		memcpy(p, k, n);
		p[n] = '\0';
		p += n + 1;
	}
	return recsys_model_adopt_keys(model, blob, len, err);
}

bool kino_recsys_model_has_keys(const kino_recsys_model_t *model)
{
	return model->key_blob != NULL;
}

static int64_t key_find(const char **keys, const int64_t *ids, size_t n, const char *key)
{
	size_t at;

	if (keys == NULL || key == NULL)
		return -1;
	at = recsys_key_lower_bound(keys, n, key);
	return (at < n && strcmp(keys[at], key) == 0) ? ids[at] : -1;
}

int64_t kino_recsys_model_user_by_key(const kino_recsys_model_t *model, const char *key)
{
	return key_find(model->user_keys, model->user_ids, model->n_users, key);
}

int64_t kino_recsys_model_item_by_key(const kino_recsys_model_t *model, const char *key)
{
	return key_find(model->item_keys, model->item_ids, model->n_items, key);
}

const char *kino_recsys_model_user_key(const kino_recsys_model_t *model, size_t i)
{
	return model->user_keys != NULL && i < model->n_users ? model->user_keys[i] : NULL;
}

const char *kino_recsys_model_item_key(const kino_recsys_model_t *model, size_t i)
{
	return model->item_keys != NULL && i < model->n_items ? model->item_keys[i] : NULL;
}

void recsys_model_update_cache(kino_recsys_model_t *model)
{
	size_t f = model->factors;
	float *g = model->item_gram;

	cblas_ssyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)f,
		    (int)model->n_items, 1.0f, model->item_factors, (int)f, 0.0f,
		    g, (int)f);
	for (size_t j = 0; j < f; j++) {
		g[j * f + j] += model->info.regularization;
		for (size_t i = j + 1; i < f; i++)
			g[j * f + i] = g[i * f + j];
	}
	for (size_t i = 0; i < model->n_items; i++)
		model->item_norms[i] = cblas_snrm2((int)f, model->item_factors + i * f, 1);
}

const kino_recsys_model_info_t *kino_recsys_model_info(const kino_recsys_model_t *model)
{
	return &model->info;
}

void kino_recsys_model_set_source(kino_recsys_model_t *model, const char *source)
{
	snprintf(model->info.source, sizeof(model->info.source), "%s", source);
}

void kino_recsys_model_set_metrics(kino_recsys_model_t *model,
				   const kino_recsys_metrics_t *metrics)
{
	model->info.metrics = *metrics;
}

size_t kino_recsys_model_users(const kino_recsys_model_t *model)
{
	return model->n_users;
}

size_t kino_recsys_model_items(const kino_recsys_model_t *model)
{
	return model->n_items;
}

size_t kino_recsys_model_factors(const kino_recsys_model_t *model)
{
	return model->factors;
}

int64_t kino_recsys_model_user_id(const kino_recsys_model_t *model, size_t i)
{
	return i < model->n_users ? model->user_ids[i] : -1;
}

int64_t kino_recsys_model_item_id(const kino_recsys_model_t *model, size_t i)
{
	return i < model->n_items ? model->item_ids[i] : -1;
}

const float *kino_recsys_model_user_vector(const kino_recsys_model_t *model,
					   int64_t user)
{
	int64_t u = recsys_id_find(model->user_ids, model->n_users, user);
	return u < 0 ? NULL : model->user_factors + (size_t)u * model->factors;
}

const float *kino_recsys_model_item_vector(const kino_recsys_model_t *model,
					   int64_t item)
{
	int64_t i = recsys_id_find(model->item_ids, model->n_items, item);
	return i < 0 ? NULL : model->item_factors + (size_t)i * model->factors;
}

float kino_recsys_model_confidence(const kino_recsys_model_t *model, float strength)
{
	return 1.0f + model->info.alpha * strength;
}

int kino_recsys_model_fold_in(const kino_recsys_model_t *model,
			      const int64_t *items, const float *confidence,
			      size_t n, float *vector, size_t *unknown,
			      kino_error_t *err)
{
	size_t f = model->factors;
	uint32_t *index = NULL;
	float *extra = NULL; /* c - 1, the strength with alpha = 1 */
	float *a = NULL, *gathered = NULL;
	size_t known = 0, missing = 0;
	int info;
	int ret = 0;

	memset(vector, 0, f * sizeof(*vector));
	index = malloc((n ? n : 1) * sizeof(*index));
	extra = malloc((n ? n : 1) * sizeof(*extra));
	a = malloc(f * f * sizeof(*a));
	gathered = malloc(RECSYS_GATHER_ROWS * f * sizeof(*gathered));
	if (index == NULL || extra == NULL || a == NULL || gathered == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "fold-in: out of memory");
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		int64_t i = recsys_id_find(model->item_ids, model->n_items, items[j]);
		if (!isfinite(confidence[j]) || confidence[j] < 1.0f) {
			ret = kino_error_set(err, KINO_EINVAL,
					     "fold-in: confidence %g of item %lld "
					     "is not a finite number >= 1",
					     (double)confidence[j],
					     (long long)items[j]);
			goto out;
		}
		if (i < 0) {
			missing++;
			continue;
		}
		index[known] = (uint32_t)i;
		extra[known] = confidence[j] - 1.0f;
		known++;
	}
	if (known > 0) {
		info = recsys_solve_exact(model->item_gram, model->item_factors, f,
					  index, extra, known, 1.0f, a, vector,
					  gathered);
		if (info != 0) {
			memset(vector, 0, f * sizeof(*vector));
			ret = kino_error_set(err, KINO_ENUMERIC,
					     "fold-in: LAPACKE_sposv info %d", info);
			goto out;
		}
	}
	if (unknown != NULL)
		*unknown = missing;
out:
	free(gathered);
	free(a);
	free(extra);
	free(index);
	return ret;
}
