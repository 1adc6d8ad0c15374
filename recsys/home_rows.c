/* The home screen's rows: see the "home rows" part of include/kino/recsys.h.
 *
 * Composition is greedy in the rows' order of importance: each row takes the
 * best candidates not yet used by an earlier row, so the rows a viewer sees
 * first get the strongest titles and nothing repeats. Partial top-k
 * selections keep the work proportional to the catalog, not to a full sort:
 * a 10,000-title catalog is a few passes over arrays. */
#include "kino/error.h"
#include "kino/recsys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CW_MIN 0.05
#define FINISHED 0.95

typedef struct compose {
	const kino_home_input_t *in;
	unsigned char *used;     /* per title: already in a row */
	unsigned char *finished; /* per title: completed once */
	double *last_played;     /* per title: most recent play, 0 if none */
	double *completion;      /* per title: the completion of that play */
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
	c->used[t] = 1;
}

/* May t still be recommended? Not used, not finished. */
static bool open_title(const compose_t *c, size_t t)
{
	return !c->used[t] && !c->finished[t];
}

/* Fills r with the best open titles by score (higher first), at most
 * row_len; ties keep catalog order so the result is stable. A selection by
 * repeated scans over a small row: row_len passes, no allocation. */
static void fill_by_score(compose_t *c, kino_home_row_t *r, const double *score_d,
			  const float *score_f)
{
	size_t n = c->in->ntitles;

	while (r->nitems < c->in->row_len) {
		size_t best = n;
		double best_s = -INFINITY;
		for (size_t t = 0; t < n; t++) {
			double s = score_d ? score_d[t] : (double)score_f[t];
			if (open_title(c, t) && s > best_s && !isnan(s)) {
				best = t;
				best_s = s;
			}
		}
		if (best == n || best_s <= -INFINITY)
			return;
		row_add(c, r, best);
	}
}

static void continue_watching(compose_t *c)
{
	kino_home_row_t *r = row_begin(c, KINO_HOME_CONTINUE_WATCHING, "Continue Watching",
				       "You started these and have not finished them");
	size_t n = c->in->ntitles;

	if (r == NULL)
		return;
	while (r->nitems < c->in->row_len) {
		size_t best = n;
		for (size_t t = 0; t < n; t++) {
			if (c->used[t] || c->finished[t] || c->last_played[t] <= 0 ||
			    c->completion[t] < CW_MIN || c->completion[t] >= FINISHED)
				continue;
			if (best == n || c->last_played[t] > c->last_played[best])
				best = t;
		}
		if (best == n)
			break;
		row_add(c, r, best);
	}
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
			if (similar[i] < n && similar[i] != seed && open_title(c, similar[i]))
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
	double *when = malloc(sizeof(double) * (c->in->ntitles ? c->in->ntitles : 1));

	if (r != NULL && when != NULL) {
		for (size_t t = 0; t < c->in->ntitles; t++)
			when[t] = c->in->titles[t].released_at > 0
					  ? (double)c->in->titles[t].released_at
					  : -INFINITY;
		fill_by_score(c, r, when, NULL);
	}
	free(when);
	row_end(c, r);
}

typedef struct genre {
	const char *name;
	double weight;
} genre_t;

