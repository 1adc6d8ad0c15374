/* kino loadgen's client: WebSockets to the collector, and the bookkeeping
 * that makes every beacon count once. See include/kino/loadgen.h.
 *
 * One libwebsockets client context with a service thread of its own owns
 * everything: the connections, the sessions and their beacons. A timer on
 * that loop (every TICK_US) starts sessions at the configured rate, steps
 * them (loadgen_session.c) and queues their beacons on the connection that
 * carries the session (session index modulo connections, so a session keeps
 * one connection, as a player does). A connection writes from WRITEABLE
 * only, as one JSON array per message, with LWS_PRE bytes of headroom.
 *
 * Every beacon is kept (lg_beacon_t) until an answer settles it: ack (its
 * latency is measured from its latest send), error (refused: counted, never
 * sent again). A backoff or throttled answer puts the beacon back in the
 * queue, ahead of its session's later beacons, and holds the connection
 * for retry_after_s. A connection keeps at most `window` beacons written
 * and unanswered, as a player's SDK does: what a backlog adds waits its
 * turn on the client instead of being refused and resent over and over
 * while the collector is saturated. A connection that closes
 * is opened again after RECONNECT_US, and its queue is rebuilt from every
 * unsettled beacon of its sessions in seq order, so session_start goes
 * first; the collector is idempotent on (session_id, seq), so a resend of a
 * beacon whose ack was lost costs nothing. The caller's thread only waits
 * for the loop to finish. */
#define KINO_LOG_MODULE "loadgen"
#include "loadgen_internal.h"

#include "kino/error.h"
#include "kino/log.h"
#include "kino/playback.h"

#include <libwebsockets.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#define TICK_US 5000
#define RECONNECT_US 500000
#define MESSAGE_MAX (32 * 1024)
#define BEACON_MAX 2048
#define RX_MAX (64 * 1024)

typedef struct lg_ref {
	int session, seq;
} lg_ref_t;

typedef struct lg_conn {
	struct lws *wsi;
	bool open, connecting, ever_open;
	int64_t retry_at_us;  /* reconnect not before */
	int64_t hold_until_us; /* backed off until */
	lg_ref_t *queue;      /* refs [qhead, qlen) wait to be written */
	size_t qhead, qlen, qcap;
	int inflight;         /* written and not answered yet */
	char *rx;
	size_t rx_len;
} lg_conn_t;

typedef struct lg_run {
	const kino_loadgen_config_t *cfg;
	kino_loadgen_report_t *rep;
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	char host[256], path[256];
	int port;
	lg_conn_t *conns;
	lg_session_t **sessions;
	int nsessions, scap, first_live, active;
	int64_t t0_us, end_us, drain_until_us, next_start_us, last_answer_us;
	long long outstanding; /* beacons written by sessions, not yet settled */
	int64_t *lat;
	size_t nlat, latcap;
	unsigned char *tx;     /* LWS_PRE + MESSAGE_MAX */
	bool done, oom;
} lg_run_t;

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kino_loadgen_config_defaults(kino_loadgen_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->url, sizeof(cfg->url), "ws://127.0.0.1:8081/v1/beacons");
	cfg->viewers = 10;
	cfg->rate = 1;
	cfg->duration_s = 10;
	cfg->heartbeat_ms = 1000;
	cfg->connections = 4;
	cfg->seed = 1;
	cfg->drain_s = 30;
	cfg->window = 256;
}

/* ws://host[:port][/path] into run; KINO_EINVAL otherwise. */
static int parse_url(const char *url, lg_run_t *run, kino_error_t *err)
{
	const char *p = url, *slash, *colon;
	size_t hostlen;

	if (strncmp(p, "ws://", 5) != 0)
		return kino_error_set(err, KINO_EINVAL, "--url: '%s' is not ws://host:port/path", url);
	p += 5;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	hostlen = (size_t)((colon ? colon : slash) - p);
	if (hostlen == 0 || hostlen >= sizeof(run->host) || strlen(slash) >= sizeof(run->path))
		return kino_error_set(err, KINO_EINVAL, "--url: bad host or path in '%s'", url);
	memcpy(run->host, p, hostlen);
	run->host[hostlen] = '\0';
	run->port = 80;
	if (colon != NULL) {
		char *end;
		long port = strtol(colon + 1, &end, 10);

		if (end != slash || port < 1 || port > 65535)
			return kino_error_set(err, KINO_EINVAL, "--url: bad port in '%s'", url);
		run->port = (int)port;
	}
	snprintf(run->path, sizeof(run->path), "%s", *slash ? slash : "/");
	return 0;
}

