/* The beacon schema, version 1 (docs/telemetry.md): what a valid beacon
 * is, and how it is stored. A player's JSON is first read into BSON by
 * libbson; this file then checks every field it knows by name and type and
 * copies it into a beacon_t, so that nothing a client sends reaches the
 * database unchecked (unknown keys are ignored, never stored). Every
 * rejection names the field. Pure functions: any thread. */
#include "telemetry_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const event_names[EV_COUNT] = {
	[EV_SESSION_START] = "session_start",
	[EV_PLAYING] = "playing",
	[EV_HEARTBEAT] = "heartbeat",
	[EV_RENDITION_CHANGE] = "rendition_change",
	[EV_REBUFFER_START] = "rebuffer_start",
	[EV_REBUFFER_END] = "rebuffer_end",
	[EV_SEEK] = "seek",
	[EV_PAUSE] = "pause",
	[EV_RESUME] = "resume",
	[EV_ERROR] = "error",
	[EV_ENDED] = "ended",
	[EV_SESSION_END] = "session_end",
};

int64_t telemetry_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *beacon_event_name(beacon_event_t ev)
{
	return ev < EV_COUNT ? event_names[ev] : "unknown";
}

bool beacon_event_parse(const char *s, beacon_event_t *out)
{
	for (int i = 0; i < EV_COUNT; i++) {
		if (strcmp(s, event_names[i]) == 0) {
			*out = (beacon_event_t)i;
			return true;
		}
	}
	return false;
}

void beacon_init(beacon_t *b)
{
	memset(b, 0, sizeof(*b));
	b->seq = -1;
	b->duration_ms = b->playhead_ms = b->from_ms = b->bitrate = -1;
	b->buffer_ms = b->dropped_frames = b->width = b->height = -1;
	b->player_width = b->player_height = b->startup_ms = -1;
	bson_init(&b->cmcd_keys);
}

void beacon_cleanup(beacon_t *b)
{
	bson_destroy(&b->cmcd_keys);
}

/* Rejects naming the field: the message reads "<field> <what>". */
static int reject(kino_beacon_result_t *res, const char *field, const char *what)
{
	res->status = KINO_BEACON_REJECT;
	snprintf(res->field, sizeof(res->field), "%s", field);
	snprintf(res->message, sizeof(res->message), "%s %s", field, what);
	return KINO_EINVAL;
}

/* A string field into dst (at most max bytes, printable ASCII, not empty).
 * 1 when present, 0 when absent and optional, KINO_EINVAL otherwise. */
static int get_str(const bson_t *obj, const char *key, const char *field,
		   bool required, char *dst, size_t max, kino_beacon_result_t *res)
{
	bson_iter_t it;
	const char *s;
	uint32_t len;

	if (!bson_iter_init_find(&it, obj, key) || BSON_ITER_HOLDS_NULL(&it)) {
		if (required)
			return reject(res, field, "is required");
		return 0;
	}
	if (!BSON_ITER_HOLDS_UTF8(&it))
		return reject(res, field, "must be a string");
	s = bson_iter_utf8(&it, &len);
	if (len == 0 || len > max)
		return reject(res, field, "must be 1 to a few dozen characters");
	for (uint32_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return reject(res, field, "holds a control character");
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 1;
}

/* An integral number in [lo, hi] (JSON numbers may arrive as int32, int64
 * or an integral double). Same returns as get_str. */
static int get_int(const bson_t *obj, const char *key, const char *field,
		   bool required, int64_t lo, int64_t hi, int64_t *dst,
		   kino_beacon_result_t *res)
{
	bson_iter_t it;
	int64_t v;

	if (!bson_iter_init_find(&it, obj, key) || BSON_ITER_HOLDS_NULL(&it)) {
		if (required)
			return reject(res, field, "is required");
		return 0;
	}
	if (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)) {
		v = bson_iter_as_int64(&it);
	} else if (BSON_ITER_HOLDS_DOUBLE(&it)) {
		double d = bson_iter_double(&it);
		if (!(d >= -9e15 && d <= 9e15) || d != (double)(int64_t)d)
			return reject(res, field, "must be a whole number");
		v = (int64_t)d;
	} else {
		return reject(res, field, "must be a number");
	}
	if (v < lo || v > hi)
		return reject(res, field, "is out of range");
	*dst = v;
	return 1;
}

