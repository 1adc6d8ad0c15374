/* Models after training: recommend leaves out seen items, fold-in moves a
 * viewer's top picks towards what they just watched, similar items are
 * similar, and the model file round-trips while truncated or corrupt files
 * are rejected with a clear error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recsys_test_data.h"

static kino_recsys_interactions_t *inter;
static kino_recsys_model_t *model;

static void train_once(void)
{
	kino_recsys_ratings_t all;
	kino_recsys_train_config_t cfg;
	kino_error_t err = {0};

	test_read_ml_small(&all);
	CHECK(kino_recsys_interactions_new(&all, NULL, &inter, &err) == 0);
	kino_recsys_ratings_close(&all);
	kino_recsys_train_config_default(&cfg);
	cfg.factors = TEST_UNDER_SANITIZER ? 16 : 32;
	cfg.iterations = TEST_UNDER_SANITIZER ? 4 : 10;
	cfg.regularization = 10.0f;
	cfg.threads = 2;
	CHECK_MSG(kino_recsys_model_train(inter, &cfg, &model, &err) == 0, "%s",
		  kino_error_message(&err));
}

static void test_recommend_leaves_out_seen(void)
{
	kino_error_t err = {0};
	int64_t *seen = malloc(4096 * sizeof(*seen));
	kino_recsys_scored_t top[50];
	size_t n_seen, n;

	CHECK(seen != NULL);
	for (size_t u = 0; u < kino_recsys_model_users(model); u += 7) {
		int64_t user = kino_recsys_model_user_id(model, u);
		n_seen = kino_recsys_interactions_user_items(inter, user, seen, 4096);
		CHECK(n_seen <= 4096);
		CHECK(kino_recsys_model_recommend(
			      model, kino_recsys_model_user_vector(model, user),
			      seen, n_seen, 50, top, &n, &err) == 0);
		CHECK_INT_EQ(n, 50);
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < n_seen; j++)
				CHECK_MSG(top[i].item != seen[j],
					  "user %lld got seen item %lld",
					  (long long)user, (long long)top[i].item);
			if (i > 0)
				CHECK(top[i].score <= top[i - 1].score);
		}
	}
	/* Without the exclusion, a heavy viewer's list does hold seen items:
	 * the exclusion above was doing the work. */
	{
		int64_t user = 414; /* the heaviest rater of ml-latest-small */
		size_t hits = 0;
		n_seen = kino_recsys_interactions_user_items(inter, user, seen, 4096);
		CHECK(n_seen > 1000);
		CHECK(kino_recsys_model_recommend(
			      model, kino_recsys_model_user_vector(model, user),
			      NULL, 0, 50, top, &n, &err) == 0);
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n_seen; j++)
				hits += top[i].item == seen[j];
		CHECK(hits > 0);
	}
	free(seen);
}

static void test_similar_items(void)
{
	kino_error_t err = {0};
	kino_recsys_scored_t sim[10];
	size_t n;

	/* 1 is Toy Story (1995) in MovieLens. */
	CHECK(kino_recsys_model_similar_items(model, 1, 10, sim, &n, &err) == 0);
	CHECK_INT_EQ(n, 10);
	for (size_t i = 0; i < n; i++) {
		CHECK(sim[i].item != 1);
		CHECK(sim[i].score <= 1.0001f && sim[i].score >= -1.0001f);
		if (i > 0)
			CHECK(sim[i].score <= sim[i - 1].score);
	}
	CHECK(sim[0].score > 0.5f);
	CHECK_INT_EQ(kino_recsys_model_similar_items(model, 999999999, 10, sim, &n,
						     &err),
		     KINO_ENOENT);
}

/* Mean cosine between the items of top and item. */
static double mean_cosine_to(const kino_recsys_scored_t *top, size_t n,
			     int64_t item)
{
	size_t f = kino_recsys_model_factors(model);
	const float *s = kino_recsys_model_item_vector(model, item);
	double total = 0.0;

	for (size_t i = 0; i < n; i++) {
		const float *v = kino_recsys_model_item_vector(model, top[i].item);
		double dot = 0, ns = 0, nv = 0;
		for (size_t k = 0; k < f; k++) {
			dot += (double)s[k] * v[k];
			ns += (double)s[k] * s[k];
			nv += (double)v[k] * v[k];
		}
		total += dot / sqrt(ns * nv);
	}
	return total / (double)n;
}

/* A viewer with some history watches five titles close to one seed title;
 * the fresh vector's top 20 must then hold more of that title's other
 * neighbours than before. */