int kino_loadgen_config_validate(const kino_loadgen_config_t *cfg, kino_error_t *err)
{
	lg_run_t probe;

	if (cfg->viewers < 1 || cfg->viewers > 1000000)
		return kino_error_set(err, KINO_EINVAL, "--viewers must be 1..1000000");
	if (!(cfg->rate > 0) || cfg->rate > 1e6)
		return kino_error_set(err, KINO_EINVAL, "--rate must be > 0 sessions/s");
	if (!(cfg->duration_s > 0) || cfg->duration_s > 86400 * 7)
		return kino_error_set(err, KINO_EINVAL, "--duration must be > 0 s");
	if (cfg->heartbeat_ms < 10 || cfg->heartbeat_ms > 600000)
		return kino_error_set(err, KINO_EINVAL, "--heartbeat-ms must be 10..600000");
	if (cfg->connections < 1 || cfg->connections > 10000)
		return kino_error_set(err, KINO_EINVAL, "--connections must be 1..10000");
	if (cfg->window < 0 || cfg->window > 1000000)
		return kino_error_set(err, KINO_EINVAL, "--window must be 0..1000000 beacons");
	if (!(cfg->drain_s >= 0))
		return kino_error_set(err, KINO_EINVAL, "--drain must be >= 0 s");
	if (cfg->keys == NULL)
		return kino_error_set(err, KINO_EINVAL, "no playback keyring to sign tokens with");
	return parse_url(cfg->url, &probe, err);
}

/* ---- queues ---- */

static void enqueue(lg_run_t *run, lg_conn_t *c, int session, int seq)
{
	if (c->qhead > 0 && c->qhead * 2 >= c->qlen) { /* compact */
		memmove(c->queue, c->queue + c->qhead, (c->qlen - c->qhead) * sizeof(*c->queue));
		c->qlen -= c->qhead;
		c->qhead = 0;
	}
	if (c->qlen == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 256;
		lg_ref_t *q = realloc(c->queue, cap * sizeof(*q));

		if (q == NULL) {
			run->oom = true;
			return;
		}
		c->queue = q;
		c->qcap = cap;
	}
	c->queue[c->qlen++] = (lg_ref_t){session, seq};
}

/* Puts a beacon told to back off back in the queue ahead of the later
 * beacons of its session, so that after the hold its session goes out in
 * seq order again, as a player's would: a beacon resent behind newer ones
 * leaves the collector a gap to wait for (or to mend from the database). */
static void enqueue_in_order(lg_run_t *run, lg_conn_t *c, int session, int seq)
{
	size_t at;

	enqueue(run, c, session, seq);
	if (run->oom)
		return;
	for (at = c->qhead; at + 1 < c->qlen; at++) {
		if (c->queue[at].session == session && c->queue[at].seq > seq)
			break;
	}
	if (at + 1 < c->qlen) {
		memmove(&c->queue[at + 1], &c->queue[at], (c->qlen - 1 - at) * sizeof(*c->queue));
		c->queue[at] = (lg_ref_t){session, seq};
	}
}

/* After a loss: every unsettled beacon of the connection's sessions, in
 * session and seq order, waits to be written again. */
static void requeue(lg_run_t *run, int ci)
{
	lg_conn_t *c = &run->conns[ci];

	c->qhead = c->qlen = 0;
	c->inflight = 0; /* the lost connection's answers never come */
	for (int i = ci; i < run->nsessions; i += run->cfg->connections) {
		lg_session_t *s = run->sessions[i];

		for (int q = s->low; q < s->nbeacons; q++) {
			if (s->beacons[q].state == LG_INFLIGHT || s->beacons[q].state == LG_QUEUED) {
				s->beacons[q].state = LG_QUEUED;
				enqueue(run, c, i, q);
			}
		}
	}
}

