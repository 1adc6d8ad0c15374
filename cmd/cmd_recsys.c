/* kino recsys: train, recommend, evaluate and split, on ratings files.
 *
 * Only argument parsing and wiring live here; the work is in recsys/
 * (include/kino/recsys.h). Results go to stdout as tab-separated lines,
 * diagnostics to stderr; exit 2 for what the user typed wrongly, 1 for what
 * failed while running. `train --from-db` learns from telemetry's `plays`
 * in the configured database, as the server's scheduled retraining does. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "kino/db.h"
#include "kino/recsys.h"

#include <time.h>

#define DB_WAIT_MS 5000

#define TRAIN_OPTIONS_HELP                                                     \
	"  --factors N              latent factors (default 64)\n"         \
	"  --iterations N           ALS iterations (default 15)\n"         \
	"  --regularization R       lambda (default 0.1)\n"                \
	"  --alpha A                confidence c = 1 + A * r (default 1)\n" \
	"  --threads N              training threads (default 1)\n"        \
	"  --seed S                 initialisation seed (default 42)\n"    \
	"  --solver cholesky|cg     exact solve or conjugate gradient\n"   \
	"  --cg-steps N             CG steps per row (default 3)\n"        \
	"  --positive-threshold T   ratings >= T count as 1, others are left out\n"

static const char usage_train[] =
	"Usage: kino recsys train --ratings FILE|--from-db --out MODEL [options]\n"
	"Trains implicit ALS on a MovieLens ratings file (CSV or u.data), or with\n"
	"--from-db on the plays of the last recsys.window in the configured database\n"
	"(defaults then come from the recsys.* settings, and --out defaults to the\n"
	"model file the server serves: the servers pick the new model up).\n"
	TRAIN_OPTIONS_HELP
	"  --test FILE              also evaluate on FILE and store the metrics\n"
	"  --k N                    cut-off for --test (default 10)\n";

static const char usage_recommend[] =
	"Usage: kino recsys recommend --model MODEL [--k 10] [--users 1,2,3]\n"
	"                             [--exclude-seen FILE]\n"
	"Prints user<TAB>item<TAB>rank<TAB>score for every user of the model, or\n"
	"for --users; items the user has in FILE (a ratings file) are left out.\n";

static const char usage_eval[] =
	"Usage: kino recsys eval --train FILE --test FILE [--k 10] [--model MODEL]\n"
	"                        [training options]\n"
	"Trains ALS on --train (or loads --model, which must have been trained on\n"
	"the same file) and prints precision, recall, MAP, NDCG at k and catalog\n"
	"coverage for ALS and for the popularity baseline.\n"
	TRAIN_OPTIONS_HELP;

static const char usage_split[] =
	"Usage: kino recsys split --ratings FILE --train-out F --test-out F\n"
	"                         [--seed 42] [--test-fraction 0.2]\n"
	"Writes a fixed per-user split of FILE as two MovieLens CSV files.\n";

enum {
	OPT_RATINGS = 256, OPT_FROM_DB, OPT_FACTORS, OPT_ITERATIONS,
	OPT_REGULARIZATION, OPT_ALPHA, OPT_THREADS, OPT_SEED, OPT_SOLVER,
	OPT_CG_STEPS, OPT_THRESHOLD, OPT_OUT, OPT_TEST, OPT_K, OPT_MODEL,
	OPT_USERS, OPT_EXCLUDE_SEEN, OPT_TRAIN, OPT_TRAIN_OUT, OPT_TEST_OUT,
	OPT_TEST_FRACTION, OPT_HELP,
};

typedef struct recsys_args {
	const char *ratings, *out, *test, *model, *users, *exclude_seen, *train;
	const char *train_out, *test_out;
	bool from_db;
	long k;
	double test_fraction;
	kino_recsys_train_config_t train_cfg;
	kino_recsys_interactions_options_t inter_opt;
} recsys_args_t;

static int usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Says what was wrong, then the usage; returns the usage exit status. */
static int usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kino recsys: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return KINO_EXIT_USAGE;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* Parses the options shared by all subcommands into a; returns 0, or an
 * exit status to return (usage error, or 0 with done set after --help). */
