/* Private to ingest/: the pieces kino_ingest_run wires together.
 *
 * Two families live here. The pure ones (package description, manifests,
 * asset.json, file helpers) know nothing of libav and are tested alone.
 * The libav ones (frame queue, picture scaler, encoders, CMAF writer,
 * thumbnails) pass AVFrame/AVPacket around; their declarations use only
 * forward-declared structs, so this header needs no libav include. */
#ifndef KINO_INGEST_INTERNAL_H
#define KINO_INGEST_INTERNAL_H

#include "kino/error.h"
#include "kino/ingest.h"
#include "kino/protection.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- what was packaged: input of the manifests ------------------------- */

typedef enum { KINO_TRACK_VIDEO, KINO_TRACK_AUDIO } kino_track_kind_t;

/* One CMAF track as written: segment durations (in timescale units) and
 * sizes, measured while muxing. Owned by the pipeline. */
typedef struct kino_track_summary {
	kino_track_kind_t kind;
	char id[32];          /* "480p", "audio": DASH Representation@id */
	char dir[64];         /* relative to the asset: "video/480p", "audio" */
	char codecs[48];      /* RFC 6381: "avc1.64001e", "mp4a.40.2" */
	int width, height;    /* video */
	double fps;           /* video */
	int channels, sample_rate; /* audio */
	int64_t timescale;    /* units per second of seg_duration */
	int64_t *seg_duration;
	int64_t *seg_bytes;
	size_t nseg, capseg;
	int64_t init_bytes;
	int64_t first_pts;    /* earliest pts of segment 1, timescale units */
	int64_t pto;          /* the pts that is presentation time 0 */
} kino_track_summary_t;

typedef struct kino_subtitle_summary {
	char lang[16];        /* "en", "und" */
	char name[64];        /* shown in players' menus */
	char vtt[64];         /* relative: "subtitles/en.vtt" */
	char playlist[64];    /* relative: "subtitles/en.m3u8" */
} kino_subtitle_summary_t;

/* A protected package: HLS tracks under hls/, DASH tracks under dash/
 * (docs/protection.md). */
typedef struct kino_package_protection {
	char default_kid[37];         /* the KID as UUID text, for the MPD */
} kino_package_protection_t;

typedef struct kino_package {
	kino_track_summary_t *video;  /* nvideo entries, largest first */
	size_t nvideo;
	kino_track_summary_t *audio;  /* NULL without audio */
	kino_subtitle_summary_t *subs;
	size_t nsubs;
	double duration;              /* seconds, of the packaged media */
	double segment_seconds;       /* the target */
	const kino_package_protection_t *protection; /* NULL: clear */
} kino_package_t;

/* Appends one segment; KINO_ENOMEM on failure. */
int kino_track_summary_add(kino_track_summary_t *t, int64_t duration,
			   int64_t bytes);
void kino_track_summary_close(kino_track_summary_t *t);
double kino_track_seconds(const kino_track_summary_t *t);
/* Bits per second: the largest segment's rate, and the whole track's. */
double kino_track_peak_bps(const kino_track_summary_t *t);
double kino_track_average_bps(const kino_track_summary_t *t);

/* Closes an open_memstream(3) stream and returns its text (*buf, which
 * the caller then owns); NULL, with the text freed, when out of memory. */
char *kino_memstream_finish(FILE *f, char **buf);

/* Manifests: each returns a malloc'd NUL-terminated text the caller frees,
 * or NULL when out of memory. Pure functions of the package. */
char *kino_hls_master_render(const kino_package_t *p);
char *kino_hls_media_render(const kino_track_summary_t *t);
/* The media playlist of a protected track, which sits in hls/<t->dir>/:
 * EXT-X-KEY METHOD=AES-128 after EXT-X-MAP (the init segment is clear),
 * its URI relative, up to the asset's key/aes128 route. */
char *kino_hls_media_render_aes128(const kino_track_summary_t *t);
char *kino_hls_subtitle_render(const kino_subtitle_summary_t *s,
			       double duration);
char *kino_dash_mpd_render(const kino_package_t *p, const char *title);

/* RFC 6381 codecs string from H.264 extradata (Annex B or avcC). Writes
 * "avc1.PPCCLL" into out; KINO_EMEDIA when no SPS is found. */
int kino_avc_codecs_string(const uint8_t *extradata, size_t len, char *out,
			   size_t outlen);

/* ---- the asset directory ----------------------------------------------- */

