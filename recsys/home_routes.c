/* The home screen's routes (include/kino/home.h):
 *
 *   GET  /api/v1/home                  the signed-in viewer's rows
 *   GET  /api/v1/admin/recsys          the model served and the training
 *   POST /api/v1/admin/recsys/retrain  train from plays now
 *
 * A home request: the viewer's last plays (from the in-memory index of
 * recsys/viewer_plays.h; one indexed query before it is loaded), their user
 * vector (stored, or folded in from those plays when they are newer than
 * the model or the viewer is new to it), every catalog title scored with one
 * cblas_sgemv over the model's items, and kino_home_compose. When the
 * viewer's plays cannot be read the screen is still served, unpersonalized,
 * with "degraded": true. */
#define KINO_LOG_MODULE "home"

#include "home_internal.h"
#include "plays_doc.h"
#include "recsys_internal.h"

#include "kino/log.h"

#include <cblas.h>
#include <mongoc/mongoc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOME_ROW_LEN 20
#define HOME_MAX_BECAUSE 2
#define HOME_MAX_GENRES 4
#define HOME_ROWS_MAX (4 + HOME_MAX_BECAUSE + HOME_MAX_GENRES)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct plays_ctx {
	recsys_play_doc_t *out;
	size_t n, max;
} plays_ctx_t;

static bool play_keep(const recsys_play_doc_t *p, void *ud)
{
	plays_ctx_t *pc = ud;

	if (p->title[0] != '\0')
		pc->out[pc->n++] = *p;
	return pc->n < pc->max;
}

/* The viewer's most recent plays, newest first. */
static int plays_read(kino_home_t *home, const char *viewer, recsys_play_doc_t *out, size_t max,
		      size_t *n, kino_error_t *err)
{
	bson_t *filter = BCON_NEW("viewer_id", BCON_UTF8(viewer));
	bson_t *opts = BCON_NEW("projection", "{", "title_id", BCON_INT32(1), "completion_pct",
				BCON_INT32(1), "completed", BCON_INT32(1), "watch_ms", BCON_INT32(1),
				"duration_ms", BCON_INT32(1), "started_at", BCON_INT32(1), "last_ts",
				BCON_INT32(1), "}", "sort", "{", "started_at", BCON_INT32(-1), "}",
				"limit", BCON_INT64((int64_t)max));
	plays_ctx_t pc = {.out = out, .max = max};
	int ret = recsys_plays_each(home->db, filter, opts, play_keep, &pc,
				    "reading the viewer's plays", err);

	*n = pc.n;
	bson_destroy(opts);
	bson_destroy(filter);
	return ret;
}

/* The viewer's vector: the stored one when the model already knows
 * everything they played, else folded in from their plays. False when
 * there is nothing to go by (cold start). *folded says which. */
static bool user_vector(const home_view_t *v, const char *viewer, const recsys_play_doc_t *plays,
			size_t nplays, float *x, bool *folded)
{
	const kino_recsys_model_t *m = v->model;
	int64_t user = kino_recsys_model_user_by_key(m, viewer);
	/* the training read plays that started up to this second */
	int64_t trained_until = (kino_recsys_model_info(m)->data_last_timestamp + 1) * 1000;
	size_t f = kino_recsys_model_factors(m), n = 0;
	bool newer = false;

	*folded = false;
	for (size_t i = 0; i < nplays; i++)
		if (plays[i].started_at >= trained_until)
			newer = true;
	if (user >= 0 && !newer) {
		memcpy(x, kino_recsys_model_user_vector(m, user), f * sizeof(float));
		return true;
	}
	if (nplays == 0)
		return false;

	/* One (item, confidence) per title, from all its plays. */
	int64_t items[HOME_PLAYS_MAX];
	float conf[HOME_PLAYS_MAX];
	kino_recsys_pair_t pairs[HOME_PLAYS_MAX];
	for (size_t i = 0; i < nplays; i++) {
		int64_t item = kino_recsys_model_item_by_key(m, plays[i].title);
		size_t j = 0;
		if (item < 0)
			continue;
		while (j < n && items[j] != item)
			j++;
		if (j == n) {
			items[n] = item;
			memset(&pairs[n], 0, sizeof(pairs[n]));
			n++;
		}
		kino_recsys_pair_add(&pairs[j], &plays[i].play);
	}
	if (n == 0)
		return false;
	for (size_t j = 0; j < n; j++)
		conf[j] = kino_recsys_model_confidence(m, kino_recsys_pair_strength(&pairs[j]));
	if (kino_recsys_model_fold_in(m, items, conf, n, x, NULL, NULL) != 0)
		return false;
	*folded = true;
	return true;
}

