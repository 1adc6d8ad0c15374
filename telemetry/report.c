/* Analysts' reports: engagement, QoE and concurrency, as JSON or CSV.
 *
 * Each report streams a projected cursor over `plays` (or `concurrency`)
 * filtered by start time, title and device, and aggregates in C: FerretDB's
 * $group has only $sum and $count, and percentiles need the values anyway.
 * Memory grows with the number of distinct titles, devices, days and
 * viewers in the range, and with the number of plays that started (one
 * startup time each, for the percentiles): fine for the ranges analysts ask
 * for; docs/telemetry.md says so. Definitions: docs/telemetry.md. Blocking. */
#define KINO_LOG_MODULE "telemetry"
#include "telemetry_internal.h"

#include "kino/log.h"

#include <mongoc/mongoc.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- text output ---- */

void tel_printf(strbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s != NULL && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *ns = realloc(b->s, cap);
		if (ns == NULL) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
}

/* A JSON string (quoted) or a CSV field. */
static void sb_json_str(strbuf_t *b, const char *s)
{
	char esc[600];

	kino_http_json_escape(esc, sizeof(esc), s);
	tel_printf(b, "\"%s\"", esc);
}

static void sb_csv_str(strbuf_t *b, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		tel_printf(b, "%s", s);
		return;
	}
	tel_printf(b, "\"");
	for (; *s; s++)
		tel_printf(b, *s == '"' ? "\"\"" : "%c", *s);
	tel_printf(b, "\"");
}

static void iso_time(int64_t ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- queries ---- */

bool kino_report_kind_parse(const char *s, kino_report_kind_t *out)
{
	static const char *const names[] = {"engagement", "qoe", "concurrency"};

	for (int i = 0; i < 3; i++) {
		if (s != NULL && strcmp(s, names[i]) == 0) {
			*out = (kino_report_kind_t)i;
			return true;
		}
	}
	return false;
}

int kino_report_date_parse(const char *s, const char *field, int64_t *ms, kino_error_t *err)
{
	struct tm tm = {0};
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;

	if (s == NULL ||
	    !((sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6 &&
	       s[n] == '\0') ||
	      (h = mi = sec = 0, sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && s[n] == '\0')) ||
	    mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return kino_error_set(err, KINO_EINVAL,
				      "%s must be a date (2026-11-01) or a UTC time "
				      "(2026-11-01T12:00:00Z)", field);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

static bson_t *filter_for(const kino_report_query_t *q, const char *time_field)
{
	bson_t *f = bson_new(), range;

	if (q->from_ms > 0 || q->to_ms > 0) {
		BSON_APPEND_DOCUMENT_BEGIN(f, time_field, &range);
		if (q->from_ms > 0)
			BSON_APPEND_DATE_TIME(&range, "$gte", q->from_ms);
		if (q->to_ms > 0)
			BSON_APPEND_DATE_TIME(&range, "$lt", q->to_ms);
		bson_append_document_end(f, &range);
	}
	if (q->title_id[0])
		BSON_APPEND_UTF8(f, "title_id", q->title_id);
	if (q->device[0])
		BSON_APPEND_UTF8(f, "device", q->device);
	return f;
}

/* ---- a small string-keyed table ---- */

typedef struct smap {
	char **keys;
	void **vals;
	size_t cap, n;
} smap_t;

/* The value of key, created with calloc(vsize) when absent (vsize 0: a
 * set, the value is the key itself). NULL when out of memory. */
static void *smap_get(smap_t *m, const char *key, size_t vsize, bool *created)
{
	size_t i;

	if (created)
		*created = false;
	if (m->n * 2 >= m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		char **k = calloc(cap, sizeof(*k));
		void **v = calloc(cap, sizeof(*v));
		if (k == NULL || v == NULL) {
			free(k);
			free(v);
			return NULL;
		}
		for (size_t j = 0; j < m->cap; j++) {
			if (m->keys[j] == NULL)
				continue;
			for (i = telemetry_hash(m->keys[j]) & (cap - 1); k[i] != NULL; i = (i + 1) & (cap - 1))
				;
			k[i] = m->keys[j];
			v[i] = m->vals[j];
		}
		free(m->keys);
		free(m->vals);
		m->keys = k;
		m->vals = v;
		m->cap = cap;
	}
	for (i = telemetry_hash(key) & (m->cap - 1); m->keys[i] != NULL; i = (i + 1) & (m->cap - 1)) {
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
	}
	m->keys[i] = strdup(key);
	m->vals[i] = vsize ? calloc(1, vsize) : m->keys[i];
	if (m->keys[i] == NULL || m->vals[i] == NULL) {
		free(m->keys[i]);
		m->keys[i] = NULL;
		return NULL;
	}
	m->n++;
	if (created)
		*created = true;
	return m->vals[i];
}

/* The values of m in a new array sorted with cmp (which compares pointers
 * to values); caller frees the array. NULL when out of memory. */
static void **smap_sorted(const smap_t *m, int (*cmp)(const void *, const void *))
{
	void **v = malloc((m->n + 1) * sizeof(*v));
	size_t n = 0;

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i] != NULL)
			v[n++] = m->vals[i];
	}
	qsort(v, n, sizeof(*v), cmp);
	return v;
}

