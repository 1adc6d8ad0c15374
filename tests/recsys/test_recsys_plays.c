/* Learning from plays, without a database: the strength a (viewer, title)
 * pair gets from its plays (the rules of docs/recsys.md), and models keyed
 * by strings, as the server trains them from `plays`: the keys survive the
 * model file, find their users and items, and a key table that is out of
 * order or not text is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recsys_test_data.h"

#define CHECK_NEAR(a, b) CHECK_MSG(fabs((double)(a) - (double)(b)) < 1e-6, "%s == %g, want %g", #a, (double)(a), (double)(b))

static float strength_of(const kino_recsys_play_t *plays, size_t n)
{
	kino_recsys_pair_t pair = {0};

	for (size_t i = 0; i < n; i++)
		kino_recsys_pair_add(&pair, &plays[i]);
	return kino_recsys_pair_strength(&pair);
}

static void test_pair_strength(void)
{
	const int64_t hour = 3600000;
	kino_recsys_play_t sampled = {.completion = 0.02, .watch_ms = 60000, .duration_ms = hour};
	kino_recsys_play_t half = {.completion = 0.5, .watch_ms = hour / 2, .duration_ms = hour};
	kino_recsys_play_t done = {.completion = 0.97, .watch_ms = hour, .duration_ms = hour};
	kino_recsys_play_t ended = {.completion = 0.9, .watch_ms = hour, .duration_ms = hour,
				    .completed = true};
	kino_recsys_play_t short_peek = {.completion = 0.2, .watch_ms = 5000,
					 .duration_ms = 30000};
	kino_recsys_play_t short_watch = {.completion = 0.4, .watch_ms = 12000,
					  .duration_ms = 30000};
	kino_recsys_play_t no_duration = {.completion = -1, .watch_ms = 10 * 60000};

	CHECK(kino_recsys_pair_strength(&(kino_recsys_pair_t){0}) == 0.0f);
	/* under 5%: an impression only */
	CHECK_NEAR(strength_of(&sampled, 1), 0.1);
	/* half watched: its fraction */
	CHECK_NEAR(strength_of(&half, 1), 0.5);
	/* finished: the whole title plus one completion */
	CHECK_NEAR(strength_of(&done, 1), 2.0);
	/* an `ended` play is a completion whatever the playhead says */
	CHECK_NEAR(strength_of(&ended, 1), 2.0);
	/* a repeat adds 0.5; a finished rewatch adds its completion too */
	CHECK_NEAR(strength_of((kino_recsys_play_t[]){half, half}, 2), 1.0);
	CHECK_NEAR(strength_of((kino_recsys_play_t[]){done, done}, 2), 3.5);
	/* capped at 5 */
	CHECK_NEAR(strength_of((kino_recsys_play_t[]){done, done, done, done}, 4), 5.0);
	/* a sampled play beside a real one does not make the pair an impression */
	CHECK_NEAR(strength_of((kino_recsys_play_t[]){sampled, half}, 2), 1.0);
	/* short titles: a quarter of the runtime is enough, 5 s of 30 is not */
	CHECK_NEAR(strength_of(&short_peek, 1), 0.1);
	CHECK_NEAR(strength_of(&short_watch, 1), 0.4);
	/* unknown duration: no fraction to go by, so it stays an impression */
	CHECK_NEAR(strength_of(&no_duration, 1), 0.1);
}

/* Three viewers, four titles, keyed by ObjectId-like strings. */
static const char *const users[] = {"5f0000000000000000000001", "5f0000000000000000000002",
				    "5f0000000000000000000003"};
static const char *const items[] = {"650000000000000000000a01", "650000000000000000000a02",
				    "650000000000000000000a03", "650000000000000000000a04"};

