/* The collector process SIGKILLed under load, and started again.
 *
 * The collector runs as a child process (this binary, with --collector:
 * the whole role as kino_telemetry_new() builds it, the server on a fixed
 * port, the spool under its data directory). Players' beacons arrive over
 * POST /v1/beacons from a loader thread. Midway the database is stopped,
 * so that acknowledged beacons sit in the spool; then the collector is
 * SIGKILLed, the database comes back, a new collector starts on the same
 * data directory, and the load goes on. Afterwards every beacon that was
 * ever acknowledged is in MongoDB exactly once: the spool left by the
 * killed process was replayed, and beacons of sessions bound before the
 * crash were accepted (from the spool's session_starts, or MongoDB's).
 * Before the load, a player speaks to the same collector over the
 * /v1/beacons WebSocket and gets one frame back per beacon. */
#include "beacon_fixture.h"
#include "check.h"
#include "testenv.h"

#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/telemetry.h"

#include <mongoc/mongoc.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NSESS 6
#define MAX_SEQ 20000

/* The child is one collector (fx_run_collector); the rest is the parent. */

static tenv_db_t tdb;
static char dir[512], data_dir[600], url[128], health_url[128], self[1024];
static int port;
static unsigned char acked[NSESS][MAX_SEQ];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stop;
static long long sent, nacked, failed_posts;

static void spawn(tenv_proc_t *p)
{
	char portbuf[16];
	bool up;

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	tenv_proc_spawn(p, dir, (char *[]){self, "--collector", tdb.uri, data_dir, portbuf, NULL}, NULL);
	TENV_WAIT_UNTIL(up, tenv_http_get(health_url, NULL) != 0, 20000);
	CHECK_MSG(up, "the collector did not come up");
}

/* POSTs a JSON array; records the acknowledged seqs of session s. */
static int post(const char *body, int s)
{
	char *resp = NULL;
	const char *h[] = {"Content-Type: application/json", NULL};
	int status = tenv_http_ex("POST", url, h, body, &resp);
	const char *p = resp ? strstr(resp, "\"acks\":[") : NULL;

	if (p != NULL) {
		char *end;
		p += 8;
		pthread_mutex_lock(&mu);
		while (*p != ']') {
			long long seq = strtoll(p, &end, 10);
			if (end == p)
				break;
			if (seq >= 0 && seq < MAX_SEQ && !acked[s][seq]) {
				acked[s][seq] = 1;
				nacked++;
			}
			p = *end == ',' ? end + 1 : end;
		}
		pthread_mutex_unlock(&mu);
	} else {
		failed_posts++;
	}
	free(resp);
	return status;
}

static void *load(void *arg)
{
	long long next[NSESS];
	char msg[16384], b[512], sid[16];

	(void)arg;
	for (int s = 0; s < NSESS; s++)
		next[s] = 1;
	while (!atomic_load(&stop)) {
		for (int s = 0; s < NSESS; s++) {
			size_t n = (size_t)snprintf(msg, sizeof(msg), "[");

			snprintf(sid, sizeof(sid), "0d%02x", s);
			for (int k = 0; k < 10; k++) {
				long long seq = next[s]++;
				fx_heartbeat(b, sizeof(b), sid, seq, fx_now_ms(), seq * 1000, 1500000);
				n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
				sent++;
			}
			msg[n - 1] = ']';
			post(msg, s);
		}
		tenv_sleep_ms(40);
	}
	return NULL;
}

/* How many acknowledged beacons are not (yet) in MongoDB; fails on a
 * beacon stored twice. */