/* 16 lowercase hex characters from getrandom(2) into id[17]. */
int kino_asset_id_new(char id[17], kino_error_t *err);
/* mkdir -p; KINO_ENOSPC/KINO_EIO with the path in err. */
int kino_asset_mkdirs(const char *path, kino_error_t *err);
/* Writes len bytes to path (created or truncated); a full disk is
 * KINO_ENOSPC. */
int kino_asset_file_write(const char *path, const void *data, size_t len,
			  kino_error_t *err);
/* rm -rf path; best effort, NULL-safe, never follows symlinks. */
void kino_asset_tree_remove(const char *path);
/* Publishes tmp as final by rename(2); KINO_EEXIST if final exists. */
int kino_asset_publish(const char *tmp, const char *final, kino_error_t *err);
/* Renders asset.json (malloc'd; caller frees) for the package. */
char *kino_asset_json_render(const char *asset_id, const char *title,
			     const char *source_name, const kino_package_t *p);
/* A JSON string literal of s (quotes included) to out. */
void kino_json_string_write(FILE *out, const char *s);

/* ---- libav pieces ------------------------------------------------------ */

struct AVFrame;
struct AVPacket;
struct AVCodecParameters;
struct AVRational;

/* A bounded FIFO of AVFrame references between the decoder thread and one
 * consumer thread. push takes ownership of the frame (also on failure);
 * pop hands ownership to the caller. Memory is bounded by cap frames. */
typedef struct kino_frame_queue kino_frame_queue_t;
int kino_frame_queue_new(size_t cap, kino_frame_queue_t **out);
void kino_frame_queue_destroy(kino_frame_queue_t **q);
/* Blocks while full. Returns KINO_ECANCELED when the consumer failed. */
int kino_frame_queue_push(kino_frame_queue_t *q, struct AVFrame *frame);
/* No more frames: pop returns NULL once drained. */
void kino_frame_queue_close(kino_frame_queue_t *q);
/* The consumer gave up: pushes fail from now on and queued frames go. */
void kino_frame_queue_fail(kino_frame_queue_t *q);
/* Blocks while empty; NULL at the end of the stream. */
struct AVFrame *kino_frame_queue_pop(kino_frame_queue_t *q);

/* Scales (libswscale) and rotates decoded pictures into one output size
 * and pixel format. Used by one thread at a time. */
typedef struct kino_picture_scaler kino_picture_scaler_t;
/* out_w x out_h is the size after rotation; rotation is clockwise 0, 90,
 * 180 or 270; pix_fmt an 8-bit planar 4:2:0 format (enum AVPixelFormat). */
int kino_picture_scaler_new(int out_w, int out_h, int pix_fmt, int rotation,
			    kino_picture_scaler_t **out, kino_error_t *err);
void kino_picture_scaler_destroy(kino_picture_scaler_t **s);
/* Returns a new frame (caller frees with av_frame_free) carrying src's pts
 * and pict_type, or NULL with err set. */
struct AVFrame *kino_picture_scaler_run(kino_picture_scaler_t *s,
					const struct AVFrame *src,
					kino_error_t *err);

/* Writes one CMAF track: init.mp4 then seg-00001.m4s, ... in root/rel,
 * cutting a new segment at the first key packet at or after each
 * boundary. */
typedef struct kino_cmaf_writer kino_cmaf_writer_t;
/* codecpar and time_base describe the encoder's output (borrowed for the
 * call); summary is borrowed until destroy and receives each segment.
 * offset_seconds is added to every timestamp (see transcode_pipeline.c:
 * it keeps decode times non-negative without edit lists). With a key
 * (borrowed until destroy) the track is protected: nothing goes to
 * root/rel, the files go to root/hls/rel (AES-128) and root/dash/rel
 * (CENC) instead; see cmaf_writer.c. */
int kino_cmaf_writer_new(const char *root, const char *rel,
			 const struct AVCodecParameters *codecpar,
			 const struct AVRational *time_base,
			 double segment_seconds, double offset_seconds,
			 const kino_protection_asset_key_t *key,
			 kino_track_summary_t *summary,
			 kino_cmaf_writer_t **out, kino_error_t *err);
/* Takes the packet's data (the packet is left blank); timestamps in the
 * time base given to _new. */
int kino_cmaf_writer_write(kino_cmaf_writer_t *w, struct AVPacket *pkt,
			   kino_error_t *err);
/* Flushes the last segment; the track is complete after it. */
int kino_cmaf_writer_finish(kino_cmaf_writer_t *w, kino_error_t *err);
void kino_cmaf_writer_destroy(kino_cmaf_writer_t **w);