static void settle(lg_run_t *run, lg_session_t *s)
{
	run->outstanding--;
	while (s->low < s->nbeacons &&
	       (s->beacons[s->low].state == LG_ACKED || s->beacons[s->low].state == LG_REJECTED)) {
		free(s->beacons[s->low].json); /* settled: never sent again */
		s->beacons[s->low].json = NULL;
		s->low++;
	}
}

/* ---- answers ---- */

static const char *field(const char *msg, const char *key)
{
	const char *p = strstr(msg, key);

	return p ? p + strlen(key) : NULL;
}

static void record_latency(lg_run_t *run, int64_t us)
{
	if (run->nlat == run->latcap) {
		size_t cap = run->latcap ? run->latcap * 2 : 4096;
		int64_t *l = realloc(run->lat, cap * sizeof(*l));

		if (l == NULL) {
			run->oom = true;
			return;
		}
		run->lat = l;
		run->latcap = cap;
	}
	run->lat[run->nlat++] = us;
}

/* One answer frame: {"type":"ack"|"error"|"backoff"|"throttled",
 * "session_id":..,"seq":..,...}. */
static void on_answer(lg_run_t *run, lg_conn_t *c, const char *msg)
{
	kino_loadgen_report_t *rep = run->rep;
	const char *type = field(msg, "\"type\":\""), *sid = field(msg, "\"session_id\":\"");
	const char *seqp = field(msg, "\"seq\":"), *end;
	long long seq = seqp ? strtoll(seqp, NULL, 10) : -1;
	unsigned long index;
	lg_session_t *s;
	lg_beacon_t *b;
	int64_t now = mono_us();

	run->last_answer_us = now;
	if (type == NULL) {
		KINO_LOG_WARN("not an answer: %.200s", msg);
		return;
	}
	end = sid ? strchr(sid, '"') : NULL;
	if (sid == NULL || end == NULL || end - sid != 32 || strncmp(sid, rep->sid_prefix, 24) != 0 ||
	    (index = strtoul(sid + 24, NULL, 16)) >= (unsigned long)run->nsessions) {
		/* a whole message refused (not JSON, too large): a bug here */
		rep->rejected++;
		if (rep->first_reject[0] == '\0')
			snprintf(rep->first_reject, sizeof(rep->first_reject), "%.250s", msg);
		KINO_LOG_ERROR("%.300s", msg);
		return;
	}
	s = run->sessions[index];
	if (seq < 0 || seq >= s->nbeacons)
		return;
	b = &s->beacons[seq];
	if (b->state == LG_ACKED || b->state == LG_REJECTED)
		return; /* the answer to an earlier send of a resent beacon */
	if (b->state == LG_INFLIGHT)
		c->inflight--;
	if (strncmp(type, "ack\"", 4) == 0) {
		record_latency(run, now - b->sent_us);
		b->state = LG_ACKED;
		rep->acked++;
		settle(run, s);
	} else if (strncmp(type, "error\"", 6) == 0) {
		b->state = LG_REJECTED;
		rep->rejected++;
		if (rep->first_reject[0] == '\0')
			snprintf(rep->first_reject, sizeof(rep->first_reject), "%.250s", msg);
		KINO_LOG_WARN("refused: %.300s", msg);
		settle(run, s);
	} else if (strncmp(type, "backoff\"", 8) == 0 || strncmp(type, "throttled\"", 10) == 0) {
		const char *ra = field(msg, "\"retry_after_s\":");
		double after = ra ? strtod(ra, NULL) : 1;

		if (type[0] == 'b')
			rep->backoff++;
		else
			rep->throttled++;
		if (!(after > 0) || after > 60)
			after = 1;
		if (b->state == LG_INFLIGHT) {
			b->state = LG_QUEUED;
			enqueue_in_order(run, c, (int)index, (int)seq);
		}
		if (c->hold_until_us < now + (int64_t)(after * 1e6))
			c->hold_until_us = now + (int64_t)(after * 1e6);
	}
}

/* ---- the connections ---- */

/* The connection may write more: its window has room. */
static bool window_open(const lg_run_t *run, const lg_conn_t *c)
{
	return run->cfg->window == 0 || c->inflight < run->cfg->window;
}

/* Writes one message: the queued beacons, as a JSON array, up to
 * MESSAGE_MAX. Returns -1 when the connection must close. */