static kino_recsys_model_t *small_model(void)
{
	kino_recsys_ratings_t rows;
	kino_recsys_interactions_t *inter = NULL;
	kino_recsys_model_t *m = NULL;
	kino_recsys_train_config_t cfg;
	kino_error_t err = {0};
	const int pairs[][2] = {{0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 2}, {2, 3}, {0, 3}};

	kino_recsys_ratings_init(&rows);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		kino_recsys_rating_t r = {.user = pairs[i][0], .item = pairs[i][1], .value = 1};
		CHECK(kino_recsys_ratings_append(&rows, &r, &err) == 0);
	}
	CHECK(kino_recsys_interactions_new(&rows, NULL, &inter, &err) == 0);
	kino_recsys_train_config_default(&cfg);
	cfg.factors = 4;
	cfg.iterations = 3;
	CHECK_MSG(kino_recsys_model_train(inter, &cfg, &m, &err) == 0, "%s", err.message);
	kino_recsys_interactions_destroy(inter);
	kino_recsys_ratings_close(&rows);
	return m;
}

static void test_keyed_model_file(void)
{
	char dir[] = "/tmp/kino-recsys-keys-XXXXXX";
	char path[256], cmd[800];
	kino_recsys_model_t *m = small_model(), *loaded = NULL;
	kino_error_t err = {0};
	const char *const unordered[] = {"b", "a", "c"};
	const char *const spaced[] = {"a b", "c", "d"};

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/model.kals", dir);
	CHECK(!kino_recsys_model_has_keys(m));
	CHECK(kino_recsys_model_item_by_key(m, items[0]) == -1);
	/* keys must be text, in order */
	CHECK_INT_EQ(kino_recsys_model_set_keys(m, unordered, items, &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "user key 1");
	CHECK_INT_EQ(kino_recsys_model_set_keys(m, spaced, items, &err), KINO_EINVAL);
	CHECK(!kino_recsys_model_has_keys(m));

	CHECK_MSG(kino_recsys_model_set_keys(m, users, items, &err) == 0, "%s", err.message);
	CHECK_MSG(kino_recsys_model_save(m, path, &err) == 0, "%s", err.message);
	CHECK_MSG(kino_recsys_model_load(path, &loaded, &err) == 0, "%s", err.message);
	CHECK(kino_recsys_model_has_keys(loaded));
	for (size_t i = 0; i < 4; i++) {
		CHECK_INT_EQ(kino_recsys_model_item_by_key(loaded, items[i]), (int64_t)i);
		CHECK_STR_EQ(kino_recsys_model_item_key(loaded, i), items[i]);
	}
	for (size_t i = 0; i < 3; i++)
		CHECK_INT_EQ(kino_recsys_model_user_by_key(loaded, users[i]), (int64_t)i);
	CHECK(kino_recsys_model_user_by_key(loaded, "5f0000000000000000000009") == -1);
	CHECK(kino_recsys_model_item_by_key(loaded, "") == -1);
	CHECK(kino_recsys_model_item_key(loaded, 4) == NULL);
	CHECK(memcmp(kino_recsys_model_user_vector(loaded, 1), kino_recsys_model_user_vector(m, 1),
		     4 * sizeof(float)) == 0);
	kino_recsys_model_destroy(loaded);
	loaded = NULL;

	/* Swap two item keys in the file and mend the checksum: the loader
	 * still refuses the table, since the keys are out of order. */
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import sys,zlib,struct;p=sys.argv[1];b=bytearray(open(p,'rb').read());"
		 "i=b.index(b'a01');j=b.index(b'a02');b[i:i+3]=b'a02';b[j:j+3]=b'a01';"
		 "b[-4:]=struct.pack('<I',zlib.crc32(bytes(b[:-4])));open(p,'wb').write(b)\" '%s'",
		 path);
	CHECK(system(cmd) == 0);
	CHECK_INT_EQ(kino_recsys_model_load(path, &loaded, &err), KINO_EPARSE);
	CHECK_CONTAINS(err.message, "item key 1");
	CHECK(loaded == NULL);

	kino_recsys_model_destroy(m);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	RUN_TEST(test_pair_strength);
	RUN_TEST(test_keyed_model_file);
	return 0;
}