typedef struct similar_ctx {
	const home_view_t *view;
	kino_recsys_scored_t *scratch;
	size_t cap;
} similar_ctx_t;

/* Titles like titles[seed], through the item factors. */
static size_t similar_titles(size_t seed, size_t *out, size_t max, void *ud)
{
	similar_ctx_t *s = ud;
	const home_view_t *v = s->view;
	const kino_recsys_model_t *m = v->model;
	size_t got = 0, n = 0;

	if (v->title_item[seed] < 0)
		return 0;
	if (max > s->cap)
		max = s->cap;
	if (kino_recsys_model_similar_items(m, v->title_item[seed], max, s->scratch, &got,
					    NULL) != 0)
		return 0;
	for (size_t i = 0; i < got; i++) {
		int64_t idx = recsys_id_find(m->item_ids, m->n_items, s->scratch[i].item);
		if (idx >= 0 && v->item_title[idx] >= 0)
			out[n++] = (size_t)v->item_title[idx];
	}
	return n;
}

static void json_string(FILE *out, const char *s)
{
	char buf[4096];

	kino_http_json_escape(buf, sizeof(buf), s);
	fprintf(out, "\"%s\"", buf);
}

static void write_time(FILE *out, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];

	if (ms <= 0) {
		fputs("null", out);
		return;
	}
	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
	fputs(buf, out);
}

static void write_rows(FILE *out, const home_view_t *v, const kino_home_row_t *rows,
		       size_t nrows, const double *progress)
{
	fputs("\"rows\":[", out);
	for (size_t r = 0; r < nrows; r++) {
		fprintf(out, "%s{\"type\":\"%s\",\"title\":", r ? "," : "",
			kino_home_row_type_name(rows[r].type));
		json_string(out, rows[r].title);
		fputs(",\"reason\":", out);
		json_string(out, rows[r].reason);
		fputs(",\"items\":[", out);
		for (size_t i = 0; i < rows[r].nitems; i++) {
			const kino_catalog_entry_t *e = &v->entries[rows[r].items[i]];
			if (i)
				fputc(',', out);
			if (rows[r].type == KINO_HOME_CONTINUE_WATCHING) {
				/* the title's own object with its progress first */
				fprintf(out, "{\"progress\":%.4f,", progress[rows[r].items[i]]);
				fwrite(e->json + 1, 1, e->json_len - 1, out);
			} else {
				fwrite(e->json, 1, e->json_len, out);
			}
		}
		fputs("]}", out);
	}
	fputc(']', out);
}

