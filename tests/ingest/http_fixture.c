/* See http_fixture.h: an origin with a thread per connection, stopped by a
 * flag that every handler (the stalling one too) checks. */
#include "http_fixture.h"

#include "check.h"
#include "testenv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_PATHS 16

typedef struct path_stat {
	char path[64];
	int hits;
	char range[64];
} path_stat_t;

struct fixture_http {
	int listen_fd;
	int port;
	char *clip;
	size_t clip_len;
	atomic_bool stop;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_t conns[MAX_CONNS];
	int nconns;
	path_stat_t stats[MAX_PATHS];
	int nstats;
};

typedef struct conn {
	fixture_http_t *f;
	int fd;
} conn_t;

static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

/* Records the hit and returns how many hits the path had before it. */
static int record(fixture_http_t *f, const char *path, const char *range)
{
	int before = 0, i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nstats; i++)
		if (strcmp(f->stats[i].path, path) == 0)
			break;
	if (i == f->nstats && f->nstats < MAX_PATHS) {
		snprintf(f->stats[i].path, sizeof(f->stats[i].path), "%s", path);
		f->nstats++;
	}
	if (i < MAX_PATHS) {
		before = f->stats[i].hits++;
		snprintf(f->stats[i].range, sizeof(f->stats[i].range), "%s", range);
	}
	pthread_mutex_unlock(&f->lock);
	return before;
}

static void serve_clip(fixture_http_t *f, int fd, long long from, bool honour_range)
{
	char head[256];

	if (honour_range && from > 0) {
		if ((size_t)from >= f->clip_len) {
			snprintf(head, sizeof(head),
				 "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n"
				 "Connection: close\r\n\r\n");
			send_all(fd, head, strlen(head));
			return;
		}
		snprintf(head, sizeof(head),
			 "HTTP/1.1 206 Partial Content\r\nContent-Type: video/mp4\r\n"
			 "Content-Length: %zu\r\nContent-Range: bytes %lld-%zu/%zu\r\n"
			 "Connection: close\r\n\r\n",
			 f->clip_len - (size_t)from, from, f->clip_len - 1, f->clip_len);
		send_all(fd, head, strlen(head));
		send_all(fd, f->clip + from, f->clip_len - (size_t)from);
		return;
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %zu\r\n"
		 "Accept-Ranges: bytes\r\nConnection: close\r\n\r\n",
		 f->clip_len);
	send_all(fd, head, strlen(head));
	send_all(fd, f->clip, f->clip_len);
}

/* Holds the connection without sending until the client leaves or the
 * fixture stops. */
static void hold(fixture_http_t *f, int fd)
{
	char buf[256];

	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 50) > 0 && recv(fd, buf, sizeof(buf), 0) <= 0)
			return;
	}
}

static void *conn_main(void *arg)
{
	conn_t *c = arg;
	fixture_http_t *f = c->f;
	char req[4096] = "", path[256] = "", range[64] = "";
	size_t len = 0;
	long long from = 0;
	const char *r;
	int before;

	while (len < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
		ssize_t n = recv(c->fd, req + len, sizeof(req) - 1 - len, 0);

		if (n <= 0)
			goto out;
		len += (size_t)n;
		req[len] = '\0';
	}
	sscanf(req, "%*s %255s", path);
	r = strcasestr(req, "\r\nRange: bytes=");
	if (r != NULL) {
		from = atoll(r + 15);
		snprintf(range, sizeof(range), "bytes=%lld-", from);
	}
	before = record(f, path, range);
	if (strcmp(path, "/clip.mp4") == 0) {
		serve_clip(f, c->fd, from, true);
	} else if (strcmp(path, "/norange.mp4") == 0) {
		serve_clip(f, c->fd, 0, false);
	} else if (strcmp(path, "/drop.mp4") == 0) {
		if (before == 0) {
			char head[160];

			snprintf(head, sizeof(head),
				 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				 f->clip_len);
			send_all(c->fd, head, strlen(head));
			send_all(c->fd, f->clip, f->clip_len / 2);
		} else {
			serve_clip(f, c->fd, from, true);
		}
	} else if (strcmp(path, "/flaky.mp4") == 0 && before == 0) {
		const char *busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
				   "Connection: close\r\n\r\nbusy";
		send_all(c->fd, busy, strlen(busy));
	} else if (strcmp(path, "/flaky.mp4") == 0) {
		serve_clip(f, c->fd, from, true);
	} else if (strcmp(path, "/redirect") == 0) {
		const char *moved = "HTTP/1.1 302 Found\r\nLocation: /clip.mp4\r\n"
				    "Content-Length: 9\r\nConnection: close\r\n\r\nsee there";
		send_all(c->fd, moved, strlen(moved));
	} else if (strcmp(path, "/stall") == 0) {
		char head[160];

		snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 f->clip_len);
		send_all(c->fd, head, strlen(head));
		send_all(c->fd, f->clip, 1000);
		hold(f, c->fd);
	} else if (strncmp(path, "/status/", 8) == 0) {
		char head[160];

		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d Status\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
			 "status",
			 atoi(path + 8));
		send_all(c->fd, head, strlen(head));
	} else {
		const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
				 "Content-Length: 10\r\nConnection: close\r\n\r\nnot found\n";
		send_all(c->fd, nf, strlen(nf));
	}
	shutdown(c->fd, SHUT_WR);