static void smap_free(smap_t *m, bool free_vals)
{
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i] != NULL && free_vals)
			free(m->vals[i]);
		free(m->keys[i]);
	}
	free(m->keys);
	free(m->vals);
}

/* ---- reading plays ---- */

typedef struct play_row {
	char session_id[BEACON_ID_MAX + 1];
	char title_id[BEACON_NAME_MAX + 1];
	char device[BEACON_SHORT_MAX + 1];
	char viewer_id[BEACON_ID_MAX + 1];
	int64_t started_at, watch_ms, startup_ms, rebuffer_ms, furthest_ms, duration_ms;
	int64_t avg_bitrate, bitrate_ms;
	bool completed, failed, ebvs;
} play_row_t;

static void row_str(const bson_t *d, const char *k, char *dst, size_t size)
{
	bson_iter_t it;

	dst[0] = '\0';
	if (bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(dst, size, "%s", bson_iter_utf8(&it, NULL));
}

static int64_t row_int(const bson_t *d, const char *k)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, d, k))
		return -1;
	if (BSON_ITER_HOLDS_DATE_TIME(&it))
		return bson_iter_date_time(&it);
	return BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_int64(&it) : -1;
}

static bool row_bool(const bson_t *d, const char *k)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
}

typedef int (*row_fn)(const play_row_t *r, void *ud);

static int each_play(kino_db_t *db, const kino_report_query_t *q, row_fn fn, void *ud,
		     kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, kino_db_name(db), "plays");
	bson_t *filter = filter_for(q, "started_at");
	bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "title_id", BCON_INT32(1),
				"device", BCON_INT32(1), "viewer_id", BCON_INT32(1),
				"started_at", BCON_INT32(1), "watch_ms", BCON_INT32(1),
				"startup_ms", BCON_INT32(1), "rebuffer_ms", BCON_INT32(1),
				"furthest_ms", BCON_INT32(1), "duration_ms", BCON_INT32(1),
				"avg_bitrate", BCON_INT32(1), "bitrate_ms", BCON_INT32(1),
				"completed", BCON_INT32(1), "failed", BCON_INT32(1),
				"ebvs", BCON_INT32(1), "}", "batchSize", BCON_INT32(1000));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	const bson_t *doc;
	bson_error_t berr;
	int ret = 0;

	while (ret == 0 && mongoc_cursor_next(cur, &doc)) {
		play_row_t r;

		row_str(doc, "_id", r.session_id, sizeof(r.session_id));
		row_str(doc, "title_id", r.title_id, sizeof(r.title_id));
		row_str(doc, "device", r.device, sizeof(r.device));
		row_str(doc, "viewer_id", r.viewer_id, sizeof(r.viewer_id));
		r.started_at = row_int(doc, "started_at");
		r.watch_ms = row_int(doc, "watch_ms");
		r.startup_ms = row_int(doc, "startup_ms");
		r.rebuffer_ms = row_int(doc, "rebuffer_ms");
		r.furthest_ms = row_int(doc, "furthest_ms");
		r.duration_ms = row_int(doc, "duration_ms");
		r.avg_bitrate = row_int(doc, "avg_bitrate");
		r.bitrate_ms = row_int(doc, "bitrate_ms");
		r.completed = row_bool(doc, "completed");
		r.failed = row_bool(doc, "failed");
		r.ebvs = row_bool(doc, "ebvs");
		ret = fn(&r, ud);
	}
	if (ret == 0 && mongoc_cursor_error(cur, &berr)) {
		kino_db_record_error(db);
		ret = kino_error_set(err, KINO_EDB, "reading plays: %s", berr.message);
	} else if (ret != 0) {
		kino_error_set(err, ret, "out of memory");
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(db, c);
	return ret;
}

