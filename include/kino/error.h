/* Kino's one error vocabulary.
 *
 * Every fallible function returns 0 on success or one of the negative codes
 * below, and may fill an optional kino_error_t with a human message that
 * says what failed and why ("probe: no video stream in 'x.mp3'"). Library
 * errors (av_err2str, curl_easy_strerror, bson_error_t, LAPACKE info) are
 * turned into a kino_error_t once, where they occur. The codes are mapped to
 * HTTP statuses in exactly one table, in the HTTP module. */
#ifndef KINO_ERROR_H
#define KINO_ERROR_H

#include <stdarg.h>

/* XX(name, value, message): append new codes at the end, never renumber. */
#define KINO_ERRNO_MAP(XX)                                                     \
	XX(EINVAL, -1, "invalid argument")                                     \
	XX(ENOMEM, -2, "out of memory")                                        \
	XX(EIO, -3, "input/output error")                                      \
	XX(ENOENT, -4, "not found")                                            \
	XX(EEXIST, -5, "already exists")                                       \
	XX(ECONFIG, -6, "invalid configuration")                               \
	XX(EADDRINUSE, -7, "address in use")                                   \
	XX(EDB, -8, "database error")                                          \
	XX(EUNAVAIL, -9, "service unavailable")                                \
	XX(ETIMEDOUT, -10, "timed out")                                        \
	XX(EMEDIA, -11, "not usable media")                                    \
	XX(EUNSUPPORTED, -12, "not supported")                                 \
	XX(ETOOBIG, -13, "too large")                                          \
	XX(EAUTH, -14, "authentication required")                              \
	XX(EFORBIDDEN, -15, "forbidden")                                       \
	XX(ECANCELED, -16, "canceled")                                         \
	XX(ESTATE, -17, "invalid state")                                       \
	XX(ENOSPC, -18, "no space left on device")                             \
	XX(EPARSE, -19, "malformed input")                                     \
	XX(ECHILD, -20, "child process failed")                                \
	XX(ENUMERIC, -21, "numerical failure")                                 \
	XX(ENETWORK, -22, "network error")                                     \
	XX(ECONFLICT, -23, "conflict")                                         \
	XX(ERATELIMIT, -24, "rate limited")

typedef enum kino_errno {
	KINO_OK = 0,
#define KINO_ERRNO_ENUM(name, value, msg) KINO_##name = (value),
	KINO_ERRNO_MAP(KINO_ERRNO_ENUM)
#undef KINO_ERRNO_ENUM
} kino_errno_t;

#define KINO_ERROR_MESSAGE_MAX 512

/* Detail for a failed call. Caller-owned; zero-initialise it or call
 * kino_error_clear(). */
typedef struct kino_error {
	int code;                              /* 0 or a kino_errno_t */
	char message[KINO_ERROR_MESSAGE_MAX];  /* NUL-terminated, may be "" */
} kino_error_t;

/* "invalid argument" for KINO_EINVAL; "unknown error" for anything else. */
const char *kino_strerror(int code);

/* "EINVAL" for KINO_EINVAL; "EUNKNOWN" for anything else. */
const char *kino_err_name(int code);

/* Fills err (which may be NULL) and returns code, so that callers can write
 * `return kino_error_set(err, KINO_EINVAL, "bad %s", x);`. */
int kino_error_set(kino_error_t *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int kino_error_setv(kino_error_t *err, int code, const char *fmt, va_list ap);

/* Prepends "prefix: " to err's message, keeping its code; returns the code. */
int kino_error_prefix(kino_error_t *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void kino_error_clear(kino_error_t *err);

/* err's message, or the code's generic message when err has none. */
const char *kino_error_message(const kino_error_t *err);

#endif