static void home_get(kino_http_request_t *req, void *userdata)
{
	kino_home_t *home = userdata;
	kino_user_t user;
	kino_error_t err = {0};
	home_view_t *v = NULL;
	recsys_play_doc_t *vplays = NULL;
	kino_home_play_t *plays = NULL;
	unsigned char *hidden = NULL;
	float *x = NULL, *item_scores = NULL, *als = NULL;
	double *progress = NULL;
	kino_recsys_scored_t *scratch = NULL;
	kino_home_row_t *rows = NULL;
	size_t nvplays = 0, nplays = 0, nrows = 0;
	bool degraded = false, personalized = false, folded = false;
	char *body = NULL;
	size_t body_len = 0;
	FILE *out = NULL;
	int64_t now = now_ms();

	if (kino_auth_require(home->auth, req, KINO_ROLE_VIEWER, &user) != 0)
		return;
	v = home_view_acquire(home);
	if (v == NULL) {
		kino_http_respond_error(req, KINO_EUNAVAIL,
					"the home screen is not ready: the catalog could not be "
					"read yet");
		return;
	}
	vplays = malloc(HOME_PLAYS_MAX * sizeof(*vplays));
	plays = malloc(HOME_PLAYS_MAX * sizeof(*plays));
	hidden = malloc(v->n ? v->n : 1);
	progress = malloc((v->n ? v->n : 1) * sizeof(*progress));
	rows = malloc(HOME_ROWS_MAX * sizeof(*rows));
	if (!vplays || !plays || !hidden || !progress || !rows)
		goto nomem;
	/* from memory once the index is loaded; until then from `plays` */
	if (!viewer_plays_get(home->plays, user.id, vplays, HOME_PLAYS_MAX, &nvplays) &&
	    plays_read(home, user.id, vplays, HOME_PLAYS_MAX, &nvplays, &err) != 0) {
		KINO_LOG_WARN("home of %s served without their plays: %s", user.id,
			      kino_error_message(&err));
		degraded = true;
		nvplays = 0;
	}
	for (size_t t = 0; t < v->n; t++) {
		hidden[t] = !kino_catalog_entry_visible(&v->entries[t], now);
		progress[t] = NAN;
	}
	for (size_t i = 0; i < nvplays; i++) {
		ptrdiff_t t = home_view_find(v, vplays[i].title);
		double c = vplays[i].play.completion;
		if (t < 0)
			continue;
		if (vplays[i].play.completed)
			c = 1.0;
		plays[nplays++] = (kino_home_play_t){.title = (size_t)t,
						     .completion = c < 0 ? 0 : c,
						     .last_played_at = vplays[i].last_at};
		if (isnan(progress[t])) /* newest first: the latest play's */
			progress[t] = c < 0 ? 0 : c;
	}

	similar_ctx_t sim = {.view = v};
	if (v->model != NULL) {
		size_t f = kino_recsys_model_factors(v->model);
		size_t items = kino_recsys_model_items(v->model);
		x = malloc(f * sizeof(*x));
		if (x == NULL)
			goto nomem;
		if (user_vector(v, user.id, vplays, nvplays, x, &folded)) {
			item_scores = malloc(items * sizeof(*item_scores));
			als = malloc((v->n ? v->n : 1) * sizeof(*als));
			if (item_scores == NULL || als == NULL)
				goto nomem;
			cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)items, (int)f, 1.0f,
				    v->model->item_factors, (int)f, x, 1, 0.0f, item_scores, 1);
			for (size_t t = 0; t < v->n; t++)
				als[t] = v->title_item[t] >= 0 ? item_scores[v->title_item[t]] : NAN;
			personalized = true;
		}
		sim.cap = HOME_ROW_LEN * 4;
		scratch = malloc(sim.cap * sizeof(*scratch));
		if (scratch == NULL)
			goto nomem;
		sim.scratch = scratch;
	}
	kino_home_input_t in = {
		.titles = v->titles,
		.ntitles = v->n,
		.genres = v->genres,
		.plays = plays,
		.nplays = nplays,
		.als_scores = als,
		.trending = v->trending,
		.hidden = hidden,
		.similar = v->model != NULL ? similar_titles : NULL,
		.similar_userdata = &sim,
		.row_len = HOME_ROW_LEN,
		.max_because = HOME_MAX_BECAUSE,
		.max_genres = HOME_MAX_GENRES,
	};
	if (kino_home_compose(&in, rows, HOME_ROWS_MAX, &nrows, &err) != 0) {
		kino_http_respond_error(req, err.code, kino_error_message(&err));
		goto out;
	}
	out = open_memstream(&body, &body_len);
	if (out == NULL)
		goto nomem;
	fputc('{', out);
	write_rows(out, v, rows, nrows, progress);
	fprintf(out, ",\"personalized\":%s,\"fold_in\":%s,\"degraded\":%s,\"model\":",
		personalized ? "true" : "false", folded ? "true" : "false",
		degraded ? "true" : "false");
	if (v->model != NULL) {
		fputs("{\"created_at\":", out);
		write_time(out, kino_recsys_model_info(v->model)->created_at * 1000);
		fputc('}', out);
	} else {
		fputs("null", out);
	}
	fputc('}', out);
	if (fclose(out) != 0) {
		out = NULL;
		goto nomem;
	}
	out = NULL;
	kino_http_response_header(req, "Cache-Control", "private, no-store");
	kino_http_respond(req, 200, "application/json", body, body_len);
	goto out;
nomem:
	kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
out:
	if (out != NULL)
		fclose(out);
	free(body);
	free(vplays);
	free(plays);
	free(hidden);
	free(progress);
	free(rows);
	free(x);
	free(item_scores);
	free(als);
	free(scratch);
	home_view_release(v);
}

/* ---- admin ---- */

