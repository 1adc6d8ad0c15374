/* Recsys: implicit-feedback ALS on OpenBLAS.
 *
 * The pipeline is
 *
 *     ratings file --read--> kino_recsys_ratings_t (rows with the file's ids)
 *                  --interactions_new--> CSR user->items and item->users,
 *                                        ids mapped to dense indices
 *                  --model_train--> kino_recsys_model_t (user and item factors)
 *                  --model_save/load--> a versioned model file (docs/recsys.md)
 *     model --recommend / similar_items / fold_in--> ranked items, file's ids
 *
 * Confidence follows Hu, Koren and Volinsky (2008): every observed
 * (user, item) pair has preference 1 and confidence c = 1 + alpha * r, where
 * r is the interaction's strength (the rating, 1 for a "positive" rating
 * when a threshold is set, and later a play's watch fraction plus completions
 * and repeats: see docs/recsys.md). Unobserved pairs have preference 0 and
 * confidence 1.
 *
 * Ids: users and items keep the integer ids of their source (0 to
 * KINO_RECSYS_ID_MAX); every function that takes or returns an id uses those.
 *
 * Threads: the objects here are immutable once built, so any number of
 * threads may read one model or interactions set at the same time; only
 * _destroy needs exclusive access. Training makes its own threads. */
#ifndef KINO_RECSYS_H
#define KINO_RECSYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kino/error.h"

/* Largest user or item id a ratings file may carry. */
#define KINO_RECSYS_ID_MAX INT64_C(2147483647)
/* Most factors a model may have (bounds the per-user solve). */
#define KINO_RECSYS_FACTORS_MAX 1024

/* ---- Ratings: rows as read from a file, before any mapping ------------- */

typedef struct kino_recsys_rating {
	int64_t user;
	int64_t item;
	float value;       /* the rating, or the strength r */
	int64_t timestamp; /* seconds since the epoch */
} kino_recsys_rating_t;

/* A caller-owned growable list of rows: kino_recsys_ratings_init() it, free
 * it with kino_recsys_ratings_close(). */
typedef struct kino_recsys_ratings {
	kino_recsys_rating_t *rows;
	size_t count;
	size_t capacity;
} kino_recsys_ratings_t;

void kino_recsys_ratings_init(kino_recsys_ratings_t *ratings);
/* Frees the rows; ratings may be reused after another _init. NULL-safe. */
void kino_recsys_ratings_close(kino_recsys_ratings_t *ratings);

/* Appends one row (copied). Returns 0 or KINO_ENOMEM. */
int kino_recsys_ratings_append(kino_recsys_ratings_t *ratings,
			       const kino_recsys_rating_t *row,
			       kino_error_t *err);

/* Parses a MovieLens ratings text: CSV `userId,movieId,rating,timestamp`
 * with a header line, or `u.data` (tab-separated, no header); the format is
 * told by the first line. name is used in messages only. Rows are appended
 * to out (caller-initialised, caller-owned). Any malformed line fails the
 * whole parse with EPARSE and "name:LINE: why"; an input without a single
 * rating fails with EPARSE too. On error out holds what was appended before
 * the bad line. */
int kino_recsys_ratings_parse(const char *text, size_t len, const char *name,
			      kino_recsys_ratings_t *out, kino_error_t *err);

/* Reads and parses the file at path (at most 4 GiB) into out, as above. */
int kino_recsys_ratings_read(const char *path, kino_recsys_ratings_t *out,
			     kino_error_t *err);

/* Writes ratings as MovieLens CSV (with the header), atomically. */
int kino_recsys_ratings_write_csv(const char *path,
				  const kino_recsys_ratings_t *ratings,
				  kino_error_t *err);

/* Splits ratings per user: each user's rows are shuffled with a PRNG seeded
 * by (seed, user id) and round(test_fraction * n) of them, at least one when
 * the user has two or more, go to test, the rest to train. Deterministic for
 * a given seed whatever the input order. train and test are caller-initialised
 * and receive copies; rows keep their input order within each output. */
int kino_recsys_ratings_split(const kino_recsys_ratings_t *ratings,
			      uint64_t seed, double test_fraction,
			      kino_recsys_ratings_t *train,
			      kino_recsys_ratings_t *test, kino_error_t *err);

