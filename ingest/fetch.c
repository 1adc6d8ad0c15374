/* Fetching an http(s) source with libcurl into a local file: the one URL
 * fetcher of Kino, used by `kino ingest URL` (kino_ingest_run) and by the
 * workers' URL jobs (ingest/jobs/job_runner.c), and the only file of the
 * ingest module that includes curl.h.
 *
 * One call is a few tries of one transfer each. A try appends to the file
 * from the bytes already there, asking for the rest with a Range request;
 * a server that answers 200 instead of 206 sends the whole body, so the
 * file is restarted. A try fails on a stall (no byte for stall_timeout_s,
 * measured here to the second), a connect timeout, a dropped connection,
 * a 5xx, 408 or 429; the next try waits with a doubling backoff. Other 4xx
 * answers are final: retrying a 404 only delays the clear answer. Size
 * limits and a full disk stop the transfer from the write callback.
 *
 * Whether a call starts from the bytes already in the file is the caller's
 * choice (keep_partial): a job resumes what its previous attempt got and
 * removes the file itself, `kino ingest URL` starts afresh and leaves
 * nothing behind.
 *
 * Only http and https are allowed, for redirects too, so a URL can never
 * make a worker read file:// or talk to other protocols. libcurl is
 * global-initialised once by kino_ingest_global_init (before any thread),
 * and every handle sets CURLOPT_NOSIGNAL. */
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

/* A transfer never lasts longer than this, whatever its speed: a cap for
 * sources of many gigabytes on slow links, not a timeout anyone should hit. */
#define FETCH_TOTAL_TIMEOUT_S (6L * 3600L)

/* The pause between tries doubles up to this. */
#define FETCH_BACKOFF_MAX_MS 60000

void kino_ingest_fetch_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void kino_ingest_fetch_options_init(kino_ingest_fetch_options_t *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_s = 10;
	o->stall_timeout_s = 30;
	o->tries = 4;
	o->backoff_ms = 500;
}