out:
	close(c->fd);
	free(c);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	fixture_http_t *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
		conn_t *c;
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(f->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		c = malloc(sizeof(*c));
		CHECK(c != NULL);
		c->f = f;
		c->fd = fd;
		pthread_mutex_lock(&f->lock);
		CHECK(f->nconns < MAX_CONNS);
		CHECK(pthread_create(&f->conns[f->nconns++], NULL, conn_main, c) == 0);
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

fixture_http_t *fixture_http_start(const char *clip_path)
{
	fixture_http_t *f = calloc(1, sizeof(*f));
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t alen = sizeof(addr);
	FILE *in;
	long size;
	int one = 1;

	CHECK(f != NULL);
	in = fopen(clip_path, "rb");
	CHECK_MSG(in != NULL, "cannot open %s", clip_path);
	fseek(in, 0, SEEK_END);
	size = ftell(in);
	fseek(in, 0, SEEK_SET);
	CHECK(size > 2000);
	f->clip = malloc((size_t)size);
	CHECK(f->clip != NULL);
	CHECK(fread(f->clip, 1, (size_t)size, in) == (size_t)size);
	fclose(in);
	f->clip_len = (size_t)size;
	pthread_mutex_init(&f->lock, NULL);
	f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(f->listen_fd >= 0);
	setsockopt(f->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CHECK(listen(f->listen_fd, 64) == 0);
	CHECK(getsockname(f->listen_fd, (struct sockaddr *)&addr, &alen) == 0);
	f->port = ntohs(addr.sin_port);
	CHECK(pthread_create(&f->acceptor, NULL, acceptor_main, f) == 0);
	return f;
}

void fixture_http_stop(fixture_http_t *f)
{
	if (f == NULL)
		return;
	atomic_store(&f->stop, true);
	pthread_join(f->acceptor, NULL);
	for (int i = 0; i < f->nconns; i++)
		pthread_join(f->conns[i], NULL);
	close(f->listen_fd);
	pthread_mutex_destroy(&f->lock);
	free(f->clip);
	free(f);
}

int fixture_http_port(const fixture_http_t *f)
{
	return f->port;
}

int fixture_http_hits(fixture_http_t *f, const char *path)
{
	int hits = 0;

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->nstats; i++)
		if (strcmp(f->stats[i].path, path) == 0)
			hits = f->stats[i].hits;
	pthread_mutex_unlock(&f->lock);
	return hits;
}

void fixture_http_last_range(fixture_http_t *f, const char *path, char *out, size_t size)
{
	out[0] = '\0';
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->nstats; i++)
		if (strcmp(f->stats[i].path, path) == 0)
			snprintf(out, size, "%s", f->stats[i].range);
	pthread_mutex_unlock(&f->lock);
}

const char *fixture_http_clip(const fixture_http_t *f, size_t *len)
{
	*len = f->clip_len;
	return f->clip;
}