/* ---- Interactions: the sparse user x item matrix ----------------------- */

typedef struct kino_recsys_interactions kino_recsys_interactions_t;

typedef struct kino_recsys_interactions_options {
	/* When > 0, rows with value >= positive_threshold become strength 1
	 * and the others are left out (and counted in stats.below_threshold).
	 * When 0, the value itself is the strength. */
	float positive_threshold;
} kino_recsys_interactions_options_t;

typedef struct kino_recsys_interactions_stats {
	size_t rows;            /* rows given */
	size_t below_threshold; /* rows left out by positive_threshold */
	size_t duplicates;      /* rows whose pair was seen before: strengths add up */
	int64_t first_timestamp, last_timestamp; /* the data window */
} kino_recsys_interactions_stats_t;

/* Builds both CSR directions from rows (borrowed for the call). Dense
 * indices follow the sorted external ids, so the result does not depend on
 * row order. opt may be NULL (no threshold). Fails with EINVAL when no row
 * is left, or a strength is negative or not finite. The caller frees *out
 * with kino_recsys_interactions_destroy(). */
int kino_recsys_interactions_new(const kino_recsys_ratings_t *rows,
				 const kino_recsys_interactions_options_t *opt,
				 kino_recsys_interactions_t **out /* OUT */,
				 kino_error_t *err);
void kino_recsys_interactions_destroy(kino_recsys_interactions_t *inter);

size_t kino_recsys_interactions_users(const kino_recsys_interactions_t *inter);
size_t kino_recsys_interactions_items(const kino_recsys_interactions_t *inter);
size_t kino_recsys_interactions_nnz(const kino_recsys_interactions_t *inter);
const kino_recsys_interactions_stats_t *
kino_recsys_interactions_stats(const kino_recsys_interactions_t *inter);

/* The items of one user (by external id): *items points into inter
 * (borrowed while inter lives). Returns the count, 0 for an unknown user. */
size_t kino_recsys_interactions_user_items(const kino_recsys_interactions_t *inter,
					   int64_t user,
					   int64_t *items /* OUT, may be NULL */,
					   size_t capacity);

/* ---- Models ------------------------------------------------------------- */

typedef struct kino_recsys_model kino_recsys_model_t;

typedef enum kino_recsys_solver {
	KINO_RECSYS_SOLVER_CHOLESKY = 0, /* exact per-user solve, LAPACKE_sposv */
	KINO_RECSYS_SOLVER_CG = 1,       /* a few conjugate-gradient steps */
} kino_recsys_solver_t;

/* Training parameters; kino_recsys_train_config_default() fills defaults. */
typedef struct kino_recsys_train_config {
	int factors;          /* 64 */
	int iterations;       /* 15 */
	float regularization; /* 0.1 */
	float alpha;          /* 1 */
	int threads;          /* 1; users are shared among them */
	uint64_t seed;        /* 42; same seed, same factors, any thread count */
	kino_recsys_solver_t solver; /* cholesky */
	int cg_steps;         /* 3, for the CG solver */
	/* Called after every iteration with the model so far (borrowed for the
	 * call), on the calling thread. May be NULL. */
	void (*on_iteration)(int iteration, const kino_recsys_model_t *model,
			     void *userdata);
	void *userdata;
} kino_recsys_train_config_t;

void kino_recsys_train_config_default(kino_recsys_train_config_t *cfg);
/* Checks ranges; EINVAL with the offending field in err. */
int kino_recsys_train_config_validate(const kino_recsys_train_config_t *cfg,
				      kino_error_t *err);

/* Ranking quality, as measured by kino_recsys_eval_*(). */
typedef struct kino_recsys_metrics {
	uint32_t k;        /* 0: not measured */
	uint32_t users;    /* users that had test items */
	double precision;  /* hits / k, averaged over users */
	double recall;     /* hits / relevant */
	double map;        /* mean average precision at k */
	double ndcg;       /* binary-relevance NDCG at k */
	double coverage;   /* distinct recommended items / catalog */
} kino_recsys_metrics_t;