static void test_fold_in_follows_recent_plays(void)
{
	kino_error_t err = {0};
	int64_t user = -1;
	int64_t hist[64 + 5];
	float conf[64 + 5];
	size_t n_hist = 0;
	size_t f = kino_recsys_model_factors(model), unknown = 99, n;
	float *before = malloc(f * sizeof(float)), *after = malloc(f * sizeof(float));
	kino_recsys_scored_t sim[40], top[20];
	int64_t seed_item = -1;
	size_t near_before = 0, near_after = 0;
	double cos_before, cos_after;

	CHECK(before != NULL && after != NULL);
	/* A light viewer (20 to 30 titles), as most viewers are. */
	for (size_t u = 0; u < kino_recsys_model_users(model) && user < 0; u++) {
		int64_t id = kino_recsys_model_user_id(model, u);
		size_t c = kino_recsys_interactions_user_items(inter, id, NULL, 0);
		if (c >= 20 && c <= 30)
			user = id;
	}
	CHECK(user >= 0);
	n_hist = kino_recsys_interactions_user_items(inter, user, hist, 64);
	for (size_t i = 0; i < n_hist; i++)
		conf[i] = kino_recsys_model_confidence(model, 4.0f);
	CHECK(kino_recsys_model_fold_in(model, hist, conf, n_hist, before,
					&unknown, &err) == 0);
	CHECK_INT_EQ(unknown, 0);
	/* A fold-in of the user's own history lands near the trained vector. */
	{
		const float *trained = kino_recsys_model_user_vector(model, user);
		double dot = 0, na = 0, nb = 0;
		for (size_t k = 0; k < f; k++) {
			dot += (double)before[k] * trained[k];
			na += (double)before[k] * before[k];
			nb += (double)trained[k] * trained[k];
		}
		printf("fold-in of user %lld's own history (%zu titles): cosine "
		       "%.3f to the trained vector\n", (long long)user, n_hist,
		       dot / sqrt(na * nb));
		CHECK(dot / sqrt(na * nb) > 0.8);
	}
	/* Seed: the title the viewer has not seen with the longest factor vector
	 * (a popular, well-estimated one), so its neighbours are meaningful. */
	{
		float best_norm = -1.0f;
		for (size_t i = 0; i < kino_recsys_model_items(model); i++) {
			int64_t cand = kino_recsys_model_item_id(model, i);
			const float *v = kino_recsys_model_item_vector(model, cand);
			float norm = 0.0f;
			int seen = 0;
			for (size_t j = 0; j < n_hist; j++)
				seen |= hist[j] == cand;
			for (size_t k = 0; k < f; k++)
				norm += v[k] * v[k];
			if (!seen && norm > best_norm) {
				best_norm = norm;
				seed_item = cand;
			}
		}
	}
	CHECK(seed_item >= 0);
	CHECK(kino_recsys_model_similar_items(model, seed_item, 40, sim, &n, &err) == 0);
	CHECK_INT_EQ(n, 40);

	CHECK(kino_recsys_model_recommend(model, before, hist, n_hist, 20, top, &n,
					  &err) == 0);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 5; j < 40; j++)
			near_before += top[i].item == sim[j].item;
	cos_before = mean_cosine_to(top, n, seed_item);

	for (size_t j = 0; j < 5; j++) { /* just watched, and watched fully */
		hist[n_hist + j] = sim[j].item;
		conf[n_hist + j] = kino_recsys_model_confidence(model, 5.0f) * 4.0f;
	}
	CHECK(kino_recsys_model_fold_in(model, hist, conf, n_hist + 5, after,
					NULL, &err) == 0);
	CHECK(kino_recsys_model_recommend(model, after, hist, n_hist + 5, 20, top,
					  &n, &err) == 0);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 5; j < 40; j++)
			near_after += top[i].item == sim[j].item;
	cos_after = mean_cosine_to(top, n, seed_item);
	printf("fold-in: after watching 5 neighbours of item %lld, its other "
	       "neighbours in the top 20: %zu -> %zu; mean cosine of the top 20 "
	       "to it: %.3f -> %.3f\n", (long long)seed_item, near_before,
	       near_after, cos_before, cos_after);
	CHECK(near_after >= near_before + 3);
	CHECK(cos_after > cos_before + 0.02);

	/* Unknown items are counted, not fatal; bad confidence is refused. */
	{
		int64_t items[2] = {1, 999999999};
		float c[2] = {2.0f, 2.0f};
		CHECK(kino_recsys_model_fold_in(model, items, c, 2, after, &unknown,
						&err) == 0);
		CHECK_INT_EQ(unknown, 1);
		c[0] = 0.5f;
		CHECK_INT_EQ(kino_recsys_model_fold_in(model, items, c, 2, after,
						       NULL, &err),
			     KINO_EINVAL);
	}
	free(after);
	free(before);
}

static long file_size(const char *path)
{
	FILE *fp = fopen(path, "rb");
	long n;
	CHECK(fp != NULL);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fclose(fp);
	return n;
}