static int genre_cmp(const void *a, const void *b)
{
	const genre_t *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight < y->weight ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Genre rows: the viewer's affinity (completion-weighted plays) orders them;
 * without plays, the trending weight of each genre does. */
static int genre_rows(compose_t *c)
{
	size_t n = c->in->ntitles, ng = 0, cap = 0;
	genre_t *g = NULL;
	bool have_plays = c->in->nplays > 0;

	for (size_t t = 0; t < n; t++) {
		double w = have_plays ? (c->last_played[t] > 0 ? 0.25 + c->completion[t] : 0)
				      : (c->in->trending ? c->in->trending[t] : 0) + 1e-9;
		for (size_t k = 0; k < c->in->titles[t].ngenres; k++) {
			const char *name = c->in->titles[t].genres[k];
			size_t i = 0;
			while (i < ng && strcmp(g[i].name, name) != 0)
				i++;
			if (i == ng) {
				if (ng == cap) {
					cap = cap ? cap * 2 : 16;
					genre_t *grown = realloc(g, cap * sizeof(*g));
					if (grown == NULL) {
						free(g);
						return KINO_ENOMEM;
					}
					g = grown;
				}
				g[ng++] = (genre_t){name, 0};
			}
			g[i].weight += w;
		}
	}
	if (ng > 1)
		qsort(g, ng, sizeof(*g), genre_cmp);
	for (size_t i = 0, rows = 0; i < ng && rows < c->in->max_genres; i++) {
		char reason[200];
		snprintf(reason, sizeof(reason), have_plays && g[i].weight > 0
				 ? "Because you watch a lot of %s"
				 : "Popular in %s", g[i].name);
		kino_home_row_t *r = row_begin(c, KINO_HOME_GENRE, g[i].name, reason);
		if (r == NULL)
			break;
		/* Within a genre: trending first, then catalog order. */
		while (r->nitems < c->in->row_len) {
			size_t best = n;
			for (size_t t = 0; t < n; t++) {
				if (!open_title(c, t))
					continue;
				bool in_genre = false;
				for (size_t k = 0; k < c->in->titles[t].ngenres && !in_genre; k++)
					in_genre = strcmp(c->in->titles[t].genres[k], g[i].name) == 0;
				if (!in_genre)
					continue;
				if (best == n || (c->in->trending &&
						  c->in->trending[t] > c->in->trending[best]))
					best = t;
			}
			if (best == n)
				break;
			row_add(c, r, best);
		}
		if (r->nitems > 0)
			rows++;
		row_end(c, r);
	}
	free(g);
	return 0;
}

int kino_home_compose(const kino_home_input_t *in, kino_home_row_t *rows, size_t max_rows,
		      size_t *nrows, kino_error_t *err)
{
	compose_t c = {.in = in, .rows = rows, .max_rows = max_rows};
	size_t n = in->ntitles;
	int ret = 0;

	*nrows = 0;
	if (in->row_len == 0 || in->row_len > KINO_HOME_ROW_MAX_ITEMS)
		return kino_error_set(err, KINO_EINVAL, "row_len must be 1..%d",
				      KINO_HOME_ROW_MAX_ITEMS);
	for (size_t i = 0; i < in->nplays; i++)
		if (in->plays[i].title >= n)
			return kino_error_set(err, KINO_EINVAL, "play %zu names title %zu of %zu", i,
					      in->plays[i].title, n);
	c.used = calloc(n ? n : 1, 1);
	c.finished = calloc(n ? n : 1, 1);
	c.last_played = calloc(n ? n : 1, sizeof(double));
	c.completion = calloc(n ? n : 1, sizeof(double));
	if (!c.used || !c.finished || !c.last_played || !c.completion) {
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

	continue_watching(&c);
	if (in->als_scores != NULL) {
		kino_home_row_t *r = row_begin(&c, KINO_HOME_TOP_PICKS, "Top Picks for You",
					       "Picked for you from what you watch");
		if (r != NULL)
			fill_by_score(&c, r, NULL, in->als_scores);
		row_end(&c, r);
	}
	because_you_watched(&c);
	if (in->trending != NULL) {
		kino_home_row_t *r = row_begin(&c, KINO_HOME_TRENDING, "Trending Now",
					       "What viewers are watching now");
		if (r != NULL)
			fill_by_score(&c, r, in->trending, NULL);
		row_end(&c, r);
	}
	new_releases(&c);
	ret = genre_rows(&c);
	if (ret != 0)
		kino_error_set(err, ret, "out of memory");
	*nrows = c.nrows;
out:
	free(c.used);
	free(c.finished);
	free(c.last_played);
	free(c.completion);
	return ret;
}