/* What a model file says about itself. */
typedef struct kino_recsys_model_info {
	uint32_t format_version;
	uint32_t factors, iterations;
	float regularization, alpha;
	uint64_t seed;
	uint32_t solver;               /* a kino_recsys_solver_t */
	uint32_t cg_steps;
	int64_t created_at;            /* seconds since the epoch */
	int64_t data_first_timestamp;  /* the data window */
	int64_t data_last_timestamp;
	uint64_t interactions;         /* nnz trained on */
	double train_seconds;
	double final_loss;
	kino_recsys_metrics_t metrics; /* k == 0 when not evaluated */
	char source[256];              /* e.g. "ratings:/path/ratings.csv" */
} kino_recsys_model_info_t;

/* Trains implicit ALS on inter (borrowed for the call). The caller frees
 * *out with kino_recsys_model_destroy(). Fails with ENUMERIC when a solve
 * fails (LAPACKE info in err). */
int kino_recsys_model_train(const kino_recsys_interactions_t *inter,
			    const kino_recsys_train_config_t *cfg,
			    kino_recsys_model_t **out /* OUT */,
			    kino_error_t *err);
void kino_recsys_model_destroy(kino_recsys_model_t *model);

/* The model's metadata; borrowed while the model lives. set_* copy. */
const kino_recsys_model_info_t *kino_recsys_model_info(const kino_recsys_model_t *model);
void kino_recsys_model_set_source(kino_recsys_model_t *model, const char *source);
void kino_recsys_model_set_metrics(kino_recsys_model_t *model,
				   const kino_recsys_metrics_t *metrics);

size_t kino_recsys_model_users(const kino_recsys_model_t *model);
size_t kino_recsys_model_items(const kino_recsys_model_t *model);
size_t kino_recsys_model_factors(const kino_recsys_model_t *model);
/* The external id of the i-th user or item (i < count). */
int64_t kino_recsys_model_user_id(const kino_recsys_model_t *model, size_t i);
int64_t kino_recsys_model_item_id(const kino_recsys_model_t *model, size_t i);
/* The factor vector of a user or item by external id (borrowed), or NULL. */
const float *kino_recsys_model_user_vector(const kino_recsys_model_t *model, int64_t user);
const float *kino_recsys_model_item_vector(const kino_recsys_model_t *model, int64_t item);

/* The full training objective of Hu et al. for inter:
 * sum c (p - x.y)^2 + regularization (|X|^2 + |Y|^2). inter must be the set
 * the model was trained on (same ids). */
int kino_recsys_model_loss(const kino_recsys_model_t *model,
			   const kino_recsys_interactions_t *inter,
			   double *loss /* OUT */, kino_error_t *err);

/* Writes the model atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. The file's format is in
 * docs/recsys.md. On error the previous file at path is untouched. */
int kino_recsys_model_save(const kino_recsys_model_t *model, const char *path,
			   kino_error_t *err);

/* Loads and checks a model file (untrusted: every size is checked against
 * the file's length, the checksum and the id order are verified). The
 * caller frees *out with kino_recsys_model_destroy(). EPARSE for a corrupt
 * or truncated file, EUNSUPPORTED for another format version. */
int kino_recsys_model_load(const char *path, kino_recsys_model_t **out /* OUT */,
			   kino_error_t *err);

/* ---- string keys ----------------------------------------------------------
 *
 * A model trained from the database names viewers and titles by their
 * ObjectId text, not by integers. Such a model carries a key per user and
 * per item: its ids must be 0..n-1 (an id is also an index) and the keys,
 * like the ids, strictly increasing (strcmp order), so a key is found by
 * binary search. Keys are
 * 1..KINO_RECSYS_KEY_MAX bytes of printable ASCII. */

#define KINO_RECSYS_KEY_MAX 64

/* Gives the model its keys: users[i] and items[i] name the i-th user and
 * item (copied). EINVAL when a key is empty, too long, not printable or
 * out of order, or the ids are not 0..n-1. */
int kino_recsys_model_set_keys(kino_recsys_model_t *model,
			       const char *const *users, const char *const *items,
			       kino_error_t *err);
