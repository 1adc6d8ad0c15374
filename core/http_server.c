/* The HTTP server's libwebsockets side: the context, its event-loop thread,
 * the worker threads for blocking handlers, and the callback that turns lws
 * events into kino_http_request_t objects and answers back into bytes.
 *
 *   lws loop thread                         worker threads
 *   ---------------                         --------------
 *   HTTP       -> request, route, headers
 *   HTTP_BODY  -> body (bounded)
 *   dispatch   -> inline handler            -> blocking handler (work queue)
 *                                              kino_http_respond()
 *   EVENT_WAIT_CANCELLED <- done queue  <---- + lws_cancel_service()
 *   HTTP_WRITEABLE -> headers, body chunks
 *
 * The loop never waits on a worker: a full work queue is answered 503 at
 * once. Only the loop thread touches a struct lws. */
#define KINO_LOG_MODULE "http"
#include "http_internal.h"

#include "kino/error.h"
#include "kino/log.h"

#include <libwebsockets.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WORK_QUEUE_MAX 1024
#define DRAIN_MS 10000 /* how long a stopping server lets answers finish */
/* A body refused as too large is still read and thrown away, up to this
 * much, so that a client sending it reads the 413 instead of a reset (a
 * lingering close). Beyond it the connection is closed at once. */
#define DISCARD_BODY_MAX (256LL * 1024 * 1024)
#define BODY_CHUNK (64 * 1024)

struct kino_http_server {
	char name[32];
	kino_http_config_t cfg;
	char bind_addr[64];
	kino_http_route_t *routes;
	size_t nroutes;
	route_stats_t *stats; /* nroutes + 1: the last counts unrouted requests */
	http_ws_t *ws;
	struct lws_context *ctx;
	struct lws_protocols protocols[2];
	int port;

	pthread_t loop;
	bool loop_started;
	pthread_t loop_tid; /* set by the loop thread itself */
	atomic_bool loop_running;
	atomic_bool loop_stop;
	atomic_bool draining;  /* stopping: new requests get 503 */
	atomic_int in_flight;  /* requests not yet fully answered */

	pthread_t *workers;
	int nworkers;

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t work_cv;
	kino_http_request_t *work_head, *work_tail;
	int work_len;
	kino_http_request_t *done_head, *done_tail;
	bool workers_stop;
};

struct pss {
	kino_http_request_t *req;
	ws_conn_t *ws; /* a WebSocket connection's state */
	bool close_after; /* the request body was refused: close, don't reuse */
	bool discard_body; /* ...but read and drop the rest of it first */
};

static const char *const method_names[] = {
	[LWSHUMETH_GET] = "GET",       [LWSHUMETH_POST] = "POST",
	[LWSHUMETH_OPTIONS] = "OPTIONS", [LWSHUMETH_PUT] = "PUT",
	[LWSHUMETH_PATCH] = "PATCH",   [LWSHUMETH_DELETE] = "DELETE",
	[LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
};

/* Headers lws does not know by token, which Kino's routes read. */
static const char *const custom_headers[] = {
	"upload-offset:", "upload-length:", "upload-metadata:",
	"tus-resumable:", "upload-defer-length:", "x-request-id:",
};

static void lws_log_to_kino(int level, const char *line)
{
	kino_log_level_t kl = level == LLL_ERR    ? KINO_LOG_LEVEL_ERROR
			      : level == LLL_WARN  ? KINO_LOG_LEVEL_WARN
			      : level == LLL_NOTICE ? KINO_LOG_LEVEL_DEBUG
						    : KINO_LOG_LEVEL_TRACE;

	if ((int)kl <= kino_log_threshold)
		kino_log_write(kl, "lws", "-", "%s", line);
}

void kino_http_global_init(void)
{
	int levels = LLL_ERR | LLL_WARN;

	if (kino_log_threshold >= KINO_LOG_LEVEL_DEBUG)
		levels |= LLL_NOTICE;
	if (kino_log_threshold >= KINO_LOG_LEVEL_TRACE)
		levels |= LLL_INFO;
	lws_set_log_level(levels, lws_log_to_kino);
}

int kino_http_listen_parse(const char *text, kino_http_config_t *cfg,
			   kino_error_t *err)
{
	const char *colon, *host = text;
	size_t hostlen;
	char *end;
	long port;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return kino_error_set(err, KINO_EINVAL,
					      "'%s' is not [ipv6]:port", text);
		host = text + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			return kino_error_set(err, KINO_EINVAL,
					      "'%s' is not host:port", text);
		hostlen = (size_t)(colon - text);
	}
	if (hostlen == 0 || hostlen >= sizeof(cfg->host))
		return kino_error_set(err, KINO_EINVAL,
				      "'%s' has no usable host", text);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 ||
	    port > 65535)
		return kino_error_set(err, KINO_EINVAL,
				      "'%s': the port must be a number from 0 to 65535",
				      text);
	memcpy(cfg->host, host, hostlen);
	cfg->host[hostlen] = '\0';
	cfg->port = (int)port;
	return 0;
}