static void test_model_file_round_trip(void)
{
	char dir[] = "/tmp/kino-recsys-test-XXXXXX";
	char path[256], bad[300];
	kino_recsys_model_t *loaded = NULL;
	kino_recsys_metrics_t metrics = {.k = 10, .users = 610, .ndcg = 0.3};
	kino_error_t err = {0};
	const kino_recsys_model_info_t *a, *b;
	size_t f = kino_recsys_model_factors(model);
	long size;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/model.kino", dir);
	kino_recsys_model_set_source(model, "ratings:ml-latest-small");
	kino_recsys_model_set_metrics(model, &metrics);
	CHECK_MSG(kino_recsys_model_save(model, path, &err) == 0, "%s", err.message);
	CHECK_MSG(kino_recsys_model_load(path, &loaded, &err) == 0, "%s", err.message);
	a = kino_recsys_model_info(model);
	b = kino_recsys_model_info(loaded);
	CHECK_INT_EQ(b->format_version, 2);
	CHECK_INT_EQ(b->factors, a->factors);
	CHECK_INT_EQ(b->iterations, a->iterations);
	CHECK(b->regularization == a->regularization && b->alpha == a->alpha);
	CHECK_INT_EQ(b->seed, a->seed);
	CHECK_INT_EQ(b->created_at, a->created_at);
	CHECK_INT_EQ(b->data_first_timestamp, a->data_first_timestamp);
	CHECK_INT_EQ(b->interactions, a->interactions);
	CHECK(b->metrics.ndcg == 0.3 && b->metrics.k == 10);
	CHECK_STR_EQ(b->source, "ratings:ml-latest-small");
	CHECK_INT_EQ(kino_recsys_model_users(loaded), kino_recsys_model_users(model));
	CHECK_INT_EQ(kino_recsys_model_items(loaded), kino_recsys_model_items(model));
	for (size_t i = 0; i < kino_recsys_model_items(model); i++) {
		int64_t id = kino_recsys_model_item_id(model, i);
		CHECK_INT_EQ(kino_recsys_model_item_id(loaded, i), id);
		CHECK(memcmp(kino_recsys_model_item_vector(model, id),
			     kino_recsys_model_item_vector(loaded, id),
			     f * sizeof(float)) == 0);
	}
	CHECK(memcmp(kino_recsys_model_user_vector(model, 1),
		     kino_recsys_model_user_vector(loaded, 1), f * sizeof(float)) == 0);
	kino_recsys_model_destroy(loaded);
	loaded = NULL;

	/* Truncated by one byte, and by half. */
	size = file_size(path);
	snprintf(bad, sizeof(bad), "%s/truncated.kino", dir);
	for (int cut = 0; cut < 2; cut++) {
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "head -c %ld '%s' > '%s'",
			 cut ? size / 2 : size - 1, path, bad);
		CHECK(system(cmd) == 0);
		CHECK_INT_EQ(kino_recsys_model_load(bad, &loaded, &err), KINO_EPARSE);
		CHECK_CONTAINS(err.message, "truncated or corrupt");
		CHECK(loaded == NULL);
	}
	/* One flipped byte in the factors: the checksum catches it. */
	{
		FILE *fp;
		char cmd[700];
		int ch;
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, bad);
		CHECK(system(cmd) == 0);
		fp = fopen(bad, "r+b");
		CHECK(fp != NULL);
		fseek(fp, size - 100, SEEK_SET);
		ch = fgetc(fp);
		fseek(fp, size - 100, SEEK_SET);
		fputc(ch ^ 0x10, fp);
		fclose(fp);
		CHECK_INT_EQ(kino_recsys_model_load(bad, &loaded, &err), KINO_EPARSE);
		CHECK_CONTAINS(err.message, "checksum mismatch");
	}
	/* Not a model at all, and a future version. */
	{
		FILE *fp = fopen(bad, "wb");
		CHECK(fp != NULL);
		fputs("userId,movieId,rating,timestamp\n1,2,3,4\n", fp);
		fclose(fp);
		CHECK_INT_EQ(kino_recsys_model_load(bad, &loaded, &err), KINO_EPARSE);
		CHECK_CONTAINS(err.message, "not a Kino model file");
		fp = fopen(bad, "wb");
		fwrite("KINOALS1\x03\0\0\0\xa0\x01\0\0", 1, 16, fp);
		fclose(fp);
		CHECK_INT_EQ(kino_recsys_model_load(bad, &loaded, &err),
			     KINO_EUNSUPPORTED);
		CHECK_CONTAINS(err.message, "version 3");
	}
	CHECK_INT_EQ(kino_recsys_model_load("/nonexistent/m.kino", &loaded, &err),
		     KINO_ENOENT);
	/* A failed save leaves nothing behind and the old file intact. */
	CHECK(kino_recsys_model_save(model, "/nonexistent-dir/m.kino", &err) != 0);
	unlink(bad);
	unlink(path);
	CHECK(rmdir(dir) == 0); /* fails if a temporary file was left */
}

int main(void)
{
	train_once();
	RUN_TEST(test_recommend_leaves_out_seen);
	RUN_TEST(test_similar_items);
	RUN_TEST(test_fold_in_follows_recent_plays);
	RUN_TEST(test_model_file_round_trip);
	kino_recsys_model_destroy(model);
	kino_recsys_interactions_destroy(inter);
	return 0;
}
