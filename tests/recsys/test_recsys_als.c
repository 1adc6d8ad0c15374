/* ALS training: the loss falls at every iteration (both solvers), the
 * Cholesky and CG solvers agree, and the result does not depend on the
 * thread count. */
#include <math.h>
#include <stdio.h>

#include "recsys_test_data.h"

typedef struct loss_trace {
	const kino_recsys_interactions_t *inter;
	double loss[64];
	int n;
} loss_trace_t;

static void record_loss(int iteration, const kino_recsys_model_t *model,
			void *userdata)
{
	loss_trace_t *t = userdata;
	kino_error_t err = {0};

	CHECK_INT_EQ(iteration, t->n + 1);
	CHECK(kino_recsys_model_loss(model, t->inter, &t->loss[t->n], &err) == 0);
	t->n++;
}

static kino_recsys_interactions_t *ml_small(void)
{
	kino_recsys_ratings_t all;
	kino_recsys_interactions_t *inter = NULL;
	kino_error_t err = {0};

	test_read_ml_small(&all);
	CHECK(kino_recsys_interactions_new(&all, NULL, &inter, &err) == 0);
	kino_recsys_ratings_close(&all);
	return inter;
}

static void check_loss_falls(kino_recsys_solver_t solver)
{
	kino_recsys_interactions_t *inter = ml_small();
	kino_recsys_model_t *model = NULL;
	kino_recsys_train_config_t cfg;
	loss_trace_t trace = {.inter = inter};
	kino_error_t err = {0};

	kino_recsys_train_config_default(&cfg);
	cfg.factors = TEST_UNDER_SANITIZER ? 16 : 32;
	cfg.iterations = TEST_UNDER_SANITIZER ? 4 : 10;
	cfg.threads = 2;
	cfg.solver = solver;
	cfg.on_iteration = record_loss;
	cfg.userdata = &trace;
	CHECK(kino_recsys_model_train(inter, &cfg, &model, &err) == 0);
	CHECK_INT_EQ(trace.n, cfg.iterations);
	for (int i = 0; i < trace.n; i++) {
		printf("%s iteration %d: loss %.6f\n",
		       solver == KINO_RECSYS_SOLVER_CG ? "cg" : "cholesky", i + 1,
		       trace.loss[i]);
		CHECK(isfinite(trace.loss[i]));
		if (i > 0)
			CHECK_MSG(trace.loss[i] < trace.loss[i - 1],
				  "loss rose at iteration %d: %.6f -> %.6f", i + 1,
				  trace.loss[i - 1], trace.loss[i]);
	}
	kino_recsys_model_destroy(model);
	kino_recsys_interactions_destroy(inter);
}

static void test_loss_falls_cholesky(void)
{
	check_loss_falls(KINO_RECSYS_SOLVER_CHOLESKY);
}

static void test_loss_falls_cg(void)
{
	check_loss_falls(KINO_RECSYS_SOLVER_CG);
}

/* Max |a - b| over the user and item factors of two same-shape models. */
static double max_factor_diff(const kino_recsys_model_t *a,
			      const kino_recsys_model_t *b)
{
	double worst = 0.0;
	size_t f = kino_recsys_model_factors(a);

	for (size_t u = 0; u < kino_recsys_model_users(a); u++) {
		int64_t id = kino_recsys_model_user_id(a, u);
		const float *x = kino_recsys_model_user_vector(a, id);
		const float *y = kino_recsys_model_user_vector(b, id);
		for (size_t k = 0; k < f; k++)
			worst = fmax(worst, fabs((double)x[k] - y[k]));
	}
	for (size_t i = 0; i < kino_recsys_model_items(a); i++) {
		int64_t id = kino_recsys_model_item_id(a, i);
		const float *x = kino_recsys_model_item_vector(a, id);
		const float *y = kino_recsys_model_item_vector(b, id);
		for (size_t k = 0; k < f; k++)
			worst = fmax(worst, fabs((double)x[k] - y[k]));
	}
	return worst;
}

/* With as many CG steps as factors CG is exact, so after one iteration
 * from the same start both solvers give the same factors; with the usual
 * 3 steps they reach nearly the same loss and the same top items. */