int kino_ingest_url_check(const char *url, kino_error_t *err)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	int ret = 0;

	if (url == NULL || url[0] == '\0')
		return kino_error_set(err, KINO_EINVAL, "url: required");
	if (strlen(url) >= 4096)
		return kino_error_set(err, KINO_EINVAL, "url: longer than 4095 bytes");
	u = curl_url();
	if (u == NULL)
		return kino_error_set(err, KINO_ENOMEM, "url: out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		ret = kino_error_set(err, KINO_EINVAL, "url: '%s' is not a URL", url);
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		ret = kino_error_set(err, KINO_EINVAL,
				     "url: only http and https are fetched, not %s", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		ret = kino_error_set(err, KINO_EINVAL, "url: '%s' has no host", url);
out:
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ret;
}

typedef struct transfer {
	const kino_ingest_fetch_options_t *opts;
	FILE *file;
	CURL *curl;
	int64_t start;   /* bytes on disk when the try began */
	int64_t written; /* bytes of this try on disk */
	int64_t total;   /* the whole body's size, -1 while unknown */
	bool started;    /* the first body byte was seen */
	int64_t seen;    /* bytes received, as the progress callback last saw */
	int64_t seen_ms; /* when that count last changed (monotonic) */
	int fail;        /* a kino code that ended the try from a callback */
	char why[256];
} transfer_t;

/* Called with the first bytes of a 200 or 206 body: the headers are known
 * by then. On false t->fail says why. */
static bool begin_body(transfer_t *t, long status)
{
	curl_off_t len = -1;

	t->started = true;
	if (status == 200 && t->start > 0) {
		/* Range ignored: the whole body again, from the beginning. */
		KINO_LOG_INFO("the server ignored the Range request; restarting");
		if (ftruncate(fileno(t->file), 0) != 0 || fseeko(t->file, 0, SEEK_SET) != 0) {
			t->fail = kino_errno_to_kino(errno);
			snprintf(t->why, sizeof(t->why), "truncating the download: %s",
				 strerror(errno));
			return false;
		}
		t->start = 0;
	}
	curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	t->total = len >= 0 ? t->start + (int64_t)len : -1;
	if (t->opts->max_bytes > 0 && t->total > t->opts->max_bytes) {
		t->fail = KINO_ETOOBIG;
		snprintf(t->why, sizeof(t->why), "the source is %lld bytes, over the %lld-byte limit",
			 (long long)t->total, (long long)t->opts->max_bytes);
		return false;
	}
	return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	transfer_t *t = userdata;
	size_t n = size * nmemb;
	long status = 0;

	/* The body of an error or of a redirect is drained, not kept; an
	 * error's status is judged after the transfer. */
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 && status != 206)
		return n;
	if (!t->started && !begin_body(t, status))
		return 0;
	if (t->opts->max_bytes > 0 && t->start + t->written + (int64_t)n > t->opts->max_bytes) {
		t->fail = KINO_ETOOBIG;
		snprintf(t->why, sizeof(t->why), "the source is larger than the %lld-byte limit",
			 (long long)t->opts->max_bytes);
		return 0;
	}
	if (fwrite(data, 1, n, t->file) != n) {
		t->fail = kino_errno_to_kino(errno);
		snprintf(t->why, sizeof(t->why), "writing the download: %s", strerror(errno));
		return 0;
	}
	t->written += (int64_t)n;
	return n;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called by curl at least once a second, data or not. Besides cancelling,
 * it ends a stall after exactly stall_timeout_s without a byte: curl's own
 * low-speed check averages over a window and fires seconds later. */
static int on_xfer(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		   curl_off_t ulnow)
{
	transfer_t *t = userdata;
	int64_t now = mono_ms();

	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	if (t->opts->cancel != NULL && atomic_load(t->opts->cancel)) {
		t->fail = KINO_ECANCELED;
		snprintf(t->why, sizeof(t->why), "canceled");
		return 1;
	}
	if ((int64_t)dlnow != t->seen) {
		t->seen = (int64_t)dlnow;
		t->seen_ms = now;
	} else if (now - t->seen_ms >= (int64_t)t->opts->stall_timeout_s * 1000) {
		t->fail = KINO_ETIMEDOUT;
		snprintf(t->why, sizeof(t->why), "the source stalled: no data for %d s",
			 t->opts->stall_timeout_s);
		return 1;
	}
	if (t->opts->progress != NULL && t->started)
		t->opts->progress(t->start + t->written, t->total, t->opts->progress_userdata);
	return 0;
}

/* The verdict on a finished try: 0 when the body is complete, else a code
 * with err set, and *again saying whether another try may help. */
static int judge(const char *url, const char *path, transfer_t *t, CURLcode rc,
		 const char *errbuf, bool *again, kino_error_t *err)
{
	const kino_ingest_fetch_options_t *o = t->opts;
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	long status = 0;

	*again = false;
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (t->fail != 0) {
		*again = t->fail == KINO_ETIMEDOUT;
		return kino_error_set(err, t->fail, "%s", t->why);
	}
	if (status == 416 && t->start > 0) {
		/* What we hold is not a prefix the server recognises: start over. */
		if (ftruncate(fileno(t->file), 0) != 0)
			return kino_error_set(err, kino_errno_to_kino(errno), "truncating '%s': %s",
					      path, strerror(errno));
		*again = true;
		return kino_error_set(err, KINO_ENETWORK,
				      "the server refused the range from byte %lld",
				      (long long)t->start);
	}
	if (status >= 400) {
		*again = status >= 500 || status == 408 || status == 429;
		return kino_error_set(err,
				      status == 404 || status == 410	 ? KINO_ENOENT
				      : status == 401 || status == 403 ? KINO_EFORBIDDEN
				      : *again			   ? KINO_ENETWORK
								   : KINO_EINVAL,
				      "the URL answered %ld", status);
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		*again = true;
		return kino_error_set(err, KINO_ETIMEDOUT, "fetching '%s': %s", url, why);
	}
	if (rc == CURLE_FILESIZE_EXCEEDED)
		return kino_error_set(err, KINO_ETOOBIG,
				      "the source is larger than the %lld-byte limit",
				      (long long)o->max_bytes);
	if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
	    rc == CURLE_TOO_MANY_REDIRECTS)
		return kino_error_set(err, KINO_EINVAL, "fetching '%s': %s", url, why);
	if (rc != CURLE_OK) {
		*again = true;
		return kino_error_set(err, KINO_ENETWORK, "fetching '%s': %s", url, why);
	}
	if (status != 200 && status != 206)
		return kino_error_set(err, KINO_EINVAL, "the URL answered %ld, not a body", status);
	if (t->total >= 0 && t->start + t->written != t->total) {
		*again = true;
		return kino_error_set(err, KINO_ENETWORK, "the body ended after %lld of %lld bytes",
				      (long long)(t->start + t->written), (long long)t->total);
	}
	return 0;
}

/* One try, appending to path. Returns 0 when the body is complete;
 * otherwise a code with err set, and *again says whether another try may
 * help. */