static int parse_args(int argc, char **argv, const char *usage,
		      recsys_args_t *a, bool *done)
{
	static const struct option options[] = {
		{"ratings", required_argument, NULL, OPT_RATINGS},
		{"from-db", no_argument, NULL, OPT_FROM_DB},
		{"factors", required_argument, NULL, OPT_FACTORS},
		{"iterations", required_argument, NULL, OPT_ITERATIONS},
		{"regularization", required_argument, NULL, OPT_REGULARIZATION},
		{"alpha", required_argument, NULL, OPT_ALPHA},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"seed", required_argument, NULL, OPT_SEED},
		{"solver", required_argument, NULL, OPT_SOLVER},
		{"cg-steps", required_argument, NULL, OPT_CG_STEPS},
		{"positive-threshold", required_argument, NULL, OPT_THRESHOLD},
		{"out", required_argument, NULL, OPT_OUT},
		{"test", required_argument, NULL, OPT_TEST},
		{"k", required_argument, NULL, OPT_K},
		{"model", required_argument, NULL, OPT_MODEL},
		{"users", required_argument, NULL, OPT_USERS},
		{"exclude-seen", required_argument, NULL, OPT_EXCLUDE_SEEN},
		{"train", required_argument, NULL, OPT_TRAIN},
		{"train-out", required_argument, NULL, OPT_TRAIN_OUT},
		{"test-out", required_argument, NULL, OPT_TEST_OUT},
		{"test-fraction", required_argument, NULL, OPT_TEST_FRACTION},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	kino_recsys_train_config_t *t = &a->train_cfg;
	long l;
	double d;
	int c;

	*done = false;
	optind = 0; /* glibc: start over, the main parser has used getopt */
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_RATINGS: a->ratings = optarg; break;
		case OPT_FROM_DB: a->from_db = true; break;
		case OPT_OUT: a->out = optarg; break;
		case OPT_TEST: a->test = optarg; break;
		case OPT_MODEL: a->model = optarg; break;
		case OPT_USERS: a->users = optarg; break;
		case OPT_EXCLUDE_SEEN: a->exclude_seen = optarg; break;
		case OPT_TRAIN: a->train = optarg; break;
		case OPT_TRAIN_OUT: a->train_out = optarg; break;
		case OPT_TEST_OUT: a->test_out = optarg; break;
		case OPT_FACTORS:
			if (!parse_long(optarg, 1, KINO_RECSYS_FACTORS_MAX, &l))
				return usage_error(usage, "--factors: '%s' is not 1..1024", optarg);
			t->factors = (int)l;
			break;
		case OPT_ITERATIONS:
			if (!parse_long(optarg, 1, 10000, &l))
				return usage_error(usage, "--iterations: '%s' is not 1..10000", optarg);
			t->iterations = (int)l;
			break;
		case OPT_THREADS:
			if (!parse_long(optarg, 1, 256, &l))
				return usage_error(usage, "--threads: '%s' is not 1..256", optarg);
			t->threads = (int)l;
			break;
		case OPT_CG_STEPS:
			if (!parse_long(optarg, 1, 1000, &l))
				return usage_error(usage, "--cg-steps: '%s' is not 1..1000", optarg);
			t->cg_steps = (int)l;
			break;
		case OPT_SEED:
			if (!parse_long(optarg, 0, LONG_MAX, &l))
				return usage_error(usage, "--seed: '%s' is not an integer >= 0", optarg);
			t->seed = (uint64_t)l;
			break;
		case OPT_K:
			if (!parse_long(optarg, 1, 100000, &l))
				return usage_error(usage, "--k: '%s' is not 1..100000", optarg);
			a->k = l;
			break;
		case OPT_REGULARIZATION:
			if (!parse_double(optarg, &d) || d <= 0.0)
				return usage_error(usage, "--regularization: '%s' is not a number > 0", optarg);
			t->regularization = (float)d;
			break;
		case OPT_ALPHA:
			if (!parse_double(optarg, &d) || d < 0.0)
				return usage_error(usage, "--alpha: '%s' is not a number >= 0", optarg);
			t->alpha = (float)d;
			break;
		case OPT_THRESHOLD:
			if (!parse_double(optarg, &d) || d <= 0.0)
				return usage_error(usage, "--positive-threshold: '%s' is not a number > 0", optarg);
			a->inter_opt.positive_threshold = (float)d;
			break;
		case OPT_TEST_FRACTION:
			if (!parse_double(optarg, &d) || d <= 0.0 || d >= 1.0)
				return usage_error(usage, "--test-fraction: '%s' is not in (0, 1)", optarg);
			a->test_fraction = d;
			break;
		case OPT_SOLVER:
			if (strcmp(optarg, "cholesky") == 0)
				t->solver = KINO_RECSYS_SOLVER_CHOLESKY;
			else if (strcmp(optarg, "cg") == 0)
				t->solver = KINO_RECSYS_SOLVER_CG;
			else
				return usage_error(usage, "--solver: '%s' is not cholesky or cg", optarg);
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			*done = true;
			return KINO_EXIT_OK;
		default:
			fputs(usage, stderr);
			return KINO_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error(usage, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int fail(const char *what, const kino_error_t *err)
{
	fprintf(stderr, "kino recsys: %s: %s\n", what, kino_error_message(err));
	return KINO_EXIT_FAILURE;
}

/* Reads a ratings file and builds its interactions (both caller-owned). */
static int load_interactions(const char *path, const recsys_args_t *a,
			     kino_recsys_ratings_t *rows,
			     kino_recsys_interactions_t **inter, kino_error_t *err)
{
	const kino_recsys_interactions_stats_t *st;
	int ret;

	kino_recsys_ratings_init(rows);
	ret = kino_recsys_ratings_read(path, rows, err);
	if (ret == 0)
		ret = kino_recsys_interactions_new(rows, &a->inter_opt, inter, err);
	if (ret != 0)
		return ret;
	st = kino_recsys_interactions_stats(*inter);
	fprintf(stderr,
		"%s: %zu rows -> %zu users x %zu items, %zu interactions "
		"(%zu below the threshold, %zu duplicates merged)\n",
		path, st->rows, kino_recsys_interactions_users(*inter),
		kino_recsys_interactions_items(*inter),
		kino_recsys_interactions_nnz(*inter), st->below_threshold,
		st->duplicates);
	return 0;
}

/* With a positive threshold, only positive test rows are relevant. */
static int read_test(const char *path, const recsys_args_t *a,
		     kino_recsys_ratings_t *test, kino_error_t *err)
{
	kino_recsys_ratings_t all;
	size_t dropped = 0;
	int ret;

	kino_recsys_ratings_init(test);
	kino_recsys_ratings_init(&all);
	ret = kino_recsys_ratings_read(path, &all, err);
	for (size_t i = 0; ret == 0 && i < all.count; i++) {
		if (a->inter_opt.positive_threshold > 0.0f &&
		    all.rows[i].value < a->inter_opt.positive_threshold) {
			dropped++;
			continue;
		}
		ret = kino_recsys_ratings_append(test, &all.rows[i], err);
	}
	if (ret == 0 && dropped > 0)
		fprintf(stderr, "%s: %zu test rows below the threshold are not "
			"relevant\n", path, dropped);
	kino_recsys_ratings_close(&all);
	return ret;
}

static void print_metrics(const char *name, const kino_recsys_metrics_t *m)
{
	printf("%s\t%u\t%u\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n", name, m->k, m->users,
	       m->precision, m->recall, m->map, m->ndcg, m->coverage);
}

/* train --from-db: the plays of the configured database. */
static int train_from_db(const recsys_args_t *a, const kino_config_t *cfg)
{
	kino_error_t err = {0};
	kino_recsys_model_info_t info;
	kino_db_t *db = NULL;
	char path[4200];
	int ret = KINO_EXIT_FAILURE;

	if (a->out != NULL)
		snprintf(path, sizeof(path), "%s", a->out);
	else if (cfg->recsys.model[0] != '\0')
		snprintf(path, sizeof(path), "%s", cfg->recsys.model);
	else
		snprintf(path, sizeof(path), "%s/recsys/model.kals", cfg->data_dir);
	if (a->test != NULL || a->train_cfg.solver != KINO_RECSYS_SOLVER_CHOLESKY ||
	    a->inter_opt.positive_threshold > 0.0f)
		return usage_error(usage_train, "%s",
				   "--test, --solver and --positive-threshold are for "
				   "ratings files");
	db = kino_db_new(&cfg->db, &err);
	if (db == NULL || kino_db_wait_ready(db, DB_WAIT_MS, &err) != 0) {
		fprintf(stderr, "kino recsys train: the database does not answer (is `kino up` "
				"running, or KINO_MONGO_URI set?): %s\n", kino_error_message(&err));
		goto out;
	}
	if (kino_recsys_train_plays(db, (int64_t)time(NULL) * 1000 -
					    (int64_t)cfg->recsys.window_s * 1000,
				    &a->train_cfg, path, &info, &err) != 0) {
		ret = fail("train", &err);
		goto out;
	}
	fprintf(stderr, "trained on %llu (viewer, title) pairs in %.3f s, loss %.6g; model "
			"written to %s\n", (unsigned long long)info.interactions,
		info.train_seconds, info.final_loss, path);
	ret = KINO_EXIT_OK;
out:
	kino_db_destroy(db);
	return ret;
}

static int cmd_train(int argc, char **argv, const kino_config_t *cfg)
{
	recsys_args_t a = {.k = 10};
	kino_recsys_ratings_t rows, test;
	kino_recsys_interactions_t *inter = NULL;
	kino_recsys_model_t *model = NULL;
	kino_error_t err = {0};
	char source[256];
	bool done;
	int ret;

	kino_recsys_ratings_init(&rows);
	kino_recsys_ratings_init(&test);
	kino_recsys_train_config_default(&a.train_cfg);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from-db") == 0) {
			/* the server's settings, before the options override them */
			a.train_cfg.factors = cfg->recsys.factors;
			a.train_cfg.iterations = cfg->recsys.iterations;
			a.train_cfg.regularization = cfg->recsys.regularization;
			a.train_cfg.alpha = cfg->recsys.alpha;
			a.train_cfg.threads = cfg->recsys.threads;
		}
	}
	ret = parse_args(argc, argv, usage_train, &a, &done);
	if (ret != 0 || done)
		goto out;
	if (a.from_db) {
		ret = a.ratings != NULL ? usage_error(usage_train, "%s",
						      "--ratings and --from-db exclude each other")
					: train_from_db(&a, cfg);
		goto out;
	}
	if (a.ratings == NULL || a.out == NULL) {
		ret = usage_error(usage_train, "%s", "--ratings and --out are required");
		goto out;
	}
	if (load_interactions(a.ratings, &a, &rows, &inter, &err) != 0) {
		ret = fail("train", &err);
		goto out;
	}
	if (kino_recsys_model_train(inter, &a.train_cfg, &model, &err) != 0) {
		ret = fail("train", &err);
		goto out;
	}
	snprintf(source, sizeof(source), "ratings:%s", a.ratings);
	kino_recsys_model_set_source(model, source);
	if (a.test != NULL) {
		kino_recsys_metrics_t m;
		if (read_test(a.test, &a, &test, &err) != 0 ||
		    kino_recsys_eval_model(model, inter, &test, (size_t)a.k, &m,
					   NULL, &err) != 0) {
			ret = fail("evaluate", &err);
			goto out;
		}
		kino_recsys_model_set_metrics(model, &m);
		fprintf(stderr, "ALS on %s: p@%u %.4f, ndcg@%u %.4f\n", a.test, m.k,
			m.precision, m.k, m.ndcg);
	}
	if (kino_recsys_model_save(model, a.out, &err) != 0) {
		ret = fail("save", &err);
		goto out;
	}
	fprintf(stderr, "trained in %.3f s, loss %.6g; model written to %s\n",
		kino_recsys_model_info(model)->train_seconds,
		kino_recsys_model_info(model)->final_loss, a.out);
out:
	kino_recsys_model_destroy(model);
	kino_recsys_interactions_destroy(inter);
	kino_recsys_ratings_close(&test);
	kino_recsys_ratings_close(&rows);
	return ret;
}