/* ---- engagement ---- */

#define RETENTION_POINTS 21 /* 0%, 5%, ... 100% */

typedef struct title_agg {
	char title_id[BEACON_NAME_MAX + 1];
	long long plays, viewers, completed, with_duration;
	long long reached[RETENTION_POINTS];
	int64_t watch_ms;
} title_agg_t;

typedef struct engagement {
	smap_t titles, viewers, title_viewers;
	long long plays, completed, viewers_n;
	int64_t watch_ms;
} engagement_t;

static int engagement_row(const play_row_t *r, void *ud)
{
	engagement_t *e = ud;
	const char *viewer = r->viewer_id[0] ? r->viewer_id : r->session_id;
	char tv[BEACON_NAME_MAX + BEACON_ID_MAX + 4];
	bool created;
	title_agg_t *t = smap_get(&e->titles, r->title_id, sizeof(title_agg_t), &created);

	if (t == NULL)
		return KINO_ENOMEM;
	if (created)
		snprintf(t->title_id, sizeof(t->title_id), "%s", r->title_id);
	e->plays++;
	t->plays++;
	if (r->watch_ms > 0) {
		e->watch_ms += r->watch_ms;
		t->watch_ms += r->watch_ms;
	}
	if (r->completed) {
		e->completed++;
		t->completed++;
	}
	if (smap_get(&e->viewers, viewer, 0, &created) == NULL)
		return KINO_ENOMEM;
	e->viewers_n += created;
	snprintf(tv, sizeof(tv), "%s\x1f%s", r->title_id, viewer);
	if (smap_get(&e->title_viewers, tv, 0, &created) == NULL)
		return KINO_ENOMEM;
	t->viewers += created;
	if (r->duration_ms > 0) {
		t->with_duration++;
		for (int k = 0; k < RETENTION_POINTS; k++) {
			/* furthest >= k * 5% of the duration, in integers */
			if (r->furthest_ms >= 0 && r->furthest_ms * 20 >= r->duration_ms * k)
				t->reached[k]++;
		}
	}
	return 0;
}

static int cmp_titles(const void *a, const void *b)
{
	const title_agg_t *x = *(title_agg_t *const *)a, *y = *(title_agg_t *const *)b;

	if (x->plays != y->plays)
		return x->plays > y->plays ? -1 : 1;
	if (x->watch_ms != y->watch_ms)
		return x->watch_ms > y->watch_ms ? -1 : 1;
	return strcmp(x->title_id, y->title_id);
}

static double ratio(long long a, long long b)
{
	return b > 0 ? (double)a / (double)b : 0.0;
}

