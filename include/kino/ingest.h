/* Ingest: a source goes in (file, URL, upload) and leaves as an ABR ladder
 * of CMAF segments with HLS and DASH manifests, a poster, trick-play sprites
 * and WebVTT subtitles. The media logic knows nothing of the servers, so it
 * can be tested alone.
 *
 * The flow of one job (kino_ingest_run):
 *
 *   probe -> plan the ladder -> decode once -> N encoder threads (one per
 *   rendition, each scales with libswscale and encodes with libx264) + AAC
 *   -> CMAF init and media segments -> HLS and DASH manifests, poster,
 *   sprites, WebVTT -> asset.json -> publish by rename
 *
 * Everything is written under <media_root>/.tmp-<id>/ and renamed to
 * <media_root>/<asset_id>/ only when the whole job succeeded; on any failure
 * the temporary directory is removed, so a reader never sees a partial
 * asset. The layout on disk is described in docs/ingest.md.
 *
 * Threads: kino_ingest_run blocks its caller and starts its own encoder
 * threads; the progress callback is called on the caller's thread. Any
 * thread may set the cancel flag. Everything else here is pure and
 * thread-safe. */
#ifndef KINO_INGEST_H
#define KINO_INGEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kino_error;

/* Routes libav*'s log (av_log) into Kino's and initialises libcurl.
 * Call once from main, before any thread starts. */
void kino_ingest_global_init(void);

/* ---- probing ----------------------------------------------------------- */

/* Sources larger than this on either side are refused (8K UHD). */
#define KINO_INGEST_MAX_DIMENSION 8192

/* What the probe learnt about a source. Plain data, caller-owned. */
typedef struct kino_ingest_probe_info {
	char format[64];        /* "mov,mp4,m4a,3gp,3g2,mj2" */
	char video_codec[32];   /* "h264" */
	int coded_width;        /* as stored */
	int coded_height;
	int display_width;      /* after SAR and rotation: what a viewer sees */
	int display_height;
	int rotation;           /* clockwise degrees to apply: 0, 90, 180, 270 */
	double fps;             /* average frame rate */
	double duration;        /* seconds, > 0 */
	bool has_audio;
	char audio_codec[32];   /* "" without audio */
	int audio_channels;
	int audio_sample_rate;
	int subtitle_streams;   /* text subtitle streams that can be converted */
} kino_ingest_probe_info_t;

/* Opens `path` with libavformat and checks that it is usable video.
 * On error returns KINO_EMEDIA (not a media file, no video stream, zero
 * duration, undecodable codec), KINO_ETOOBIG (dimensions over the limit) or
 * KINO_ENOENT/KINO_EIO, with err saying why; *out is then unspecified. */
int kino_ingest_probe(const char *path, kino_ingest_probe_info_t *out /* OUT */,
		      struct kino_error *err);

/* ---- the ladder -------------------------------------------------------- */

#define KINO_INGEST_LADDER_MAX 8

/* One requested rung: the short side in pixels ("720" for 720p; the height
 * of a landscape video, the width of a portrait one) and a bitrate. */
typedef struct kino_ingest_rung {
	int short_side;
	int bitrate_kbps;
} kino_ingest_rung_t;

/* One planned rendition: what is actually encoded. */
typedef struct kino_ingest_rendition {
	char name[16];     /* "720p" */
	int width;         /* even, aspect kept, square pixels */
	int height;
	int bitrate_kbps;  /* the cap (x264 maxrate); the average is lower */
	double fps;        /* never above the source's */
} kino_ingest_rendition_t;

/* The default ladder: 1080p 5000k, 720p 3000k, 480p 1400k, 360p 800k,
 * 240p 400k. Points at static storage; n receives its length. */
const kino_ingest_rung_t *kino_ingest_ladder_default(size_t *n /* OUT */);

/* Parses "720:3000,480:1400" into rungs (at most cap), sorted from the
 * largest down. Returns KINO_EINVAL with err naming the bad item. */