bool kino_recsys_model_has_keys(const kino_recsys_model_t *model);
/* The id of the user or item with this key, or -1 (also without keys). */
int64_t kino_recsys_model_user_by_key(const kino_recsys_model_t *model, const char *key);
int64_t kino_recsys_model_item_by_key(const kino_recsys_model_t *model, const char *key);
/* The key of the i-th user or item (borrowed), or NULL without keys. */
const char *kino_recsys_model_user_key(const kino_recsys_model_t *model, size_t i);
const char *kino_recsys_model_item_key(const kino_recsys_model_t *model, size_t i);

/* c = 1 + alpha * strength, with the model's alpha. */
float kino_recsys_model_confidence(const kino_recsys_model_t *model, float strength);

/* Fold-in: the user vector that best explains n interactions (item ids and
 * their confidence c >= 1) given the item factors, from one f x f
 * least-squares solve. vector must hold kino_recsys_model_factors() floats
 * (caller-owned). Items unknown to the model are skipped and counted in
 * *unknown (may be NULL). Any thread may call it. */
int kino_recsys_model_fold_in(const kino_recsys_model_t *model,
			      const int64_t *items, const float *confidence,
			      size_t n, float *vector /* OUT */,
			      size_t *unknown /* OUT, may be NULL */,
			      kino_error_t *err);

typedef struct kino_recsys_scored {
	int64_t item;
	float score;
} kino_recsys_scored_t;

/* The k best items for a user vector (f floats, borrowed), scored against
 * every item with cblas_sgemv and selected with a heap, best first; items
 * in exclude (n_exclude external ids; unknown ids are ignored) are left
 * out. out holds k entries (caller-owned); *n_out gets how many were filled
 * (fewer than k when the catalog is smaller). Ties go to the smaller id. */
int kino_recsys_model_recommend(const kino_recsys_model_t *model,
				const float *user_vector,
				const int64_t *exclude, size_t n_exclude,
				size_t k, kino_recsys_scored_t *out /* OUT */,
				size_t *n_out /* OUT */, kino_error_t *err);

/* The k items most similar to item (cosine of the item factors), the item
 * itself left out, best first. ENOENT for an unknown item. */
int kino_recsys_model_similar_items(const kino_recsys_model_t *model,
				    int64_t item, size_t k,
				    kino_recsys_scored_t *out /* OUT */,
				    size_t *n_out /* OUT */, kino_error_t *err);

/* ---- Evaluation --------------------------------------------------------- */

typedef struct kino_recsys_eval_stats {
	size_t test_rows;       /* test pairs given */
	size_t unknown_user;    /* ... whose user is not in train (not scored) */
	size_t unknown_item;    /* ... whose item is not in train (unreachable) */
	size_t seen_in_train;   /* ... already in train (not counted as relevant) */
} kino_recsys_eval_stats_t;

/* Ranks, for every user of test that is in train, the top k train items that
 * user has not seen in train, and scores them against the user's test items
 * (those the model could rank: known items not in train). The same code
 * scores every recommender, so figures compare. model must have been trained
 * on train (same ids). stats may be NULL. */
int kino_recsys_eval_model(const kino_recsys_model_t *model,
			   const kino_recsys_interactions_t *train,
			   const kino_recsys_ratings_t *test, size_t k,
			   kino_recsys_metrics_t *metrics /* OUT */,
			   kino_recsys_eval_stats_t *stats /* OUT, may be NULL */,
			   kino_error_t *err);

/* The same for the popularity baseline: items ranked by how many train users
 * have them. */
int kino_recsys_eval_popularity(const kino_recsys_interactions_t *train,
				const kino_recsys_ratings_t *test, size_t k,
				kino_recsys_metrics_t *metrics /* OUT */,
				kino_recsys_eval_stats_t *stats /* OUT, may be NULL */,
				kino_error_t *err);

/* ---- serving a model ----------------------------------------------------
 *
 * A model store serves the model file at a path to many threads. A request
 * takes a reference, uses the model and releases it; a reload reads the
 * file again when it changed (device, inode, size or modification time) and
 * swaps the new model in atomically, so requests in flight finish on the
 * model they started with and the old model is freed when the last of them
 * releases it: no request is dropped or waits for the load. A file that
 * fails to load leaves the current model in place. Any thread. */

typedef struct kino_recsys_model_store kino_recsys_model_store_t;
typedef struct kino_recsys_model_ref kino_recsys_model_ref_t;