static void engagement_write(engagement_t *e, title_agg_t **ts, size_t nt,
			     const kino_report_query_t *q, strbuf_t *out)
{
	int top = q->top > 0 ? q->top : 10;

	if (q->csv) {
		tel_printf(out, "title_id,plays,unique_viewers,watch_hours,avg_watch_time_s,completion_rate");
		for (int k = 0; k < RETENTION_POINTS; k++)
			tel_printf(out, ",retention_%d", k * 5);
		tel_printf(out, "\n*,%lld,%lld,%.4f,%.1f,%.4f", e->plays, e->viewers_n,
		       (double)e->watch_ms / 3.6e6,
		       e->plays ? (double)e->watch_ms / 1000.0 / (double)e->plays : 0.0,
		       ratio(e->completed, e->plays));
		for (int k = 0; k < RETENTION_POINTS; k++)
			tel_printf(out, ",");
		tel_printf(out, "\n");
		for (size_t i = 0; i < nt; i++) {
			title_agg_t *t = ts[i];
			sb_csv_str(out, t->title_id);
			tel_printf(out, ",%lld,%lld,%.4f,%.1f,%.4f", t->plays, t->viewers,
			       (double)t->watch_ms / 3.6e6,
			       (double)t->watch_ms / 1000.0 / (double)t->plays,
			       ratio(t->completed, t->plays));
			for (int k = 0; k < RETENTION_POINTS; k++) {
				if (t->with_duration > 0)
					tel_printf(out, ",%.4f", ratio(t->reached[k], t->with_duration));
				else
					tel_printf(out, ",");
			}
			tel_printf(out, "\n");
		}
		return;
	}
	tel_printf(out, "{\"report\":\"engagement\",\"plays\":%lld,\"unique_viewers\":%lld,"
		    "\"watch_hours\":%.4f,\"avg_watch_time_s\":%.1f,\"completion_rate\":%.4f,"
		    "\"top_titles\":[",
	       e->plays, e->viewers_n, (double)e->watch_ms / 3.6e6,
	       e->plays ? (double)e->watch_ms / 1000.0 / (double)e->plays : 0.0,
	       ratio(e->completed, e->plays));
	for (size_t i = 0; i < nt && (int)i < top; i++) {
		title_agg_t *t = ts[i];
		tel_printf(out, "%s{\"title_id\":", i ? "," : "");
		sb_json_str(out, t->title_id);
		tel_printf(out, ",\"plays\":%lld,\"unique_viewers\":%lld,\"watch_hours\":%.4f,"
			    "\"avg_watch_time_s\":%.1f,\"completion_rate\":%.4f}",
		       t->plays, t->viewers, (double)t->watch_ms / 3.6e6,
		       (double)t->watch_ms / 1000.0 / (double)t->plays, ratio(t->completed, t->plays));
	}
	tel_printf(out, "],\"retention\":[");
	for (size_t i = 0, n = 0; i < nt; i++) {
		title_agg_t *t = ts[i];
		if (t->with_duration == 0)
			continue;
		tel_printf(out, "%s{\"title_id\":", n++ ? "," : "");
		sb_json_str(out, t->title_id);
		tel_printf(out, ",\"plays\":%lld,\"step_pct\":5,\"curve\":[", t->with_duration);
		for (int k = 0; k < RETENTION_POINTS; k++)
			tel_printf(out, "%s%.4f", k ? "," : "", ratio(t->reached[k], t->with_duration));
		tel_printf(out, "]}");
	}
	tel_printf(out, "]}");
}

static int run_engagement(kino_db_t *db, const kino_report_query_t *q, strbuf_t *out,
			  kino_error_t *err)
{
	engagement_t e = {0};
	title_agg_t **ts = NULL;
	int ret = each_play(db, q, engagement_row, &e, err);

	if (ret != 0)
		goto out;
	ts = (title_agg_t **)smap_sorted(&e.titles, cmp_titles);
	if (ts == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto out;
	}
	engagement_write(&e, ts, e.titles.n, q, out);
out:
	free(ts);
	smap_free(&e.titles, true);
	smap_free(&e.viewers, false);
	smap_free(&e.title_viewers, false);
	return ret;
}

/* ---- QoE ---- */

typedef struct qoe_agg {
	char key[BEACON_NAME_MAX + 1];
	long long plays, failed, ebvs;
	int64_t *startup;
	size_t nstartup, capstartup;
	int64_t rebuffer_ms, watch_ms, bitrate_ms;
	double bitrate_time;
} qoe_agg_t;

typedef struct qoe {
	const kino_report_query_t *q;
	qoe_agg_t all;
	smap_t groups;
} qoe_t;

static int qoe_add(qoe_agg_t *a, const play_row_t *r)
{
	a->plays++;
	a->failed += r->failed;
	a->ebvs += r->ebvs;
	if (r->rebuffer_ms > 0)
		a->rebuffer_ms += r->rebuffer_ms;
	if (r->watch_ms > 0)
		a->watch_ms += r->watch_ms;
	if (r->bitrate_ms > 0 && r->avg_bitrate > 0) {
		a->bitrate_ms += r->bitrate_ms;
		a->bitrate_time += (double)r->avg_bitrate * (double)r->bitrate_ms;
	}
	if (r->startup_ms >= 0) {
		if (a->nstartup == a->capstartup) {
			size_t cap = a->capstartup ? a->capstartup * 2 : 64;
			int64_t *n = realloc(a->startup, cap * sizeof(*n));
			if (n == NULL)
				return KINO_ENOMEM;
			a->startup = n;
			a->capstartup = cap;
		}
		a->startup[a->nstartup++] = r->startup_ms;
	}
	return 0;
}