int kino_ingest_ladder_parse(const char *spec, kino_ingest_rung_t *rungs /* OUT */,
			     size_t cap, size_t *n /* OUT */,
			     struct kino_error *err);

/* Plans renditions for a source shown at display_width x display_height
 * and fps: rungs above the source's short side are dropped; when none is
 * left, one rendition at the source's own size is made, with a bitrate
 * scaled from the smallest rung. Returns the count (>= 1), or KINO_EINVAL
 * for nonsense sizes. */
int kino_ingest_ladder_plan(int display_width, int display_height, double fps,
			    const kino_ingest_rung_t *rungs, size_t nrungs,
			    kino_ingest_rendition_t *out /* OUT, cap entries */,
			    size_t cap, struct kino_error *err);

/* ---- fetching a URL source --------------------------------------------- */

/* Called on the fetching thread while a URL downloads, about once a
 * second: done bytes of total (-1 while unknown). */
typedef void (*kino_ingest_fetch_progress_fn)(int64_t done, int64_t total,
					      void *userdata);

typedef struct kino_ingest_fetch_options {
	int connect_timeout_s;  /* 10 */
	int stall_timeout_s;    /* 30: no byte for this long fails a try */
	int tries;              /* 4; network errors, stalls, 5xx/408/429 */
	int backoff_ms;         /* 500: the pause before the 2nd try, doubling */
	int64_t max_bytes;      /* 0: no limit; a larger body is KINO_ETOOBIG */
	bool keep_partial;      /* false: dest is truncated first and removed
				 * on error. true: the bytes already in dest
				 * are the body's start (resumed with Range),
				 * and a failed call leaves what it got, for
				 * the next call to resume; the caller removes
				 * it (URL jobs, across their attempts) */
	const atomic_bool *cancel; /* may be NULL; KINO_ECANCELED when set */
	kino_ingest_fetch_progress_fn progress; /* may be NULL */
	void *progress_userdata;
} kino_ingest_fetch_options_t;

/* Fills o with the defaults above (keep_partial false, no limit). */
void kino_ingest_fetch_options_init(kino_ingest_fetch_options_t *o /* OUT */);

/* KINO_EINVAL unless url is an http:// or https:// URL with a host (the
 * only URLs kino_ingest_fetch accepts). Pure; any thread. */
int kino_ingest_url_check(const char *url, struct kino_error *err);

/* Downloads an http(s) URL into dest, following redirects (http(s) only).
 * Each try after the first, and with keep_partial the first too, resumes
 * from the bytes in dest with a Range request (a server that ignores Range
 * restarts the file). Tries again with backoff after network errors,
 * stalls and 5xx/408/429. On success dest holds the whole body. Blocks;
 * any thread (after kino_ingest_global_init). opts may be NULL for the
 * defaults. Errors:
 *   KINO_ENOENT      404 or 410 (not retried)
 *   KINO_EFORBIDDEN  401 or 403 (not retried)
 *   KINO_EINVAL      another 4xx, a bad URL or scheme, bad options
 *   KINO_ETOOBIG     the body is over max_bytes
 *   KINO_ETIMEDOUT   the last try stalled or could not connect in time
 *   KINO_ENETWORK    the last try failed otherwise (5xx, a cut connection)
 *   KINO_ECANCELED   cancel turned true
 *   KINO_ENOSPC/KINO_EIO  writing dest
 * after every try that could help; err says which and why ("the URL
 * answered 404", "after 3 tries: the source stalled ..."). What is left of
 * dest on error depends on keep_partial. */
int kino_ingest_fetch(const char *url, const char *dest,
		      const kino_ingest_fetch_options_t *opts,
		      struct kino_error *err);

/* ---- a job ------------------------------------------------------------- */

typedef struct kino_ingest_progress {
	double fraction;      /* 0..1 of the source's duration */
	double fps;           /* source frames decoded per second of wall time */
	double eta_seconds;   /* < 0 while unknown */
	int64_t frames;       /* frames decoded so far */
} kino_ingest_progress_t;

/* Called on the thread that runs the job, at most a few times a second;
 * `p` is borrowed for the call. */