/* Parses "1,2,3" (or, for a keyed model, "key,key") into a malloc'ed
 * array of ids (caller frees). */
static int parse_users(const char *list, const kino_recsys_model_t *model, int64_t **out,
		       size_t *n)
{
	size_t cap = 1;
	const char *p;
	char *copy = NULL, *tok, *save = NULL;
	int64_t *ids = NULL;
	int ret = 0;

	for (p = list; *p; p++)
		cap += *p == ',';
	ids = malloc(cap * sizeof(*ids));
	copy = strdup(list);
	*n = 0;
	if (ids == NULL || copy == NULL) {
		ret = -1;
		goto out;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long v;
		if (kino_recsys_model_has_keys(model)) {
			int64_t id = kino_recsys_model_user_by_key(model, tok);
			if (id < 0) {
				ret = -1;
				goto out;
			}
			ids[(*n)++] = id;
			continue;
		}
		if (!parse_long(tok, 0, (long)KINO_RECSYS_ID_MAX, &v)) {
			ret = -1;
			goto out;
		}
		ids[(*n)++] = v;
	}
	if (*n == 0)
		ret = -1;
out:
	free(copy);
	if (ret != 0) {
		free(ids);
		ids = NULL;
	}
	*out = ids;
	return ret;
}

static int cmd_recommend(int argc, char **argv, const kino_config_t *cfg)
{
	recsys_args_t a = {.k = 10};
	kino_recsys_model_t *model = NULL;
	kino_recsys_ratings_t seen_rows;
	kino_recsys_interactions_t *seen = NULL;
	kino_recsys_scored_t *top = NULL;
	int64_t *users = NULL, *exclude = NULL;
	size_t n_users = 0, n_exclude_cap = 0;
	kino_error_t err = {0};
	bool done;
	int ret;

	kino_recsys_ratings_init(&seen_rows);
	kino_recsys_train_config_default(&a.train_cfg);
	(void)cfg;
	ret = parse_args(argc, argv, usage_recommend, &a, &done);
	if (ret != 0 || done)
		goto out;
	if (a.model == NULL) {
		ret = usage_error(usage_recommend, "%s", "--model is required");
		goto out;
	}
	if (kino_recsys_model_load(a.model, &model, &err) != 0) {
		ret = fail("load", &err);
		goto out;
	}
	if (a.users != NULL && parse_users(a.users, model, &users, &n_users) != 0) {
		ret = usage_error(usage_recommend,
				  "--users: '%s' is not a comma-separated list of %s",
				  a.users, kino_recsys_model_has_keys(model)
						   ? "viewer ids of the model" : "ids");
		goto out;
	}
	if (a.exclude_seen != NULL) {
		if (load_interactions(a.exclude_seen, &a, &seen_rows, &seen, &err) != 0) {
			ret = fail("--exclude-seen", &err);
			goto out;
		}
		n_exclude_cap = kino_recsys_interactions_items(seen);
		exclude = malloc(n_exclude_cap * sizeof(*exclude));
	}
	top = malloc((size_t)a.k * sizeof(*top));
	if (top == NULL || (a.exclude_seen != NULL && exclude == NULL)) {
		fprintf(stderr, "kino recsys recommend: out of memory\n");
		ret = KINO_EXIT_FAILURE;
		goto out;
	}
	for (size_t j = 0; j < n_users; j++) {
		if (kino_recsys_model_user_vector(model, users[j]) == NULL) {
			fprintf(stderr, "kino recsys recommend: user %lld is not in "
				"the model %s\n", (long long)users[j], a.model);
			ret = KINO_EXIT_FAILURE;
			goto out;
		}
	}
	if (users == NULL)
		n_users = kino_recsys_model_users(model);
	for (size_t j = 0; j < n_users; j++) {
		int64_t user = users ? users[j] : kino_recsys_model_user_id(model, j);
		size_t n_exclude = 0, n;
		if (seen != NULL)
			n_exclude = kino_recsys_interactions_user_items(
				seen, user, exclude, n_exclude_cap);
		if (kino_recsys_model_recommend(
			    model, kino_recsys_model_user_vector(model, user),
			    exclude, n_exclude, (size_t)a.k, top, &n, &err) != 0) {
			ret = fail("recommend", &err);
			goto out;
		}
		for (size_t r = 0; r < n; r++) {
			if (kino_recsys_model_has_keys(model)) /* ids are indices */
				printf("%s\t%s\t%zu\t%.6f\n",
				       kino_recsys_model_user_key(model, (size_t)user),
				       kino_recsys_model_item_key(model, (size_t)top[r].item),
				       r + 1, (double)top[r].score);
			else
				printf("%lld\t%lld\t%zu\t%.6f\n", (long long)user,
				       (long long)top[r].item, r + 1, (double)top[r].score);
		}
	}
	if (fflush(stdout) != 0) {
		ret = KINO_EXIT_FAILURE;
		goto out;
	}
out:
	free(top);
	free(exclude);
	free(users);
	kino_recsys_interactions_destroy(seen);
	kino_recsys_ratings_close(&seen_rows);
	kino_recsys_model_destroy(model);
	return ret;
}