static void test_cholesky_and_cg_agree(void)
{
	kino_recsys_interactions_t *inter = ml_small();
	kino_recsys_model_t *chol = NULL, *cg = NULL;
	kino_recsys_train_config_t cfg;
	kino_error_t err = {0};
	const kino_recsys_model_info_t *ic, *ig;
	double diff, rel;
	size_t overlap = 0, total = 0;

	kino_recsys_train_config_default(&cfg);
	cfg.factors = 8;
	cfg.iterations = 1;
	cfg.threads = 2;
	CHECK(kino_recsys_model_train(inter, &cfg, &chol, &err) == 0);
	cfg.solver = KINO_RECSYS_SOLVER_CG;
	cfg.cg_steps = 8;
	CHECK(kino_recsys_model_train(inter, &cfg, &cg, &err) == 0);
	diff = max_factor_diff(chol, cg);
	printf("1 iteration, 8 factors, 8 CG steps: max factor difference %.2e\n",
	       diff);
	CHECK_MSG(diff < 2e-3, "max factor difference %.3e", diff);
	kino_recsys_model_destroy(chol);
	kino_recsys_model_destroy(cg);

	cfg.factors = TEST_UNDER_SANITIZER ? 16 : 32;
	cfg.iterations = TEST_UNDER_SANITIZER ? 4 : 10;
	cfg.solver = KINO_RECSYS_SOLVER_CHOLESKY;
	CHECK(kino_recsys_model_train(inter, &cfg, &chol, &err) == 0);
	cfg.solver = KINO_RECSYS_SOLVER_CG;
	cfg.cg_steps = 3;
	CHECK(kino_recsys_model_train(inter, &cfg, &cg, &err) == 0);
	ic = kino_recsys_model_info(chol);
	ig = kino_recsys_model_info(cg);
	rel = fabs(ic->final_loss - ig->final_loss) / ic->final_loss;
	printf("%d iterations: loss cholesky %.4f, cg %.4f (%.3f%% apart)\n",
	       cfg.iterations, ic->final_loss, ig->final_loss, rel * 100.0);
	CHECK_MSG(rel < 0.01, "losses %.4f and %.4f differ by more than 1%%",
		  ic->final_loss, ig->final_loss);
	for (size_t u = 0; u < kino_recsys_model_users(chol); u += 10) {
		int64_t id = kino_recsys_model_user_id(chol, u);
		kino_recsys_scored_t a[10], b[10];
		size_t na, nb;
		CHECK(kino_recsys_model_recommend(
			      chol, kino_recsys_model_user_vector(chol, id), NULL,
			      0, 10, a, &na, &err) == 0);
		CHECK(kino_recsys_model_recommend(
			      cg, kino_recsys_model_user_vector(cg, id), NULL, 0,
			      10, b, &nb, &err) == 0);
		for (size_t i = 0; i < na; i++)
			for (size_t j = 0; j < nb; j++)
				overlap += a[i].item == b[j].item;
		total += na;
	}
	printf("top-10 overlap between solvers: %.1f%%\n",
	       100.0 * (double)overlap / (double)total);
	CHECK_MSG(overlap * 10 >= total * 7, "top-10 overlap %zu of %zu", overlap,
		  total);
	kino_recsys_model_destroy(chol);
	kino_recsys_model_destroy(cg);
	kino_recsys_interactions_destroy(inter);
}

/* Same seed, 1 or 3 threads: bit-identical factors. */
static void test_deterministic_across_threads(void)
{
	kino_recsys_interactions_t *inter = ml_small();
	kino_recsys_model_t *one = NULL, *three = NULL;
	kino_recsys_train_config_t cfg;
	kino_error_t err = {0};

	kino_recsys_train_config_default(&cfg);
	cfg.factors = 16;
	cfg.iterations = TEST_UNDER_SANITIZER ? 2 : 4;
	cfg.seed = 7;
	cfg.threads = 1;
	CHECK(kino_recsys_model_train(inter, &cfg, &one, &err) == 0);
	cfg.threads = 3;
	CHECK(kino_recsys_model_train(inter, &cfg, &three, &err) == 0);
	CHECK(max_factor_diff(one, three) == 0.0);
	kino_recsys_model_destroy(one);
	kino_recsys_model_destroy(three);
	kino_recsys_interactions_destroy(inter);
}

static void test_config_is_validated(void)
{
	kino_recsys_train_config_t cfg;
	kino_error_t err = {0};

	kino_recsys_train_config_default(&cfg);
	cfg.factors = 0;
	CHECK_INT_EQ(kino_recsys_train_config_validate(&cfg, &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "factors");
	kino_recsys_train_config_default(&cfg);
	cfg.regularization = 0.0f;
	CHECK_INT_EQ(kino_recsys_train_config_validate(&cfg, &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "regularization");
}

int main(void)
{
	RUN_TEST(test_config_is_validated);
	RUN_TEST(test_loss_falls_cholesky);
	RUN_TEST(test_loss_falls_cg);
	RUN_TEST(test_cholesky_and_cg_agree);
	RUN_TEST(test_deterministic_across_threads);
	return 0;
}
