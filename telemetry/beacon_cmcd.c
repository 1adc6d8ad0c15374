/* CMCD (CTA-5004 Common Media Client Data) as a dialect of beacon, so that
 * a player's own CMCD reporting works without Kino's SDK. Two forms come
 * in: the query-string/header text form (br=3200,bl=21300,sid="abc",su)
 * and the JSON form ({"br":3200,"sid":"abc","su":true}); both become one
 * BSON document of keys, then one beacon_t here.
 *
 * Mapping (docs/telemetry.md has the table):
 *   sid -> session_id, sn -> seq (else the collector numbers it),
 *   ts -> ts (else now), pt -> playhead_ms, br (kbps) -> bitrate (bps),
 *   bl -> buffer_ms, bs -> a stall since the last report;
 *   v2 event mode: sta s/p/k/r/a/w/e/f/q/d and e=e map onto the v1 events;
 *   a payload with the custom key com.kino-token opens the session
 *   (session_start: asset from the token, title from cid).
 * Every known key is kept, typed, under `cmcd` in the stored document;
 * unknown keys are ignored. Pure functions: any thread. */
#include "telemetry_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_INT, T_STR, T_TOKEN, T_BOOL, T_DEC, T_LIST } cmcd_type_t;

static const struct cmcd_key {
	const char *key;
	cmcd_type_t type;
} cmcd_keys[] = {
	/* v1 */
	{"br", T_INT}, {"bl", T_INT}, {"bs", T_BOOL}, {"cid", T_STR},
	{"d", T_INT}, {"dl", T_INT}, {"mtp", T_INT}, {"nor", T_STR},
	{"nrr", T_STR}, {"ot", T_TOKEN}, {"pr", T_DEC}, {"rtp", T_INT},
	{"sf", T_TOKEN}, {"sid", T_STR}, {"st", T_TOKEN}, {"su", T_BOOL},
	{"tb", T_INT}, {"v", T_INT},
	/* v2 event mode */
	{"e", T_TOKEN}, {"sta", T_TOKEN}, {"ts", T_INT}, {"pt", T_INT},
	{"ec", T_LIST}, {"msd", T_INT}, {"sn", T_INT},
	/* Kino's own custom keys (CMCD custom keys carry a hyphenated prefix) */
	{"com.kino-token", T_STR}, {"com.kino-device", T_STR},
};

static const struct cmcd_key *key_find(const char *k)
{
	for (size_t i = 0; i < sizeof(cmcd_keys) / sizeof(cmcd_keys[0]); i++) {
		if (strcmp(cmcd_keys[i].key, k) == 0)
			return &cmcd_keys[i];
	}
	return NULL;
}

static int bad(kino_beacon_result_t *res, const char *key, const char *why)
{
	res->status = KINO_BEACON_REJECT;
	snprintf(res->field, sizeof(res->field), "cmcd.%s", key);
	snprintf(res->message, sizeof(res->message), "cmcd.%s %s", key, why);
	return KINO_EINVAL;
}

/* Reads one value of the text form at *p into doc under key. */
static int text_value(const char **p, const char *end, const char *key,
		      bson_t *doc, kino_beacon_result_t *res)
{
	const char *s = *p;
	char buf[512];
	size_t n = 0;

	if (s < end && *s == '"') {
		for (s++; s < end && *s != '"'; s++) {
			if (*s == '\\' && s + 1 < end)
				s++;
			if (n + 1 >= sizeof(buf))
				return bad(res, key, "is too long");
			buf[n++] = *s;
		}
		if (s >= end)
			return bad(res, key, "has an unterminated string");
		buf[n] = '\0';
		BSON_APPEND_UTF8(doc, key, buf);
		*p = s + 1;
		return 0;
	}
	if (s < end && *s == '(') { /* inner list of strings, for ec */
		bson_t arr;
		int i = 0;
		char idx[16];

		BSON_APPEND_ARRAY_BEGIN(doc, key, &arr);
		s++;
		while (s < end && *s != ')') {
			if (*s == ' ') {
				s++;
				continue;
			}
			n = 0;
			if (*s == '"')
				s++;
			while (s < end && *s != '"' && *s != ' ' && *s != ')') {
				if (n + 1 < sizeof(buf))
					buf[n++] = *s;
				s++;
			}
			if (s < end && *s == '"')
				s++;
			buf[n] = '\0';
			snprintf(idx, sizeof(idx), "%d", i++);
			BSON_APPEND_UTF8(&arr, idx, buf);
		}
		bson_append_array_end(doc, &arr);
		if (s >= end)
			return bad(res, key, "has an unterminated list");
		*p = s + 1;
		return 0;
	}
	while (s < end && *s != ',' && n + 1 < sizeof(buf))
		buf[n++] = *s++;
	buf[n] = '\0';
	*p = s;
	if (n == 0)
		return bad(res, key, "has an empty value");
	if (isdigit((unsigned char)buf[0]) || buf[0] == '-') {
		char *e;
		if (strchr(buf, '.')) {
			double d = strtod(buf, &e);
			if (*e != '\0')
				return bad(res, key, "is not a number");
			BSON_APPEND_DOUBLE(doc, key, d);
		} else {
			long long v = strtoll(buf, &e, 10);
			if (*e != '\0')
				return bad(res, key, "is not a number");
			BSON_APPEND_INT64(doc, key, v);
		}
		return 0;
	}
	if (strcmp(buf, "?0") == 0) {
		BSON_APPEND_BOOL(doc, key, false);
		return 0;
	}
	BSON_APPEND_UTF8(doc, key, buf); /* a token */
	return 0;
}