static int cmd_eval(int argc, char **argv, const kino_config_t *cfg)
{
	recsys_args_t a = {.k = 10};
	kino_recsys_ratings_t rows, test;
	kino_recsys_interactions_t *train = NULL;
	kino_recsys_model_t *model = NULL;
	kino_recsys_metrics_t als, pop;
	kino_recsys_eval_stats_t st;
	kino_error_t err = {0};
	bool done;
	int ret;

	kino_recsys_ratings_init(&rows);
	kino_recsys_ratings_init(&test);
	kino_recsys_train_config_default(&a.train_cfg);
	(void)cfg;
	ret = parse_args(argc, argv, usage_eval, &a, &done);
	if (ret != 0 || done)
		goto out;
	if (a.train == NULL || a.test == NULL) {
		ret = usage_error(usage_eval, "%s", "--train and --test are required");
		goto out;
	}
	if (load_interactions(a.train, &a, &rows, &train, &err) != 0 ||
	    read_test(a.test, &a, &test, &err) != 0) {
		ret = fail("eval", &err);
		goto out;
	}
	if (a.model != NULL ? kino_recsys_model_load(a.model, &model, &err)
			    : kino_recsys_model_train(train, &a.train_cfg, &model,
						      &err)) {
		ret = fail(a.model ? "load" : "train", &err);
		goto out;
	}
	if (kino_recsys_eval_model(model, train, &test, (size_t)a.k, &als, &st,
				   &err) != 0 ||
	    kino_recsys_eval_popularity(train, &test, (size_t)a.k, &pop, NULL,
					&err) != 0) {
		ret = fail("eval", &err);
		goto out;
	}
	fprintf(stderr, "%s: %zu test rows; not rankable: %zu with an item "
		"unknown in train, %zu with an unknown user, %zu already in train\n",
		a.test, st.test_rows, st.unknown_item, st.unknown_user,
		st.seen_in_train);
	if (a.model == NULL)
		fprintf(stderr, "trained in %.3f s\n",
			kino_recsys_model_info(model)->train_seconds);
	printf("model\tk\tusers\tprecision\trecall\tmap\tndcg\tcoverage\n");
	print_metrics("als", &als);
	print_metrics("popularity", &pop);
out:
	kino_recsys_model_destroy(model);
	kino_recsys_interactions_destroy(train);
	kino_recsys_ratings_close(&test);
	kino_recsys_ratings_close(&rows);
	return ret;
}

