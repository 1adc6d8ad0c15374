/* base64url without padding (RFC 4648 section 5), for tokens that travel
 * in URLs and headers. Private to core/. */
#ifndef KINO_CORE_BASE64URL_H
#define KINO_CORE_BASE64URL_H

#include <stddef.h>

/* Encodes len bytes into out, which needs 4 * ceil(len / 3) + 1 bytes;
 * returns the length written (without the NUL). */
size_t b64url_encode(const unsigned char *in, size_t len, char *out);

/* Decodes NUL-terminated text into out (at most cap bytes). Returns the
 * decoded length, or -1 for a character outside the alphabet, padding, an
 * impossible length or too small an out. */
long b64url_decode(const char *text, unsigned char *out, size_t cap);

#endif
