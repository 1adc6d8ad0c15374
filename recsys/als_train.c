/* Implicit ALS training (Hu, Koren and Volinsky, "Collaborative Filtering
 * for Implicit Feedback Datasets", 2008), and its loss.
 *
 * Each iteration solves all user vectors with the item vectors fixed, then
 * all item vectors with the user vectors fixed. For user u the normal
 * equations are
 *
 *     (YtY + Yu^T (Cu - I) Yu + lambda I) x_u = Yu^T Cu p_u
 *
 * where the dense part YtY is computed once per half-iteration with
 * cblas_ssyrk (the "YtY trick"), and only the user's own items add to it:
 * their rows, scaled by sqrt(c - 1), go through one more ssyrk into a copy
 * of YtY + lambda I, and the system is solved by Cholesky (LAPACKE_sposv,
 * column-major so LAPACKE does not transpose). The CG solver (als_cg.c)
 * replaces the factorisation with a few warm-started CG steps.
 *
 * Threads: rows are handed out in blocks through an atomic counter; every
 * row's solve reads only the other side's factors and the shared gram
 * matrix, so the result is the same whatever the thread count or the
 * scheduling. OpenBLAS itself is kept single-threaded meanwhile. Factors
 * start from a splitmix64 stream per row, seeded by the configuration. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KINO_LOG_MODULE "recsys"
#include "kino/log.h"
#include "recsys_internal.h"

#define ROWS_PER_CLAIM 32

void kino_recsys_train_config_default(kino_recsys_train_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->factors = 64;
	cfg->iterations = 15;
	cfg->regularization = 0.1f;
	cfg->alpha = 1.0f;
	cfg->threads = 1;
	cfg->seed = 42;
	cfg->solver = KINO_RECSYS_SOLVER_CHOLESKY;
	cfg->cg_steps = 3;
}

int kino_recsys_train_config_validate(const kino_recsys_train_config_t *cfg,
				      kino_error_t *err)
{
	if (cfg->factors < 1 || cfg->factors > KINO_RECSYS_FACTORS_MAX)
		return kino_error_set(err, KINO_EINVAL,
				      "factors must be 1..%d, not %d",
				      KINO_RECSYS_FACTORS_MAX, cfg->factors);
	if (cfg->iterations < 1 || cfg->iterations > 10000)
		return kino_error_set(err, KINO_EINVAL,
				      "iterations must be 1..10000, not %d",
				      cfg->iterations);
	if (!(cfg->regularization > 0.0f) || !isfinite(cfg->regularization))
		return kino_error_set(err, KINO_EINVAL,
				      "regularization must be > 0 (it keeps the "
				      "systems positive definite)");
	if (!(cfg->alpha >= 0.0f) || !isfinite(cfg->alpha))
		return kino_error_set(err, KINO_EINVAL, "alpha must be >= 0");
	if (cfg->threads < 1 || cfg->threads > 256)
		return kino_error_set(err, KINO_EINVAL,
				      "threads must be 1..256, not %d", cfg->threads);
	if (cfg->solver != KINO_RECSYS_SOLVER_CHOLESKY &&
	    cfg->solver != KINO_RECSYS_SOLVER_CG)
		return kino_error_set(err, KINO_EINVAL, "unknown solver %d",
				      (int)cfg->solver);
	if (cfg->solver == KINO_RECSYS_SOLVER_CG &&
	    (cfg->cg_steps < 1 || cfg->cg_steps > 1000))
		return kino_error_set(err, KINO_EINVAL,
				      "cg steps must be 1..1000, not %d",
				      cfg->cg_steps);
	return 0;
}

/* gram = M^T M (+ lambda I when lambda > 0) for M rows x f row-major, full
 * symmetric (both triangles), via ssyrk. */
static void gram_matrix(const float *m, size_t rows, size_t f, float lambda,
			float *gram)
{
	/* Row-major M (rows x f) is column-major M^T (f x rows). */
	cblas_ssyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)f, (int)rows,
		    1.0f, m, (int)f, 0.0f, gram, (int)f);
	for (size_t j = 0; j < f; j++) {
		gram[j * f + j] += lambda;
		for (size_t i = j + 1; i < f; i++)
			gram[j * f + i] = gram[i * f + j]; /* lower from upper */
	}
}

