/* WebSocket connections of the HTTP server: see the WebSockets part of
 * include/kino/http.h.
 *
 * Connections live in a table keyed by id, so other threads can address
 * them without holding a pointer that may die: a send or a pause looks the
 * id up under the lock, queues the work, marks the connection dirty and
 * wakes the loop, which applies it. A connection leaves the table (and the
 * dirty list) on the loop thread when it closes, so the loop never meets a
 * freed connection. Outbound bytes per connection are bounded; a peer that
 * does not read gets KINO_ETOOBIG on its sends rather than unbounded memory. */
#define KINO_LOG_MODULE "http"
#include "http_internal.h"

#include "kino/error.h"
#include "kino/log.h"

#include <libwebsockets.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_HANDLERS_MAX 4
#define WS_BUCKETS 1024
#define WS_DEFAULT_MAX_MESSAGE (64 * 1024)
#define WS_DEFAULT_MAX_QUEUED (1024 * 1024)

typedef struct ws_msg {
	struct ws_msg *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} ws_msg_t;

struct ws_conn {
	/* Loop thread only. */
	struct lws *wsi;
	const kino_ws_handler_t *handler;
	char peer[64];
	void *userdata;
	char *rx;
	size_t rx_len;
	bool paused_applied;

	/* Under http_ws.lock. */
	unsigned long long id;
	ws_conn_t *bucket_next;
	ws_conn_t *dirty_next;
	bool dirty;
	bool want_paused;
	ws_msg_t *out_head, *out_tail;
	size_t out_bytes;
};

struct http_ws {
	kino_ws_handler_t handlers[WS_HANDLERS_MAX];
	int nhandlers;
	pthread_mutex_t lock;
	ws_conn_t *buckets[WS_BUCKETS];
	ws_conn_t *dirty_head;
	unsigned long long next_id;
};

/* The public handle is the connection itself. */
#define PUB(c) ((kino_ws_conn_t *)(c))
#define PRIV(c) ((ws_conn_t *)(c))

http_ws_t *http_ws_new(void)
{
	http_ws_t *ws = calloc(1, sizeof(*ws));

	if (ws != NULL)
		pthread_mutex_init(&ws->lock, NULL);
	return ws;
}

void http_ws_destroy(http_ws_t *ws)
{
	if (ws == NULL)
		return;
	pthread_mutex_destroy(&ws->lock);
	free(ws);
}

int http_ws_add(http_ws_t *ws, const kino_ws_handler_t *h, kino_error_t *err)
{
	if (ws->nhandlers == WS_HANDLERS_MAX)
		return kino_error_set(err, KINO_ETOOBIG, "more than %d WebSocket endpoints",
				      WS_HANDLERS_MAX);
	if (h->path == NULL || h->path[0] != '/' || h->on_message == NULL)
		return kino_error_set(err, KINO_EINVAL, "a WebSocket endpoint needs a path and on_message");
	ws->handlers[ws->nhandlers] = *h;
	if (h->max_message == 0)
		ws->handlers[ws->nhandlers].max_message = WS_DEFAULT_MAX_MESSAGE;
	if (h->max_queued == 0)
		ws->handlers[ws->nhandlers].max_queued = WS_DEFAULT_MAX_QUEUED;
	ws->nhandlers++;
	return 0;
}

static const kino_ws_handler_t *handler_for(const http_ws_t *ws, const char *path)
{
	for (int i = 0; i < ws->nhandlers; i++)
		if (strcmp(ws->handlers[i].path, path) == 0)
			return &ws->handlers[i];
	return NULL;
}

bool http_ws_wants(const http_ws_t *ws, const char *path)
{
	return ws != NULL && handler_for(ws, path) != NULL;
}

static ws_conn_t **bucket(http_ws_t *ws, unsigned long long id)
{
	return &ws->buckets[id % WS_BUCKETS];
}

static ws_conn_t *lookup_locked(http_ws_t *ws, unsigned long long id)
{
	for (ws_conn_t *c = *bucket(ws, id); c != NULL; c = c->bucket_next)
		if (c->id == id)
			return c;
	return NULL;
}

ws_conn_t *http_ws_open(http_ws_t *ws, struct lws *wsi, const char *path, const char *peer)
{
	const kino_ws_handler_t *h = handler_for(ws, path);
	ws_conn_t *c;

	if (h == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->wsi = wsi;
	c->handler = h;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	pthread_mutex_lock(&ws->lock);
	c->id = ++ws->next_id;
	c->bucket_next = *bucket(ws, c->id);
	*bucket(ws, c->id) = c;
	pthread_mutex_unlock(&ws->lock);
	if (h->on_open != NULL && h->on_open(PUB(c), h->userdata) != 0) {
		http_ws_closed(ws, c);
		return NULL;
	}
	return c;
}

int http_ws_receive(http_ws_t *ws, ws_conn_t *c, struct lws *wsi, const void *in, size_t len)
{
	(void)ws;
	if (c->rx_len + len > c->handler->max_message) {
		KINO_LOG_DEBUG("%s: message over %zu bytes; closing", c->peer, c->handler->max_message);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)"message too large", 17);
		return -1;
	}
	if (c->rx == NULL) {
		c->rx = malloc(c->handler->max_message + 1);
		if (c->rx == NULL)
			return -1;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
		return 0;
	c->rx[c->rx_len] = '\0';
	c->handler->on_message(PUB(c), c->rx, c->rx_len, c->handler->userdata);
	c->rx_len = 0;
	return 0;
}

