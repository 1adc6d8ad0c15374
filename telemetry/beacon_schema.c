/* The beacon schema, version 1 (docs/telemetry.md): what a valid beacon
 * is, and how it is stored. A player's JSON is first read into BSON by
 * libbson; this file then checks every field it knows by name and type and
 * copies it into a beacon_t, so that nothing a client sends reaches the
 * database unchecked (unknown keys are ignored, never stored). Every
 * rejection names the field. A document's keys are read in one pass into a
 * table of known fields (the first of a repeated key wins, as with
 * bson_iter_find), because a lookup per field was a good part of the
 * collector's CPU at 50k beacons/s. Pure functions: any thread. */
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

/* The top-level keys this file reads, in v1 beacons and in `beacons`
 * documents alike. */
typedef enum field_id {
	F_V,
	F_SESSION_ID,
	F_SEQ,
	F_TS,
	F_EVENT,
	F_TITLE_ID,
	F_ASSET_ID,
	F_DEVICE,
	F_TOKEN,
	F_VIEWER_ID,
	F_DURATION_MS,
	F_PLAYER,
	F_PLAYHEAD_MS,
	F_FROM_MS,
	F_BITRATE,
	F_BUFFER_MS,
	F_DROPPED_FRAMES,
	F_WIDTH,
	F_HEIGHT,
	F_PLAYER_WIDTH,
	F_PLAYER_HEIGHT,
	F_STARTUP_MS,
	F_CODE,
	F_FATAL,
	F_REBUFFERED,
	F_COUNT
} field_id_t;

static const struct {
	const char *name;
	uint32_t len;
} field_names[F_COUNT] = {
#define FIELD(id, s) [id] = {s, sizeof(s) - 1}
	FIELD(F_V, "v"),
	FIELD(F_SESSION_ID, "session_id"),
	FIELD(F_SEQ, "seq"),
	FIELD(F_TS, "ts"),
	FIELD(F_EVENT, "event"),
	FIELD(F_TITLE_ID, "title_id"),
	FIELD(F_ASSET_ID, "asset_id"),
	FIELD(F_DEVICE, "device"),
	FIELD(F_TOKEN, "token"),
	FIELD(F_VIEWER_ID, "viewer_id"),
	FIELD(F_DURATION_MS, "duration_ms"),
	FIELD(F_PLAYER, "player"),
	FIELD(F_PLAYHEAD_MS, "playhead_ms"),
	FIELD(F_FROM_MS, "from_ms"),
	FIELD(F_BITRATE, "bitrate"),
	FIELD(F_BUFFER_MS, "buffer_ms"),
	FIELD(F_DROPPED_FRAMES, "dropped_frames"),
	FIELD(F_WIDTH, "width"),
	FIELD(F_HEIGHT, "height"),
	FIELD(F_PLAYER_WIDTH, "player_width"),
	FIELD(F_PLAYER_HEIGHT, "player_height"),
	FIELD(F_STARTUP_MS, "startup_ms"),
	FIELD(F_CODE, "code"),
	FIELD(F_FATAL, "fatal"),
	FIELD(F_REBUFFERED, "rebuffered"),
#undef FIELD
};

/* Where each known key sits in one document; has[] false when absent.
 * (bson_iter_t is over-aligned, so an array needs the wrapper.) */
typedef struct field_iter {
	bson_iter_t it;
} field_iter_t;

typedef struct fields {
	field_iter_t at[F_COUNT];
	bool has[F_COUNT];
} fields_t;

static void fields_read(const bson_t *doc, fields_t *f)
{
	bson_iter_t it;

	memset(f->has, 0, sizeof(f->has));
	if (!bson_iter_init(&it, doc))
		return;
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);
		uint32_t len = bson_iter_key_len(&it);

		for (int i = 0; i < F_COUNT; i++) {
			if (field_names[i].len == len && memcmp(field_names[i].name, key, len) == 0) {
				if (!f->has[i]) {
					f->at[i].it = it;
					f->has[i] = true;
				}
				break;
			}
		}
	}
}

/* The iterator at a key, or NULL when it is absent or null. */
static const bson_iter_t *field_at(const fields_t *f, field_id_t id)
{
	if (!f->has[id] || BSON_ITER_HOLDS_NULL(&f->at[id].it))
		return NULL;
	return &f->at[id].it;
}

/* A string field into dst (at most max bytes, printable ASCII, not empty);
 * it is the value, NULL when absent. 1 when present, 0 when absent and
 * optional, KINO_EINVAL otherwise. */
