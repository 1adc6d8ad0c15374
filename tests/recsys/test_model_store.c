/* The model store reloads without dropping a request: readers keep the
 * model they took while a reload swaps a new one in, the old one is freed
 * by its last reader (ASan checks), an unchanged file is not reloaded, a
 * missing file is an empty store, and a corrupt file keeps the old model. */
#include "check.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/recsys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static char path[600];

/* A small model whose items are 1..nitems, trained with `seed`. */
static void make_model(const char *to, int nitems, uint64_t seed)
{
	kino_recsys_ratings_t r;
	kino_recsys_interactions_t *inter = NULL;
	kino_recsys_model_t *model = NULL;
	kino_recsys_train_config_t cfg;
	kino_error_t err = {0};
	char tmp[700];

	kino_recsys_ratings_init(&r);
	for (int u = 1; u <= 20; u++)
		for (int i = 1; i <= nitems; i++)
			if ((u * 7 + i * 3) % 4 == 0) {
				kino_recsys_rating_t row = {.user = u, .item = i, .value = 1, .timestamp = 1};
				CHECK_INT_EQ(kino_recsys_ratings_append(&r, &row, &err), 0);
			}
	CHECK_INT_EQ(kino_recsys_interactions_new(&r, NULL, &inter, &err), 0);
	kino_recsys_train_config_default(&cfg);
	cfg.factors = 4;
	cfg.iterations = 2;
	cfg.seed = seed;
	CHECK_MSG(kino_recsys_model_train(inter, &cfg, &model, &err) == 0, "%s", err.message);
	/* Saved beside and renamed over, as a trainer does: atomic. */
	snprintf(tmp, sizeof(tmp), "%s.new", to);
	CHECK_INT_EQ(kino_recsys_model_save(model, tmp, &err), 0);
	CHECK(rename(tmp, to) == 0);
	kino_recsys_model_destroy(model);
	kino_recsys_interactions_destroy(inter);
	kino_recsys_ratings_close(&r);
}

static kino_recsys_model_store_t *store;
static atomic_bool stop;
static atomic_long reads;

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		kino_recsys_model_ref_t *ref = kino_recsys_model_store_acquire(store);
		CHECK(ref != NULL);
		const kino_recsys_model_t *m = kino_recsys_model_ref_model(ref);
		size_t n = kino_recsys_model_items(m);
		CHECK(n == 12 || n == 16);
		/* Touch every factor: a freed model would show under ASan. */
		float sum = 0;
		for (size_t i = 0; i < n; i++) {
			const float *v = kino_recsys_model_item_vector(m, kino_recsys_model_item_id(m, i));
			CHECK(v != NULL);
			for (size_t f = 0; f < kino_recsys_model_factors(m); f++)
				sum += v[f];
		}
		CHECK(sum == sum); /* not NaN */
		kino_recsys_model_store_release(store, ref);
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

int main(void)
{
	char dir[512];
	kino_error_t err = {0};
	bool changed;

	tenv_tmpdir(dir, sizeof(dir), "modelstore");
	snprintf(path, sizeof(path), "%s/model.kals", dir);

	/* No file yet: an empty store, not an error. */
	store = kino_recsys_model_store_new(path, &err);
	CHECK_MSG(store != NULL, "%s", err.message);
	CHECK(kino_recsys_model_store_acquire(store) == NULL);

	make_model(path, 12, 1);
	CHECK_INT_EQ(kino_recsys_model_store_reload(store, &changed, &err), 0);
	CHECK(changed);
	CHECK_INT_EQ(kino_recsys_model_store_reload(store, &changed, &err), 0);
	CHECK(!changed); /* the same file is not read twice */

	/* Readers run while models are replaced under them. */
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int round = 0; round < 12; round++) {
		make_model(path, round % 2 ? 12 : 16, (uint64_t)round + 2);
		CHECK_INT_EQ(kino_recsys_model_store_reload(store, &changed, &err), 0);
		CHECK(changed);
		usleep(5000);
	}

	/* A corrupt file: the reload fails and the last good model serves on. */
	FILE *f = fopen(path, "w");
	fputs("not a model", f);
	fclose(f);
	CHECK(kino_recsys_model_store_reload(store, &changed, &err) != 0);
	CHECK(!changed);
	usleep(20000);
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK_MSG(atomic_load(&reads) > 100, "only %ld reads", atomic_load(&reads));
	kino_recsys_model_ref_t *ref = kino_recsys_model_store_acquire(store);
	CHECK(ref != NULL);
	kino_recsys_model_store_release(store, ref);

	kino_recsys_model_store_destroy(store);
	tenv_rmtree(dir);
	return 0;
}
