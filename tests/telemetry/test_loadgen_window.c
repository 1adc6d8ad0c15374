/* kino loadgen's window: a connection keeps at most `window` beacons
 * written and unanswered, whatever its backlog.
 *
 * The collector here is a stand-in of the test's own (an in-process Kino
 * HTTP server with a WebSocket endpoint): it counts, per connection, the
 * beacons it has received and not answered yet, and answers them only in
 * slow rounds (every 100 ms, all at once), so the load generator's
 * viewers pile up a backlog far larger than the window. What the server
 * saw is the measure, not the load generator's own counters:
 *
 * - window 8, 2 connections: no connection ever has more than 8
 *   unanswered, it does reach 8 (the limit is what paces it), and every
 *   beacon is still acknowledged in the end, exactly once;
 * - window 0 (no limit), the same load: a connection does go past 8, so
 *   the first case can tell a window from a quiet load;
 * - more connections than the process may open files: refused at once
 *   with an error that names --connections. */
#include "beacon_fixture.h"
#include "check.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/http.h"
#include "kino/loadgen.h"
#include "kino/playback.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CONNS 8
#define MAX_PENDING 4096

typedef struct pending {
	char sid[40];
	long long seq;
} pending_t;

typedef struct conn_state {
	unsigned long long id;
	pending_t p[MAX_PENDING];
	int n;   /* unanswered */
	int max; /* the most unanswered at once */
} conn_state_t;

static kino_http_server_t *srv;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static conn_state_t conns[MAX_CONNS];
static int nconns;
static long long received;
static bool overflow;
static atomic_bool stop;

static conn_state_t *conn_get(unsigned long long id)
{
	for (int i = 0; i < nconns; i++) {
		if (conns[i].id == id)
			return &conns[i];
	}
	if (nconns == MAX_CONNS)
		return NULL;
	conns[nconns] = (conn_state_t){.id = id};
	return &conns[nconns++];
}

/* Each beacon of a message (a JSON array of objects, as the load generator
 * writes them) by its session_id and seq: enough for answers. */
static void on_message(kino_ws_conn_t *c, const char *data, size_t len, void *ud)
{
	char *msg = strndup(data, len);
	const char *p = msg;

	(void)ud;
	pthread_mutex_lock(&mu);
	conn_state_t *cs = conn_get(kino_ws_conn_id(c));
	while (msg != NULL && (p = strstr(p, "\"session_id\":\"")) != NULL) {
		const char *sid = p + 14, *end = strchr(sid, '"'), *seq = strstr(sid, "\"seq\":");

		if (end == NULL || seq == NULL || end - sid >= 40)
			break;
		if (cs == NULL || cs->n == MAX_PENDING) {
			overflow = true;
			break;
		}
		memcpy(cs->p[cs->n].sid, sid, (size_t)(end - sid));
		cs->p[cs->n].sid[end - sid] = '\0';
		cs->p[cs->n].seq = strtoll(seq + 6, NULL, 10);
		cs->n++;
		if (cs->n > cs->max)
			cs->max = cs->n;
		received++;
		p = end;
	}
	pthread_mutex_unlock(&mu);
	free(msg);
}

/* Answers everything unanswered every 100 ms: a slow collector. */
static void *answerer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		tenv_sleep_ms(100);
		pthread_mutex_lock(&mu);
		for (int i = 0; i < nconns; i++) {
			for (int j = 0; j < conns[i].n; j++) {
				char ack[128];
				int n = snprintf(ack, sizeof(ack),
						 "{\"type\":\"ack\",\"session_id\":\"%s\",\"seq\":%lld}",
						 conns[i].p[j].sid, conns[i].p[j].seq);
				kino_ws_send(srv, conns[i].id, ack, (size_t)n);
			}
			conns[i].n = 0;
		}
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

/* One run against the stand-in; *max_unanswered is the most any connection
 * had unanswered at once, as the server saw it. */