static int get_bool(const bson_t *obj, const char *key, const char *field,
		    bool required, bool *dst, kino_beacon_result_t *res)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, obj, key) || BSON_ITER_HOLDS_NULL(&it)) {
		if (required)
			return reject(res, field, "is required");
		return 0;
	}
	if (!BSON_ITER_HOLDS_BOOL(&it))
		return reject(res, field, "must be true or false");
	*dst = bson_iter_bool(&it);
	return 1;
}

#define MAX_MS 1000000000000LL /* about 31 years of media time */
#define MAX_PIXELS 32768
#define MAX_BITRATE 1000000000LL

static bool id_ok(const char *s)
{
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	}
	return true;
}

/* Identity and time: what every dialect must end up with. */
int beacon_check_identity(beacon_t *b, const kino_telemetry_limits_t *lim,
			  int64_t now_ms, kino_beacon_result_t *res)
{
	snprintf(res->session_id, sizeof(res->session_id), "%s", b->session_id);
	res->seq = b->seq;
	if (!id_ok(b->session_id))
		return reject(res, "session_id", "may hold only letters, digits, '-' and '_'");
	if (b->ts < now_ms - (int64_t)lim->max_past_s * 1000)
		return reject(res, "ts", "is too far in the past");
	if (b->ts > now_ms + (int64_t)lim->max_future_s * 1000)
		return reject(res, "ts", "is in the future");
	return 0;
}