/* One half-iteration: the rows of target solved against other. */
typedef struct half_step {
	const csr_t *m;
	const float *other;
	float *target;
	const float *gram;
	size_t f;
	float alpha;
	kino_recsys_solver_t solver;
	int cg_steps;
	atomic_size_t next;
	atomic_int failed;
	pthread_mutex_t lock;
	kino_error_t *err; /* first failure, under lock */
} half_step_t;

int recsys_solve_exact(const float *gram, const float *other, size_t f,
		       const uint32_t *index, const float *strength,
		       size_t n, float alpha, float *a, float *x,
		       float *gathered)
{
	memcpy(a, gram, f * f * sizeof(*a));
	memset(x, 0, f * sizeof(*x));
	for (size_t j0 = 0; j0 < n; j0 += RECSYS_GATHER_ROWS) {
		size_t m = n - j0 < RECSYS_GATHER_ROWS ? n - j0 : RECSYS_GATHER_ROWS;
		for (size_t j = 0; j < m; j++) {
			const float *y = other + (size_t)index[j0 + j] * f;
			float c1 = alpha * strength[j0 + j];
			float s = sqrtf(c1);
			float *g = gathered + j * f;
			for (size_t k = 0; k < f; k++) {
				x[k] += (1.0f + c1) * y[k];
				g[k] = s * y[k];
			}
		}
		cblas_ssyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)f,
			    (int)m, 1.0f, gathered, (int)f, 1.0f, a, (int)f);
	}
	return LAPACKE_sposv(LAPACK_COL_MAJOR, 'U', (lapack_int)f, 1, a,
			     (lapack_int)f, x, (lapack_int)f);
}

/* Solves row r exactly into the target, or records why it could not. */
static int solve_cholesky(half_step_t *hs, size_t r, float *a, float *b,
			  float *gathered)
{
	size_t f = hs->f;
	uint64_t lo = hs->m->start[r], hi = hs->m->start[r + 1];
	lapack_int info;

	info = recsys_solve_exact(hs->gram, hs->other, f, hs->m->index + lo,
				  hs->m->value + lo, (size_t)(hi - lo), hs->alpha,
				  a, b, gathered);
	if (info != 0) {
		pthread_mutex_lock(&hs->lock);
		if (hs->err != NULL && hs->err->code == 0)
			kino_error_set(hs->err, KINO_ENUMERIC,
				       "LAPACKE_sposv failed for row %zu: info %d%s",
				       r, (int)info,
				       info > 0 ? " (matrix not positive definite)"
						: " (bad argument)");
		pthread_mutex_unlock(&hs->lock);
		return -1;
	}
	memcpy(hs->target + r * f, b, f * sizeof(float));
	return 0;
}

static void *half_step_worker(void *arg)
{
	half_step_t *hs = arg;
	size_t f = hs->f;
	float *a = malloc(f * f * sizeof(float));
	float *b = malloc(f * sizeof(float));
	float *gathered = malloc(RECSYS_GATHER_ROWS * f * sizeof(float));
	float *work = malloc(3 * f * sizeof(float));

	if (a == NULL || b == NULL || gathered == NULL || work == NULL) {
		pthread_mutex_lock(&hs->lock);
		if (hs->err != NULL && hs->err->code == 0)
			kino_error_set(hs->err, KINO_ENOMEM,
				       "training: out of memory");
		pthread_mutex_unlock(&hs->lock);
		atomic_store(&hs->failed, 1);
		goto out;
	}
	for (;;) {
		size_t first = atomic_fetch_add(&hs->next, ROWS_PER_CLAIM);
		if (first >= hs->m->rows || atomic_load(&hs->failed))
			break;
		size_t last = first + ROWS_PER_CLAIM;
		if (last > hs->m->rows)
			last = hs->m->rows;
		for (size_t r = first; r < last; r++) {
			uint64_t lo = hs->m->start[r], hi = hs->m->start[r + 1];
			if (lo == hi) {
				/* No interactions: (YtY + lambda I) x = 0. */
				memset(hs->target + r * f, 0, f * sizeof(float));
			} else if (hs->solver == KINO_RECSYS_SOLVER_CG) {
				recsys_cg_solve(hs->gram, hs->other,
						hs->m->index + lo, hs->m->value + lo,
						(size_t)(hi - lo), f, hs->alpha,
						hs->cg_steps, hs->target + r * f,
						work);
			} else if (solve_cholesky(hs, r, a, b, gathered) != 0) {
				atomic_store(&hs->failed, 1);
				break;
			}
		}
	}
out:
	free(work);
	free(gathered);
	free(b);
	free(a);
	return NULL;
}