static void run(int window, kino_loadgen_report_t *r, int *max_unanswered)
{
	kino_loadgen_config_t lc;
	kino_playback_keyring_t *keys;
	kino_error_t err = {0};
	pthread_t th;

	pthread_mutex_lock(&mu);
	nconns = 0;
	received = 0;
	pthread_mutex_unlock(&mu);
	atomic_store(&stop, false);
	CHECK(pthread_create(&th, NULL, answerer, NULL) == 0);
	keys = kino_playback_keyring_new(FX_KEYS, &err);
	CHECK_MSG(keys != NULL, "%s", kino_error_message(&err));
	kino_loadgen_config_defaults(&lc);
	snprintf(lc.url, sizeof(lc.url), "ws://127.0.0.1:%d/v1/beacons", kino_http_server_port(srv));
	/* 40 viewers at 20 ms heartbeats: some 2,000 beacons a second over 2
	 * connections, against answers every 100 ms */
	lc.viewers = 40;
	lc.rate = 200;
	lc.duration_s = 2;
	lc.heartbeat_ms = 20;
	lc.connections = 2;
	lc.drain_s = 10;
	lc.seed = 5;
	lc.window = window;
	lc.keys = keys;
	CHECK_INT_EQ(kino_loadgen_config_validate(&lc, &err), 0);
	CHECK_MSG(kino_loadgen_run(&lc, r, &err) == 0, "%s", kino_error_message(&err));
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	kino_playback_keyring_destroy(keys);

	pthread_mutex_lock(&mu);
	*max_unanswered = 0;
	for (int i = 0; i < nconns; i++)
		*max_unanswered = conns[i].max > *max_unanswered ? conns[i].max : *max_unanswered;
	printf("  window %d: sent %lld, acked %lld, resent %lld, the server received %lld, "
	       "at most %d unanswered on a connection\n",
	       window, r->sent, r->acked, r->resent, received, *max_unanswered);
	CHECK(!overflow);
	CHECK_INT_EQ(received, r->sent); /* nothing sent twice: no back-off, no loss */
	pthread_mutex_unlock(&mu);
	CHECK(r->sent > 500);
	CHECK_INT_EQ(r->acked, r->sent);
	CHECK_INT_EQ(r->unacked, 0);
	CHECK_INT_EQ(r->unsent, 0);
}

static void test_window_bounds_unanswered(void)
{
	kino_loadgen_report_t r;
	int most;

	run(8, &r, &most);
	CHECK_MSG(most <= 8, "a connection had %d beacons unanswered with a window of 8", most);
	CHECK_MSG(most == 8, "the window was never reached (%d): the load does not test it", most);
}

static void test_no_window(void)
{
	kino_loadgen_report_t r;
	int most;

	run(0, &r, &most);
	CHECK_MSG(most > 8, "without a window a connection still had at most %d unanswered", most);
}

static void test_window_validated(void)
{
	kino_loadgen_config_t lc;
	kino_error_t err = {0};

	kino_loadgen_config_defaults(&lc);
	CHECK_INT_EQ(lc.window, 256);
	lc.window = -1;
	lc.keys = (const kino_playback_keyring_t *)&lc; /* not read by validate */
	CHECK_INT_EQ(kino_loadgen_config_validate(&lc, &err), KINO_EINVAL);
	CHECK_CONTAINS(kino_error_message(&err), "--window");
}

/* More connections than the process may open files: refused before any
 * connection, naming the option (in a child, whose limit is lowered). */
static void test_too_many_connections(void)
{
	pid_t pid = fork();
	int status = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {.rlim_cur = 128, .rlim_max = 128};
		kino_loadgen_config_t lc;
		kino_loadgen_report_t r;
		kino_playback_keyring_t *keys;
		kino_error_t err = {0};

		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(3);
		keys = kino_playback_keyring_new(FX_KEYS, &err);
		kino_loadgen_config_defaults(&lc);
		snprintf(lc.url, sizeof(lc.url), "ws://127.0.0.1:%d/v1/beacons",
			 kino_http_server_port(srv));
		lc.connections = 100; /* 164 files with libwebsockets' own */
		lc.keys = keys;
		if (kino_loadgen_run(&lc, &r, &err) != KINO_EINVAL ||
		    strstr(kino_error_message(&err), "--connections") == NULL) {
			fprintf(stderr, "got: %s\n", kino_error_message(&err));
			_exit(1);
		}
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "100 connections under a limit of 128 open files were not refused (status %d)", status);
}

int main(void)
{
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = 0, .max_body = 1024, .workers = 1};
	kino_ws_handler_t h = {.path = "/v1/beacons", .max_message = 64 * 1024,
			       .max_queued = 4 << 20, .on_message = on_message};
	kino_error_t err = {0};

	kino_http_global_init();
	srv = kino_http_server_new(&cfg, "loadgen-window-test", NULL, 0, &err);
	CHECK_MSG(srv != NULL, "%s", kino_error_message(&err));
	CHECK_INT_EQ(kino_http_server_add_websocket(srv, &h, &err), 0);
	CHECK_MSG(kino_http_server_start(srv, &err) == 0, "%s", kino_error_message(&err));
	RUN_TEST(test_window_validated);
	RUN_TEST(test_window_bounds_unanswered);
	RUN_TEST(test_no_window);
	RUN_TEST(test_too_many_connections);
	kino_http_server_destroy(srv);
	return 0;
}
