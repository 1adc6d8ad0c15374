/* The error vocabulary of include/kino/error.h: names and messages come from
 * the one X-macro, so adding a code is one line. */
#include "kino/error.h"

#include <stdio.h>
#include <string.h>

const char *kino_strerror(int code)
{
	switch (code) {
	case KINO_OK:
		return "success";
#define KINO_STRERROR_CASE(name, value, msg)                                   \
	case KINO_##name:                                                      \
		return msg;
		KINO_ERRNO_MAP(KINO_STRERROR_CASE)
#undef KINO_STRERROR_CASE
	}
	return "unknown error";
}

const char *kino_err_name(int code)
{
	switch (code) {
	case KINO_OK:
		return "OK";
#define KINO_ERRNAME_CASE(name, value, msg)                                    \
	case KINO_##name:                                                      \
		return #name;
		KINO_ERRNO_MAP(KINO_ERRNAME_CASE)
#undef KINO_ERRNAME_CASE
	}
	return "EUNKNOWN";
}

int kino_error_setv(kino_error_t *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	err->code = code;
	if (fmt == NULL)
		snprintf(err->message, sizeof(err->message), "%s",
			 kino_strerror(code));
	else
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
	return code;
}

int kino_error_set(kino_error_t *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kino_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int kino_error_prefix(kino_error_t *err, const char *fmt, ...)
{
	char prefix[KINO_ERROR_MESSAGE_MAX];
	char joined[KINO_ERROR_MESSAGE_MAX];
	va_list ap;

	if (err == NULL)
		return KINO_EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(joined, sizeof(joined), "%s: %s", prefix,
		 kino_error_message(err));
	memcpy(err->message, joined, sizeof(joined));
	return err->code;
}

void kino_error_clear(kino_error_t *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->message[0] = '\0';
}

const char *kino_error_message(const kino_error_t *err)
{
	if (err == NULL)
		return "";
	if (err->message[0] != '\0')
		return err->message;
	return kino_strerror(err->code);
}