/* Resolves cfg->host to a numeric address and, for a fixed port, checks
 * that it can be bound, so that "address in use" is reported as such
 * instead of as a context that failed to start. */
static int resolve_and_probe(kino_http_server_t *srv, kino_error_t *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE};
	struct addrinfo *ai = NULL;
	int fd, one = 1, ret = 0;

	if (getaddrinfo(srv->cfg.host, NULL, &hints, &ai) != 0 || ai == NULL)
		return kino_error_set(err, KINO_ECONFIG,
				      "%s.listen: cannot resolve host '%s'",
				      srv->name, srv->cfg.host);
	getnameinfo(ai->ai_addr, ai->ai_addrlen, srv->bind_addr,
		    sizeof(srv->bind_addr), NULL, 0, NI_NUMERICHOST);
	if (srv->cfg.port == 0)
		goto out;
	if (ai->ai_family == AF_INET)
		((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)srv->cfg.port);
	else
		((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)srv->cfg.port);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = kino_error_set(err, KINO_EIO, "socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		ret = kino_error_set(err, errno == EADDRINUSE ? KINO_EADDRINUSE : KINO_EIO,
				     "%s.listen %s:%d: %s", srv->name, srv->cfg.host,
				     srv->cfg.port,
				     errno == EADDRINUSE ? "address in use (is another kino running?)"
							 : strerror(errno));
	close(fd);
out:
	freeaddrinfo(ai);
	return ret;
}

/* ---- the work and done queues ---- */

static void queue_push(kino_http_request_t **head, kino_http_request_t **tail,
		       kino_http_request_t *req)
{
	req->next = NULL;
	if (*tail != NULL)
		(*tail)->next = req;
	else
		*head = req;
	*tail = req;
}

static kino_http_request_t *queue_pop(kino_http_request_t **head,
				      kino_http_request_t **tail)
{
	kino_http_request_t *req = *head;

	if (req != NULL) {
		*head = req->next;
		if (*head == NULL)
			*tail = NULL;
		req->next = NULL;
	}
	return req;
}

void http_server_answered(kino_http_server_t *srv, kino_http_request_t *req)
{
	if (atomic_load(&srv->loop_running) &&
	    pthread_equal(pthread_self(), srv->loop_tid)) {
		if (req->wsi != NULL)
			lws_callback_on_writable(req->wsi);
		http_request_unref(req); /* the handler's reference */
		return;
	}
	pthread_mutex_lock(&srv->lock);
	queue_push(&srv->done_head, &srv->done_tail, req);
	pthread_mutex_unlock(&srv->lock);
	lws_cancel_service(srv->ctx);
}

/* On the loop: every answer from a worker gets its connection writable. */
static void drain_done(kino_http_server_t *srv)
{
	kino_http_request_t *list, *req;

	pthread_mutex_lock(&srv->lock);
	list = srv->done_head;
	srv->done_head = srv->done_tail = NULL;
	pthread_mutex_unlock(&srv->lock);
	while ((req = list) != NULL) {
		list = req->next;
		if (req->wsi != NULL)
			lws_callback_on_writable(req->wsi);
		http_request_unref(req);
	}
}

