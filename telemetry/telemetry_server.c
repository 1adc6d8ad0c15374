/* The collector's HTTP side (include/kino/telemetry.h): /healthz, /metrics,
 * POST /v1/beacons (the navigator.sendBeacon fallback), and the
 * /v1/beacons WebSocket when the HTTP server offers WebSockets.
 *
 * POST /v1/beacons runs on a worker thread: it submits the body and waits
 * until every beacon of it is answered (durable, rejected, or to be
 * retried), then answers
 *     200 {"acks":[seq...],"errors":[{"seq":..,"field":..,"message":..}]}
 * 429 (throttled) or 503 (back off) with Retry-After when any beacon must
 * be sent again; "retry":[seq...] lists those. The WebSocket handler runs
 * on the event loop and only submits; each result goes back as its own
 * frame from whichever thread produced it (kino_ws_send is thread-safe). */
#define KINO_LOG_MODULE "telemetry"
#include "telemetry_internal.h"

#include "kino/config.h"
#include "kino/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- POST /v1/beacons ---- */

typedef struct post_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	kino_beacon_result_t *results;
	int n, cap;
	bool oom;
} post_wait_t;

static void post_done(const kino_beacon_result_t *r, void *ud)
{
	post_wait_t *pw = ud;

	pthread_mutex_lock(&pw->mu);
	if (pw->n == pw->cap) {
		int cap = pw->cap ? pw->cap * 2 : 16;
		kino_beacon_result_t *nr = realloc(pw->results, (size_t)cap * sizeof(*nr));
		if (nr != NULL) {
			pw->results = nr;
			pw->cap = cap;
		}
	}
	if (pw->n < pw->cap)
		pw->results[pw->n] = *r;
	else
		pw->oom = true;
	pw->n++;
	pthread_cond_broadcast(&pw->cv);
	pthread_mutex_unlock(&pw->mu);
}

static void post_beacons(kino_http_request_t *req, void *ud)
{
	kino_telemetry_collector_t *c = ud;
	post_wait_t pw = {.n = 0};
	kino_error_t err = {0};
	strbuf_t out = {0};
	size_t len;
	const char *body = kino_http_request_body(req, &len);
	int n, status = 200, retry = 0, acks = 0, errors = 0;
	bool throttled = false, backoff = false;
	char esc[200];

	pthread_mutex_init(&pw.mu, NULL);
	pthread_cond_init(&pw.cv, NULL);
	n = kino_telemetry_collector_submit(c, body ? body : "", body ? len : 0,
					    kino_http_request_peer(req), 0, post_done, &pw, &err);
	if (n < 0) {
		kino_http_respond_error(req, n, kino_error_message(&err));
		goto out;
	}
	/* Every beacon is answered: writers always end in ack, spool or back-off. */
	pthread_mutex_lock(&pw.mu);
	while (pw.n < n)
		pthread_cond_wait(&pw.cv, &pw.mu);
	pthread_mutex_unlock(&pw.mu);
	if (pw.oom) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		goto out;
	}
	tel_printf(&out, "{\"acks\":[");
	for (int i = 0; i < n; i++) {
		if (pw.results[i].status == KINO_BEACON_ACK)
			tel_printf(&out, "%s%lld", acks++ ? "," : "", pw.results[i].seq);
	}
	tel_printf(&out, "],\"errors\":[");
	for (int i = 0; i < n; i++) {
		const kino_beacon_result_t *r = &pw.results[i];
		if (r->status != KINO_BEACON_REJECT)
			continue;
		tel_printf(&out, "%s{\"seq\":%lld,", errors++ ? "," : "", r->seq);
		kino_http_json_escape(esc, sizeof(esc), r->session_id);
		tel_printf(&out, "\"session_id\":\"%s\",", esc);
		kino_http_json_escape(esc, sizeof(esc), r->field);
		tel_printf(&out, "\"field\":\"%s\",", esc);
		kino_http_json_escape(esc, sizeof(esc), r->message);
		tel_printf(&out, "\"message\":\"%s\"}", esc);
	}
	tel_printf(&out, "],\"retry\":[");
	for (int i = 0, k = 0; i < n; i++) {
		const kino_beacon_result_t *r = &pw.results[i];
		if (r->status != KINO_BEACON_BACKOFF && r->status != KINO_BEACON_THROTTLED)
			continue;
		throttled = throttled || r->status == KINO_BEACON_THROTTLED;
		backoff = backoff || r->status == KINO_BEACON_BACKOFF;
		if (r->retry_after_s > retry)
			retry = r->retry_after_s;
		tel_printf(&out, "%s%lld", k++ ? "," : "", r->seq);
	}
	tel_printf(&out, "]}");
	if (out.oom) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		goto out;
	}
	if (backoff || throttled) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", retry > 0 ? retry : 1);
		kino_http_response_header(req, "Retry-After", ra);
		status = backoff ? 503 : 429;
	} else if (acks == 0 && errors > 0) {
		status = 400;
	}
	kino_http_respond_json(req, status, out.s);
out:
	free(out.s);
	free(pw.results);
	pthread_cond_destroy(&pw.cv);
	pthread_mutex_destroy(&pw.mu);
}

kino_http_route_t kino_telemetry_beacons_route(kino_telemetry_collector_t *c)
{
	return (kino_http_route_t){
		.method = "POST",
		.pattern = "/v1/beacons",
		.handler = post_beacons,
		.mode = KINO_HTTP_BLOCKING,
		.max_body = collector_max_message(c),
		.userdata = c,
	};
}

