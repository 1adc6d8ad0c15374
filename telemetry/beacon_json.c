/* Beacon messages from JSON text straight into BSON, for the collector's
 * submit path. libbson's reader (bson_new_from_json) was a sixth of the
 * collector's CPU at 50k beacons/s: it allocates a large reader per call,
 * and understands extended JSON, which beacons never are. This reads plain
 * JSON (RFC 8259) only: objects, arrays, strings, numbers, true, false,
 * null. Numbers come out as libbson's reader makes them (an integer as
 * int32 when it fits, else int64; anything else a double), so a beacon
 * reads the same either way; an integer past int64, which libbson wraps
 * around silently, becomes a double here, which the schema then refuses
 * by name. Keys starting with '$' are plain keys (never stored: only the
 * schema's own fields are). Pure functions: any thread. */
#include "telemetry_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH_MAX 32
#define JSON_NUMBER_MAX 64

typedef struct reader {
	const char *start, *p, *end;
	char *scratch; /* decoded strings */
	size_t cap;
	char *err;
	size_t errsize;
	int depth;
} reader_t;

static bool fail(reader_t *r, const char *what)
{
	snprintf(r->err, r->errsize, "%s at byte %zu", what, (size_t)(r->p - r->start));
	return false;
}

static void skip_space(reader_t *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool scratch_grow(reader_t *r, size_t need)
{
	char *n;
	size_t cap = r->cap ? r->cap : 256;

	while (cap < need)
		cap *= 2;
	n = realloc(r->scratch, cap);
	if (n == NULL)
		return false;
	r->scratch = n;
	r->cap = cap;
	return true;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A \u escape (r->p just past the 'u'), a surrogate pair included. */
static bool unicode_escape(reader_t *r, unsigned *cp)
{
	int hi, lo;

	if (r->end - r->p < 4 || (hi = hex4(r->p)) < 0)
		return fail(r, "a bad \\u escape");
	r->p += 4;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return fail(r, "a lone surrogate");
	if (hi < 0xd800 || hi > 0xdbff) {
		*cp = (unsigned)hi;
		return true;
	}
	if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
	    (lo = hex4(r->p + 2)) < 0xdc00 || lo > 0xdfff)
		return fail(r, "a lone surrogate");
	r->p += 6;
	*cp = 0x10000 + (((unsigned)hi - 0xd800) << 10) + ((unsigned)lo - 0xdc00);
	return true;
}

/* A string (r->p on its opening quote), decoded into r->scratch with a
 * NUL after it; *len its length. Invalid UTF-8 is refused, and so is a
 * NUL in a key (BSON cannot hold one); one in a value is left for the
 * schema to refuse by the field's name. */
static bool read_string(reader_t *r, size_t *len, bool key)
{
	size_t n = 0;
	unsigned char high = 0; /* any byte >= 0x80: only then can UTF-8 be wrong */

	r->p++;
	for (;;) {
		const char *start = r->p;
		size_t run;
		unsigned cp;

		while (r->p < r->end && *r->p != '"' && *r->p != '\\' &&
		       (unsigned char)*r->p >= 0x20)
			high |= (unsigned char)*r->p++;
		run = (size_t)(r->p - start);
		if (n + run + 5 > r->cap && !scratch_grow(r, n + run + 5))
			return fail(r, "out of memory");
		memcpy(r->scratch + n, start, run);
		n += run;
		if (r->p == r->end)
			return fail(r, "an unterminated string");
		if (*r->p == '"')
			break;
		if (*r->p != '\\')
			return fail(r, "a control character in a string");
		if (++r->p == r->end)
			return fail(r, "an unterminated string");
		switch (*r->p++) {
		case '"': r->scratch[n++] = '"'; break;
		case '\\': r->scratch[n++] = '\\'; break;
		case '/': r->scratch[n++] = '/'; break;
		case 'b': r->scratch[n++] = '\b'; break;
		case 'f': r->scratch[n++] = '\f'; break;
		case 'n': r->scratch[n++] = '\n'; break;
		case 'r': r->scratch[n++] = '\r'; break;
		case 't': r->scratch[n++] = '\t'; break;
		case 'u':
			if (!unicode_escape(r, &cp))
				return false;
			if (cp == 0 && key)
				return fail(r, "a NUL character in a key");
			n += put_utf8(r->scratch + n, cp);
			break;
		default:
			r->p--;
			return fail(r, "a bad escape");
		}
	}
	r->p++;
	r->scratch[n] = '\0';
	if ((high & 0x80) && !bson_utf8_validate(r->scratch, n, !key)) {
		r->p--;
		return fail(r, "a string that is not UTF-8");
	}
	*len = n;
	return true;
}

/* A number, appended to doc under key. */
static bool read_number(reader_t *r, bson_t *doc, const char *key, size_t klen)
{
	const char *start = r->p;
	bool integral = true;
	char buf[JSON_NUMBER_MAX];
	size_t n;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p == r->end || *r->p < '0' || *r->p > '9')
		return fail(r, "a bad number");
	if (*r->p == '0')
		r->p++;
	else
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	if (r->p < r->end && *r->p == '.') {
		integral = false;
		if (++r->p == r->end || *r->p < '0' || *r->p > '9')
			return fail(r, "a bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		integral = false;
		if (++r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p == r->end || *r->p < '0' || *r->p > '9')
			return fail(r, "a bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	n = (size_t)(r->p - start);
	if (n >= sizeof(buf))
		return fail(r, "a number too long");
	memcpy(buf, start, n);
	buf[n] = '\0';
	errno = 0;
	if (integral) {
		long long v = strtoll(buf, NULL, 10);

		if (errno == 0) {
			if (v >= INT32_MIN && v <= INT32_MAX)
				bson_append_int32(doc, key, (int)klen, (int32_t)v);
			else
				bson_append_int64(doc, key, (int)klen, v);
			return true;
		}
		errno = 0; /* out of int64's range: a double, as libbson does */
	}
	bson_append_double(doc, key, (int)klen, strtod(buf, NULL));
	return true;
}

static bool read_value(reader_t *r, bson_t *doc, const char *key, size_t klen);

#define KEY_INLINE 128

static bool read_object(reader_t *r, bson_t *doc)
{
	char inline_key[KEY_INLINE], *key = inline_key, *heap = NULL;
	bool ok = false;

	r->p++; /* '{' */
	skip_space(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return true;
	}
	for (;;) {
		size_t klen;

		skip_space(r);
		if (r->p == r->end || *r->p != '"') {
			fail(r, "a key was expected");
			goto out;
		}
		if (!read_string(r, &klen, true))
			goto out;
		if (klen >= KEY_INLINE) { /* the scratch is reused by the value */
			free(heap);
			key = heap = malloc(klen + 1);
			if (heap == NULL) {
				fail(r, "out of memory");
				goto out;
			}
		} else {
			key = inline_key;
		}
		memcpy(key, r->scratch, klen + 1);
		skip_space(r);
		if (r->p == r->end || *r->p != ':') {
			fail(r, "':' was expected");
			goto out;
		}
		r->p++;
		if (!read_value(r, doc, key, klen))
			goto out;
		skip_space(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == '}') {
			r->p++;
			ok = true;
			goto out;
		}
		fail(r, "',' or '}' was expected");
		goto out;
	}
out:
	free(heap);
	return ok;
}

static bool read_array(reader_t *r, bson_t *arr)
{
	uint32_t i = 0;

	r->p++; /* '[' */
	skip_space(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return true;
	}
	for (;;) {
		const char *k;
		char kbuf[16];
		size_t klen = bson_uint32_to_string(i++, &k, kbuf, sizeof(kbuf));

		if (!read_value(r, arr, k, klen))
			return false;
		skip_space(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return true;
		}
		return fail(r, "',' or ']' was expected");
	}
}

static bool literal(reader_t *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return fail(r, "an unknown word");
	r->p += n;
	return true;
}

static bool read_value(reader_t *r, bson_t *doc, const char *key, size_t klen)
{
	bson_t child;
	size_t slen;
	bool ok;

	skip_space(r);
	if (r->p == r->end)
		return fail(r, "a value was expected");
	switch (*r->p) {
	case '{':
	case '[':
		if (++r->depth > JSON_DEPTH_MAX)
			return fail(r, "too deeply nested");
		if (*r->p == '{') {
			bson_append_document_begin(doc, key, (int)klen, &child);
			ok = read_object(r, &child);
			bson_append_document_end(doc, &child);
		} else {
			bson_append_array_begin(doc, key, (int)klen, &child);
			ok = read_array(r, &child);
			bson_append_array_end(doc, &child);
		}
		r->depth--;
		return ok;
	case '"':
		if (!read_string(r, &slen, false))
			return false;
		bson_append_utf8(doc, key, (int)klen, r->scratch, (int)slen);
		return true;
	case 't':
		if (!literal(r, "true"))
			return false;
		bson_append_bool(doc, key, (int)klen, true);
		return true;
	case 'f':
		if (!literal(r, "false"))
			return false;
		bson_append_bool(doc, key, (int)klen, false);
		return true;
	case 'n':
		if (!literal(r, "null"))
			return false;
		bson_append_null(doc, key, (int)klen);
		return true;
	default:
		return read_number(r, doc, key, klen);
	}
}

int beacon_json_parse(const char *text, size_t len, bson_t *out, bool *is_array,
		      char *err, size_t errsize)
{
	reader_t r = {.start = text, .p = text, .end = text + len, .err = err, .errsize = errsize, .depth = 1};
	bool ok;

	skip_space(&r);
	if (r.p == r.end || (*r.p != '{' && *r.p != '[')) {
		fail(&r, "an object or an array was expected");
		return KINO_EPARSE;
	}
	*is_array = *r.p == '[';
	ok = *is_array ? read_array(&r, out) : read_object(&r, out);
	if (ok) {
		skip_space(&r);
		if (r.p != r.end)
			ok = fail(&r, "text after the end");
	}
	free(r.scratch);
	return ok ? 0 : KINO_EPARSE;
}