static void *worker_main(void *arg)
{
	kino_http_server_t *srv = arg;

	for (;;) {
		kino_http_request_t *req;

		pthread_mutex_lock(&srv->lock);
		while (srv->work_head == NULL && !srv->workers_stop)
			pthread_cond_wait(&srv->work_cv, &srv->lock);
		req = queue_pop(&srv->work_head, &srv->work_tail);
		if (req != NULL)
			srv->work_len--;
		pthread_mutex_unlock(&srv->lock);
		if (req == NULL)
			return NULL;
		/* Answering hands the handler's reference to the loop, which
		 * may free the request at once: hold one more to look at it. */
		atomic_fetch_add(&req->refs, 1);
		req->route->handler(req, req->route->userdata);
		if (!req->answered) {
			KINO_LOG_ERROR("%s %s: handler did not answer", req->method,
				       req->path);
			kino_http_respond_error(req, KINO_ESTATE, "internal error");
		}
		http_request_unref(req);
	}
}

static void dispatch(kino_http_server_t *srv, kino_http_request_t *req)
{
	/* lws may report a body's completion for a request already started
	 * (one announced with Content-Length: 0): start it once. */
	if (req->dispatched)
		return;
	req->dispatched = true;
	atomic_fetch_add(&req->refs, 1); /* the handler's reference */
	if (req->route->mode == KINO_HTTP_INLINE) {
		req->route->handler(req, req->route->userdata);
		if (!req->answered) {
			KINO_LOG_ERROR("%s %s: handler did not answer", req->method,
				       req->path);
			kino_http_respond_error(req, KINO_ESTATE, "internal error");
		}
		return;
	}
	pthread_mutex_lock(&srv->lock);
	if (srv->work_len >= WORK_QUEUE_MAX || srv->workers_stop) {
		pthread_mutex_unlock(&srv->lock);
		kino_http_response_header(req, "Retry-After", "1");
		kino_http_respond_error(req, KINO_EUNAVAIL,
					"the server is busy; retry shortly");
		return;
	}
	queue_push(&srv->work_head, &srv->work_tail, req);
	srv->work_len++;
	pthread_cond_signal(&srv->work_cv);
	pthread_mutex_unlock(&srv->lock);
}

/* Answers on the loop without a handler: 404, 405, 411, 413. The request
 * holds a handler reference like any other. */
static void refuse(kino_http_request_t *req, int code, const char *message)
{
	atomic_fetch_add(&req->refs, 1);
	kino_http_respond_error(req, code, message);
}

static void refuse_as(kino_http_request_t *req, int status, const char *code,
		      const char *message)
{
	atomic_fetch_add(&req->refs, 1);
	kino_http_respond_error_as(req, status, code, message);
}

static void capture_headers(struct lws *wsi, kino_http_request_t *req)
{
	char value[8192];

	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
		char lname[64];
		size_t n;

		if (name == NULL || name[0] == ':' || t == WSI_TOKEN_HTTP_URI_ARGS ||
		    lws_hdr_total_length(wsi, (enum lws_token_indexes)t) <= 0)
			continue;
		n = strlen(name);
		if (n == 0 || name[n - 1] != ':' || n >= sizeof(lname))
			continue; /* method tokens ("get ") and the like */
		memcpy(lname, name, n - 1);
		lname[n - 1] = '\0';
		if (lws_hdr_copy(wsi, value, sizeof(value), (enum lws_token_indexes)t) < 0)
			continue;
		http_request_add_header(req, lname, value);
	}
	for (size_t i = 0; i < sizeof(custom_headers) / sizeof(custom_headers[0]); i++) {
		const char *name = custom_headers[i];
		int nlen = (int)strlen(name);
		char lname[64];

		if (lws_hdr_custom_length(wsi, name, nlen) <= 0 ||
		    lws_hdr_custom_copy(wsi, value, sizeof(value), name, nlen) < 0)
			continue;
		snprintf(lname, sizeof(lname), "%.*s", nlen - 1, name);
		http_request_add_header(req, lname, value);
	}
}