static void status_json(kino_home_t *home, FILE *out)
{
	home_view_t *v = home_view_acquire(home);
	home_training_t tr;
	static const char *const states[] = {"idle", "running", "failed"};

	home_training_get(home, &tr);
	fputs("{\"model\":", out);
	if (v != NULL && v->model != NULL) {
		const kino_recsys_model_info_t *in = kino_recsys_model_info(v->model);
		fputs("{\"created_at\":", out);
		write_time(out, in->created_at * 1000);
		fprintf(out,
			",\"users\":%zu,\"items\":%zu,\"interactions\":%llu,\"factors\":%u,"
			"\"iterations\":%u,\"regularization\":%g,\"alpha\":%g,"
			"\"train_seconds\":%.3f,\"data_from\":",
			kino_recsys_model_users(v->model), kino_recsys_model_items(v->model),
			(unsigned long long)in->interactions, in->factors, in->iterations,
			(double)in->regularization, (double)in->alpha, in->train_seconds);
		write_time(out, in->data_first_timestamp * 1000);
		fputs(",\"data_to\":", out);
		write_time(out, in->data_last_timestamp * 1000);
		fputs(",\"source\":", out);
		json_string(out, in->source);
		size_t known = 0;
		for (size_t t = 0; t < v->n; t++)
			known += v->title_item[t] >= 0;
		fprintf(out, ",\"catalog_titles_known\":%zu}", known);
	} else {
		fputs("null", out);
	}
	fprintf(out, ",\"training\":{\"state\":\"%s\",\"started_at\":", states[tr.state]);
	write_time(out, tr.started_at);
	fputs(",\"finished_at\":", out);
	write_time(out, tr.finished_at);
	fputs(",\"error\":", out);
	if (tr.error[0])
		json_string(out, tr.error);
	else
		fputs("null", out);
	fputs(",\"next_at\":", out);
	write_time(out, tr.next_at);
	fprintf(out, ",\"interval_s\":%d}",
		home->schedule ? home->cfg->recsys.retrain_interval_s : 0);
	viewer_plays_stats_t ps;
	viewer_plays_stats(home->plays, &ps);
	fprintf(out, ",\"viewer_plays\":{\"ready\":%s,\"viewers\":%zu,\"plays\":%zu,\"loaded_at\":",
		ps.ready ? "true" : "false", ps.viewers, ps.plays);
	write_time(out, ps.loaded_at);
	fputs(",\"refreshed_at\":", out);
	write_time(out, ps.refreshed_at);
	fprintf(out, ",\"refresh_ms\":%lld}}", (long long)ps.refresh_ms);
	home_view_release(v);
}

static void respond_status(kino_http_request_t *req, kino_home_t *home, int status)
{
	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);

	if (out == NULL) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		return;
	}
	status_json(home, out);
	if (fclose(out) != 0)
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
	else
		kino_http_respond(req, status, "application/json", body, len);
	free(body);
}

static void recsys_status(kino_http_request_t *req, void *userdata)
{
	kino_home_t *home = userdata;
	kino_user_t user;

	if (kino_auth_require(home->auth, req, KINO_ROLE_ADMIN, &user) != 0)
		return;
	respond_status(req, home, 200);
}

static void recsys_retrain(kino_http_request_t *req, void *userdata)
{
	kino_home_t *home = userdata;
	kino_user_t user;
	int ret;

	if (kino_auth_require(home->auth, req, KINO_ROLE_ADMIN, &user) != 0)
		return;
	ret = home_retrain(home);
	if (ret == KINO_ECONFLICT) {
		kino_http_respond_error(req, KINO_ECONFLICT,
					"a training is already running; wait for it to finish");
		return;
	}
	if (ret != 0) {
		kino_http_respond_error(req, ret, "the training could not be started");
		return;
	}
	KINO_LOG_INFO("%s started a training of the recommender", user.email);
	respond_status(req, home, 202);
}

size_t kino_home_routes(kino_home_t *home, kino_http_route_t *out, size_t max)
{
	const kino_http_route_t routes[] = {
		{.method = "GET", .pattern = "/api/v1/home", .handler = home_get,
		 .mode = KINO_HTTP_BLOCKING, .userdata = home},
		{.method = "GET", .pattern = "/api/v1/admin/recsys", .handler = recsys_status,
		 .mode = KINO_HTTP_BLOCKING, .userdata = home},
		{.method = "POST", .pattern = "/api/v1/admin/recsys/retrain",
		 .handler = recsys_retrain, .mode = KINO_HTTP_BLOCKING, .userdata = home},
	};
	size_t n = sizeof(routes) / sizeof(routes[0]);

	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof(routes[0]));
	return n;
}