/* Serves `path` (copied). A missing file is not an error: the store is
 * empty until a reload finds one. Another load error is returned. Free
 * with kino_recsys_model_store_destroy() once every reference is released. */
kino_recsys_model_store_t *kino_recsys_model_store_new(const char *path,
							struct kino_error *err);
void kino_recsys_model_store_destroy(kino_recsys_model_store_t *store);

/* A reference to the current model, or NULL while there is none. */
kino_recsys_model_ref_t *kino_recsys_model_store_acquire(kino_recsys_model_store_t *store);
/* The model of a reference; valid until the reference is released. */
const kino_recsys_model_t *kino_recsys_model_ref_model(const kino_recsys_model_ref_t *ref);
/* NULL-safe. */
void kino_recsys_model_store_release(kino_recsys_model_store_t *store,
				     kino_recsys_model_ref_t *ref);

/* Loads the file again if it changed; *changed says whether a new model is
 * now served. On a load error the current model stays and err says why. */
int kino_recsys_model_store_reload(kino_recsys_model_store_t *store,
				   bool *changed /* OUT, may be NULL */,
				   struct kino_error *err);

/* ---- learning from plays -------------------------------------------------
 *
 * Telemetry's `plays` (one document per playback session) become one
 * interaction per (viewer, title) with strength r (docs/recsys.md):
 *
 *   r = min(5, best completion (0..1) + 1 per completed play
 *              + 0.5 per play beyond the first)
 *
 * and r = 0.1 (an impression) when no play of the pair was meaningful:
 * completed, or past 5% of the title with at least 30 s watched (a quarter
 * of the title for titles shorter than two minutes). */

/* One play, as the recommender reads it. */
typedef struct kino_recsys_play {
	double completion;   /* 0..1; negative when the duration is unknown */
	int64_t watch_ms;
	int64_t duration_ms; /* 0: unknown */
	bool completed;
} kino_recsys_play_t;

/* The plays of one (viewer, title) pair so far; zero it to start. */
typedef struct kino_recsys_pair {
	float best_completion;
	uint32_t plays, completions;
	bool meaningful;
} kino_recsys_pair_t;

void kino_recsys_pair_add(kino_recsys_pair_t *pair, const kino_recsys_play_t *play);
/* r as above; 0 for a pair without plays. */
float kino_recsys_pair_strength(const kino_recsys_pair_t *pair);

/* Interactions keyed by strings: rows whose user and item are indices into
 * the sorted, unique key arrays (so ids follow key order, as
 * kino_recsys_model_set_keys wants). Zero it to start. */
typedef struct kino_recsys_keyed {
	kino_recsys_ratings_t ratings;
	char **users, **items;   /* owned */
	size_t n_users, n_items;
	size_t skipped;          /* plays without a usable viewer or title key */
} kino_recsys_keyed_t;

void kino_recsys_keyed_close(kino_recsys_keyed_t *keyed);

struct kino_db;

/* Reads the plays that started at or after since_ms (Unix ms) into out
 * (zeroed by the caller), one row per (viewer, title). Plays without a
 * viewer (anonymous) or with a malformed key are counted in skipped.
 * KINO_EDB when the database fails. Blocking. */
int kino_recsys_plays_read(struct kino_db *db, int64_t since_ms,
			   kino_recsys_keyed_t *out, kino_error_t *err);

/* Trains a model on the plays since since_ms and saves it atomically at
 * path, with keys and "plays:<database>" as its source. cfg's callback may
 * be NULL. info (may be NULL) receives the new model's metadata. ENOENT when
 * there are no plays to learn from. Blocking; makes cfg->threads threads. */
int kino_recsys_train_plays(struct kino_db *db, int64_t since_ms,
			    const kino_recsys_train_config_t *cfg, const char *path,
			    kino_recsys_model_info_t *info /* OUT, may be NULL */,
			    kino_error_t *err);