static int qoe_row(const play_row_t *r, void *ud)
{
	qoe_t *s = ud;
	char day[32];
	const char *key = r->title_id;
	bool created;
	qoe_agg_t *g;

	if (s->q->group == KINO_REPORT_GROUP_DEVICE) {
		key = r->device;
	} else if (s->q->group == KINO_REPORT_GROUP_DAY) {
		iso_time(r->started_at, day, sizeof(day)); /* cut to the date */
		day[10] = '\0';
		key = day;
	}
	g = smap_get(&s->groups, key, sizeof(qoe_agg_t), &created);
	if (g == NULL)
		return KINO_ENOMEM;
	if (created)
		snprintf(g->key, sizeof(g->key), "%s", key);
	return qoe_add(&s->all, r) != 0 || qoe_add(g, r) != 0 ? KINO_ENOMEM : 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p% of the values at or
 * below it. -1 when there are none. */
static int64_t percentile(const int64_t *sorted, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return -1;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static void qoe_write_one(qoe_agg_t *a, const char *key, bool csv, strbuf_t *out)
{
	int64_t p50, p90, p95;

	qsort(a->startup, a->nstartup, sizeof(int64_t), cmp_i64);
	p50 = percentile(a->startup, a->nstartup, 50);
	p90 = percentile(a->startup, a->nstartup, 90);
	p95 = percentile(a->startup, a->nstartup, 95);
	if (csv) {
		sb_csv_str(out, key);
		tel_printf(out, ",%lld,", a->plays);
		if (a->nstartup > 0)
			tel_printf(out, "%lld,%lld,%lld", (long long)p50, (long long)p90, (long long)p95);
		else
			tel_printf(out, ",,");
		tel_printf(out, ",%.6f,%.4f,%.4f,%.0f\n", ratio(a->rebuffer_ms, a->watch_ms),
		       100.0 * ratio(a->failed, a->plays), 100.0 * ratio(a->ebvs, a->plays),
		       a->bitrate_ms > 0 ? a->bitrate_time / (double)a->bitrate_ms : 0.0);
		return;
	}
	tel_printf(out, "{\"key\":");
	sb_json_str(out, key);
	tel_printf(out, ",\"plays\":%lld,", a->plays);
	if (a->nstartup > 0)
		tel_printf(out, "\"startup_ms\":{\"p50\":%lld,\"p90\":%lld,\"p95\":%lld,\"n\":%zu},",
		       (long long)p50, (long long)p90, (long long)p95, a->nstartup);
	else
		tel_printf(out, "\"startup_ms\":null,");
	tel_printf(out, "\"rebuffer_ratio\":%.6f,\"failure_pct\":%.4f,\"ebvs_pct\":%.4f,"
		    "\"avg_bitrate\":%.0f}",
	       ratio(a->rebuffer_ms, a->watch_ms), 100.0 * ratio(a->failed, a->plays),
	       100.0 * ratio(a->ebvs, a->plays),
	       a->bitrate_ms > 0 ? a->bitrate_time / (double)a->bitrate_ms : 0.0);
}

static int cmp_groups(const void *a, const void *b)
{
	return strcmp((*(qoe_agg_t *const *)a)->key, (*(qoe_agg_t *const *)b)->key);
}

static int run_qoe(kino_db_t *db, const kino_report_query_t *q, strbuf_t *out, kino_error_t *err)
{
	static const char *const group_names[] = {"title", "device", "day"};
	qoe_t s = {.q = q};
	qoe_agg_t **gs = NULL;
	size_t ng;
	int ret = each_play(db, q, qoe_row, &s, err);

	if (ret != 0)
		goto out;
	gs = (qoe_agg_t **)smap_sorted(&s.groups, cmp_groups);
	if (gs == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto out;
	}
	ng = s.groups.n;
	if (q->csv) {
		tel_printf(out, "%s,plays,startup_p50_ms,startup_p90_ms,startup_p95_ms,rebuffer_ratio,"
			    "failure_pct,ebvs_pct,avg_bitrate\n", group_names[q->group]);
		qoe_write_one(&s.all, "*", true, out);
		for (size_t i = 0; i < ng; i++)
			qoe_write_one(gs[i], gs[i]->key, true, out);
	} else {
		tel_printf(out, "{\"report\":\"qoe\",\"group_by\":\"%s\",\"overall\":", group_names[q->group]);
		qoe_write_one(&s.all, "*", false, out);
		tel_printf(out, ",\"groups\":[");
		for (size_t i = 0; i < ng; i++) {
			tel_printf(out, "%s", i ? "," : "");
			qoe_write_one(gs[i], gs[i]->key, false, out);
		}
		tel_printf(out, "]}");
	}
out:
	free(gs);
	free(s.all.startup);
	for (size_t i = 0; i < s.groups.cap; i++) {
		if (s.groups.keys[i] != NULL)
			free(((qoe_agg_t *)s.groups.vals[i])->startup);
	}
	smap_free(&s.groups, true);
	return ret;
}

/* ---- concurrency ---- */

typedef struct minute_count {
	int64_t minute;
	long long viewers;
} minute_count_t;

static int cmp_minutes(const void *a, const void *b)
{
	int64_t x = ((const minute_count_t *)a)->minute, y = ((const minute_count_t *)b)->minute;
	return x < y ? -1 : x > y;
}

static int run_concurrency(kino_db_t *db, const kino_report_query_t *q, strbuf_t *out,
			   kino_error_t *err)
{
	mongoc_client_t *c = kino_db_client_pop(db);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, kino_db_name(db), "concurrency");
	bson_t *filter = filter_for(q, "minute");
	bson_t *opts = BCON_NEW("projection", "{", "minute", BCON_INT32(1), "viewers",
				BCON_INT32(1), "}", "batchSize", BCON_INT32(1000));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	minute_count_t *mc = NULL;
	size_t n = 0, cap = 0, m = 0, peak = 0;
	const bson_t *doc;
	bson_error_t berr;
	char when[32];
	int ret = 0;

	while (mongoc_cursor_next(cur, &doc)) {
		if (n == cap) {
			minute_count_t *nm;
			cap = cap ? cap * 2 : 256;
			nm = realloc(mc, cap * sizeof(*nm));
			if (nm == NULL) {
				ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
				goto out;
			}
			mc = nm;
		}
		mc[n].minute = row_int(doc, "minute");
		mc[n].viewers = row_int(doc, "viewers");
		if (mc[n].minute >= 0 && mc[n].viewers > 0)
			n++;
	}
	if (mongoc_cursor_error(cur, &berr)) {
		kino_db_record_error(db);
		ret = kino_error_set(err, KINO_EDB, "reading concurrency: %s", berr.message);
		goto out;
	}
	/* one document per minute, title and device: sum the minutes */
	qsort(mc, n, sizeof(*mc), cmp_minutes);
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && mc[m - 1].minute == mc[i].minute)
			mc[m - 1].viewers += mc[i].viewers;
		else
			mc[m++] = mc[i];
	}
	for (size_t i = 1; i < m; i++) {
		if (mc[i].viewers > mc[peak].viewers)
			peak = i;
	}
	if (q->csv) {
		tel_printf(out, "minute,viewers\n");
		for (size_t i = 0; i < m; i++) {
			iso_time(mc[i].minute, when, sizeof(when));
			tel_printf(out, "%s,%lld\n", when, mc[i].viewers);
		}
		goto out;
	}
	tel_printf(out, "{\"report\":\"concurrency\",\"timeline\":[");
	for (size_t i = 0; i < m; i++) {
		iso_time(mc[i].minute, when, sizeof(when));
		tel_printf(out, "%s{\"minute\":\"%s\",\"viewers\":%lld}", i ? "," : "", when, mc[i].viewers);
	}
	if (m > 0) {
		iso_time(mc[peak].minute, when, sizeof(when));
		tel_printf(out, "],\"peak\":{\"minute\":\"%s\",\"viewers\":%lld}}", when, mc[peak].viewers);
	} else {
		tel_printf(out, "],\"peak\":null}");
	}
out:
	free(mc);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(db, c);
	return ret;
}

int kino_report_run(kino_db_t *db, kino_report_kind_t kind, const kino_report_query_t *q,
		    char **out, size_t *len, kino_error_t *err)
{
	strbuf_t sb = {0};
	int ret;

	*out = NULL;
	*len = 0;
	if (q->from_ms > 0 && q->to_ms > 0 && q->to_ms <= q->from_ms)
		return kino_error_set(err, KINO_EINVAL, "to must come after from");
	switch (kind) {
	case KINO_REPORT_ENGAGEMENT: ret = run_engagement(db, q, &sb, err); break;
	case KINO_REPORT_QOE: ret = run_qoe(db, q, &sb, err); break;
	case KINO_REPORT_CONCURRENCY: ret = run_concurrency(db, q, &sb, err); break;
	default: ret = kino_error_set(err, KINO_EINVAL, "unknown report"); break;
	}
	if (ret == 0 && sb.oom)
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
	if (ret == 0 && sb.s == NULL)
		tel_printf(&sb, "%s", "");
	if (ret != 0) {
		free(sb.s);
		return ret;
	}
	*out = sb.s;
	*len = sb.len;
	return 0;
}