static int fetch_try(const char *url, const char *path, const kino_ingest_fetch_options_t *o,
		     bool *again, kino_error_t *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", range[32];
	transfer_t t = {.opts = o, .total = -1, .seen_ms = mono_ms()};
	struct stat st;
	CURLcode rc;
	int ret = 0;

	*again = false;
	t.file = fopen(path, "ab");
	if (t.file == NULL)
		return kino_error_set(err, kino_errno_to_kino(errno), "opening '%s': %s", path,
				      strerror(errno));
	t.start = fstat(fileno(t.file), &st) == 0 ? (int64_t)st.st_size : 0;
	t.curl = curl_easy_init();
	if (t.curl == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "fetch: cannot create a curl handle");
		goto out;
	}
	curl_easy_setopt(t.curl, CURLOPT_URL, url);
	curl_easy_setopt(t.curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t.curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t.curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(t.curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(t.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t.curl, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout_s);
	/* A backstop to on_xfer's own stall check. */
	curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_TIME, (long)o->stall_timeout_s);
	curl_easy_setopt(t.curl, CURLOPT_TIMEOUT, FETCH_TOTAL_TIMEOUT_S);
	curl_easy_setopt(t.curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(t.curl, CURLOPT_USERAGENT, "kino-ingest/" KINO_VERSION);
	curl_easy_setopt(t.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t.curl, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(t.curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(t.curl, CURLOPT_XFERINFOFUNCTION, on_xfer);
	curl_easy_setopt(t.curl, CURLOPT_XFERINFODATA, &t);
	if (o->max_bytes > 0)
		curl_easy_setopt(t.curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	if (t.start > 0) {
		/* CURLOPT_RANGE rather than RESUME_FROM: curl then leaves a 200
		 * answer to us (begin_body restarts the file) instead of failing. */
		snprintf(range, sizeof(range), "%lld-", (long long)t.start);
		curl_easy_setopt(t.curl, CURLOPT_RANGE, range);
		KINO_LOG_INFO("resuming '%s' at byte %lld", url, (long long)t.start);
	}
	rc = curl_easy_perform(t.curl);
	if (fflush(t.file) != 0 && t.fail == 0) {
		t.fail = kino_errno_to_kino(errno);
		snprintf(t.why, sizeof(t.why), "writing the download: %s", strerror(errno));
	}
	ret = judge(url, path, &t, rc, errbuf, again, err);
out:
	curl_easy_cleanup(t.curl);
	if (fclose(t.file) != 0 && ret == 0)
		ret = kino_error_set(err, kino_errno_to_kino(errno), "closing '%s': %s", path,
				     strerror(errno));
	return ret;
}

/* Sleeps ms, waking early when cancel turns true. */
static void sleep_ms(int ms, const atomic_bool *cancel)
{
	for (int slept = 0; slept < ms; slept += 50) {
		struct timespec ts = {0, 50 * 1000000L};

		if (cancel != NULL && atomic_load(cancel))
			return;
		nanosleep(&ts, NULL);
	}
}

/* Every attempt of one call, with the backoff between them. */
static int fetch_tries(const char *url, const char *path, const kino_ingest_fetch_options_t *o,
		       kino_error_t *err)
{
	int ret, backoff = o->backoff_ms;
	bool again;

	for (int i = 1;; i++) {
		ret = fetch_try(url, path, o, &again, err);
		if (ret == 0 || !again)
			return ret;
		if (i >= o->tries)
			return kino_error_prefix(err, "after %d tries", i);
		KINO_LOG_WARN("try %d of %d at '%s' failed: %s; again in %d ms", i, o->tries, url,
			      kino_error_message(err), backoff);
		sleep_ms(backoff, o->cancel);
		if (o->cancel != NULL && atomic_load(o->cancel))
			return kino_error_set(err, KINO_ECANCELED, "canceled");
		backoff = backoff < FETCH_BACKOFF_MAX_MS / 2 ? backoff * 2 : FETCH_BACKOFF_MAX_MS;
	}
}

int kino_ingest_fetch(const char *url, const char *dest,
		      const kino_ingest_fetch_options_t *opts, kino_error_t *err)
{
	kino_ingest_fetch_options_t o;
	kino_error_t ignored = {0};
	int ret;

	/* The tries read the message back (logs, "after N tries"). */
	if (err == NULL)
		err = &ignored;
	if (opts != NULL)
		o = *opts;
	else
		kino_ingest_fetch_options_init(&o);
	if (o.connect_timeout_s <= 0 || o.stall_timeout_s <= 0 || o.tries <= 0 ||
	    o.backoff_ms < 0 || o.max_bytes < 0)
		return kino_error_set(err, KINO_EINVAL,
				      "fetch: timeouts and tries must be positive");
	ret = kino_ingest_url_check(url, err);
	if (ret < 0)
		return ret;
	if (!o.keep_partial && truncate(dest, 0) != 0 && errno != ENOENT)
		return kino_error_set(err, kino_errno_to_kino(errno), "fetch: truncating '%s': %s",
				      dest, strerror(errno));
	ret = fetch_tries(url, dest, &o, err);
	if (ret == 0) {
		struct stat st;

		KINO_LOG_INFO("fetched %s: %lld bytes", url,
			      stat(dest, &st) == 0 ? (long long)st.st_size : -1LL);
	} else if (!o.keep_partial) {
		unlink(dest);
	}
	return ret;
}