static int write_some(lg_run_t *run, lg_conn_t *c)
{
	unsigned char *buf = run->tx + LWS_PRE;
	size_t len = 1;
	int64_t now = mono_us();
	int n;

	buf[0] = '[';
	while (c->qhead < c->qlen && window_open(run, c)) {
		lg_ref_t r = c->queue[c->qhead];
		lg_session_t *s = run->sessions[r.session];
		lg_beacon_t *b = &s->beacons[r.seq];
		size_t blen;

		if (b->state != LG_QUEUED) { /* settled meanwhile */
			c->qhead++;
			continue;
		}
		blen = strlen(b->json);
		if (len + blen + 2 > MESSAGE_MAX && len > 1)
			break;
		memcpy(buf + len, b->json, blen);
		len += blen;
		buf[len++] = ',';
		b->state = LG_INFLIGHT;
		c->inflight++;
		b->sent_us = now;
		if (b->was_sent)
			run->rep->resent++;
		else
			run->rep->sent++;
		b->was_sent = true;
		c->qhead++;
	}
	if (len == 1)
		return 0;
	buf[len - 1] = ']';
	n = lws_write(c->wsi, buf, len, LWS_WRITE_TEXT);
	if (n < (int)len) {
		KINO_LOG_WARN("lws_write wrote %d of %zu bytes", n, len);
		return -1;
	}
	if (c->qhead < c->qlen && window_open(run, c))
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void conn_lost(lg_run_t *run, lg_conn_t *c, struct lws *wsi)
{
	if (c->wsi != wsi && c->wsi != NULL)
		return;
	c->wsi = NULL;
	c->open = c->connecting = false;
	c->rx_len = 0;
	c->retry_at_us = mono_us() + RECONNECT_US;
	requeue(run, (int)(c - run->conns));
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	lg_conn_t *c = lws_get_opaque_user_data(wsi);
	lg_run_t *run = lws_context_user(lws_get_context(wsi));

	(void)user;
	if (c == NULL)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c->ever_open)
			run->rep->reconnects++;
		c->open = c->ever_open = true;
		c->connecting = false;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (mono_us() >= c->hold_until_us)
			return write_some(run, c);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c->rx_len + len + 1 > RX_MAX) {
			KINO_LOG_ERROR("an answer frame larger than %d bytes", RX_MAX);
			return -1;
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (lws_is_final_fragment(wsi)) {
			c->rx[c->rx_len] = '\0';
			on_answer(run, c, c->rx);
			c->rx_len = 0;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		KINO_LOG_DEBUG("connection failed: %s", in ? (const char *)in : "?");
		conn_lost(run, c, wsi);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!run->done)
			KINO_LOG_INFO("connection %d closed; reconnecting", (int)(c - run->conns));
		conn_lost(run, c, wsi);
		break;
	default:
		break;
	}
	return 0;
}

static void connect_one(lg_run_t *run, lg_conn_t *c)
{
	struct lws_client_connect_info ci = {
		.context = run->ctx,
		.address = run->host,
		.port = run->port,
		.path = run->path,
		.host = run->host,
		.origin = run->host,
		.local_protocol_name = "kino-loadgen",
		.opaque_user_data = c,
	};
	struct lws *wsi;

	c->connecting = true;
	c->retry_at_us = mono_us() + RECONNECT_US;
	wsi = lws_client_connect_via_info(&ci);
	if (wsi == NULL) { /* tried again after RECONNECT_US */
		c->connecting = false;
		c->wsi = NULL;
		return;
	}
	if (c->connecting)
		c->wsi = wsi;
}

/* ---- the loop's timer ---- */

static lg_session_t *session_start(lg_run_t *run, int64_t now)
{
	lg_session_t *s;

	if (run->nsessions == run->scap) {
		int cap = run->scap ? run->scap * 2 : 1024;
		lg_session_t **a = realloc(run->sessions, (size_t)cap * sizeof(*a));

		if (a == NULL)
			return NULL;
		run->sessions = a;
		run->scap = cap;
	}
	s = malloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	lg_session_init(s, run->rep->sid_prefix, run->nsessions, run->nsessions % run->cfg->connections,
			run->cfg->seed, now);
	run->sessions[run->nsessions++] = s;
	run->active++;
	run->rep->sessions++;
	return s;
}

