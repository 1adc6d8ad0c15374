/* Fetching a source over http(s) with libcurl, into a local file that the
 * pipeline then ingests.
 *
 * What a flaky origin gets from us: a connect timeout, a stall timeout
 * (less than 1 byte/s for stall_timeout_s fails the attempt, so a server
 * that stops sending never hangs a worker), retries with backoff for
 * network errors and 5xx/429, and each retry resumes where the file ends
 * with a Range request (a 200 instead of 206 restarts from zero). A 4xx
 * fails at once: retrying a 404 only delays the clear answer. Size limits
 * and a full disk stop the transfer from the write callback.
 *
 * libcurl is global-initialised once by kino_ingest_global_init (before
 * any thread), and every handle sets CURLOPT_NOSIGNAL. */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"

#include <curl/curl.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct transfer {
	FILE *out;
	int64_t have;            /* bytes in the file */
	int64_t max_bytes;
	int write_errno;
	bool too_big;
	const atomic_bool *cancel;
} transfer_t;

void kino_ingest_fetch_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void kino_ingest_fetch_options_init(kino_ingest_fetch_options_t *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_s = 10;
	o->stall_timeout_s = 30;
	o->max_attempts = 4;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	transfer_t *t = userdata;
	size_t n = size * nmemb;

	if (t->max_bytes > 0 && t->have + (int64_t)n > t->max_bytes) {
		t->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (fwrite(data, 1, n, t->out) != n) {
		t->write_errno = errno ? errno : EIO;
		return 0;
	}
	t->have += (int64_t)n;
	return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	const transfer_t *t = userdata;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return t->cancel != NULL && atomic_load(t->cancel) ? 1 : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One attempt. Returns 0 when the file is complete, 1 to retry, or a
 * negative code to give up (err set). */
static int attempt(CURL *curl, const char *url, transfer_t *t,
		   const kino_ingest_fetch_options_t *o, char *errbuf,
		   kino_error_t *err)
{
	CURLcode rc;
	long status = 0;

	curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)t->have);
	errbuf[0] = '\0';
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (fflush(t->out) != 0 && t->write_errno == 0)
		t->write_errno = errno;
	if (t->write_errno != 0)
		return kino_error_set(err, kino_errno_to_kino(t->write_errno),
				      "fetch %s: writing: %s", url, strerror(t->write_errno));
	if (t->too_big)
		return kino_error_set(err, KINO_ETOOBIG, "fetch %s: larger than %lld bytes",
				      url, (long long)o->max_bytes);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return kino_error_set(err, KINO_ECANCELED, "fetch %s: canceled", url);
	if (status == 416 && t->have > 0)
		return 0; /* we already have every byte */
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		return kino_error_set(err, status == 404 || status == 410 ? KINO_ENOENT
									  : KINO_ENETWORK,
				      "fetch %s: HTTP %ld", url, status);
	if (rc == CURLE_OK && (status == 200 || status == 206))
		return 0;
	if (rc == CURLE_OK)
		kino_error_set(err, KINO_ENETWORK, "fetch %s: HTTP %ld", url, status);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		kino_error_set(err, KINO_ETIMEDOUT, "fetch %s: %s", url,
			       errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else
		kino_error_set(err, KINO_ENETWORK, "fetch %s: %s", url,
			       errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return 1;
}

/* A 200 answer to a Range request means the server ignored it: start the
 * file again, or bytes would be appended twice. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	transfer_t *t = userdata;
	size_t n = size * nmemb;

	if (n >= 12 && strncmp(data, "HTTP/", 5) == 0 && t->have > 0) {
		const char *sp = memchr(data, ' ', n);
		if (sp != NULL && strncmp(sp + 1, "200", 3) == 0) {
			if (ftruncate(fileno(t->out), 0) != 0 || fseek(t->out, 0, SEEK_SET) != 0)
				t->write_errno = errno;
			t->have = 0;
		}
	}
	return n;
}

int kino_ingest_fetch(const char *url, const char *dest,
		      const kino_ingest_fetch_options_t *opts, kino_error_t *err)
{
	int ret = 0;
	CURL *curl = NULL;
	transfer_t t = {0};
	kino_error_t last = {0}; /* the latest attempt's failure */
	char errbuf[CURL_ERROR_SIZE];
	kino_ingest_fetch_options_t defaults;
	long backoff_ms = 500;

	if (opts == NULL) {
		kino_ingest_fetch_options_init(&defaults);
		opts = &defaults;
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return kino_error_set(err, KINO_EINVAL, "fetch: '%s' is not an http(s) URL", url);
	t.out = fopen(dest, "wb");
	if (t.out == NULL)
		return kino_error_set(err, kino_errno_to_kino(errno), "fetch: open '%s': %s",
				      dest, strerror(errno));
	t.max_bytes = opts->max_bytes;
	t.cancel = opts->cancel;
	curl = curl_easy_init();
	if (curl == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "fetch: cannot create a curl handle");
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)opts->connect_timeout_s);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)opts->stall_timeout_s);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "kino-ingest/" KINO_VERSION);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);

	for (int i = 1;; i++) {
		ret = attempt(curl, url, &t, opts, errbuf, &last);
		if (ret < 0 && err != NULL)
			*err = last;
		if (ret <= 0)
			break;
		if (i >= opts->max_attempts) {
			kino_error_prefix(&last, "after %d attempts", i);
			ret = last.code;
			if (err != NULL)
				*err = last;
			break;
		}
		KINO_LOG_WARN("%s (attempt %d of %d; resuming at byte %lld)",
			      kino_error_message(&last), i, opts->max_attempts,
			      (long long)t.have);
		sleep_ms(backoff_ms);
		backoff_ms *= 2;
	}
	if (ret == 0)
		KINO_LOG_INFO("fetched %s: %lld bytes", url, (long long)t.have);
out:
	curl_easy_cleanup(curl);
	if (fclose(t.out) != 0 && ret == 0)
		ret = kino_error_set(err, kino_errno_to_kino(errno), "fetch: close '%s': %s",
				     dest, strerror(errno));
	if (ret < 0)
		unlink(dest);
	return ret;
}