static long long missing(kino_db_t *kdb)
{
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *co = mongoc_client_get_collection(cl, "kino_tel", "beacons");
	bson_t *filter = BCON_NEW("session_id", "{", "$regex", BCON_UTF8("^0d"), "}");
	bson_t *opts = BCON_NEW("projection", "{", "session_id", BCON_INT32(1), "seq", BCON_INT32(1), "}");
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(co, filter, opts, NULL);
	static unsigned char seen[NSESS][MAX_SEQ];
	const bson_t *doc;
	bson_error_t berr;
	long long miss = 0;

	memset(seen, 0, sizeof(seen));
	while (mongoc_cursor_next(cur, &doc)) {
		bson_iter_t it;
		unsigned s = 99;
		long long seq = -1;

		if (bson_iter_init_find(&it, doc, "session_id"))
			sscanf(bson_iter_utf8(&it, NULL) + 2, "%x", &s);
		if (bson_iter_init_find(&it, doc, "seq"))
			seq = bson_iter_as_int64(&it);
		CHECK(s < NSESS && seq >= 0 && seq < MAX_SEQ);
		CHECK_MSG(!seen[s][seq], "beacon 0d%02x/%lld is stored twice", s, seq);
		seen[s][seq] = 1;
	}
	if (mongoc_cursor_error(cur, &berr))
		miss = -1; /* the database is not back yet: ask again */
	for (int s = 0; miss >= 0 && s < NSESS; s++) {
		for (int q = 0; q < MAX_SEQ; q++)
			miss += acked[s][q] && !seen[s][q];
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, cl);
	return miss;
}

/* ---- a WebSocket player, just enough of RFC 6455 ---- */

static int ws_open(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	const char *req = "GET /v1/beacons HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
			  "Sec-WebSocket-Key: a2lubyB0ZWxlbWV0cnkgdGVzdA==\r\n\r\n";
	char head[1024] = "";
	size_t n = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	/* byte by byte, so as not to read into the first frame */
	while (n + 1 < sizeof(head) && strstr(head, "\r\n\r\n") == NULL) {
		CHECK(read(fd, head + n, 1) == 1);
		head[++n] = '\0';
	}
	CHECK_CONTAINS(head, " 101 ");
	return fd;
}