typedef void (*kino_ingest_progress_fn)(const kino_ingest_progress_t *p,
					void *userdata);

typedef struct kino_ingest_options {
	const char *input;        /* local path or http(s) URL; borrowed */
	const char *source_name;  /* for asset.json; NULL: the URL, or the
				   * file's base name */
	const kino_ingest_fetch_options_t *fetch; /* URLs; NULL: defaults */
	const char *title;        /* stored in asset.json */
	const char *media_root;   /* <data_dir>/media; created if missing */
	const kino_ingest_rung_t *ladder; /* NULL: the default ladder */
	size_t ladder_len;
	double segment_seconds;   /* 0: 4 s; accepted range 1..30 */
	const char *subtitle_path; /* sidecar .srt or .vtt, or NULL */
	const char *subtitle_lang; /* BCP 47, e.g. "en"; NULL: "und" */
	int threads;              /* CPU budget; 0: the online CPUs */
	double max_seconds;       /* > 0: transcode only this much (tests) */
	kino_ingest_progress_fn progress; /* may be NULL */
	void *progress_userdata;
	const atomic_bool *cancel; /* may be NULL; when it turns true the job
				    * stops with KINO_ECANCELED */
	bool protect;             /* publish only encrypted media: HLS AES-128
				   * and DASH CENC (docs/protection.md) */
	const char *master_key;   /* with protect: the master key, as for
				   * kino_protection_master_key_load()
				   * (base64url, or a path); borrowed */
} kino_ingest_options_t;

/* Fills opts with the defaults (all NULL/0 except segment_seconds = 4). */
void kino_ingest_options_init(kino_ingest_options_t *opts /* OUT */);

/* What a finished job published. Opaque; read with the accessors below. */
typedef struct kino_ingest_result kino_ingest_result_t;

/* Runs one job to the end. On success *out receives a result the caller
 * frees with kino_ingest_result_destroy, and the asset is published. On
 * error nothing is published, no temporary file is left, *out is NULL and
 * the code says why: KINO_EMEDIA/KINO_ETOOBIG for unusable input,
 * KINO_ENOSPC for a full disk, KINO_EIO, KINO_ECANCELED, KINO_EINVAL, and
 * kino_ingest_fetch's codes for a URL (downloaded into the job's
 * temporary directory, removed with it). */
int kino_ingest_run(const kino_ingest_options_t *opts,
		    kino_ingest_result_t **out /* OUT */, struct kino_error *err);

/* NULL-safe; *result is set to NULL. */
void kino_ingest_result_destroy(kino_ingest_result_t **result);

/* The strings are owned by the result and live as long as it does. */
const char *kino_ingest_result_asset_id(const kino_ingest_result_t *r);
const char *kino_ingest_result_asset_dir(const kino_ingest_result_t *r);
const char *kino_ingest_result_hls_path(const kino_ingest_result_t *r);
const char *kino_ingest_result_dash_path(const kino_ingest_result_t *r);
double kino_ingest_result_duration(const kino_ingest_result_t *r);
double kino_ingest_result_elapsed(const kino_ingest_result_t *r);
size_t kino_ingest_result_rendition_count(const kino_ingest_result_t *r);
/* i < count; borrowed from the result. */
const kino_ingest_rendition_t *
kino_ingest_result_rendition(const kino_ingest_result_t *r, size_t i);

/* Writes {"asset_id":..,"hls":..,"dash":..,"renditions":[..]} and a
 * newline to out: the `kino ingest --json` contract. */
void kino_ingest_result_json_write(const kino_ingest_result_t *r, FILE *out);

/* ---- subtitles --------------------------------------------------------- */

/* Converts SRT or WebVTT text (detected from the content) into WebVTT.
 * On success *vtt receives a NUL-terminated string the caller frees with
 * free(); on error returns KINO_EPARSE with err saying which line. */
int kino_ingest_subtitle_to_webvtt(const char *text, size_t len,
				   char **vtt /* OUT */, struct kino_error *err);

#endif
