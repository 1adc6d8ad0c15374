/* kino loadgen against a real collector.
 *
 * The collector runs as a child process (this binary with --collector: the
 * whole telemetry role, as kino_telemetry_new() builds it, on a FerretDB of
 * the test's own, with the flood limit off since every simulated viewer
 * comes from 127.0.0.1). The load generator runs in this process.
 *
 * - a short run: every beacon sent is acknowledged, none refused; MongoDB
 *   holds exactly the acknowledged beacons of the run's sessions (the unique
 *   index on (session_id, seq) makes "as many" mean "each once"), and one
 *   plays document per session;
 * - `kino loadgen --json`: the report, exit 0; 2 for a bad option; 1 when
 *   no collector answers;
 * - the collector SIGKILLed in the middle of a run and started again: the
 *   load generator reconnects, resends what was not acknowledged (the
 *   collector is stopped for a second first, so some beacons are sent and
 *   never answered), and ends
 *   with everything acknowledged and in MongoDB once. */
#include "beacon_fixture.h"
#include "check.h"
#include "testenv.h"

#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/loadgen.h"
#include "kino/telemetry.h"

#include <mongoc/mongoc.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static tenv_db_t tdb;
static kino_db_t *kdb;
static kino_playback_keyring_t *keys;
static char dir[512], data_dir[600], health_url[128], self[1024];
static int port;

static void spawn(tenv_proc_t *p)
{
	char portbuf[16];
	bool up;

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	tenv_proc_spawn(p, dir, (char *[]){self, "--collector", tdb.uri, data_dir, portbuf, NULL}, NULL);
	TENV_WAIT_UNTIL(up, tenv_http_get(health_url, NULL) != 0, 20000);
	CHECK_MSG(up, "the collector did not come up");
}

/* Documents of `collection` whose key starts with prefix; -1 if the
 * database does not answer. */
static long long count_prefixed(const char *collection, const char *key, const char *prefix)
{
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *co = mongoc_client_get_collection(cl, "kino_lg", collection);
	char re[64];
	bson_t *filter;
	bson_error_t berr;
	int64_t n;

	snprintf(re, sizeof(re), "^%s", prefix);
	filter = BCON_NEW(key, "{", "$regex", BCON_UTF8(re), "}");
	n = mongoc_collection_count_documents(co, filter, NULL, NULL, NULL, &berr);
	bson_destroy(filter);
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, cl);
	return n;
}

static void config(kino_loadgen_config_t *lc, uint64_t seed)
{
	kino_loadgen_config_defaults(lc);
	snprintf(lc->url, sizeof(lc->url), "ws://127.0.0.1:%d/v1/beacons", port);
	lc->viewers = 20;
	lc->rate = 8;
	lc->duration_s = 5;
	lc->heartbeat_ms = 250;
	lc->connections = 4;
	lc->seed = seed;
	lc->drain_s = 30;
	lc->keys = keys;
}

static void print(const char *what, const kino_loadgen_report_t *r)
{
	fprintf(stderr,
		"   %s: %lld sessions, sent %lld, acked %lld, rejected %lld, unacked %lld, resent %lld, "
		"backoff %lld, reconnects %lld; ack p50 %.2f ms p99 %.2f ms; %.1f acked/s\n",
		what, r->sessions, r->sent, r->acked, r->rejected, r->unacked, r->resent, r->backoff,
		r->reconnects, r->p50_ms, r->p99_ms, r->acked_per_s);
}

/* Every acked beacon in MongoDB once, and a plays document per session. */
static void check_stored(const kino_loadgen_report_t *r)
{
	long long beacons = -1, plays = -1;
	bool done;

	TENV_WAIT_UNTIL(done, (beacons = count_prefixed("beacons", "session_id", r->sid_prefix)) == r->acked,
			20000);
	CHECK_MSG(done, "%lld beacons in MongoDB, %lld acknowledged", beacons, r->acked);
	TENV_WAIT_UNTIL(done, (plays = count_prefixed("plays", "_id", r->sid_prefix)) == r->sessions, 20000);
	CHECK_MSG(done, "%lld plays in MongoDB for %lld sessions", plays, r->sessions);
}

static void test_short_run(void)
{
	kino_loadgen_config_t lc;
	kino_loadgen_report_t r;
	kino_error_t err = {0};

	config(&lc, 42);
	CHECK_MSG(kino_loadgen_run(&lc, &r, &err) == 0, "%s", kino_error_message(&err));
	print("short run", &r);
	CHECK_MSG(r.rejected == 0, "refused: %s", r.first_reject);
	CHECK(r.sessions >= 20);
	CHECK(r.sent > r.sessions * 4);
	CHECK_INT_EQ(r.unacked, 0);
	CHECK_INT_EQ(r.unsent, 0);
	CHECK_INT_EQ(r.acked, r.sent);
	CHECK(r.p50_ms > 0 && r.p99_ms >= r.p50_ms);
	check_stored(&r);
}