static bool session_push(lg_run_t *run, lg_session_t *s, const char *json)
{
	if (s->nbeacons == s->cap) {
		int cap = s->cap ? s->cap * 2 : 16;
		lg_beacon_t *b = realloc(s->beacons, (size_t)cap * sizeof(*b));

		if (b == NULL)
			return false;
		s->beacons = b;
		s->cap = cap;
	}
	s->beacons[s->nbeacons] = (lg_beacon_t){.json = strdup(json), .state = LG_QUEUED};
	if (s->beacons[s->nbeacons].json == NULL)
		return false;
	enqueue(run, &run->conns[s->conn], s->index, s->nbeacons);
	s->nbeacons++;
	run->outstanding++;
	return true;
}

static void step_sessions(lg_run_t *run, int64_t now)
{
	bool leave = now >= run->end_us;
	char json[BEACON_MAX];
	int64_t wall = wall_ms();

	for (int i = run->first_live; i < run->nsessions; i++) {
		lg_session_t *s = run->sessions[i];

		if (s->phase == LG_DONE)
			continue;
		/* a few at once, so a late tick catches up */
		for (int k = 0; k < 4 && lg_session_step(s, run->cfg->keys, run->cfg->heartbeat_ms, leave,
							 now, wall, json, sizeof(json));
		     k++) {
			if (!session_push(run, s, json)) {
				run->oom = true;
				return;
			}
			if (s->phase == LG_DONE) {
				run->active--;
				break;
			}
		}
	}
	while (run->first_live < run->nsessions && run->sessions[run->first_live]->phase == LG_DONE)
		run->first_live++;
}

static void tick(lws_sorted_usec_list_t *sul)
{
	lg_run_t *run = lws_container_of(sul, lg_run_t, sul);
	int64_t now = mono_us(), interval = (int64_t)(1e6 / run->cfg->rate);

	while (now < run->end_us && run->next_start_us <= now) {
		if (run->active < run->cfg->viewers && session_start(run, now) == NULL) {
			run->oom = true;
			break;
		}
		run->next_start_us += interval; /* an arrival with no free viewer is lost */
	}
	step_sessions(run, now);
	for (int i = 0; i < run->cfg->connections; i++) {
		lg_conn_t *c = &run->conns[i];

		if (!c->open && !c->connecting && now >= c->retry_at_us)
			connect_one(run, c);
		else if (c->open && c->qhead < c->qlen && now >= c->hold_until_us &&
			 window_open(run, c))
			lws_callback_on_writable(c->wsi);
	}
	if (run->oom || now >= run->drain_until_us ||
	    (now >= run->end_us && run->active == 0 && run->outstanding == 0)) {
		run->done = true;
		lws_cancel_service(run->ctx);
		return;
	}
	lws_sul_schedule(run->ctx, 0, &run->sul, tick, TICK_US);
}

static void *service(void *arg)
{
	lg_run_t *run = arg;

	while (!run->done)
		lws_service(run->ctx, 0);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double percentile_ms(const int64_t *sorted, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)ceil(p * (double)n);
	return (double)sorted[rank ? rank - 1 : 0] / 1000.0;
}

static void report_finish(lg_run_t *run)
{
	kino_loadgen_report_t *rep = run->rep;
	int64_t last = run->last_answer_us > run->t0_us ? run->last_answer_us : mono_us();

	for (int i = 0; i < run->nsessions; i++) {
		lg_session_t *s = run->sessions[i];

		for (int q = s->low; q < s->nbeacons; q++) {
			if (s->beacons[q].state != LG_INFLIGHT && s->beacons[q].state != LG_QUEUED)
				continue;
			if (s->beacons[q].was_sent)
				rep->unacked++;
			else
				rep->unsent++;
		}
	}
	if (run->nlat > 0)
		qsort(run->lat, run->nlat, sizeof(*run->lat), cmp_i64);
	rep->p50_ms = percentile_ms(run->lat, run->nlat, 0.50);
	rep->p95_ms = percentile_ms(run->lat, run->nlat, 0.95);
	rep->p99_ms = percentile_ms(run->lat, run->nlat, 0.99);
	rep->elapsed_s = (double)(last - run->t0_us) / 1e6;
	rep->acked_per_s = rep->elapsed_s > 0 ? (double)rep->acked / rep->elapsed_s : 0;
}

/* Raises the soft limit on open files to `need` when it is lower and the
 * hard limit allows; KINO_EINVAL, naming --connections, when it does not. */