static int on_request(kino_http_server_t *srv, struct lws *wsi, struct pss *pss)
{
	kino_http_request_t *req;
	const char *clen, *te;
	char *uri = NULL, frag[4096];
	int uri_len = 0, m;
	bool path_matched;

	m = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
	req = http_request_new(srv);
	if (req == NULL)
		return -1;
	req->wsi = wsi;
	pss->req = req;
	atomic_fetch_add(&srv->in_flight, 1);
	snprintf(req->method, sizeof(req->method), "%s",
		 m >= 0 && m < (int)(sizeof(method_names) / sizeof(method_names[0])) &&
				 method_names[m] ? method_names[m] : "UNKNOWN");
	req->path = strndup(uri ? uri : "/", uri ? (size_t)uri_len : 1);
	if (req->path == NULL)
		return -1;
	lws_get_peer_simple(wsi, req->peer, sizeof(req->peer));
	capture_headers(wsi, req);
	for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
					      WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++)
		http_request_add_query(req, frag);

	req->route = http_route_match(srv->routes, srv->nroutes, req, &path_matched);
	req->stats_index = req->route ? (int)(req->route - srv->routes) : (int)srv->nroutes;
	if (atomic_load(&srv->draining)) {
		pss->close_after = true;
		kino_http_response_header(req, "Retry-After", "1");
		refuse_as(req, 503, "shutting_down", "the server is stopping; retry shortly");
		return 0;
	}
	if (req->route == NULL) {
		if (path_matched)
			refuse_as(req, 405, "method_not_allowed",
				  "this route does not take that method");
		else
			refuse(req, KINO_ENOENT, "no such route");
		return 0;
	}

	req->body_limit = req->route->max_body ? req->route->max_body
					       : srv->cfg.max_body;
	clen = kino_http_request_header(req, "content-length");
	te = kino_http_request_header(req, "transfer-encoding");
	if (clen != NULL) {
		char *end;
		unsigned long long n = strtoull(clen, &end, 10);
		if (*end != '\0' || clen[0] == '-') {
			pss->close_after = true;
			refuse(req, KINO_EINVAL, "malformed Content-Length");
			return 0;
		}
		if (n > req->body_limit) {
			char msg[128];
			snprintf(msg, sizeof(msg),
				 "the request body is larger than %zu bytes",
				 req->body_limit);
			pss->close_after = true;
			pss->discard_body = n <= (unsigned long long)DISCARD_BODY_MAX;
			refuse(req, KINO_ETOOBIG, msg);
			return 0;
		}
		if (n > 0) {
			req->body_cap = (size_t)n;
			req->body = malloc(req->body_cap + 1);
			if (req->body == NULL)
				return -1;
			return 0; /* dispatched at HTTP_BODY_COMPLETION */
		}
	} else if (te != NULL) {
		pss->close_after = true;
		refuse_as(req, 411, "length_required",
			  "a request body needs a Content-Length");
		return 0;
	}
	dispatch(srv, req);
	return 0;
}