/* The command: its JSON report and its exit statuses. */
static void test_cli(void)
{
	char url[128], keys_env[128], *out = NULL, *errout = NULL;
	char *const env[] = {keys_env, NULL};

	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/v1/beacons", port);
	snprintf(keys_env, sizeof(keys_env), "KINO_PLAYBACK_KEYS=%s", FX_KEYS);
	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "loadgen", "--url", url, "--viewers", "5", "--rate", "5",
					      "--duration", "2", "--heartbeat-ms", "200", "--connections", "2",
					      "--seed", "44", "--json", NULL},
			      env, 60000, &out, &errout), 0);
	CHECK_CONTAINS(out, "{\"seed\":44,");
	CHECK_CONTAINS(out, "\"rejected\":0,");
	CHECK_CONTAINS(out, "\"unacked\":0,\"unsent\":0,");
	free(out);
	free(errout);
	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "loadgen", "--viewers", "0", NULL}, env, 10000, &out,
			      &errout), 2);
	free(out);
	free(errout);
	/* nobody listens there: nothing sent, a failure that says so */
	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "loadgen", "--url", "ws://127.0.0.1:1/v1/beacons",
					      "--duration", "1", "--drain", "1", NULL},
			      env, 20000, &out, &errout), 1);
	CHECK_CONTAINS(errout, "no beacon was sent");
	free(out);
	free(errout);
}

typedef struct {
	kino_loadgen_config_t lc;
	kino_loadgen_report_t r;
	int ret;
} bg_run_t;

static void *bg(void *arg)
{
	bg_run_t *b = arg;

	b->ret = kino_loadgen_run(&b->lc, &b->r, NULL);
	return NULL;
}

static void test_collector_restart(tenv_proc_t *p1)
{
	static bg_run_t b;
	tenv_proc_t p2;
	pthread_t th;

	config(&b.lc, 43);
	b.lc.duration_s = 6;
	CHECK(pthread_create(&th, NULL, bg, &b) == 0);
	tenv_sleep_ms(2500);
	/* stopped first, so that beacons are sent and never answered */
	fprintf(stderr, "   stopping, then SIGKILLing the collector\n");
	CHECK(kill(p1->pid, SIGSTOP) == 0);
	tenv_sleep_ms(1000);
	tenv_proc_kill(p1);
	tenv_sleep_ms(700);
	spawn(&p2);
	fprintf(stderr, "   a new collector serves\n");
	pthread_join(th, NULL);
	CHECK_INT_EQ(b.ret, 0);
	print("restart", &b.r);
	CHECK_MSG(b.r.rejected == 0, "refused: %s", b.r.first_reject);
	CHECK(b.r.reconnects > 0);
	CHECK(b.r.resent > 0); /* what the stopped collector never answered */
	CHECK_INT_EQ(b.r.unacked, 0);
	CHECK_INT_EQ(b.r.unsent, 0);
	CHECK_INT_EQ(b.r.acked, b.r.sent);
	check_stored(&b.r);
	tenv_proc_kill(&p2);
}

int main(int argc, char **argv)
{
	kino_db_config_t dbc = {.timeout_ms = 5000, .health_interval_ms = 500};
	kino_error_t err = {0};
	tenv_proc_t p1;
	ssize_t n;

	if (argc == 5 && strcmp(argv[1], "--collector") == 0)
		return fx_run_collector(argv[2], argv[3], atoi(argv[4]), "kino_lg", 0);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0);
	self[n] = '\0';
	kino_db_global_init();
	kino_http_global_init(); /* libwebsockets' log into ours */
	tenv_tmpdir(dir, sizeof(dir), "loadgen");
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	CHECK(mkdir(data_dir, 0700) == 0);
	tenv_db_start(&tdb);
	port = tenv_free_port();
	snprintf(health_url, sizeof(health_url), "http://127.0.0.1:%d/healthz", port);
	keys = kino_playback_keyring_new(FX_KEYS, &err);
	CHECK(keys != NULL);
	snprintf(dbc.uri, sizeof(dbc.uri), "%s", tdb.uri);
	snprintf(dbc.database, sizeof(dbc.database), "kino_lg");
	kdb = kino_db_new(&dbc, &err);
	CHECK(kdb != NULL);

	spawn(&p1);
	RUN_TEST(test_short_run);
	RUN_TEST(test_cli);
	RUN_TEST_ARG(test_collector_restart, &p1);

	kino_db_destroy(kdb);
	kino_playback_keyring_destroy(keys);
	tenv_db_stop(&tdb);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