/* ---- home rows ------------------------------------------------------------
 *
 * The viewer's home screen as ordered rows, composed from candidates the
 * caller gathers (the catalog the viewer may see, their plays, ALS scores,
 * similar items, trending scores). The rules live here and nowhere else:
 *
 *   1. Continue Watching: titles played to between 5% and 95%, most recent
 *      first.
 *   2. Top Picks for You: the ALS scores, best first.
 *   3. Because You Watched <title>: titles similar to a recent completion
 *      (one row per seed, up to max_because rows).
 *   4. Trending Now: the trending scores, best first.
 *   5. New Releases: the newest titles by release time.
 *   6. Genre rows, the genres ordered by the viewer's affinity (completion-
 *      weighted plays), or by trending when the viewer has none.
 *
 * Rows are filled in that order and no title appears twice across them; a
 * title finished (>= 95%) is never recommended again; a hidden title (one
 * the viewer may not see now) is never shown; empty rows are left out. With no plays and no ALS scores (cold start) the screen is trending,
 * new releases and genres. Pure: no I/O, any thread. */

#define KINO_HOME_ROW_MAX_ITEMS 40

typedef enum kino_home_row_type {
	KINO_HOME_CONTINUE_WATCHING = 0,
	KINO_HOME_TOP_PICKS,
	KINO_HOME_BECAUSE_YOU_WATCHED,
	KINO_HOME_TRENDING,
	KINO_HOME_NEW_RELEASES,
	KINO_HOME_GENRE,
} kino_home_row_type_t;

/* A title the viewer may see. Strings borrowed for the call. */
typedef struct kino_home_title {
	const char *id;
	const char *name;
	const char *const *genres; /* may be NULL when ngenres is 0 */
	size_t ngenres;
	int64_t released_at;       /* ms since the epoch; for New Releases */
} kino_home_title_t;

/* One of the viewer's plays, of titles[title] (an index). */
typedef struct kino_home_play {
	size_t title;
	double completion;       /* 0..1: furthest playhead / duration */
	int64_t last_played_at;  /* ms since the epoch */
} kino_home_play_t;

/* Writes up to max indices of titles similar to titles[seed], best first,
 * into out; returns how many. */
typedef size_t (*kino_home_similar_fn)(size_t seed, size_t *out, size_t max,
				       void *userdata);

/* The genres of a list of titles, interned once (per catalog snapshot)
 * rather than per screen: hashing every title's genre names was two thirds
 * of composing a 10,000-title screen. Borrows the titles' genre strings. */
typedef struct kino_home_genres kino_home_genres_t;

/* KINO_ENOMEM on failure. Free with kino_home_genres_destroy(). */
int kino_home_genres_new(const kino_home_title_t *titles, size_t n,
			 kino_home_genres_t **out, struct kino_error *err);
void kino_home_genres_destroy(kino_home_genres_t *genres);

typedef struct kino_home_input {
	const kino_home_title_t *titles;
	size_t ntitles;
	const kino_home_genres_t *genres; /* of these titles, or NULL: interned here */
	const kino_home_play_t *plays;  /* any order; several per title allowed */
	size_t nplays;
	const float *als_scores;        /* ntitles scores, or NULL (no model) */
	const double *trending;         /* ntitles scores (> 0 trends), or NULL */
	const unsigned char *hidden;    /* ntitles flags: never shown; or NULL */
	kino_home_similar_fn similar;   /* may be NULL */
	void *similar_userdata;
	size_t row_len;                 /* titles per row, <= KINO_HOME_ROW_MAX_ITEMS */
	size_t max_because;             /* Because You Watched rows, e.g. 2 */
	size_t max_genres;              /* genre rows, e.g. 4 */
} kino_home_input_t;

typedef struct kino_home_row {
	kino_home_row_type_t type;
	char title[160];  /* "Because You Watched Big Buck Bunny" */
	char reason[200]; /* why the viewer sees it */
	size_t items[KINO_HOME_ROW_MAX_ITEMS]; /* indices into titles */
	size_t nitems;
} kino_home_row_t;

/* Composes the rows into rows[0..max_rows) and sets *nrows. KINO_EINVAL for
 * an inconsistent input (a play of a title out of range, row_len too big). */
int kino_home_compose(const kino_home_input_t *in, kino_home_row_t *rows,
		      size_t max_rows, size_t *nrows /* OUT */,
		      struct kino_error *err);

/* "continue_watching", "top_picks", "because_you_watched", "trending",
 * "new_releases", "genre". */
const char *kino_home_row_type_name(kino_home_row_type_t type);

#endif