/* One video rendition: a consumer thread that scales, encodes with
 * libx264 and writes CMAF. */
typedef struct kino_video_encoder kino_video_encoder_t;
typedef struct kino_video_encoder_config {
	const kino_ingest_rendition_t *rendition; /* borrowed until destroy */
	const char *dir;            /* where the track goes */
	const struct AVRational *time_base; /* of the frames' pts */
	int rotation;
	double segment_seconds;
	double offset_seconds;      /* presentation offset, see cmaf writer */
	int x264_threads;
	kino_track_summary_t *summary; /* borrowed until destroy */
	const kino_protection_asset_key_t *key; /* NULL: clear; borrowed */
} kino_video_encoder_config_t;
int kino_video_encoder_start(const kino_video_encoder_config_t *cfg,
			     kino_video_encoder_t **out, kino_error_t *err);
/* Hands a frame (ownership moves) to the encoder thread; blocks while its
 * queue is full. KINO_ECANCELED when the thread has failed. */
int kino_video_encoder_push(kino_video_encoder_t *e, struct AVFrame *frame);
/* Ends the stream (or aborts it when `abort`), joins the thread and
 * returns its result, with err set on failure. */
int kino_video_encoder_finish(kino_video_encoder_t *e, bool abort,
			      kino_error_t *err);
void kino_video_encoder_destroy(kino_video_encoder_t **e);

/* The audio rendition: resample to stereo (downmixing 5.1), AAC-LC
 * 128 kbps, CMAF. Runs on the decoder's thread (it is cheap). */
typedef struct kino_audio_encoder kino_audio_encoder_t;
int kino_audio_encoder_new(const char *dir, const struct AVFrame *first,
			   double segment_seconds, double offset_seconds,
			   const kino_protection_asset_key_t *key,
			   kino_track_summary_t *summary,
			   kino_audio_encoder_t **out, kino_error_t *err);
/* frame's pts is in 1/sample_rate units of the source; borrowed. NULL
 * flushes. */
int kino_audio_encoder_send(kino_audio_encoder_t *a,
			    const struct AVFrame *frame, kino_error_t *err);
void kino_audio_encoder_destroy(kino_audio_encoder_t **a);

/* Poster and trick-play sprites, fed every decoded frame (borrowed). */
typedef struct kino_thumbnailer kino_thumbnailer_t;
typedef struct kino_thumbnail_config {
	const char *dir;            /* the asset's directory */
	int poster_width, poster_height; /* after rotation */
	int tile_width, tile_height;     /* after rotation */
	int rotation;
	double interval;            /* seconds between tiles */
	double poster_at;           /* seconds into the media */
	const struct AVRational *time_base;
} kino_thumbnail_config_t;
int kino_thumbnailer_new(const kino_thumbnail_config_t *cfg,
			 kino_thumbnailer_t **out, kino_error_t *err);
int kino_thumbnailer_feed(kino_thumbnailer_t *t, const struct AVFrame *frame,
			  kino_error_t *err);
/* Writes the poster, the last sheet and thumbs/thumbs.vtt. */
int kino_thumbnailer_finish(kino_thumbnailer_t *t, kino_error_t *err);
void kino_thumbnailer_destroy(kino_thumbnailer_t **t);

/* A text subtitle stream of the source, converted to WebVTT as its
 * packets pass by. */
struct AVStream;
typedef struct kino_subtitle_track kino_subtitle_track_t;
bool kino_subtitle_track_supported(int codec_id /* enum AVCodecID */);
/* origin_us: the source time (microseconds) that is media time 0. */
int kino_subtitle_track_new(const struct AVStream *st, int64_t origin_us,
			    kino_subtitle_track_t **out, kino_error_t *err);
/* pkt is borrowed; a damaged cue is skipped, never fatal. */
int kino_subtitle_track_feed(kino_subtitle_track_t *t, struct AVPacket *pkt);
/* "en" from the stream's metadata, "und" without; borrowed. */
const char *kino_subtitle_track_lang(const kino_subtitle_track_t *t);
/* The WebVTT text (caller frees), or NULL when the track had no cue. */
char *kino_subtitle_track_finish(kino_subtitle_track_t *t);
void kino_subtitle_track_destroy(kino_subtitle_track_t **t);

/* curl_global_init; from kino_ingest_global_init. */
void kino_ingest_fetch_global_init(void);

/* Maps an errno from a failed write to KINO_ENOSPC or KINO_EIO. */
int kino_errno_to_kino(int e);

#endif
