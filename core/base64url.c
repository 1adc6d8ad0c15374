/* base64url without padding: see core/base64url.h. Written out rather than
 * taken from OpenSSL's EVP_EncodeBlock, which only speaks the standard
 * alphabet with padding and would need a rewrite pass both ways. */
#include "base64url.h"

#include <string.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t n = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[n++] = alphabet[v >> 18 & 63];
		out[n++] = alphabet[v >> 12 & 63];
		out[n++] = alphabet[v >> 6 & 63];
		out[n++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[n++] = alphabet[v >> 18 & 63];
		out[n++] = alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[n++] = alphabet[v >> 18 & 63];
		out[n++] = alphabet[v >> 12 & 63];
		out[n++] = alphabet[v >> 6 & 63];
	}
	out[n] = '\0';
	return n;
}

static int value_of(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

long b64url_decode(const char *text, unsigned char *out, size_t cap)
{
	size_t len = strlen(text), n = 0;
	unsigned acc = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = value_of(text[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero, so each value has one spelling. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)n;
}