int beacon_from_json(const bson_t *obj, const kino_telemetry_limits_t *lim,
		     int64_t now_ms, beacon_t *b, kino_beacon_result_t *res)
{
	char event[32];
	int64_t v = 0, seq = -1;
	bson_iter_t it;

	/* seq and session_id first, so that any later rejection carries them */
	get_str(obj, "session_id", "session_id", false, b->session_id, BEACON_ID_MAX, res);
	if (get_int(obj, "seq", "seq", false, 0, INT64_MAX / 2, &seq, res) == 1)
		b->seq = seq;
	/* what the first reads found wrong is found again below, in order */
	*res = (kino_beacon_result_t){.seq = b->seq, .tag = res->tag};
	snprintf(res->session_id, sizeof(res->session_id), "%s", b->session_id);

	if (get_int(obj, "v", "v", true, 0, 1000, &v, res) < 0)
		return KINO_EINVAL;
	if (v != BEACON_SCHEMA_VERSION)
		return reject(res, "v", "must be 1: only version 1 is understood");
	if (get_str(obj, "session_id", "session_id", true, b->session_id,
		    BEACON_ID_MAX, res) < 0 ||
	    get_int(obj, "seq", "seq", true, 0, INT64_MAX / 2, &seq, res) < 0 ||
	    get_int(obj, "ts", "ts", true, 0, INT64_MAX / 2, &b->ts, res) < 0 ||
	    get_str(obj, "event", "event", true, event, sizeof(event) - 1, res) < 0)
		return KINO_EINVAL;
	if (!beacon_event_parse(event, &b->event))
		return reject(res, "event", "is not a known event type");
	if (beacon_check_identity(b, lim, now_ms, res) != 0)
		return KINO_EINVAL;

	switch (b->event) {
	case EV_SESSION_START:
		if (get_str(obj, "title_id", "title_id", true, b->title_id, BEACON_NAME_MAX, res) < 0 ||
		    get_str(obj, "asset_id", "asset_id", true, b->asset_id, BEACON_NAME_MAX, res) < 0 ||
		    get_str(obj, "device", "device", true, b->device, BEACON_SHORT_MAX, res) < 0 ||
		    get_str(obj, "token", "token", true, b->token, sizeof(b->token) - 1, res) < 0 ||
		    get_str(obj, "viewer_id", "viewer_id", false, b->viewer_id, BEACON_ID_MAX, res) < 0 ||
		    get_int(obj, "duration_ms", "duration_ms", false, 0, MAX_MS, &b->duration_ms, res) < 0)
			return KINO_EINVAL;
		if (!bson_iter_init_find(&it, obj, "player"))
			return reject(res, "player", "is required");
		if (!BSON_ITER_HOLDS_DOCUMENT(&it))
			return reject(res, "player", "must be an object");
		{
			bson_t player;
			uint32_t plen;
			const uint8_t *pdata;

			bson_iter_document(&it, &plen, &pdata);
			if (!bson_init_static(&player, pdata, plen))
				return reject(res, "player", "is malformed");
			if (get_str(&player, "name", "player.name", true, b->player_name,
				    BEACON_SHORT_MAX, res) < 0 ||
			    get_str(&player, "version", "player.version", true,
				    b->player_version, BEACON_SHORT_MAX, res) < 0)
				return KINO_EINVAL;
		}
		break;
	case EV_HEARTBEAT:
		if (get_int(obj, "playhead_ms", "playhead_ms", true, 0, MAX_MS, &b->playhead_ms, res) < 0 ||
		    get_int(obj, "bitrate", "bitrate", true, 0, MAX_BITRATE, &b->bitrate, res) < 0 ||
		    get_int(obj, "buffer_ms", "buffer_ms", true, 0, MAX_MS, &b->buffer_ms, res) < 0 ||
		    get_int(obj, "dropped_frames", "dropped_frames", true, 0, INT32_MAX, &b->dropped_frames, res) < 0 ||
		    get_int(obj, "player_width", "player_width", true, 0, MAX_PIXELS, &b->player_width, res) < 0 ||
		    get_int(obj, "player_height", "player_height", true, 0, MAX_PIXELS, &b->player_height, res) < 0 ||
		    get_int(obj, "width", "width", false, 1, MAX_PIXELS, &b->width, res) < 0 ||
		    get_int(obj, "height", "height", false, 1, MAX_PIXELS, &b->height, res) < 0)
			return KINO_EINVAL;
		break;
	case EV_RENDITION_CHANGE:
		if (get_int(obj, "bitrate", "bitrate", true, 1, MAX_BITRATE, &b->bitrate, res) < 0 ||
		    get_int(obj, "width", "width", false, 1, MAX_PIXELS, &b->width, res) < 0 ||
		    get_int(obj, "height", "height", false, 1, MAX_PIXELS, &b->height, res) < 0 ||
		    get_int(obj, "playhead_ms", "playhead_ms", false, 0, MAX_MS, &b->playhead_ms, res) < 0)
			return KINO_EINVAL;
		break;
	case EV_SEEK:
		if (get_int(obj, "playhead_ms", "playhead_ms", true, 0, MAX_MS, &b->playhead_ms, res) < 0 ||
		    get_int(obj, "from_ms", "from_ms", false, 0, MAX_MS, &b->from_ms, res) < 0)
			return KINO_EINVAL;
		break;
	case EV_ERROR:
		if (get_str(obj, "code", "code", true, b->code, BEACON_SHORT_MAX, res) < 0 ||
		    get_bool(obj, "fatal", "fatal", true, &b->fatal, res) < 0 ||
		    get_int(obj, "playhead_ms", "playhead_ms", false, 0, MAX_MS, &b->playhead_ms, res) < 0)
			return KINO_EINVAL;
		break;
	case EV_PLAYING:
		if (get_int(obj, "startup_ms", "startup_ms", false, 0, MAX_MS, &b->startup_ms, res) < 0)
			return KINO_EINVAL;
		/* a playhead is optional on the rest */
		__attribute__((fallthrough));
	default:
		if (get_int(obj, "playhead_ms", "playhead_ms", false, 0, MAX_MS, &b->playhead_ms, res) < 0)
			return KINO_EINVAL;
		break;
	}
	return 0;
}

#define APPEND_IF(doc, key, v)                                                 \
	do {                                                                   \
		if ((v) >= 0)                                                  \
			BSON_APPEND_INT64((doc), (key), (v));                  \
	} while (0)