int cmcd_parse_text(const char *text, size_t len, bson_t *doc,
		    kino_beacon_result_t *res)
{
	const char *p = text, *end = text + len;
	char key[64];

	/* "CMCD=" (query argument) may prefix it; the value may be URL-encoded
	 * by the sender only in ways we do not undo: the SDK posts it raw. */
	if (len >= 5 && strncmp(p, "CMCD=", 5) == 0)
		p += 5;
	while (p < end) {
		size_t n = 0;

		while (p < end && (*p == ' ' || *p == ',' || *p == '\r' || *p == '\n'))
			p++;
		if (p >= end)
			break;
		while (p < end && *p != '=' && *p != ',' && n + 1 < sizeof(key)) {
			if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
			      *p == '-' || *p == '.' || *p == '_')) {
				res->status = KINO_BEACON_REJECT;
				snprintf(res->field, sizeof(res->field), "cmcd");
				snprintf(res->message, sizeof(res->message),
					 "cmcd: a key holds '%c'", *p);
				return KINO_EPARSE;
			}
			key[n++] = *p++;
		}
		key[n] = '\0';
		if (p < end && *p == '=') {
			p++;
			if (text_value(&p, end, key, doc, res) != 0)
				return KINO_EPARSE;
		} else {
			BSON_APPEND_BOOL(doc, key, true); /* a bare key is true */
		}
	}
	return 0;
}

/* Copies the known keys of obj into b->cmcd_keys, checking each type. */
static int copy_keys(const bson_t *obj, beacon_t *b, kino_beacon_result_t *res)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, obj))
		return bad(res, "", "is malformed");
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		const struct cmcd_key *ck = key_find(k);

		char stored[32];

		if (ck == NULL || strcmp(k, "com.kino-token") == 0)
			continue;
		/* field names may not hold '.' in MongoDB: com.kino-device is
		 * stored as com_kino-device */
		snprintf(stored, sizeof(stored), "%s", k);
		for (char *d = stored; *d; d++)
			if (*d == '.')
				*d = '_';
		k = stored;
		switch (ck->type) {
		case T_INT:
			if (!(BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it) ||
			      (BSON_ITER_HOLDS_DOUBLE(&it) &&
			       bson_iter_double(&it) == (double)(long long)bson_iter_double(&it))))
				return bad(res, k, "must be an integer");
			BSON_APPEND_INT64(&b->cmcd_keys, k, bson_iter_as_int64(&it));
			break;
		case T_DEC:
			if (!BSON_ITER_HOLDS_NUMBER(&it))
				return bad(res, k, "must be a number");
			BSON_APPEND_DOUBLE(&b->cmcd_keys, k, bson_iter_as_double(&it));
			break;
		case T_BOOL:
			if (!BSON_ITER_HOLDS_BOOL(&it))
				return bad(res, k, "must be a boolean");
			BSON_APPEND_BOOL(&b->cmcd_keys, k, bson_iter_bool(&it));
			break;
		case T_STR:
		case T_TOKEN: {
			uint32_t len;
			const char *s;
			if (!BSON_ITER_HOLDS_UTF8(&it))
				return bad(res, k, "must be a string");
			s = bson_iter_utf8(&it, &len);
			if (len > 256)
				return bad(res, k, "is too long");
			BSON_APPEND_UTF8(&b->cmcd_keys, k, s);
			break;
		}
		case T_LIST:
			if (BSON_ITER_HOLDS_UTF8(&it)) {
				bson_t arr;
				BSON_APPEND_ARRAY_BEGIN(&b->cmcd_keys, k, &arr);
				BSON_APPEND_UTF8(&arr, "0", bson_iter_utf8(&it, NULL));
				bson_append_array_end(&b->cmcd_keys, &arr);
			} else if (BSON_ITER_HOLDS_ARRAY(&it)) {
				bson_iter_t sub;
				bson_t arr;
				int i = 0;
				char idx[16];

				bson_iter_recurse(&it, &sub);
				BSON_APPEND_ARRAY_BEGIN(&b->cmcd_keys, k, &arr);
				while (bson_iter_next(&sub) && i < 16) {
					if (!BSON_ITER_HOLDS_UTF8(&sub)) {
						bson_append_array_end(&b->cmcd_keys, &arr);
						return bad(res, k, "must hold strings");
					}
					snprintf(idx, sizeof(idx), "%d", i++);
					BSON_APPEND_UTF8(&arr, idx, bson_iter_utf8(&sub, NULL));
				}
				bson_append_array_end(&b->cmcd_keys, &arr);
			} else {
				return bad(res, k, "must be a string or a list of strings");
			}
			break;
		}
	}
	return 0;
}