/* ---- the role ---- */

struct kino_telemetry {
	pthread_mutex_t mu;  /* guards server_live against ws_done */
	bool server_live;
	kino_playback_keyring_t *keys;
	kino_telemetry_collector_t *collector;
	kino_http_server_t *server;
};

/* One frame per result, sent from whichever thread produced it. */
static void ws_done(const kino_beacon_result_t *r, void *ud)
{
	kino_telemetry_t *t = ud;
	char frame[600], sid[140], field[100], msg[330];
	static const char *const kinds[] = {"ack", "error", "backoff", "throttled"};

	kino_http_json_escape(sid, sizeof(sid), r->session_id);
	if (r->status == KINO_BEACON_ACK) {
		snprintf(frame, sizeof(frame), "{\"type\":\"ack\",\"session_id\":\"%s\",\"seq\":%lld}",
			 sid, r->seq);
	} else {
		kino_http_json_escape(field, sizeof(field), r->field);
		kino_http_json_escape(msg, sizeof(msg), r->message);
		snprintf(frame, sizeof(frame),
			 "{\"type\":\"%s\",\"session_id\":\"%s\",\"seq\":%lld,\"field\":\"%s\","
			 "\"message\":\"%s\",\"retry_after_s\":%d}",
			 kinds[r->status], sid, r->seq, field, msg, r->retry_after_s);
	}
	pthread_mutex_lock(&t->mu);
	if (!t->server_live || kino_ws_send(t->server, r->tag, frame, strlen(frame)) != 0)
		KINO_LOG_DEBUG("connection %llu is gone or not reading; a result is lost to it",
			       r->tag);
	pthread_mutex_unlock(&t->mu);
}

static void ws_message(kino_ws_conn_t *conn, const char *data, size_t len, void *ud)
{
	kino_telemetry_t *t = ud;
	kino_error_t err = {0};
	char frame[700], msg[600];

	if (kino_telemetry_collector_submit(t->collector, data, len, kino_ws_conn_peer(conn),
					    kino_ws_conn_id(conn), ws_done, t, &err) < 0) {
		kino_http_json_escape(msg, sizeof(msg), kino_error_message(&err));
		snprintf(frame, sizeof(frame),
			 "{\"type\":\"error\",\"seq\":-1,\"field\":\"message\",\"message\":\"%s\"}", msg);
		kino_ws_send(t->server, kino_ws_conn_id(conn), frame, strlen(frame));
	}
}

kino_telemetry_t *kino_telemetry_new(const kino_config_t *cfg, kino_db_t *db,
				     kino_health_t *health, kino_metrics_t *metrics,
				     const kino_telemetry_limits_t *limits, kino_error_t *err)
{
	kino_telemetry_t *t = calloc(1, sizeof(*t));
	char path[4200];
	kino_http_route_t routes[3];
	kino_ws_handler_t ws;

	if (t == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	if (cfg->playback.keys[0] != '\0') {
		t->keys = kino_playback_keyring_new(cfg->playback.keys, err);
	} else {
		snprintf(path, sizeof(path), "%s/keys/playback.keys", cfg->data_dir);
		t->keys = kino_playback_keyring_load_or_create(path, err);
	}
	if (t->keys == NULL)
		goto fail;
	snprintf(path, sizeof(path), "%s/spool", cfg->data_dir);
	t->collector = kino_telemetry_collector_new(db, t->keys, path, limits, err);
	if (t->collector == NULL || kino_telemetry_collector_gauges_add(t->collector, metrics, err) != 0)
		goto fail;
	routes[0] = kino_health_route(health);
	routes[1] = kino_metrics_route(metrics);
	routes[2] = kino_telemetry_beacons_route(t->collector);
	t->server = kino_http_server_new(&cfg->telemetry, "telemetry", routes, 3, err);
	if (t->server == NULL)
		goto fail;
	ws = (kino_ws_handler_t){
		.path = "/v1/beacons",
		.max_message = collector_max_message(t->collector),
		.on_message = ws_message,
		.userdata = t,
	};
	if (kino_http_server_add_websocket(t->server, &ws, err) != 0)
		goto fail;
	t->server_live = true;
	return t;
fail:
	kino_telemetry_destroy(t);
	return NULL;
}

int kino_telemetry_start(kino_telemetry_t *t, kino_error_t *err)
{
	return kino_http_server_start(t->server, err);
}

kino_http_server_t *kino_telemetry_server(kino_telemetry_t *t)
{
	return t->server;
}

kino_telemetry_collector_t *kino_telemetry_collector(kino_telemetry_t *t)
{
	return t->collector;
}

void kino_telemetry_destroy(kino_telemetry_t *t)
{
	if (t == NULL)
		return;
	/* the server first: its handlers use the collector; results that come
	 * after it is gone are not sent anywhere */
	pthread_mutex_lock(&t->mu);
	t->server_live = false;
	pthread_mutex_unlock(&t->mu);
	kino_http_server_destroy(t->server);
	kino_telemetry_collector_destroy(t->collector);
	kino_playback_keyring_destroy(t->keys);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

kino_http_server_t *kino_telemetry_server_new(const kino_config_t *cfg,
					      kino_health_t *health,
					      kino_metrics_t *metrics,
					      kino_error_t *err)
{
	const kino_http_route_t routes[] = {
		kino_health_route(health),
		kino_metrics_route(metrics),
	};

	return kino_http_server_new(&cfg->telemetry, "telemetry", routes,
				    sizeof(routes) / sizeof(routes[0]), err);
}
