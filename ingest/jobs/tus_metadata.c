/* The text formats of tus 1.0 that need parsing, kept pure so they can be
 * tested alone: Upload-Metadata ("filename ZmlsbS5tcDQ=,title QmlnIEJ1Y2s=,
 * is_confidential": comma-separated keys, each with an optional base64
 * value after one space) and the decimal offsets and lengths. */
#include "jobs_internal.h"

#include <string.h>

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long tus_base64_decode(const char *in, size_t len, char *out, size_t size)
{
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0, pad = 0;

	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= size)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (size == 0)
		return -1;
	out[n] = '\0';
	return (long)n;
}

int tus_metadata_get(const char *header, const char *key, char *out, size_t size,
		     kino_error_t *err)
{
	size_t klen = strlen(key);
	const char *p = header;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *space;

		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		space = memchr(p, ' ', len);
		if ((space ? (size_t)(space - p) : len) == klen && memcmp(p, key, klen) == 0) {
			const char *v = space ? space + 1 : p + len;
			size_t vlen = (size_t)(p + len - v);
			char decoded[4096];
			long n;

			while (vlen > 0 && v[vlen - 1] == ' ')
				vlen--;
			if (vlen == 0)
				return kino_error_set(err, KINO_ENOENT, "Upload-Metadata: %s has no value", key);
			n = tus_base64_decode(v, vlen, decoded, sizeof(decoded));
			if (n < 0 || memchr(decoded, '\0', (size_t)n) != NULL)
				return kino_error_set(err, KINO_EPARSE,
						      "Upload-Metadata: %s is not base64 text", key);
			if ((size_t)n >= size)
				return kino_error_set(err, KINO_EPARSE,
						      "Upload-Metadata: %s is longer than %zu bytes", key,
						      size - 1);
			memcpy(out, decoded, (size_t)n + 1);
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return kino_error_set(err, KINO_ENOENT, "Upload-Metadata: no %s", key);
}

bool tus_parse_offset(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 19)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return true;
}