void beacon_to_doc(const beacon_t *b, int64_t received_ms, bson_t *doc)
{
	BSON_APPEND_UTF8(doc, "session_id", b->session_id);
	BSON_APPEND_INT64(doc, "seq", b->seq);
	BSON_APPEND_DATE_TIME(doc, "ts", b->ts);
	BSON_APPEND_UTF8(doc, "event", beacon_event_name(b->event));
	BSON_APPEND_INT32(doc, "v", BEACON_SCHEMA_VERSION);
	BSON_APPEND_DATE_TIME(doc, "received_at", received_ms);
	if (b->title_id[0])
		BSON_APPEND_UTF8(doc, "title_id", b->title_id);
	if (b->asset_id[0])
		BSON_APPEND_UTF8(doc, "asset_id", b->asset_id);
	if (b->device[0])
		BSON_APPEND_UTF8(doc, "device", b->device);
	if (b->player_name[0]) {
		bson_t p;
		BSON_APPEND_DOCUMENT_BEGIN(doc, "player", &p);
		BSON_APPEND_UTF8(&p, "name", b->player_name);
		BSON_APPEND_UTF8(&p, "version", b->player_version[0] ? b->player_version : "");
		bson_append_document_end(doc, &p);
	}
	if (b->viewer_id[0])
		BSON_APPEND_UTF8(doc, "viewer_id", b->viewer_id);
	APPEND_IF(doc, "duration_ms", b->duration_ms);
	APPEND_IF(doc, "playhead_ms", b->playhead_ms);
	APPEND_IF(doc, "from_ms", b->from_ms);
	APPEND_IF(doc, "bitrate", b->bitrate);
	APPEND_IF(doc, "buffer_ms", b->buffer_ms);
	APPEND_IF(doc, "dropped_frames", b->dropped_frames);
	APPEND_IF(doc, "width", b->width);
	APPEND_IF(doc, "height", b->height);
	APPEND_IF(doc, "player_width", b->player_width);
	APPEND_IF(doc, "player_height", b->player_height);
	APPEND_IF(doc, "startup_ms", b->startup_ms);
	if (b->event == EV_ERROR) {
		BSON_APPEND_UTF8(doc, "code", b->code);
		BSON_APPEND_BOOL(doc, "fatal", b->fatal);
	}
	if (b->rebuffered)
		BSON_APPEND_BOOL(doc, "rebuffered", true);
	if (b->cmcd) {
		BSON_APPEND_UTF8(doc, "dialect", "cmcd");
		BSON_APPEND_DOCUMENT(doc, "cmcd", &b->cmcd_keys);
	}
}

static void doc_str(const bson_t *doc, const char *key, char *dst, size_t size)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(dst, size, "%s", bson_iter_utf8(&it, NULL));
}

static int64_t doc_int(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it))
		return bson_iter_as_int64(&it);
	return -1;
}

bool beacon_from_doc(const bson_t *doc, beacon_t *b)
{
	char event[32] = "";
	bson_iter_t it, sub;

	doc_str(doc, "session_id", b->session_id, sizeof(b->session_id));
	b->seq = doc_int(doc, "seq");
	if (bson_iter_init_find(&it, doc, "ts") && BSON_ITER_HOLDS_DATE_TIME(&it))
		b->ts = bson_iter_date_time(&it);
	doc_str(doc, "event", event, sizeof(event));
	if (b->session_id[0] == '\0' || b->seq < 0 || !beacon_event_parse(event, &b->event))
		return false;
	doc_str(doc, "title_id", b->title_id, sizeof(b->title_id));
	doc_str(doc, "asset_id", b->asset_id, sizeof(b->asset_id));
	doc_str(doc, "device", b->device, sizeof(b->device));
	doc_str(doc, "viewer_id", b->viewer_id, sizeof(b->viewer_id));
	doc_str(doc, "code", b->code, sizeof(b->code));
	if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "player.name", &sub) &&
	    BSON_ITER_HOLDS_UTF8(&sub))
		snprintf(b->player_name, sizeof(b->player_name), "%s", bson_iter_utf8(&sub, NULL));
	if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "player.version", &sub) &&
	    BSON_ITER_HOLDS_UTF8(&sub))
		snprintf(b->player_version, sizeof(b->player_version), "%s", bson_iter_utf8(&sub, NULL));
	b->duration_ms = doc_int(doc, "duration_ms");
	b->playhead_ms = doc_int(doc, "playhead_ms");
	b->from_ms = doc_int(doc, "from_ms");
	b->bitrate = doc_int(doc, "bitrate");
	b->buffer_ms = doc_int(doc, "buffer_ms");
	b->dropped_frames = doc_int(doc, "dropped_frames");
	b->width = doc_int(doc, "width");
	b->height = doc_int(doc, "height");
	b->player_width = doc_int(doc, "player_width");
	b->player_height = doc_int(doc, "player_height");
	b->startup_ms = doc_int(doc, "startup_ms");
	if (bson_iter_init_find(&it, doc, "fatal") && BSON_ITER_HOLDS_BOOL(&it))
		b->fatal = bson_iter_bool(&it);
	if (bson_iter_init_find(&it, doc, "rebuffered") && BSON_ITER_HOLDS_BOOL(&it))
		b->rebuffered = bson_iter_bool(&it);
	return true;
}