/* Solves every row of m on cfg->threads threads (the caller is one). */
static int half_step_run(const csr_t *m, const float *other, float *target,
			 const float *gram, size_t f,
			 const kino_recsys_train_config_t *cfg, kino_error_t *err)
{
	pthread_t threads[256];
	int started = 0;
	kino_error_t local;
	half_step_t hs = {
		.m = m,
		.other = other,
		.target = target,
		.gram = gram,
		.f = f,
		.alpha = cfg->alpha,
		.solver = cfg->solver,
		.cg_steps = cfg->cg_steps,
		.err = &local,
	};
	int ret = 0;

	kino_error_clear(&local);
	atomic_init(&hs.next, 0);
	atomic_init(&hs.failed, 0);
	pthread_mutex_init(&hs.lock, NULL);
	for (int t = 1; t < cfg->threads; t++) {
		if (pthread_create(&threads[started], NULL, half_step_worker, &hs) != 0)
			break; /* fewer threads, same result */
		started++;
	}
	half_step_worker(&hs);
	for (int t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	pthread_mutex_destroy(&hs.lock);
	if (atomic_load(&hs.failed))
		ret = kino_error_set(err, local.code ? local.code : KINO_ENUMERIC,
				     "%s", kino_error_message(&local));
	return ret;
}

static void init_factors(float *m, size_t rows, size_t f, uint64_t seed,
			 uint64_t side)
{
	for (size_t r = 0; r < rows; r++) {
		uint64_t state = seed ^ (side * UINT64_C(0x9E3779B97F4A7C15)) ^
				 ((uint64_t)r * UINT64_C(0xD1B54A32D192ED03));
		for (size_t k = 0; k < f; k++)
			m[r * f + k] = recsys_rand_float(&state) * 0.01f;
	}
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

int kino_recsys_model_train(const kino_recsys_interactions_t *inter,
			    const kino_recsys_train_config_t *cfg,
			    kino_recsys_model_t **out, kino_error_t *err)
{
	kino_recsys_model_t *model = NULL;
	float *gram = NULL;
	size_t f;
	int blas_threads = openblas_get_num_threads();
	struct timespec t0;
	int ret = 0;

	*out = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = kino_recsys_train_config_validate(cfg, err);
	if (ret != 0)
		goto out;
	f = (size_t)cfg->factors;
	ret = recsys_model_alloc(inter->n_users, inter->n_items, f, &model, err);
	if (ret != 0)
		goto out;
	gram = malloc(f * f * sizeof(*gram));
	if (gram == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "training: out of memory");
		goto out;
	}
	memcpy(model->user_ids, inter->user_ids, inter->n_users * sizeof(int64_t));
	memcpy(model->item_ids, inter->item_ids, inter->n_items * sizeof(int64_t));
	model->info.factors = (uint32_t)f;
	model->info.iterations = (uint32_t)cfg->iterations;
	model->info.regularization = cfg->regularization;
	model->info.alpha = cfg->alpha;
	model->info.seed = cfg->seed;
	model->info.solver = (uint32_t)cfg->solver;
	model->info.cg_steps = cfg->solver == KINO_RECSYS_SOLVER_CG
				       ? (uint32_t)cfg->cg_steps : 0;
	model->info.created_at = (int64_t)time(NULL);
	model->info.data_first_timestamp = inter->stats.first_timestamp;
	model->info.data_last_timestamp = inter->stats.last_timestamp;
	model->info.interactions = inter->nnz;
	init_factors(model->user_factors, inter->n_users, f, cfg->seed, 1);
	init_factors(model->item_factors, inter->n_items, f, cfg->seed, 2);

	/* Our threads call BLAS concurrently; OpenBLAS's own threads would
	 * only oversubscribe the cores. */
	openblas_set_num_threads(1);
	for (int it = 0; it < cfg->iterations; it++) {
		gram_matrix(model->item_factors, inter->n_items, f,
			    cfg->regularization, gram);
		ret = half_step_run(&inter->by_user, model->item_factors,
				    model->user_factors, gram, f, cfg, err);
		if (ret != 0)
			goto out;
		gram_matrix(model->user_factors, inter->n_users, f,
			    cfg->regularization, gram);
		ret = half_step_run(&inter->by_item, model->user_factors,
				    model->item_factors, gram, f, cfg, err);
		if (ret != 0)
			goto out;
		if (cfg->on_iteration != NULL)
			cfg->on_iteration(it + 1, model, cfg->userdata);
	}
	recsys_model_update_cache(model);
	model->info.train_seconds = seconds_since(&t0);
	ret = kino_recsys_model_loss(model, inter, &model->info.final_loss, err);
	if (ret != 0)
		goto out;
	KINO_LOG_INFO("trained %zu users x %zu items (%zu interactions), %zu "
		      "factors, %d iterations in %.2f s, loss %.6g",
		      inter->n_users, inter->n_items, inter->nnz, f,
		      cfg->iterations, model->info.train_seconds,
		      model->info.final_loss);
	*out = model;
	model = NULL;
out:
	openblas_set_num_threads(blas_threads);
	free(gram);
	kino_recsys_model_destroy(model);
	return ret;
}

int kino_recsys_model_loss(const kino_recsys_model_t *model,
			   const kino_recsys_interactions_t *inter,
			   double *loss, kino_error_t *err)
{
	size_t f = model->factors;
	float *xtx = NULL, *yty = NULL;
	double total = 0.0, norms = 0.0;
	int ret = 0;

	*loss = 0.0;
	if (inter->n_users != model->n_users || inter->n_items != model->n_items) {
		ret = kino_error_set(err, KINO_EINVAL,
				     "loss: the interactions (%zu x %zu) are not "
				     "the model's (%zu x %zu)", inter->n_users,
				     inter->n_items, model->n_users, model->n_items);
		goto out;
	}
	xtx = malloc(f * f * sizeof(*xtx));
	yty = malloc(f * f * sizeof(*yty));
	if (xtx == NULL || yty == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "loss: out of memory");
		goto out;
	}
	/* sum over all pairs of (x.y)^2 = <XtX, YtY>; the observed pairs then
	 * swap their (x.y)^2 for c (1 - x.y)^2. */
	gram_matrix(model->user_factors, model->n_users, f, 0.0f, xtx);
	gram_matrix(model->item_factors, model->n_items, f, 0.0f, yty);
	for (size_t i = 0; i < f * f; i++)
		total += (double)xtx[i] * (double)yty[i];
	for (size_t u = 0; u < inter->n_users; u++) {
		const float *x = model->user_factors + u * f;
		for (uint64_t j = inter->by_user.start[u];
		     j < inter->by_user.start[u + 1]; j++) {
			const float *y = model->item_factors +
					 (size_t)inter->by_user.index[j] * f;
			double c = 1.0 + (double)model->info.alpha *
						 (double)inter->by_user.value[j];
			double s = cblas_sdot((int)f, x, 1, y, 1);
			total += c * (1.0 - s) * (1.0 - s) - s * s;
		}
	}
	for (size_t i = 0; i < model->n_users * f; i++)
		norms += (double)model->user_factors[i] * model->user_factors[i];
	for (size_t i = 0; i < model->n_items * f; i++)
		norms += (double)model->item_factors[i] * model->item_factors[i];
	*loss = total + (double)model->info.regularization * norms;
out:
	free(yty);
	free(xtx);
	return ret;
}