static int fds_enough(int need, kino_error_t *err)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return kino_error_set(err, KINO_EIO, "getrlimit: %s", strerror(errno));
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need)
			return kino_error_set(err, KINO_EINVAL,
					      "--connections needs %d open files and the limit is %llu "
					      "(ulimit -n)",
					      need, (unsigned long long)rl.rlim_max);
		rl.rlim_cur = (rlim_t)need;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return kino_error_set(err, KINO_EIO, "setrlimit: %s", strerror(errno));
	}
	return 0;
}

int kino_loadgen_run(const kino_loadgen_config_t *cfg, kino_loadgen_report_t *report,
		     kino_error_t *err)
{
	static const struct lws_protocols protocols[] = {
		{.name = "kino-loadgen", .callback = callback, .rx_buffer_size = 4096},
		{NULL, NULL, 0, 0, 0, NULL, 0},
	};
	struct lws_context_creation_info info = {
		.port = CONTEXT_PORT_NO_LISTEN,
		.protocols = protocols,
		.gid = -1,
		.uid = -1,
		/* No fd_limit_per_thread: below the process's limit it makes
		 * libwebsockets find each event's connection by a linear scan of
		 * its table (12 % of the load generator's CPU at 2,000
		 * connections); fds_enough() makes sure the limit is room enough. */
	};
	lg_run_t run = {.cfg = cfg, .rep = report};
	pthread_t thread;
	uint64_t tag = cfg->seed;
	int ret;

	memset(report, 0, sizeof(*report));
	ret = kino_loadgen_config_validate(cfg, err);
	if (ret == 0)
		ret = fds_enough(cfg->connections + 64, err);
	if (ret != 0)
		goto out;
	parse_url(cfg->url, &run, NULL);
	/* session ids: 24 hex of the seed, then 8 of the session's index */
	snprintf(report->sid_prefix, sizeof(report->sid_prefix), "%016llx%08x",
		 (unsigned long long)lg_rand(&tag), (unsigned)(lg_rand(&tag) >> 32));
	run.conns = calloc((size_t)cfg->connections, sizeof(*run.conns));
	run.tx = malloc(LWS_PRE + MESSAGE_MAX);
	if (run.conns == NULL || run.tx == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "kino_loadgen_run: out of memory");
		goto out;
	}
	for (int i = 0; i < cfg->connections; i++) {
		run.conns[i].rx = malloc(RX_MAX);
		if (run.conns[i].rx == NULL) {
			ret = kino_error_set(err, KINO_ENOMEM, "kino_loadgen_run: out of memory");
			goto out;
		}
	}
	info.user = &run;
	run.ctx = lws_create_context(&info);
	if (run.ctx == NULL) {
		ret = kino_error_set(err, KINO_EIO, "kino_loadgen_run: no libwebsockets context");
		goto out;
	}
	run.t0_us = run.next_start_us = mono_us();
	run.end_us = run.t0_us + (int64_t)(cfg->duration_s * 1e6);
	run.drain_until_us = run.end_us + (int64_t)(cfg->drain_s * 1e6);
	lws_sul_schedule(run.ctx, 0, &run.sul, tick, 1);
	if (pthread_create(&thread, NULL, service, &run) != 0) {
		ret = kino_error_set(err, KINO_EIO, "kino_loadgen_run: no service thread");
		goto out;
	}
	pthread_join(thread, NULL);
	if (run.oom) {
		ret = kino_error_set(err, KINO_ENOMEM, "kino_loadgen_run: out of memory during the run");
		goto out;
	}
	report_finish(&run);
out:
	if (run.ctx != NULL)
		lws_context_destroy(run.ctx); /* closes the connections; callbacks see run */
	for (int i = 0; i < run.nsessions; i++) {
		for (int q = 0; q < run.sessions[i]->nbeacons; q++)
			free(run.sessions[i]->beacons[q].json);
		free(run.sessions[i]->beacons);
		free(run.sessions[i]);
	}
	free(run.sessions);
	for (int i = 0; run.conns != NULL && i < cfg->connections; i++) {
		free(run.conns[i].queue);
		free(run.conns[i].rx);
	}
	free(run.conns);
	free(run.tx);
	free(run.lat);
	return ret;
}