/* Frames written in one WRITEABLE callback at most, while the socket takes
 * them: a connection with many small answers queued (acks) gets them out
 * in one pass instead of one poll round each. */
#define WS_FRAMES_PER_WRITEABLE 64

int http_ws_writeable(http_ws_t *ws, ws_conn_t *c, struct lws *wsi)
{
	ws_msg_t *m;
	bool more = false;
	int n;

	for (int i = 0; i < WS_FRAMES_PER_WRITEABLE; i++) {
		if (i > 0 && lws_send_pipe_choked(wsi))
			break;
		pthread_mutex_lock(&ws->lock);
		m = c->out_head;
		if (m != NULL) {
			c->out_head = m->next;
			if (c->out_head == NULL)
				c->out_tail = NULL;
			c->out_bytes -= m->len;
		}
		more = c->out_head != NULL;
		pthread_mutex_unlock(&ws->lock);
		if (m == NULL)
			return 0;
		n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
		free(m);
		if (n < 0)
			return -1;
		if (!more)
			return 0;
	}
	if (more)
		lws_callback_on_writable(wsi);
	return 0;
}

static void dirty_remove_locked(http_ws_t *ws, ws_conn_t *c)
{
	for (ws_conn_t **p = &ws->dirty_head; *p != NULL; p = &(*p)->dirty_next) {
		if (*p == c) {
			*p = c->dirty_next;
			break;
		}
	}
	c->dirty = false;
}

void http_ws_closed(http_ws_t *ws, ws_conn_t *c)
{
	ws_msg_t *m;

	if (c == NULL)
		return;
	pthread_mutex_lock(&ws->lock);
	for (ws_conn_t **p = bucket(ws, c->id); *p != NULL; p = &(*p)->bucket_next) {
		if (*p == c) {
			*p = c->bucket_next;
			break;
		}
	}
	if (c->dirty)
		dirty_remove_locked(ws, c);
	pthread_mutex_unlock(&ws->lock);
	if (c->handler->on_close != NULL)
		c->handler->on_close(PUB(c), c->handler->userdata);
	while ((m = c->out_head) != NULL) {
		c->out_head = m->next;
		free(m);
	}
	free(c->rx);
	free(c);
}

void http_ws_drain(http_ws_t *ws)
{
	ws_conn_t *list;

	pthread_mutex_lock(&ws->lock);
	list = ws->dirty_head;
	ws->dirty_head = NULL;
	for (ws_conn_t *c = list; c != NULL; c = c->dirty_next) {
		c->dirty = false;
		/* lws calls back into us only from this thread, so the
		 * connection cannot close between here and its use. */
		if (c->want_paused != c->paused_applied) {
			lws_rx_flow_control(c->wsi, c->want_paused ? 0 : 1);
			c->paused_applied = c->want_paused;
		}
		if (c->out_head != NULL)
			lws_callback_on_writable(c->wsi);
	}
	pthread_mutex_unlock(&ws->lock);
}

/* Marks c for the loop's next drain. Returns whether the loop must be woken:
 * only when the dirty list was empty. A non-empty list means a wake-up is
 * already on its way and its drain will take c too, so a burst of sends
 * costs the loop one wake-up (one poll of every socket), not one each. */
static bool mark_dirty_locked(http_ws_t *ws, ws_conn_t *c)
{
	bool wake = ws->dirty_head == NULL;

	if (c->dirty)
		return false;
	c->dirty = true;
	c->dirty_next = ws->dirty_head;
	ws->dirty_head = c;
	return wake;
}

int http_ws_send(http_ws_t *ws, struct lws_context *ctx, unsigned long long id,
		 const char *text, size_t len)
{
	ws_msg_t *m = malloc(sizeof(*m) + LWS_PRE + len);
	ws_conn_t *c;

	if (m == NULL)
		return KINO_ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, text, len);
	pthread_mutex_lock(&ws->lock);
	c = lookup_locked(ws, id);
	if (c == NULL || c->out_bytes + len > c->handler->max_queued) {
		pthread_mutex_unlock(&ws->lock);
		free(m);
		return c == NULL ? KINO_ENOENT : KINO_ETOOBIG;
	}
	if (c->out_tail != NULL)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_bytes += len;
	bool wake = mark_dirty_locked(ws, c);
	pthread_mutex_unlock(&ws->lock);
	if (wake)
		lws_cancel_service(ctx);
	return 0;
}

int http_ws_pause(http_ws_t *ws, struct lws_context *ctx, unsigned long long id, bool paused)
{
	ws_conn_t *c;

	bool wake = false;

	pthread_mutex_lock(&ws->lock);
	c = lookup_locked(ws, id);
	if (c != NULL) {
		c->want_paused = paused;
		wake = mark_dirty_locked(ws, c);
	}
	pthread_mutex_unlock(&ws->lock);
	if (c == NULL)
		return KINO_ENOENT;
	if (wake)
		lws_cancel_service(ctx);
	return 0;
}

unsigned long long kino_ws_conn_id(const kino_ws_conn_t *c)
{
	return PRIV(c)->id;
}

const char *kino_ws_conn_peer(const kino_ws_conn_t *c)
{
	return PRIV(c)->peer;
}

void *kino_ws_conn_userdata(const kino_ws_conn_t *c)
{
	return PRIV(c)->userdata;
}

void kino_ws_conn_set_userdata(kino_ws_conn_t *c, void *userdata)
{
	PRIV(c)->userdata = userdata;
}