static int on_body(struct pss *pss, const void *in, size_t len)
{
	kino_http_request_t *req = pss->req;

	/* Refused already (the rest is drained and dropped), or a body that
	 * was announced empty: nothing to keep. */
	if (req == NULL || req->answered || req->body == NULL)
		return 0;
	if (req->body_len + len > req->body_cap) {
		pss->close_after = true;
		refuse(req, KINO_ETOOBIG, "the request body is longer than its Content-Length");
		return 0;
	}
	memcpy(req->body + req->body_len, in, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return 0;
}

static const double bucket_le[HTTP_STATS_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

static void stats_record(route_stats_t *st, int status, int64_t us)
{
	int b = 0, slot;

	while (b < HTTP_STATS_BUCKETS && (double)us / 1e6 > bucket_le[b])
		b++;
	atomic_fetch_add_explicit(&st->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->sum_us, (unsigned long long)us, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->total, 1, memory_order_relaxed);
	/* Only the loop thread claims slots, so a plain scan is enough. */
	for (slot = 0; slot < HTTP_STATS_CODES; slot++) {
		int c = atomic_load_explicit(&st->code[slot], memory_order_relaxed);
		if (c == status)
			break;
		if (c == 0) {
			atomic_store_explicit(&st->code[slot], status, memory_order_release);
			break;
		}
	}
	if (slot == HTTP_STATS_CODES)
		slot = HTTP_STATS_CODES - 1; /* more than 16 codes: fold into the last */
	atomic_fetch_add_explicit(&st->count[slot], 1, memory_order_relaxed);
}

static void finish(kino_http_server_t *srv, struct lws *wsi, struct pss *pss)
{
	kino_http_request_t *req = pss->req;

	stats_record(&srv->stats[req->stats_index], req->status,
		     http_now_us() - req->started_us);

	KINO_LOG_DEBUG("%s \"%s %s\" %d %zu %.1fms", req->peer, req->method,
		       req->path, req->status, req->resp_len,
		       (double)(http_now_us() - req->started_us) / 1000.0);
	(void)srv;
	(void)wsi;
	pss->req = NULL;
	req->wsi = NULL;
	http_request_unref(req); /* the connection's reference */
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* Sends what the socket takes of a file answer with sendfile(2): no copy
 * through user space, and no buffering inside lws. That is safe for HTTP/1
 * once lws has flushed the headers it wrote: lws counts a body's bytes only
 * for HTTP/2, which this server does not speak. Returns 0 when the body is
 * complete, 1 to wait for the next WRITEABLE, -1 to drop the connection. */
static int send_file_part(struct lws *wsi, kino_http_request_t *req)
{
	off_t off = (off_t)(req->resp_fd_offset + (long long)req->resp_sent);
	size_t left = req->resp_len - req->resp_sent;
	ssize_t n;

	if (lws_partial_buffered(wsi)) {
		lws_callback_on_writable(wsi);
		return 1;
	}
	n = sendfile(lws_get_socket_fd(wsi), req->resp_fd, &off, left);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		lws_callback_on_writable(wsi);
		return 1;
	}
	if (n <= 0) {
		/* An error, or the file ended early: a wrong length is worse
		 * than a dropped connection. */
		KINO_LOG_WARN("%s: sending the file failed: %s", req->path,
			      n < 0 ? strerror(errno) : "the file is shorter than it was");
		return -1;
	}
	req->resp_sent += (size_t)n;
	if (req->resp_sent < req->resp_len) {
		lws_callback_on_writable(wsi);
		return 1;
	}
	return 0;
}

static int on_writeable(kino_http_server_t *srv, struct lws *wsi, struct pss *pss)
{
	kino_http_request_t *req = pss->req;
	unsigned char hbuf[LWS_PRE + 8192];
	unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;

	if (req == NULL || !req->answered)
		return 0;
	if (!req->headers_sent) {
		size_t body_len = req->resp_len;

		if (lws_add_http_common_headers(wsi, (unsigned int)req->status,
						req->content_type, body_len, &p, end))
			return -1;
		for (int i = 0; i < req->nresp_headers; i++) {
			char name[128];
			size_t n = 0;
			for (const char *c = req->resp_headers[i].name;
			     *c && n < sizeof(name) - 2; c++)
				name[n++] = (char)tolower((unsigned char)*c);
			name[n++] = ':';
			name[n] = '\0';
			if (lws_add_http_header_by_name(wsi, (unsigned char *)name,
							(unsigned char *)req->resp_headers[i].value,
							(int)strlen(req->resp_headers[i].value),
							&p, end))
				return -1;
		}
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		req->headers_sent = true;
		if (req->resp_len > 0 && !req->head) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else if (req->resp_fd >= 0) {
		int r = send_file_part(wsi, req);
		if (r != 0)
			return r < 0 ? -1 : 0;
	} else {
		size_t left = req->resp_len - req->resp_sent;
		size_t chunk = left < BODY_CHUNK ? left : BODY_CHUNK;
		bool last = chunk == left;

		/* The LWS_PRE bytes in front of this chunk are body already
		 * sent, which lws may overwrite. */
		if (lws_write(wsi, req->resp + LWS_PRE + req->resp_sent, chunk,
			      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)chunk)
			return -1;
		req->resp_sent += chunk;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	finish(srv, wsi, pss);
	if (pss->close_after && !pss->discard_body)
		return -1;
	/* With a body still arriving, lws reads and discards it before the
	 * connection takes its next request. */
	pss->close_after = pss->discard_body = false;
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	kino_http_server_t *srv = ctx ? lws_context_user(ctx) : NULL;
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_request(srv, wsi, pss);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss->req != NULL && !pss->req->answered && !pss->req->dispatched) {
			if (pss->req->body_len != pss->req->body_cap) {
				refuse(pss->req, KINO_EINVAL, "the request body ended early");
				return 0;
			}
			dispatch(srv, pss->req);
		}
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_writeable(srv, wsi, pss);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss != NULL && pss->req != NULL) {
			/* The client left before its answer was written. */
			pss->req->wsi = NULL;
			http_request_unref(pss->req);
			pss->req = NULL;
			atomic_fetch_sub(&srv->in_flight, 1);
		}
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (srv != NULL) {
			drain_done(srv);
			http_ws_drain(srv->ws);
		}
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		char path[256];
		/* Refuse upgrades on paths with no WebSocket endpoint. */
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
		    !http_ws_wants(srv->ws, path))
			return 1;
		return 0;
	}
	case LWS_CALLBACK_ESTABLISHED: {
		char path[256], peer[64];
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
			return -1;
		lws_get_peer_simple(wsi, peer, sizeof(peer));
		pss->req = NULL;
		pss->ws = http_ws_open(srv->ws, wsi, path, peer);
		return pss->ws != NULL ? 0 : -1;
	}
	case LWS_CALLBACK_RECEIVE:
		return pss->ws ? http_ws_receive(srv->ws, pss->ws, wsi, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss->ws ? http_ws_writeable(srv->ws, pss->ws, wsi) : 0;
	case LWS_CALLBACK_CLOSED:
		if (pss != NULL && pss->ws != NULL) {
			http_ws_closed(srv->ws, pss->ws);
			pss->ws = NULL;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

kino_http_server_t *kino_http_server_new(const kino_http_config_t *cfg,
					 const char *name,
					 const kino_http_route_t *routes,
					 size_t nroutes, kino_error_t *err)
{
	struct lws_context_creation_info info;
	kino_http_server_t *srv;
	struct lws_vhost *vh;

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(srv->name, sizeof(srv->name), "%s", name);
	srv->cfg = *cfg;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->work_cv, NULL);
	atomic_init(&srv->loop_stop, false);
	atomic_init(&srv->loop_running, false);
	atomic_init(&srv->draining, false);
	atomic_init(&srv->in_flight, 0);
	srv->routes = calloc(nroutes ? nroutes : 1, sizeof(*routes));
	srv->stats = calloc(nroutes + 1, sizeof(*srv->stats));
	srv->ws = http_ws_new();
	if (srv->routes == NULL || srv->stats == NULL || srv->ws == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto fail;
	}
	if (nroutes > 0)
		memcpy(srv->routes, routes, nroutes * sizeof(*routes));
	srv->nroutes = nroutes;
	if (resolve_and_probe(srv, err) != 0)
		goto fail;

	srv->protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = callback_http,
		.per_session_data_size = sizeof(struct pss),
	};
	memset(&info, 0, sizeof(info));
	info.port = cfg->port;
	info.iface = srv->bind_addr;
	info.protocols = srv->protocols;
	info.vhost_name = srv->name;
	info.user = srv;
	info.max_http_header_data = 16384;
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
		       LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (strchr(srv->bind_addr, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	srv->ctx = lws_create_context(&info);
	if (srv->ctx == NULL) {
		kino_error_set(err, KINO_EIO,
			       "%s: cannot listen on %s:%d (see the lws lines above)",
			       srv->name, cfg->host, cfg->port);
		goto fail;
	}
	vh = lws_get_vhost_by_name(srv->ctx, srv->name);
	srv->port = vh ? lws_get_vhost_listen_port(vh) : cfg->port;
	return srv;
fail:
	kino_http_server_destroy(srv);
	return NULL;
}

static void *loop_main(void *arg)
{
	kino_http_server_t *srv = arg;

	srv->loop_tid = pthread_self();
	atomic_store(&srv->loop_running, true);
	while (!atomic_load(&srv->loop_stop))
		if (lws_service(srv->ctx, 0) < 0)
			break;
	return NULL;
}

int kino_http_server_start(kino_http_server_t *srv, kino_error_t *err)
{
	int n = srv->cfg.workers > 0 ? srv->cfg.workers : 1;

	srv->workers = calloc((size_t)n, sizeof(*srv->workers));
	if (srv->workers == NULL)
		return kino_error_set(err, KINO_ENOMEM, "out of memory");
	for (; srv->nworkers < n; srv->nworkers++)
		if (pthread_create(&srv->workers[srv->nworkers], NULL, worker_main, srv) != 0)
			return kino_error_set(err, KINO_ENOMEM, "cannot start worker threads");
	if (pthread_create(&srv->loop, NULL, loop_main, srv) != 0)
		return kino_error_set(err, KINO_ENOMEM, "cannot start the event loop");
	srv->loop_started = true;
	KINO_LOG_INFO("%s listening on http://%s:%d/", srv->name, srv->cfg.host, srv->port);
	return 0;
}

/* Appends printf-formatted text to a growing buffer. */
static int appendf(char **out, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int appendf(char **out, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*out + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return KINO_EINVAL;
		if ((size_t)n < *cap - *len)
			break;
		size_t grown = *cap * 2 + (size_t)n + 1;
		char *p = realloc(*out, grown);
		if (p == NULL)
			return KINO_ENOMEM;
		*out = p;
		*cap = grown;
	}
	*len += (size_t)n;
	return 0;
}

int kino_http_server_metrics(const kino_http_server_t *srv, char **out, size_t *len)
{
	size_t cap = *out ? *len + 1 : 0;
	int ret = 0;

	if (*out == NULL) {
		cap = 4096;
		*out = malloc(cap);
		*len = 0;
		if (*out == NULL)
			return KINO_ENOMEM;
		(*out)[0] = '\0';
	}
	ret |= appendf(out, len, &cap,
		       "# HELP kino_http_requests_total HTTP requests answered, by route and status.\n"
		       "# TYPE kino_http_requests_total counter\n");
	for (size_t r = 0; r <= srv->nroutes; r++) {
		const route_stats_t *st = &srv->stats[r];
		const char *method = r < srv->nroutes ? srv->routes[r].method : "";
		const char *route = r < srv->nroutes ? srv->routes[r].pattern : "unrouted";
		for (int i = 0; i < HTTP_STATS_CODES; i++) {
			int code = atomic_load_explicit(&st->code[i], memory_order_acquire);
			if (code == 0)
				break;
			ret |= appendf(out, len, &cap,
				       "kino_http_requests_total{server=\"%s\",method=\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
				       srv->name, method, route, code,
				       atomic_load_explicit(&st->count[i], memory_order_relaxed));
		}
	}
	ret |= appendf(out, len, &cap,
		       "# HELP kino_http_request_duration_seconds Time from a request's headers to the end of its answer.\n"
		       "# TYPE kino_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r <= srv->nroutes; r++) {
		const route_stats_t *st = &srv->stats[r];
		unsigned long long total = atomic_load_explicit(&st->total, memory_order_relaxed);
		unsigned long long cum = 0;
		const char *method = r < srv->nroutes ? srv->routes[r].method : "";
		const char *route = r < srv->nroutes ? srv->routes[r].pattern : "unrouted";

		if (total == 0)
			continue;
		for (int b = 0; b <= HTTP_STATS_BUCKETS; b++) {
			char le[32];
			cum += atomic_load_explicit(&st->bucket[b], memory_order_relaxed);
			if (b < HTTP_STATS_BUCKETS)
				snprintf(le, sizeof(le), "%g", bucket_le[b]);
			else
				snprintf(le, sizeof(le), "+Inf");
			ret |= appendf(out, len, &cap,
				       "kino_http_request_duration_seconds_bucket{server=\"%s\",method=\"%s\",route=\"%s\",le=\"%s\"} %llu\n",
				       srv->name, method, route, le, cum);
		}
		ret |= appendf(out, len, &cap,
			       "kino_http_request_duration_seconds_sum{server=\"%s\",method=\"%s\",route=\"%s\"} %.6f\n"
			       "kino_http_request_duration_seconds_count{server=\"%s\",method=\"%s\",route=\"%s\"} %llu\n",
			       srv->name, method, route,
			       (double)atomic_load_explicit(&st->sum_us, memory_order_relaxed) / 1e6,
			       srv->name, method, route, cum);
	}
	return ret != 0 ? KINO_ENOMEM : 0;
}

int kino_http_server_add_websocket(kino_http_server_t *srv, const kino_ws_handler_t *handler,
				   kino_error_t *err)
{
	if (srv->loop_started)
		return kino_error_set(err, KINO_ESTATE, "add WebSocket endpoints before starting");
	return http_ws_add(srv->ws, handler, err);
}

int kino_ws_send(kino_http_server_t *srv, unsigned long long id, const char *text, size_t len)
{
	return http_ws_send(srv->ws, srv->ctx, id, text, len);
}

int kino_ws_pause(kino_http_server_t *srv, unsigned long long id, bool paused)
{
	return http_ws_pause(srv->ws, srv->ctx, id, paused);
}

size_t kino_http_server_route_count(const kino_http_server_t *srv)
{
	return srv->nroutes;
}

const kino_http_route_t *kino_http_server_route(const kino_http_server_t *srv, size_t i)
{
	return i < srv->nroutes ? &srv->routes[i] : NULL;
}

int kino_http_server_port(const kino_http_server_t *srv)
{
	return srv->port;
}

void kino_http_server_destroy(kino_http_server_t *srv)
{
	kino_http_request_t *req;

	if (srv == NULL)
		return;
	if (srv->loop_started) {
		/* Drain: answer what is in flight, refuse what comes. */
		atomic_store(&srv->draining, true);
		for (int waited = 0; atomic_load(&srv->in_flight) > 0 && waited < DRAIN_MS; waited += 10) {
			struct timespec pause = {0, 10 * 1000000L};
			nanosleep(&pause, NULL);
		}
		if (atomic_load(&srv->in_flight) > 0)
			KINO_LOG_WARN("%s: %d requests still unanswered after %d ms; closing them",
				      srv->name, atomic_load(&srv->in_flight), DRAIN_MS);
		atomic_store(&srv->loop_stop, true);
		lws_cancel_service(srv->ctx);
		pthread_join(srv->loop, NULL);
		srv->loop_started = false;
	}
	pthread_mutex_lock(&srv->lock);
	srv->workers_stop = true;
	pthread_cond_broadcast(&srv->work_cv);
	pthread_mutex_unlock(&srv->lock);
	for (int i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	/* Requests that never reached a worker lose their handler reference
	 * here; destroying the context drops the connections' references. */
	while ((req = queue_pop(&srv->work_head, &srv->work_tail)) != NULL)
		http_request_unref(req);
	if (srv->ctx != NULL)
		lws_context_destroy(srv->ctx);
	while ((req = queue_pop(&srv->done_head, &srv->done_tail)) != NULL)
		http_request_unref(req);
	pthread_cond_destroy(&srv->work_cv);
	pthread_mutex_destroy(&srv->lock);
	free(srv->workers);
	free(srv->routes);
	free(srv->stats);
	http_ws_destroy(srv->ws);
	free(srv);
}