static int cmd_split(int argc, char **argv, const kino_config_t *cfg)
{
	recsys_args_t a = {.test_fraction = 0.2};
	kino_recsys_ratings_t rows, train, test;
	kino_error_t err = {0};
	bool done;
	int ret;

	kino_recsys_ratings_init(&rows);
	kino_recsys_ratings_init(&train);
	kino_recsys_ratings_init(&test);
	kino_recsys_train_config_default(&a.train_cfg);
	(void)cfg;
	ret = parse_args(argc, argv, usage_split, &a, &done);
	if (ret != 0 || done)
		goto out;
	if (a.ratings == NULL || a.train_out == NULL || a.test_out == NULL) {
		ret = usage_error(usage_split, "%s",
				  "--ratings, --train-out and --test-out are required");
		goto out;
	}
	if (kino_recsys_ratings_read(a.ratings, &rows, &err) != 0 ||
	    kino_recsys_ratings_split(&rows, a.train_cfg.seed, a.test_fraction,
				      &train, &test, &err) != 0 ||
	    kino_recsys_ratings_write_csv(a.train_out, &train, &err) != 0 ||
	    kino_recsys_ratings_write_csv(a.test_out, &test, &err) != 0) {
		ret = fail("split", &err);
		goto out;
	}
	fprintf(stderr, "%s: %zu rows -> %zu train (%s), %zu test (%s)\n",
		a.ratings, rows.count, train.count, a.train_out, test.count,
		a.test_out);
out:
	kino_recsys_ratings_close(&test);
	kino_recsys_ratings_close(&train);
	kino_recsys_ratings_close(&rows);
	return ret;
}

static const char usage_recsys[] =
	"Usage: kino recsys train|recommend|eval|split [options]\n"
	"  train      train implicit ALS on a ratings file, write a model\n"
	"  recommend  print the top k items per user from a model\n"
	"  eval       precision/recall/MAP/NDCG@k and coverage, ALS vs popularity\n"
	"  split      write a fixed per-user train/test split of a ratings file\n"
	"Each has --help. See docs/recsys.md.\n";

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **, const kino_config_t *);
	} subs[] = {
		{"train", cmd_train},
		{"recommend", cmd_recommend},
		{"eval", cmd_eval},
		{"split", cmd_split},
	};

	if (argc < 2) {
		fputs(usage_recsys, stderr);
		return KINO_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_recsys, stdout);
		return KINO_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1, cfg);
	fprintf(stderr, "kino recsys: unknown subcommand '%s'\n%s", argv[1],
		usage_recsys);
	return KINO_EXIT_USAGE;
}

const kino_command_t kino_cmd_recsys = {
	.name = "recsys",
	.summary = "train, evaluate and query the recommender (implicit ALS)",
	.usage = usage_recsys,
	.run = run,
};
