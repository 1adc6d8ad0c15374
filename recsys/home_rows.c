/* The home screen's rows: see the "home rows" part of include/kino/recsys.h.
 *
 * Composition is greedy in the rows' order of importance: each row takes the
 * best candidates not yet used by an earlier row, so the rows a viewer sees
 * first get the strongest titles and nothing repeats. Every row is a partial
 * top-k selection (recsys_topk_select: a row-sized heap) over a score per
 * title, with the titles already used, finished or hidden skipped, so a
 * 10,000-title catalog costs a few passes over arrays per screen. */
#include "kino/error.h"
#include "kino/recsys.h"

#include "recsys_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CW_MIN 0.05
#define FINISHED 0.95

typedef struct compose {
	const kino_home_input_t *in;
	unsigned char *skip;     /* per title: used, finished or hidden */
	unsigned char *finished; /* per title: completed once */
	double *last_played;     /* per title: most recent play, 0 if none */
	double *completion;      /* per title: the completion of that play */
	unsigned char *seen;     /* scratch: one flag per title */
	float *score;            /* scratch: one score per title */
	uint32_t *best;          /* scratch: a row's selection */
	float *best_score;
	kino_home_row_t *rows;
	size_t max_rows, nrows;
} compose_t;

const char *kino_home_row_type_name(kino_home_row_type_t type)
{
	static const char *const names[] = {"continue_watching", "top_picks",
					    "because_you_watched", "trending",
					    "new_releases", "genre"};
	return (size_t)type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

static kino_home_row_t *row_begin(compose_t *c, kino_home_row_type_t type, const char *title,
				  const char *reason)
{
	kino_home_row_t *r;

	if (c->nrows == c->max_rows)
		return NULL;
	r = &c->rows[c->nrows];
	memset(r, 0, sizeof(*r));
	r->type = type;
	snprintf(r->title, sizeof(r->title), "%s", title);
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	return r;
}

/* Keeps a row that got titles; forgets an empty one. */
static void row_end(compose_t *c, kino_home_row_t *r)
{
	if (r != NULL && r->nitems > 0)
		c->nrows++;
}

static void row_add(compose_t *c, kino_home_row_t *r, size_t t)
{
	r->items[r->nitems++] = t;
	c->skip[t] = 1;
}

/* Fills r with the best titles by c->score (higher first; NaN: not a
 * candidate) that are not skipped, at most row_len; ties go to the earlier
 * title in the catalog, so the result is stable. */
static void fill_by_score(compose_t *c, kino_home_row_t *r)
{
	size_t got = recsys_topk_select(c->score, c->in->ntitles, c->skip,
					c->in->row_len - r->nitems, c->best, c->best_score);

	for (size_t i = 0; i < got; i++)
		row_add(c, r, c->best[i]);
}

static void continue_watching(compose_t *c)
{
	kino_home_row_t *r = row_begin(c, KINO_HOME_CONTINUE_WATCHING, "Continue Watching",
				       "You started these and have not finished them");
	double newest = 0;

	if (r == NULL)
		return;
	for (size_t t = 0; t < c->in->ntitles; t++)
		if (c->last_played[t] > newest)
			newest = c->last_played[t];
	/* Most recent first: seconds before the newest play, negated, so a
	 * float keeps a second's resolution over years. */
	for (size_t t = 0; t < c->in->ntitles; t++)
		c->score[t] = (c->last_played[t] > 0 && c->completion[t] >= CW_MIN &&
			       c->completion[t] < FINISHED)
				      ? (float)((c->last_played[t] - newest) / 1000.0)
				      : NAN;
	fill_by_score(c, r);
	row_end(c, r);
}

static void because_you_watched(compose_t *c)
{
	size_t n = c->in->ntitles, rows = 0;
	unsigned char *seeded = calloc(n ? n : 1, 1);
	size_t *similar = malloc(sizeof(size_t) * (c->in->row_len * 4 + 1));

	if (seeded == NULL || similar == NULL || c->in->similar == NULL)
		goto out;
	while (rows < c->in->max_because) {
		/* The most recent completion not yet used as a seed. */
		size_t seed = n;
		for (size_t t = 0; t < n; t++)
			if (c->finished[t] && !seeded[t] &&
			    (seed == n || c->last_played[t] > c->last_played[seed]))
				seed = t;
		if (seed == n)
			break;
		seeded[seed] = 1;

		char title[160], reason[200];
		snprintf(title, sizeof(title), "Because You Watched %s", c->in->titles[seed].name);
		snprintf(reason, sizeof(reason), "Titles like %s, which you finished",
			 c->in->titles[seed].name);
		kino_home_row_t *r = row_begin(c, KINO_HOME_BECAUSE_YOU_WATCHED, title, reason);
		if (r == NULL)
			break;
		/* Ask for more than a row: some will be used or finished. */
		size_t got = c->in->similar(seed, similar, c->in->row_len * 4, c->in->similar_userdata);
		for (size_t i = 0; i < got && r->nitems < c->in->row_len; i++)
			if (similar[i] < n && similar[i] != seed && !c->skip[similar[i]])
				row_add(c, r, similar[i]);
		if (r->nitems > 0)
			rows++;
		row_end(c, r);
	}
out:
	free(seeded);
	free(similar);
}

static void new_releases(compose_t *c)
{
	kino_home_row_t *r = row_begin(c, KINO_HOME_NEW_RELEASES, "New Releases",
				       "The newest titles in the catalog");
	int64_t newest = 0;

	if (r == NULL)
		return;
	for (size_t t = 0; t < c->in->ntitles; t++)
		if (c->in->titles[t].released_at > newest)
			newest = c->in->titles[t].released_at;
	for (size_t t = 0; t < c->in->ntitles; t++)
		c->score[t] = c->in->titles[t].released_at > 0
				      ? (float)((double)(c->in->titles[t].released_at - newest) / 1000.0)
				      : NAN;
	fill_by_score(c, r);
	row_end(c, r);
}

static uint64_t name_hash(const char *s)
{
	return recsys_fnv1a(s, strlen(s));
}

/* The genres of the catalog, interned: names[i] is genre i (first-seen
 * order); title t has the genres tg[tg_start[t] .. tg_start[t + 1]), and
 * genre i the titles gt[gt_start[i] .. gt_start[i + 1]) in catalog order. */
struct kino_home_genres {
	const char **names;
	size_t n, cap;
	uint32_t *slot; /* nslots entries: 0 empty, else index + 1 */
	size_t nslots;
	size_t ntitles;
	uint32_t *tg, *gt;
	size_t *tg_start, *gt_start;
};

void kino_home_genres_destroy(kino_home_genres_t *gs)
{
	if (gs == NULL)
		return;
	free(gs->names);
	free(gs->slot);
	free(gs->tg);
	free(gs->gt);
	free(gs->tg_start);
	free(gs->gt_start);
	free(gs);
}

/* The index of name, added when new; SIZE_MAX when out of memory. */
static size_t genre_intern(kino_home_genres_t *gs, const char *name)
{
	if (gs->n * 2 >= gs->nslots) {
		size_t nslots = gs->nslots ? gs->nslots * 2 : 64;
		uint32_t *slot = calloc(nslots, sizeof(*slot));
		if (slot == NULL)
			return SIZE_MAX;
		for (size_t i = 0; i < gs->n; i++) {
			size_t at = name_hash(gs->names[i]) & (nslots - 1);
			while (slot[at] != 0)
				at = (at + 1) & (nslots - 1);
			slot[at] = (uint32_t)i + 1;
		}
		free(gs->slot);
		gs->slot = slot;
		gs->nslots = nslots;
	}
	size_t at = name_hash(name) & (gs->nslots - 1);
	while (gs->slot[at] != 0) {
		size_t i = gs->slot[at] - 1;
		if (strcmp(gs->names[i], name) == 0)
			return i;
		at = (at + 1) & (gs->nslots - 1);
	}
	if (gs->n == gs->cap) {
		size_t cap = gs->cap ? gs->cap * 2 : 16;
		const char **grown = realloc(gs->names, cap * sizeof(*grown));
		if (grown == NULL)
			return SIZE_MAX;
		gs->names = grown;
		gs->cap = cap;
	}
	gs->names[gs->n] = name;
	gs->slot[at] = (uint32_t)gs->n + 1;
	return gs->n++;
}

int kino_home_genres_new(const kino_home_title_t *titles, size_t n, kino_home_genres_t **out,
			 kino_error_t *err)
{
	kino_home_genres_t *gs = calloc(1, sizeof(*gs));
	size_t total = 0;

	*out = NULL;
	if (gs == NULL)
		goto nomem;
	gs->ntitles = n;
	for (size_t t = 0; t < n; t++)
		total += titles[t].ngenres;
	gs->tg = malloc((total ? total : 1) * sizeof(*gs->tg));
	gs->gt = malloc((total ? total : 1) * sizeof(*gs->gt));
	gs->tg_start = malloc((n + 1) * sizeof(*gs->tg_start));
	if (gs->tg == NULL || gs->gt == NULL || gs->tg_start == NULL)
		goto nomem;
	total = 0;
	for (size_t t = 0; t < n; t++) {
		gs->tg_start[t] = total;
		for (size_t k = 0; k < titles[t].ngenres; k++) {
			size_t i = genre_intern(gs, titles[t].genres[k]);
			if (i == SIZE_MAX)
				goto nomem;
			gs->tg[total++] = (uint32_t)i;
		}
	}
	gs->tg_start[n] = total;
	/* the inverted lists, by counting */
	gs->gt_start = calloc(gs->n + 1, sizeof(*gs->gt_start));
	if (gs->gt_start == NULL)
		goto nomem;
	for (size_t k = 0; k < total; k++)
		gs->gt_start[gs->tg[k] + 1]++;
	for (size_t i = 0; i < gs->n; i++)
		gs->gt_start[i + 1] += gs->gt_start[i];
	for (size_t t = 0; t < n; t++)
		for (size_t k = gs->tg_start[t]; k < gs->tg_start[t + 1]; k++)
			gs->gt[gs->gt_start[gs->tg[k]]++] = (uint32_t)t;
	for (size_t i = gs->n; i > 0; i--) /* shifted one up by the fill */
		gs->gt_start[i] = gs->gt_start[i - 1];
	gs->gt_start[0] = 0;
	*out = gs;
	return 0;
nomem:
	kino_home_genres_destroy(gs);
	return kino_error_set(err, KINO_ENOMEM, "out of memory interning the genres of %zu titles",
			      n);
}

typedef struct genre_rank {
	const char *name;
	double weight;
	size_t index;
} genre_rank_t;

static int genre_cmp(const void *a, const void *b)
{
	const genre_rank_t *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight < y->weight ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Genre rows: the viewer's affinity (completion-weighted plays) orders them;
 * without plays, the trending weight of each genre does. Within a row,
 * trending first, then catalog order. */
static int genre_rows(compose_t *c)
{
	size_t n = c->in->ntitles;
	const kino_home_genres_t *gs = c->in->genres;
	kino_home_genres_t *own = NULL;
	genre_rank_t *rank = NULL;
	bool have_plays = c->in->nplays > 0;
	kino_error_t err = {0};
	int ret = 0;

	if (gs == NULL) {
		if (kino_home_genres_new(c->in->titles, n, &own, &err) != 0)
			return KINO_ENOMEM;
		gs = own;
	}
	rank = malloc((gs->n ? gs->n : 1) * sizeof(*rank));
	if (rank == NULL) {
		ret = KINO_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < gs->n; i++)
		rank[i] = (genre_rank_t){gs->names[i], 0, i};
	if (have_plays) {
		/* the titles played: their last play's completion */
		for (size_t p = 0; p < c->in->nplays; p++) {
			size_t t = c->in->plays[p].title;
			if (c->seen[t] || c->last_played[t] <= 0)
				continue;
			c->seen[t] = 1;
			for (size_t k = gs->tg_start[t]; k < gs->tg_start[t + 1]; k++)
				rank[gs->tg[k]].weight += 0.25 + c->completion[t];
		}
	} else {
		for (size_t i = 0; i < gs->n; i++)
			for (size_t k = gs->gt_start[i]; k < gs->gt_start[i + 1]; k++)
				rank[i].weight += (c->in->trending ? c->in->trending[gs->gt[k]] : 0) +
						  1e-9;
	}
	if (gs->n > 1)
		qsort(rank, gs->n, sizeof(*rank), genre_cmp);
	for (size_t i = 0, rows = 0; i < gs->n && rows < c->in->max_genres; i++) {
		const char *name = rank[i].name;
		char reason[200];
		snprintf(reason, sizeof(reason), have_plays && rank[i].weight > 0
				 ? "Because you watch a lot of %s"
				 : "Popular in %s", name);
		kino_home_row_t *r = row_begin(c, KINO_HOME_GENRE, name, reason);
		if (r == NULL)
			break;
		size_t g = rank[i].index;
		for (size_t t = 0; t < n; t++)
			c->score[t] = NAN;
		for (size_t k = gs->gt_start[g]; k < gs->gt_start[g + 1]; k++)
			c->score[gs->gt[k]] =
				c->in->trending ? (float)c->in->trending[gs->gt[k]] : 0.0f;
		fill_by_score(c, r);
		if (r->nitems > 0)
			rows++;
		row_end(c, r);
	}
out:
	free(rank);
	kino_home_genres_destroy(own);
	return ret;
}

int kino_home_compose(const kino_home_input_t *in, kino_home_row_t *rows, size_t max_rows,
		      size_t *nrows, kino_error_t *err)
{
	compose_t c = {.in = in, .rows = rows, .max_rows = max_rows};
	size_t n = in->ntitles, alloc = n ? n : 1;
	int ret = 0;

	*nrows = 0;
	if (in->row_len == 0 || in->row_len > KINO_HOME_ROW_MAX_ITEMS)
		return kino_error_set(err, KINO_EINVAL, "row_len must be 1..%d",
				      KINO_HOME_ROW_MAX_ITEMS);
	if (in->genres != NULL && in->genres->ntitles != n)
		return kino_error_set(err, KINO_EINVAL, "the genres are of %zu titles, not %zu",
				      in->genres->ntitles, n);
	for (size_t i = 0; i < in->nplays; i++)
		if (in->plays[i].title >= n)
			return kino_error_set(err, KINO_EINVAL, "play %zu names title %zu of %zu", i,
					      in->plays[i].title, n);
	c.skip = calloc(alloc, 1);
	c.finished = calloc(alloc, 1);
	c.last_played = calloc(alloc, sizeof(double));
	c.completion = calloc(alloc, sizeof(double));
	c.seen = calloc(alloc, 1);
	c.score = malloc(alloc * sizeof(float));
	c.best = malloc(KINO_HOME_ROW_MAX_ITEMS * sizeof(uint32_t));
	c.best_score = malloc(KINO_HOME_ROW_MAX_ITEMS * sizeof(float));
	if (!c.skip || !c.finished || !c.last_played || !c.completion || !c.seen || !c.score ||
	    !c.best || !c.best_score) {
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto out;
	}
	/* Per title: its most recent play decides Continue Watching; any
	 * completed play makes it finished. */
	for (size_t i = 0; i < in->nplays; i++) {
		const kino_home_play_t *p = &in->plays[i];
		if (p->completion >= FINISHED)
			c.finished[p->title] = 1;
		if ((double)p->last_played_at >= c.last_played[p->title]) {
			c.last_played[p->title] = (double)p->last_played_at;
			c.completion[p->title] = p->completion;
		}
	}
	for (size_t t = 0; t < n; t++)
		c.skip[t] = c.finished[t] || (in->hidden != NULL && in->hidden[t]);

	continue_watching(&c);
	if (in->als_scores != NULL) {
		kino_home_row_t *r = row_begin(&c, KINO_HOME_TOP_PICKS, "Top Picks for You",
					       "Picked for you from what you watch");
		if (r != NULL) {
			memcpy(c.score, in->als_scores, n * sizeof(float));
			fill_by_score(&c, r);
		}
		row_end(&c, r);
	}
	because_you_watched(&c);
	if (in->trending != NULL) {
		kino_home_row_t *r = row_begin(&c, KINO_HOME_TRENDING, "Trending Now",
					       "What viewers are watching now");
		if (r != NULL) {
			for (size_t t = 0; t < n; t++)
				c.score[t] = in->trending[t] > 0 ? (float)in->trending[t] : NAN;
			fill_by_score(&c, r);
		}
		row_end(&c, r);
	}
	new_releases(&c);
	ret = genre_rows(&c);
	if (ret != 0)
		kino_error_set(err, ret, "out of memory");
	*nrows = c.nrows;
out:
	free(c.skip);
	free(c.finished);
	free(c.last_played);
	free(c.completion);
	free(c.seen);
	free(c.score);
	free(c.best);
	free(c.best_score);
	return ret;
}
