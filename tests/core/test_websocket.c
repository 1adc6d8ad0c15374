/* WebSockets on the HTTP server, with a minimal client of the test's own:
 * replies sent from another thread by connection id, fragmented messages
 * reassembled, the message size limit (close 1009), upgrades refused on
 * unknown paths, a bounded send queue, and pausing reads. */
#include "check.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static kino_http_server_t *srv;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last[70000];
static unsigned long long last_id;
static int received;

static void on_message(kino_ws_conn_t *c, const char *data, size_t len, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&lock);
	memcpy(last, data, len);
	last[len] = '\0';
	last_id = kino_ws_conn_id(c);
	received++;
	pthread_mutex_unlock(&lock);
}

static int on_open(kino_ws_conn_t *c, void *ud)
{
	(void)ud;
	return strcmp(kino_ws_conn_peer(c), "") == 0; /* a peer is known */
}

static int dial(const char *path, char *reply, size_t size)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char req[512];
	size_t got = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path);
	CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	while (got + 1 < size) {
		ssize_t n = read(fd, reply + got, 1);
		if (n <= 0)
			break;
		got += (size_t)n;
		reply[got] = '\0';
		if (strstr(reply, "\r\n\r\n"))
			break;
	}
	return fd;
}

/* Sends one masked frame. */
static void send_frame(int fd, int opcode, bool fin, const char *data, size_t len)
{
	unsigned char hdr[14], mask[4] = {1, 2, 3, 4};
	size_t h = 0;
	char *masked = malloc(len);

	hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		masked[i] = (char)(data[i] ^ mask[i % 4]);
	CHECK(write(fd, hdr, h) == (ssize_t)h);
	if (len)
		CHECK(write(fd, masked, len) == (ssize_t)len);
	free(masked);
}

static bool read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 3000) <= 0)
			return false;
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Reads one frame; returns its opcode, or -1. */
static int read_frame(int fd, char *out, size_t size, size_t *len)
{
	unsigned char h[2], ext[8];
	size_t n;

	if (!read_full(fd, h, 2))
		return -1;
	n = h[1] & 0x7f;
	if (n == 126) {
		CHECK(read_full(fd, ext, 2));
		n = (size_t)ext[0] << 8 | ext[1];
	}
	CHECK(n < size);
	CHECK(read_full(fd, out, n));
	out[n] = '\0';
	*len = n;
	return h[0] & 0x0f;
}

static bool wait_received(int want, int ms)
{
	bool ok;
	TENV_WAIT_UNTIL(ok, (pthread_mutex_lock(&lock), ok = received >= want,
			     pthread_mutex_unlock(&lock), ok), ms);
	return ok;
}

static void *reply_later(void *arg)
{
	unsigned long long id = *(unsigned long long *)arg;
	CHECK_INT_EQ(kino_ws_send(srv, id, "ack:hello", 9), 0);
	return NULL;
}

static void test_messages(void)
{
	char reply[2048], buf[70000];
	size_t len;
	int fd = dial("/echo", reply, sizeof(reply));
	pthread_t t;

	CHECK_CONTAINS(reply, "101");
	send_frame(fd, 1, true, "hello", 5);
	CHECK(wait_received(1, 3000));
	CHECK_STR_EQ(last, "hello");
	unsigned long long id = last_id;
	pthread_create(&t, NULL, reply_later, &id); /* a send from another thread */
	pthread_join(t, NULL);
	CHECK_INT_EQ(read_frame(fd, buf, sizeof(buf), &len), 1);
	CHECK_STR_EQ(buf, "ack:hello");

	/* Fragments are put back together before the handler sees them. */
	send_frame(fd, 1, false, "frag", 4);
	send_frame(fd, 0, false, "men", 3);
	send_frame(fd, 0, true, "ted", 3);
	CHECK(wait_received(2, 3000));
	CHECK_STR_EQ(last, "fragmented");

	/* Paused: nothing is read until resumed. */
	CHECK_INT_EQ(kino_ws_pause(srv, id, true), 0);
	tenv_sleep_ms(100);
	send_frame(fd, 1, true, "later", 5);
	tenv_sleep_ms(300);
	CHECK(!wait_received(3, 100));
	CHECK_INT_EQ(kino_ws_pause(srv, id, false), 0);
	CHECK(wait_received(3, 3000));
	CHECK_STR_EQ(last, "later");

	/* A peer that does not read fills its queue: sends are refused. The
	 * kernel's socket buffers take megabytes first on loopback, so the
	 * bound is generous (256 MiB); the queue itself holds 16 KiB. */
	int refused = 0;
	memset(buf, 'q', 8192);
	for (int i = 0; i < 32768 && refused == 0; i++)
		if (kino_ws_send(srv, id, buf, 8192) == KINO_ETOOBIG)
			refused = 1;
	CHECK_MSG(refused, "a full send queue was not reported");

	close(fd);
	bool gone;
	TENV_WAIT_UNTIL(gone, kino_ws_send(srv, id, "x", 1) == KINO_ENOENT, 3000);
	CHECK_MSG(gone, "a closed connection still takes sends");
}

static void test_limits(void)
{
	char reply[2048], *big = malloc(5000), buf[256];
	size_t len;
	int fd;

	fd = dial("/nowhere", reply, sizeof(reply));
	CHECK(strstr(reply, "101") == NULL);
	close(fd);

	fd = dial("/echo", reply, sizeof(reply));
	CHECK_CONTAINS(reply, "101");
	memset(big, 'x', 5000);
	send_frame(fd, 1, true, big, 5000); /* over max_message (4096) */
	int op = read_frame(fd, buf, sizeof(buf), &len);
	CHECK_INT_EQ(op, 8); /* close */
	CHECK(len >= 2 && (((unsigned char)buf[0] << 8) | (unsigned char)buf[1]) == 1009);
	close(fd);
	free(big);
}

int main(void)
{
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = 0, .max_body = 1024, .workers = 1};
	kino_ws_handler_t h = {.path = "/echo", .max_message = 4096, .max_queued = 16384,
			       .on_open = on_open, .on_message = on_message};
	kino_error_t err = {0};

	kino_http_global_init();
	srv = kino_http_server_new(&cfg, "ws-test", NULL, 0, &err);
	CHECK(srv != NULL);
	CHECK_INT_EQ(kino_http_server_add_websocket(srv, &h, &err), 0);
	CHECK_INT_EQ(kino_http_server_start(srv, &err), 0);
	CHECK(kino_http_server_add_websocket(srv, &h, &err) == KINO_ESTATE);
	port = kino_http_server_port(srv);
	RUN_TEST(test_messages);
	RUN_TEST(test_limits);
	kino_http_server_destroy(srv);
	return 0;
}