/* One masked text frame (client frames must be masked). */
static void ws_send_text(int fd, const char *text)
{
	static const unsigned char mask[4] = {0x5a, 0x17, 0xc3, 0x9e};
	size_t len = strlen(text), h = 0;
	unsigned char *frame = malloc(len + 8);

	CHECK(frame != NULL && len < 65536);
	frame[h++] = 0x81; /* FIN, text */
	if (len < 126) {
		frame[h++] = 0x80 | (unsigned char)len;
	} else {
		frame[h++] = 0x80 | 126;
		frame[h++] = (unsigned char)(len >> 8);
		frame[h++] = (unsigned char)len;
	}
	memcpy(frame + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		frame[h + i] = (unsigned char)text[i] ^ mask[i % 4];
	CHECK(write(fd, frame, h + len) == (ssize_t)(h + len));
	free(frame);
}

static void read_exact(int fd, unsigned char *buf, size_t len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (size_t got = 0; got < len;) {
		ssize_t r;
		CHECK_MSG(poll(&p, 1, 15000) == 1, "no frame from the collector");
		r = read(fd, buf + got, len - got);
		CHECK(r > 0);
		got += (size_t)r;
	}
}

/* The next text frame from the server (unmasked), NUL-terminated. */
static void ws_recv_text(int fd, char *out, size_t size)
{
	unsigned char h[2], ext[8];
	size_t len;

	read_exact(fd, h, 2);
	CHECK_INT_EQ(h[0] & 0x0f, 1);
	len = h[1] & 0x7f;
	if (len == 126) {
		read_exact(fd, ext, 2);
		len = (size_t)ext[0] << 8 | ext[1];
	}
	CHECK(len < size);
	read_exact(fd, (unsigned char *)out, len);
	out[len] = '\0';
}

static void test_websocket(const kino_playback_keyring_t *keys)
{
	char msg[2048], b[512], frames[3][600];
	int fd = ws_open();

	fx_start(b, sizeof(b), keys, "0c01", 0, fx_now_ms(), "ws-title", "ws-asset", "web", 60000);
	snprintf(msg, sizeof(msg), "[%s,", b);
	fx_heartbeat(b, sizeof(b), "0c01", 1, fx_now_ms(), 1000, 900000);
	strcat(msg, b);
	strcat(msg, ",{\"v\":1,\"session_id\":\"0c01\",\"seq\":2,\"ts\":1,\"event\":\"pause\"}]");
	ws_send_text(fd, msg);
	/* the refusal comes at once, the acks once durable: in any order */
	int acks = 0, errors = 0;
	for (int i = 0; i < 3; i++) {
		ws_recv_text(fd, frames[i], sizeof(frames[i]));
		if (strstr(frames[i], "{\"type\":\"ack\",\"session_id\":\"0c01\",\"seq\":") != NULL)
			acks++;
		else if (strstr(frames[i], "\"type\":\"error\",\"session_id\":\"0c01\",\"seq\":2,"
					   "\"field\":\"ts\"") != NULL)
			errors++;
	}
	CHECK_MSG(acks == 2 && errors == 1, "frames: %s | %s | %s", frames[0], frames[1], frames[2]);
	ws_send_text(fd, "{\"v\":");
	ws_recv_text(fd, frames[0], sizeof(frames[0]));
	CHECK_CONTAINS(frames[0], "\"type\":\"error\",\"seq\":-1,\"field\":\"message\"");
	close(fd);
}

int main(int argc, char **argv)
{
	kino_db_config_t dbc = {.timeout_ms = 5000, .health_interval_ms = 500};
	kino_playback_keyring_t *keys;
	kino_error_t err = {0};
	tenv_proc_t p1, p2;
	kino_db_t *kdb;
	pthread_t th;
	char msg[2048], sid[16];
	long long miss = -1;
	bool done;
	ssize_t n;

	if (argc == 5 && strcmp(argv[1], "--collector") == 0)
		return fx_run_collector(argv[2], argv[3], atoi(argv[4]), "kino_tel", 1000);

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0);
	self[n] = '\0';
	kino_db_global_init();
	tenv_tmpdir(dir, sizeof(dir), "telemetry-crash");
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	CHECK(mkdir(data_dir, 0700) == 0);
	tenv_db_start(&tdb);
	port = tenv_free_port();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/beacons", port);
	snprintf(health_url, sizeof(health_url), "http://127.0.0.1:%d/healthz", port);
	keys = kino_playback_keyring_new(FX_KEYS, &err);
	CHECK(keys != NULL);

	spawn(&p1);
	RUN_TEST_ARG(test_websocket, keys);
	for (int s = 0; s < NSESS; s++) {
		snprintf(sid, sizeof(sid), "0d%02x", s);
		fx_start(msg + 1, sizeof(msg) - 2, keys, sid, 0, fx_now_ms(), "crash-title", "crash-asset",
			 "web", 3600000);
		msg[0] = '[';
		strcat(msg, "]");
		CHECK_INT_EQ(post(msg, s), 200);
	}
	CHECK_INT_EQ(nacked, NSESS);
	CHECK(pthread_create(&th, NULL, load, NULL) == 0);
	tenv_sleep_ms(1500);
	fprintf(stderr, "   stopping the database (%lld acknowledged so far)\n", nacked);
	tenv_db_kill(&tdb);
	tenv_sleep_ms(2500);
	fprintf(stderr, "   SIGKILLing the collector (%lld acknowledged so far)\n", nacked);
	tenv_proc_kill(&p1);
	tenv_db_restart(&tdb);
	spawn(&p2);
	fprintf(stderr, "   a new collector serves\n");
	tenv_sleep_ms(2500);
	atomic_store(&stop, true);
	pthread_join(th, NULL);

	dbc.timeout_ms = 5000;
	snprintf(dbc.uri, sizeof(dbc.uri), "%s", tdb.uri);
	snprintf(dbc.database, sizeof(dbc.database), "kino_tel");
	kdb = kino_db_new(&dbc, &err);
	CHECK(kdb != NULL);
	TENV_WAIT_UNTIL(done, (miss = missing(kdb)) == 0, 40000);
	fprintf(stderr, "   sent %lld, acknowledged %lld, failed posts %lld, missing %lld\n", sent,
		nacked, failed_posts, miss);
	CHECK_MSG(done, "%lld acknowledged beacons are not in MongoDB", miss);
	CHECK(nacked > NSESS);

	tenv_proc_kill(&p2);
	kino_db_destroy(kdb);
	kino_playback_keyring_destroy(keys);
	tenv_db_stop(&tdb);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