static int64_t key_int(const bson_t *d, const char *k)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_NUMBER(&it)
		       ? bson_iter_as_int64(&it)
		       : -1;
}

static const char *key_str(const bson_t *d, const char *k)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_UTF8(&it)
		       ? bson_iter_utf8(&it, NULL)
		       : NULL;
}

static bool key_true(const bson_t *d, const char *k)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_BOOL(&it) &&
	       bson_iter_bool(&it);
}


int beacon_from_cmcd(const bson_t *obj, const kino_telemetry_limits_t *lim,
		     int64_t now_ms, long long seq_fallback, beacon_t *b,
		     kino_beacon_result_t *res)
{
	const bson_t *k = &b->cmcd_keys;
	const char *s, *sta, *ev, *token;
	bson_iter_t it;

	b->cmcd = true;
	if (copy_keys(obj, b, res) != 0)
		return KINO_EINVAL;
	s = key_str(k, "sid");
	if (s == NULL)
		return bad(res, "sid", "is required (the playback session id)");
	if (strlen(s) > BEACON_ID_MAX)
		return bad(res, "sid", "is too long");
	snprintf(b->session_id, sizeof(b->session_id), "%s", s);
	b->seq = key_int(k, "sn") >= 0 ? key_int(k, "sn") : seq_fallback;
	b->ts = key_int(k, "ts") >= 0 ? key_int(k, "ts") : now_ms;
	if (beacon_check_identity(b, lim, now_ms, res) != 0) {
		/* name the CMCD key, not ours */
		char f[48];
		snprintf(f, sizeof(f), "cmcd.%s", strcmp(res->field, "ts") == 0 ? "ts" : "sid");
		snprintf(res->field, sizeof(res->field), "%s", f);
		return KINO_EINVAL;
	}
	b->playhead_ms = key_int(k, "pt");
	if (key_int(k, "br") >= 0)
		b->bitrate = key_int(k, "br") * 1000;
	b->buffer_ms = key_int(k, "bl");
	b->rebuffered = key_true(k, "bs");

	token = NULL;
	if (bson_iter_init_find(&it, obj, "com.kino-token")) {
		if (!BSON_ITER_HOLDS_UTF8(&it))
			return bad(res, "com.kino-token", "must be a string");
		token = bson_iter_utf8(&it, NULL);
	}
	if (token != NULL) {
		if (strlen(token) >= sizeof(b->token))
			return bad(res, "com.kino-token", "is too long");
		b->event = EV_SESSION_START;
		snprintf(b->token, sizeof(b->token), "%s", token);
		s = key_str(k, "cid");
		snprintf(b->title_id, sizeof(b->title_id), "%s", s ? s : "");
		s = key_str(k, "com_kino-device");
		snprintf(b->device, sizeof(b->device), "%s", s ? s : "unknown");
		snprintf(b->player_name, sizeof(b->player_name), "cmcd");
		snprintf(b->player_version, sizeof(b->player_version), "%lld",
			 (long long)(key_int(k, "v") > 0 ? key_int(k, "v") : 1));
		/* asset_id comes from the token, once verified */
		return 0;
	}

	sta = key_str(k, "sta");
	ev = key_str(k, "e");
	b->event = EV_HEARTBEAT;
	if (ev != NULL && strcmp(ev, "e") == 0) {
		const char *code = "cmcd";
		bson_iter_t sub;
		if (bson_iter_init(&it, k) && bson_iter_find_descendant(&it, "ec.0", &sub) &&
		    BSON_ITER_HOLDS_UTF8(&sub))
			code = bson_iter_utf8(&sub, NULL);
		b->event = EV_ERROR;
		snprintf(b->code, sizeof(b->code), "%s", code);
		b->fatal = sta != NULL && strcmp(sta, "f") == 0;
		return 0;
	}
	if (sta == NULL)
		return 0; /* v1 request data, or a v2 time-interval report */
	switch (sta[0] != '\0' && sta[1] == '\0' ? sta[0] : '?') {
	case 's': b->event = EV_HEARTBEAT; break; /* starting: already open */
	case 'p':
		b->event = EV_PLAYING;
		b->startup_ms = key_int(k, "msd");
		break;
	case 'k': b->event = EV_SEEK;
		if (b->playhead_ms < 0)
			return bad(res, "pt", "is required with sta=k");
		break;
	case 'r': b->event = EV_REBUFFER_START; break;
	case 'a': b->event = EV_PAUSE; break;
	case 'w': case 'd': b->event = EV_HEARTBEAT; break;
	case 'e': b->event = EV_ENDED; break;
	case 'f':
		b->event = EV_ERROR;
		b->fatal = true;
		snprintf(b->code, sizeof(b->code), "cmcd-fatal");
		break;
	case 'q': b->event = EV_SESSION_END; break;
	default:
		return bad(res, "sta", "is not a known player state");
	}
	return 0;
}