static int get_str(const bson_iter_t *it, const char *field, bool required, char *dst,
		   size_t max, kino_beacon_result_t *res)
{
	const char *s;
	uint32_t len;

	if (it == NULL) {
		if (required)
			return reject(res, field, "is required");
		return 0;
	}
	if (!BSON_ITER_HOLDS_UTF8(it))
		return reject(res, field, "must be a string");
	s = bson_iter_utf8(it, &len);
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
static int get_int(const bson_iter_t *it, const char *field, bool required, int64_t lo,
		   int64_t hi, int64_t *dst, kino_beacon_result_t *res)
{
	int64_t v;

	if (it == NULL) {
		if (required)
			return reject(res, field, "is required");
		return 0;
	}
	if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
		v = bson_iter_as_int64(it);
	} else if (BSON_ITER_HOLDS_DOUBLE(it)) {
		double d = bson_iter_double(it);
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

/* The same, for the top-level fields of a v1 beacon (named as their key). */
static int str_field(const fields_t *f, field_id_t id, bool required, char *dst, size_t max,
		     kino_beacon_result_t *res)
{
	return get_str(field_at(f, id), field_names[id].name, required, dst, max, res);
}

static int int_field(const fields_t *f, field_id_t id, bool required, int64_t lo, int64_t hi,
		     int64_t *dst, kino_beacon_result_t *res)
{
	return get_int(field_at(f, id), field_names[id].name, required, lo, hi, dst, res);
}

static int bool_field(const fields_t *f, field_id_t id, bool required, bool *dst,
		      kino_beacon_result_t *res)
{
	const bson_iter_t *it = field_at(f, id);
	const char *field = field_names[id].name;

	if (it == NULL) {
		if (required)
			return reject(res, field, "is required");
		return 0;
	}
	if (!BSON_ITER_HOLDS_BOOL(it))
		return reject(res, field, "must be true or false");
	*dst = bson_iter_bool(it);
	return 1;
}

/* player.name and player.version of a session_start. */
static int player_fields(const fields_t *f, beacon_t *b, kino_beacon_result_t *res)
{
	const bson_iter_t *pit = f->has[F_PLAYER] ? &f->at[F_PLAYER].it : NULL;
	bson_iter_t it;
	bson_t player;
	uint32_t plen;
	const uint8_t *pdata;

	if (pit == NULL)
		return reject(res, "player", "is required");
	if (!BSON_ITER_HOLDS_DOCUMENT(pit))
		return reject(res, "player", "must be an object");
	bson_iter_document(pit, &plen, &pdata);
	if (!bson_init_static(&player, pdata, plen))
		return reject(res, "player", "is malformed");
	if (get_str(bson_iter_init_find(&it, &player, "name") && !BSON_ITER_HOLDS_NULL(&it) ? &it : NULL,
		    "player.name", true, b->player_name, BEACON_SHORT_MAX, res) < 0)
		return KINO_EINVAL;
	if (get_str(bson_iter_init_find(&it, &player, "version") && !BSON_ITER_HOLDS_NULL(&it) ? &it : NULL,
		    "player.version", true, b->player_version, BEACON_SHORT_MAX, res) < 0)
		return KINO_EINVAL;
	return 0;
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
	memcpy(res->session_id, b->session_id, sizeof(res->session_id));
	res->seq = b->seq;
	if (!id_ok(b->session_id))
		return reject(res, "session_id", "may hold only letters, digits, '-' and '_'");
	if (b->ts < now_ms - (int64_t)lim->max_past_s * 1000)
		return reject(res, "ts", "is too far in the past");
	if (b->ts > now_ms + (int64_t)lim->max_future_s * 1000)
		return reject(res, "ts", "is in the future");
	return 0;
}

/* The fields of one event type beyond identity and time. */
static int event_fields(const fields_t *f, beacon_t *b, kino_beacon_result_t *res)
{
	switch (b->event) {
	case EV_SESSION_START:
		if (str_field(f, F_TITLE_ID, true, b->title_id, BEACON_NAME_MAX, res) < 0 ||
		    str_field(f, F_ASSET_ID, true, b->asset_id, BEACON_NAME_MAX, res) < 0 ||
		    str_field(f, F_DEVICE, true, b->device, BEACON_SHORT_MAX, res) < 0 ||
		    str_field(f, F_TOKEN, true, b->token, sizeof(b->token) - 1, res) < 0 ||
		    str_field(f, F_VIEWER_ID, false, b->viewer_id, BEACON_ID_MAX, res) < 0 ||
		    int_field(f, F_DURATION_MS, false, 0, MAX_MS, &b->duration_ms, res) < 0)
			return KINO_EINVAL;
		return player_fields(f, b, res);
	case EV_HEARTBEAT:
		if (int_field(f, F_PLAYHEAD_MS, true, 0, MAX_MS, &b->playhead_ms, res) < 0 ||
		    int_field(f, F_BITRATE, true, 0, MAX_BITRATE, &b->bitrate, res) < 0 ||
		    int_field(f, F_BUFFER_MS, true, 0, MAX_MS, &b->buffer_ms, res) < 0 ||
		    int_field(f, F_DROPPED_FRAMES, true, 0, INT32_MAX, &b->dropped_frames, res) < 0 ||
		    int_field(f, F_PLAYER_WIDTH, true, 0, MAX_PIXELS, &b->player_width, res) < 0 ||
		    int_field(f, F_PLAYER_HEIGHT, true, 0, MAX_PIXELS, &b->player_height, res) < 0 ||
		    int_field(f, F_WIDTH, false, 1, MAX_PIXELS, &b->width, res) < 0 ||
		    int_field(f, F_HEIGHT, false, 1, MAX_PIXELS, &b->height, res) < 0)
			return KINO_EINVAL;
		return 0;
	case EV_RENDITION_CHANGE:
		if (int_field(f, F_BITRATE, true, 1, MAX_BITRATE, &b->bitrate, res) < 0 ||
		    int_field(f, F_WIDTH, false, 1, MAX_PIXELS, &b->width, res) < 0 ||
		    int_field(f, F_HEIGHT, false, 1, MAX_PIXELS, &b->height, res) < 0 ||
		    int_field(f, F_PLAYHEAD_MS, false, 0, MAX_MS, &b->playhead_ms, res) < 0)
			return KINO_EINVAL;
		return 0;
	case EV_SEEK:
		if (int_field(f, F_PLAYHEAD_MS, true, 0, MAX_MS, &b->playhead_ms, res) < 0 ||
		    int_field(f, F_FROM_MS, false, 0, MAX_MS, &b->from_ms, res) < 0)
			return KINO_EINVAL;
		return 0;
	case EV_ERROR:
		if (str_field(f, F_CODE, true, b->code, BEACON_SHORT_MAX, res) < 0 ||
		    bool_field(f, F_FATAL, true, &b->fatal, res) < 0 ||
		    int_field(f, F_PLAYHEAD_MS, false, 0, MAX_MS, &b->playhead_ms, res) < 0)
			return KINO_EINVAL;
		return 0;
	case EV_PLAYING:
		if (int_field(f, F_STARTUP_MS, false, 0, MAX_MS, &b->startup_ms, res) < 0)
			return KINO_EINVAL;
		/* a playhead is optional on the rest */
		__attribute__((fallthrough));
	default:
		if (int_field(f, F_PLAYHEAD_MS, false, 0, MAX_MS, &b->playhead_ms, res) < 0)
			return KINO_EINVAL;
		return 0;
	}
}

int beacon_from_json(const bson_t *obj, const kino_telemetry_limits_t *lim,
		     int64_t now_ms, beacon_t *b, kino_beacon_result_t *res)
{
	char event[32];
	int64_t v = 0, seq = -1;
	fields_t f;

	fields_read(obj, &f);
	/* seq and session_id first, so that any later rejection carries them */
	str_field(&f, F_SESSION_ID, false, b->session_id, BEACON_ID_MAX, res);
	if (int_field(&f, F_SEQ, false, 0, INT64_MAX / 2, &seq, res) == 1)
		b->seq = seq;
	/* what the first reads found wrong is found again below, in order */
	*res = (kino_beacon_result_t){.seq = b->seq, .tag = res->tag};
	memcpy(res->session_id, b->session_id, sizeof(b->session_id));

	if (int_field(&f, F_V, true, 0, 1000, &v, res) < 0)
		return KINO_EINVAL;
	if (v != BEACON_SCHEMA_VERSION)
		return reject(res, "v", "must be 1: only version 1 is understood");
	if (str_field(&f, F_SESSION_ID, true, b->session_id, BEACON_ID_MAX, res) < 0 ||
	    int_field(&f, F_SEQ, true, 0, INT64_MAX / 2, &seq, res) < 0 ||
	    int_field(&f, F_TS, true, 0, INT64_MAX / 2, &b->ts, res) < 0 ||
	    str_field(&f, F_EVENT, true, event, sizeof(event) - 1, res) < 0)
		return KINO_EINVAL;
	if (!beacon_event_parse(event, &b->event))
		return reject(res, "event", "is not a known event type");
	if (beacon_check_identity(b, lim, now_ms, res) != 0)
		return KINO_EINVAL;
	return event_fields(&f, b, res);
}

#define APPEND_IF(doc, key, v)                                                 \
	do {                                                                   \
		if ((v) >= 0)                                                  \
			BSON_APPEND_INT64((doc), (key), (v));                  \
	} while (0)

void beacon_to_doc(const beacon_t *b, int64_t received_ms, bson_t *doc)
{
	char id[BEACON_ID_MAX + 24];

	tel_beacon_id(b->session_id, b->seq, id, sizeof(id));
	BSON_APPEND_UTF8(doc, "_id", id);
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

/* A stored string into dst (cut to size), when it is one. */
static void doc_str(const fields_t *f, field_id_t id, char *dst, size_t size)
{
	uint32_t len;
	const char *v;

	if (!f->has[id] || !BSON_ITER_HOLDS_UTF8(&f->at[id].it))
		return;
	v = bson_iter_utf8(&f->at[id].it, &len);
	if (len >= size)
		len = (uint32_t)size - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static int64_t doc_int(const fields_t *f, field_id_t id)
{
	if (f->has[id] && BSON_ITER_HOLDS_NUMBER(&f->at[id].it))
		return bson_iter_as_int64(&f->at[id].it);
	return -1;
}

static bool doc_bool(const fields_t *f, field_id_t id)
{
	return f->has[id] && BSON_ITER_HOLDS_BOOL(&f->at[id].it) && bson_iter_bool(&f->at[id].it);
}

static void doc_player(const fields_t *f, beacon_t *b)
{
	bson_iter_t it;

	if (!f->has[F_PLAYER] || !BSON_ITER_HOLDS_DOCUMENT(&f->at[F_PLAYER].it) ||
	    !bson_iter_recurse(&f->at[F_PLAYER].it, &it))
		return;
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);

		if (!BSON_ITER_HOLDS_UTF8(&it))
			continue;
		if (strcmp(key, "name") == 0 && b->player_name[0] == '\0')
			snprintf(b->player_name, sizeof(b->player_name), "%s", bson_iter_utf8(&it, NULL));
		else if (strcmp(key, "version") == 0 && b->player_version[0] == '\0')
			snprintf(b->player_version, sizeof(b->player_version), "%s",
				 bson_iter_utf8(&it, NULL));
	}
}

bool beacon_from_doc(const bson_t *doc, beacon_t *b)
{
	char event[32] = "";
	fields_t f;

	fields_read(doc, &f);
	doc_str(&f, F_SESSION_ID, b->session_id, sizeof(b->session_id));
	b->seq = doc_int(&f, F_SEQ);
	if (f.has[F_TS] && BSON_ITER_HOLDS_DATE_TIME(&f.at[F_TS].it))
		b->ts = bson_iter_date_time(&f.at[F_TS].it);
	doc_str(&f, F_EVENT, event, sizeof(event));
	if (b->session_id[0] == '\0' || b->seq < 0 || !beacon_event_parse(event, &b->event))
		return false;
	doc_str(&f, F_TITLE_ID, b->title_id, sizeof(b->title_id));
	doc_str(&f, F_ASSET_ID, b->asset_id, sizeof(b->asset_id));
	doc_str(&f, F_DEVICE, b->device, sizeof(b->device));
	doc_str(&f, F_VIEWER_ID, b->viewer_id, sizeof(b->viewer_id));
	doc_str(&f, F_CODE, b->code, sizeof(b->code));
	doc_player(&f, b);
	b->duration_ms = doc_int(&f, F_DURATION_MS);
	b->playhead_ms = doc_int(&f, F_PLAYHEAD_MS);
	b->from_ms = doc_int(&f, F_FROM_MS);
	b->bitrate = doc_int(&f, F_BITRATE);
	b->buffer_ms = doc_int(&f, F_BUFFER_MS);
	b->dropped_frames = doc_int(&f, F_DROPPED_FRAMES);
	b->width = doc_int(&f, F_WIDTH);
	b->height = doc_int(&f, F_HEIGHT);
	b->player_width = doc_int(&f, F_PLAYER_WIDTH);
	b->player_height = doc_int(&f, F_PLAYER_HEIGHT);
	b->startup_ms = doc_int(&f, F_STARTUP_MS);
	b->fatal = doc_bool(&f, F_FATAL);
	b->rebuffered = doc_bool(&f, F_REBUFFERED);
	return true;
}
