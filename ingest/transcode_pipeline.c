/* One ingest job from start to end: kino_ingest_run.
 *
 *   probe -> plan -> demux + decode once (this thread)
 *                      |- video frame -> clone -> queue -> encoder thread (x N)
 *                      |- video frame -> thumbnailer (poster, sprites)
 *                      |- audio frame -> resample + AAC (this thread)
 *                      '- text subtitle packet -> WebVTT (this thread)
 *            -> manifests, subtitles, asset.json -> publish
 *
 * This thread demuxes and decodes; each rendition encodes on its own
 * thread behind a bounded queue of frame references, so one decode feeds
 * every rendition and memory stays flat. It also decides the segment
 * boundaries: the first frame at or after each multiple of the segment
 * duration is marked I (libx264's forced-idr makes it an IDR) in the one
 * decoded frame all renditions share, which is what aligns their GOPs.
 * Every other frame has its picture type cleared, so the source's own
 * I-frames do not leak into the ladder (ffmpeg does the same).
 *
 * Timestamps are rebased so the first video frame is at 0, then every
 * track is shifted by one shared presentation offset (start_consumers
 * says why), so audio and video stay in sync without edit lists.
 *
 * Everything is written into <media_root>/.tmp-<id>/, and renamed into
 * place only when every step succeeded; any failure removes the tree.
 *
 * A protected job (opts->protect) makes one content key and KID, writes
 * them wrapped into keys.json first, and hands the key to every CMAF
 * writer, which writes hls/ and dash/ trees of encrypted files instead of
 * clear ones (docs/protection.md). */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct kino_ingest_result {
	char asset_id[17];
	char asset_dir[4096];
	char hls[4200];
	char dash[4200];
	double duration;
	double elapsed;
	size_t nrenditions;
	kino_ingest_rendition_t renditions[KINO_INGEST_LADDER_MAX];
};

/* A sidecar plus this many of the source's text subtitle streams. */
#define KINO_INGEST_SUBTITLES_MAX 8

/* Everything one run holds; freed in job_close. */
typedef struct job {
	const kino_ingest_options_t *opts;
	const char *input;        /* the local file: opts->input or the download */
	char download[4200];      /* a URL source, inside tmp; "" for files */
	kino_ingest_probe_info_t info;
	kino_ingest_rendition_t renditions[KINO_INGEST_LADDER_MAX];
	size_t nrenditions;
	double segment_seconds;
	double limit;             /* seconds of source to transcode */
	double offset;            /* presentation offset of every track, s */
	char id[17];
	char tmp[4096];
	char final[4096];
	kino_protection_asset_key_t *key;  /* protected jobs; wiped at close */
	kino_package_protection_t protection;

	AVFormatContext *in;
	int vidx, aidx;
	AVCodecContext *vdec, *adec;
	AVPacket *pkt;
	AVFrame *frame;
	AVRational vtb;

	kino_video_encoder_t *venc[KINO_INGEST_LADDER_MAX];
	kino_audio_encoder_t *aenc;
	kino_thumbnailer_t *thumbs;
	kino_track_summary_t vsum[KINO_INGEST_LADDER_MAX];
	kino_track_summary_t asum;
	kino_subtitle_summary_t subs[KINO_INGEST_SUBTITLES_MAX];
	size_t nsubs;
	kino_subtitle_track_t *stracks[KINO_INGEST_SUBTITLES_MAX];
	int sidx[KINO_INGEST_SUBTITLES_MAX];  /* stream index of each track */
	size_t nstracks;

	int64_t t0;               /* first video pts, vtb */
	int64_t last_pts;         /* last rebased video pts */
	int64_t next_key;         /* next forced IDR, vtb */
	int key_index;
	int64_t frames;
	int64_t packets;          /* read and sent to a decoder */
	int decode_errors;
	bool video_done, audio_done;
	double started;           /* monotonic seconds */
	double last_progress;
} job_t;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void kino_ingest_options_init(kino_ingest_options_t *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->segment_seconds = 4.0;
}

static void report_progress(job_t *j, double secs, bool force)
{
	kino_ingest_progress_t p;
	double now = now_seconds(), elapsed = now - j->started;

	if (j->opts->progress == NULL || (!force && now - j->last_progress < 0.25))
		return;
	j->last_progress = now;
	p.frames = j->frames;
	p.fraction = j->limit > 0 ? secs / j->limit : 0;
	if (p.fraction > 1)
		p.fraction = 1;
	if (p.fraction < 0)
		p.fraction = 0;
	p.fps = elapsed > 0 ? j->frames / elapsed : 0;
	p.eta_seconds = (p.fraction > 0.01 && elapsed > 0.5)
				? elapsed * (1 - p.fraction) / p.fraction : -1;
	j->opts->progress(&p, j->opts->progress_userdata);
}

static bool canceled(const job_t *j)
{
	return j->opts->cancel != NULL && atomic_load(j->opts->cancel);
}

static int open_decoder(AVStream *st, int threads, AVCodecContext **out,
			kino_error_t *err)
{
	const AVCodec *dec = avcodec_find_decoder(st->codecpar->codec_id);
	AVCodecContext *c;
	int averr;

	*out = NULL;
	if (dec == NULL)
		return kino_error_set(err, KINO_EMEDIA, "decode: no decoder for '%s'",
				      avcodec_get_name(st->codecpar->codec_id));
	c = avcodec_alloc_context3(dec);
	if (c == NULL)
		return kino_error_set(err, KINO_ENOMEM, "decode: out of memory");
	avcodec_parameters_to_context(c, st->codecpar);
	c->pkt_timebase = st->time_base;
	c->thread_count = threads;
	averr = avcodec_open2(c, dec, NULL);
	if (averr < 0) {
		avcodec_free_context(&c);
		return kino_error_set(err, KINO_EMEDIA, "decode: cannot open %s: %s",
				      dec->name, av_err2str(averr));
	}
	*out = c;
	return 0;
}

/* Marks, rebases and hands one decoded video frame to every consumer. */
static int video_frame(job_t *j, AVFrame *f, kino_error_t *err)
{
	int64_t pts = f->best_effort_timestamp;
	double secs;
	int ret;

	if (pts == AV_NOPTS_VALUE)
		pts = j->frames == 0 ? 0 : j->last_pts + j->t0 + 1;
	if (j->frames == 0)
		j->t0 = pts;
	pts -= j->t0;
	if (j->frames > 0 && pts <= j->last_pts)
		pts = j->last_pts + 1; /* keep the encoders' input monotonic */
	secs = pts * av_q2d(j->vtb);
	if (secs >= j->limit && j->frames > 0) {
		j->video_done = true;
		return 0;
	}
	j->last_pts = pts;
	f->pts = pts;
	f->pict_type = AV_PICTURE_TYPE_NONE;
	if (pts >= j->next_key) {
		f->pict_type = AV_PICTURE_TYPE_I;
		j->key_index++;
		j->next_key = (int64_t)llround(j->key_index * j->segment_seconds /
					       av_q2d(j->vtb));
	}
	j->frames++;
	ret = kino_thumbnailer_feed(j->thumbs, f, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < j->nrenditions; i++) {
		AVFrame *ref = av_frame_clone(f);
		if (ref == NULL)
			return kino_error_set(err, KINO_ENOMEM, "decode: out of memory");
		/* The queue takes the reference, also when it fails. */
		ret = kino_video_encoder_push(j->venc[i], ref);
		if (ret < 0)
			return kino_video_encoder_finish(j->venc[i], false, err);
	}
	report_progress(j, secs, false);
	return 0;
}

static int audio_frame(job_t *j, AVFrame *f, kino_error_t *err)
{
	AVStream *st = j->in->streams[j->aidx];
	int64_t pts = f->best_effort_timestamp;
	int ret;

	if (pts != AV_NOPTS_VALUE && pts * av_q2d(st->time_base) -
		j->t0 * av_q2d(j->vtb) >= j->limit) {
		j->audio_done = true;
		return 0;
	}
	if (j->aenc == NULL) {
		ret = kino_audio_encoder_new(j->tmp, f, j->segment_seconds, j->offset, j->key,
					     &j->asum, &j->aenc, err);
		if (ret < 0)
			return ret;
	}
	return kino_audio_encoder_send(j->aenc, f, err);
}

/* Sends pkt (NULL flushes) to dec and handles every frame that comes out.
 * A corrupt packet is counted and skipped, as players do; the job fails
 * later if nothing at all could be decoded. */
static int decode(job_t *j, AVCodecContext *dec, const AVPacket *pkt,
		  bool video, kino_error_t *err)
{
	int averr = avcodec_send_packet(dec, pkt);

	if (averr < 0 && averr != AVERROR_EOF) {
		if (averr == AVERROR(ENOMEM))
			return kino_error_set(err, KINO_ENOMEM, "decode: out of memory");
		j->decode_errors++;
		KINO_LOG_DEBUG("%s packet rejected: %s", video ? "video" : "audio",
			       av_err2str(averr));
		return 0;
	}
	for (;;) {
		int ret;
		averr = avcodec_receive_frame(dec, j->frame);
		if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
			return 0;
		if (averr < 0) {
			j->decode_errors++;
			return 0;
		}
		if (video)
			ret = j->video_done ? 0 : video_frame(j, j->frame, err);
		else
			ret = j->audio_done ? 0 : audio_frame(j, j->frame, err);
		av_frame_unref(j->frame);
		if (ret < 0)
			return ret;
	}
}

/* Writes one WebVTT track (borrowed text) as subtitles/<prefix><lang>.vtt
 * and records it for the manifests. */
static int add_subtitle(job_t *j, const char *lang, const char *name,
			const char *prefix, const char *vtt, kino_error_t *err)
{
	kino_subtitle_summary_t *s;
	char path[4200];
	int ret;

	if (j->nsubs == KINO_INGEST_SUBTITLES_MAX) {
		KINO_LOG_WARN("'%s': more than %d subtitle tracks; the rest are left out",
			      j->input, KINO_INGEST_SUBTITLES_MAX);
		return 0;
	}
	s = &j->subs[j->nsubs];
	snprintf(s->lang, sizeof(s->lang), "%s", lang);
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->vtt, sizeof(s->vtt), "subtitles/%s%s.vtt", prefix, lang);
	snprintf(s->playlist, sizeof(s->playlist), "subtitles/%s%s.m3u8", prefix, lang);
	snprintf(path, sizeof(path), "%s/subtitles", j->tmp);
	ret = kino_asset_mkdirs(path, err);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "%s/%s", j->tmp, s->vtt);
	ret = kino_asset_file_write(path, vtt, strlen(vtt), err);
	if (ret < 0)
		return ret;
	j->nsubs++;
	return 0;
}

/* The source's own text subtitle tracks, collected during the demux. */
static int source_subtitles(job_t *j, kino_error_t *err)
{
	for (size_t i = 0; i < j->nstracks; i++) {
		char prefix[16], *vtt = kino_subtitle_track_finish(j->stracks[i]);
		const char *lang = kino_subtitle_track_lang(j->stracks[i]);
		int ret;

		if (vtt == NULL)
			continue;
		snprintf(prefix, sizeof(prefix), "track%d-", j->sidx[i]);
		ret = add_subtitle(j, lang, lang, prefix, vtt, err);
		free(vtt);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int sidecar_subtitles(job_t *j, kino_error_t *err)
{
	int ret = 0;
	FILE *f = NULL;
	char *text = NULL, *vtt = NULL;
	long size;
	const char *lang = j->opts->subtitle_lang ? j->opts->subtitle_lang : "und";

	if (j->opts->subtitle_path == NULL)
		return 0;
	f = fopen(j->opts->subtitle_path, "rb");
	if (f == NULL)
		return kino_error_set(err, errno == ENOENT ? KINO_ENOENT : KINO_EIO,
				      "subtitles: '%s': %s", j->opts->subtitle_path,
				      strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		ret = kino_error_set(err, KINO_EIO, "subtitles: cannot read '%s'",
				     j->opts->subtitle_path);
		goto out;
	}
	if (size > 16 * 1024 * 1024) {
		ret = kino_error_set(err, KINO_ETOOBIG, "subtitles: '%s' is over 16 MiB",
				     j->opts->subtitle_path);
		goto out;
	}
	text = malloc((size_t)size + 1);
	if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
		ret = kino_error_set(err, KINO_EIO, "subtitles: cannot read '%s'",
				     j->opts->subtitle_path);
		goto out;
	}
	ret = kino_ingest_subtitle_to_webvtt(text, (size_t)size, &vtt, err);
	if (ret < 0) {
		kino_error_prefix(err, "'%s'", j->opts->subtitle_path);
		goto out;
	}
	ret = add_subtitle(j, lang, lang, "", vtt, err);
out:
	free(vtt);
	free(text);
	if (f != NULL)
		fclose(f);
	return ret;
}

/* The job's CPU budget: opts->threads, else the online CPUs. */
static int cpu_budget(const job_t *j)
{
	long n = j->opts->threads > 0 ? j->opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static int start_consumers(job_t *j, kino_error_t *err)
{
	int budget = cpu_budget(j);
	int per = budget / (int)j->nrenditions;
	AVStream *vst = j->in->streams[j->vidx];
	int ret;

	/* x264's frame threads per rendition: the renditions already run in
	 * parallel, so split the cores between them, at least one each. */
	if (per < 1)
		per = 1;
	j->vtb = vst->time_base;
	/* Every track is shifted by the same offset: two frames (x264's
	 * B-pyramid decode delay at our preset) and at least the AAC priming
	 * (1024 samples), so no decode time is negative, no track needs an
	 * edit list and audio and video stay in sync. DASH says so with
	 * presentationTimeOffset. */
	j->offset = fmax(2.0 / j->info.fps, 0.025);
	for (size_t i = 0; i < j->nrenditions; i++) {
		kino_video_encoder_config_t cfg = {
			.rendition = &j->renditions[i],
			.dir = j->tmp,
			.time_base = &j->vtb,
			.rotation = j->info.rotation,
			.segment_seconds = j->segment_seconds,
			.offset_seconds = j->offset,
			.x264_threads = per,
			.summary = &j->vsum[i],
			.key = j->key,
		};
		ret = kino_video_encoder_start(&cfg, &j->venc[i], err);
		if (ret < 0)
			return ret;
	}
	{
		const kino_ingest_rendition_t *top = &j->renditions[0];
		int tw = 160, th = 2 * (int)lround(80.0 * top->height / top->width);
		kino_thumbnail_config_t tc = {
			.dir = j->tmp,
			.poster_width = top->width,
			.poster_height = top->height,
			.tile_width = tw,
			.tile_height = th < 2 ? 2 : th,
			.rotation = j->info.rotation,
			.interval = j->limit <= 120 ? 2.0 : j->limit <= 1200 ? 5.0 : 10.0,
			.poster_at = fmin(j->limit / 3.0, 10.0),
			.time_base = &j->vtb,
		};
		ret = kino_thumbnailer_new(&tc, &j->thumbs, err);
	}
	return ret;
}

static int transcode(job_t *j, kino_error_t *err)
{
	int ret = 0, averr;
	int budget = cpu_budget(j);

	averr = avformat_open_input(&j->in, j->input, NULL, NULL);
	if (averr >= 0)
		averr = avformat_find_stream_info(j->in, NULL);
	if (averr < 0)
		return kino_error_set(err, KINO_EMEDIA, "open '%s': %s", j->input,
				      av_err2str(averr));
	j->vidx = av_find_best_stream(j->in, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	j->aidx = j->info.has_audio
			  ? av_find_best_stream(j->in, AVMEDIA_TYPE_AUDIO, -1, j->vidx, NULL, 0)
			  : -1;
	if (j->vidx < 0)
		return kino_error_set(err, KINO_EMEDIA, "no video stream");
	ret = open_decoder(j->in->streams[j->vidx], budget, &j->vdec, err);
	if (ret < 0)
		return ret;
	if (j->aidx >= 0 && open_decoder(j->in->streams[j->aidx], 1, &j->adec, NULL) < 0) {
		KINO_LOG_WARN("'%s': audio cannot be decoded; ingesting video only",
			      j->input);
		j->aidx = -1;
	}
	for (unsigned i = 0; i < j->in->nb_streams; i++) {
		AVStream *st = j->in->streams[i];
		AVStream *vst = j->in->streams[j->vidx];
		int64_t origin = vst->start_time == AV_NOPTS_VALUE ? 0
			: av_rescale_q(vst->start_time, vst->time_base, AV_TIME_BASE_Q);

		if ((int)i == j->vidx || (int)i == j->aidx)
			continue;
		if (st->codecpar->codec_type == AVMEDIA_TYPE_SUBTITLE &&
		    kino_subtitle_track_supported(st->codecpar->codec_id) &&
		    j->nstracks < KINO_INGEST_SUBTITLES_MAX &&
		    kino_subtitle_track_new(st, origin, &j->stracks[j->nstracks], NULL) == 0) {
			j->sidx[j->nstracks++] = (int)i;
			continue;
		}
		st->discard = AVDISCARD_ALL;
	}
	j->pkt = av_packet_alloc();
	j->frame = av_frame_alloc();
	if (j->pkt == NULL || j->frame == NULL)
		return kino_error_set(err, KINO_ENOMEM, "decode: out of memory");
	ret = start_consumers(j, err);
	if (ret < 0)
		return ret;

	while (!(j->video_done && (j->aidx < 0 || j->audio_done))) {
		if (canceled(j))
			return kino_error_set(err, KINO_ECANCELED, "canceled");
		averr = av_read_frame(j->in, j->pkt);
		if (averr == AVERROR_EOF)
			break;
		if (averr < 0)
			return kino_error_set(err, KINO_EMEDIA,
					      "'%s': read failed after %.3f s: %s "
					      "(truncated or damaged file)", j->input,
					      j->last_pts * av_q2d(j->vtb), av_err2str(averr));
		if (j->pkt->stream_index == j->vidx || j->pkt->stream_index == j->aidx)
			j->packets++;
		for (size_t i = 0; i < j->nstracks; i++)
			if (j->pkt->stream_index == j->sidx[i])
				kino_subtitle_track_feed(j->stracks[i], j->pkt);
		if (j->pkt->stream_index == j->vidx && !j->video_done)
			ret = decode(j, j->vdec, j->pkt, true, err);
		else if (j->pkt->stream_index == j->aidx && !j->audio_done)
			ret = decode(j, j->adec, j->pkt, false, err);
		av_packet_unref(j->pkt);
		if (ret < 0)
			return ret;
	}
	ret = decode(j, j->vdec, NULL, true, err);
	if (ret < 0)
		return ret;
	if (j->adec != NULL) {
		ret = decode(j, j->adec, NULL, false, err);
		if (ret < 0)
			return ret;
	}
	if (j->frames == 0)
		return kino_error_set(err, KINO_EMEDIA,
				      "'%s': no video frame could be decoded "
				      "(truncated or corrupt file)", j->input);
	/* A source that ends well before its header says is truncated; one
	 * whose packets often fail to decode is corrupt. Either would publish
	 * a partial asset, so both fail. A few bad packets are tolerated, as
	 * players tolerate them. */
	{
		double covered = (j->last_pts + 1) * av_q2d(j->vtb) + 1.0 / j->info.fps;
		if (!j->video_done && covered + fmax(1.0, 0.05 * j->limit) < j->limit)
			return kino_error_set(err, KINO_EMEDIA,
					      "'%s' is truncated: its header says %.3f s "
					      "but its video ends at %.3f s", j->input,
					      j->limit, covered);
		if ((int64_t)j->decode_errors * 20 > j->packets)
			return kino_error_set(err, KINO_EMEDIA,
					      "'%s' is corrupt: %d of %lld packets could "
					      "not be decoded", j->input,
					      j->decode_errors, (long long)j->packets);
	}
	for (size_t i = 0; i < j->nrenditions; i++) {
		ret = kino_video_encoder_finish(j->venc[i], false, err);
		if (ret < 0)
			return ret;
	}
	if (j->aenc != NULL) {
		ret = kino_audio_encoder_send(j->aenc, NULL, err);
		if (ret < 0)
			return ret;
	}
	report_progress(j, j->limit, true);
	ret = source_subtitles(j, err);
	if (ret < 0)
		return ret;
	return kino_thumbnailer_finish(j->thumbs, err);
}

/* Writes text (malloc'd, or NULL for out of memory) to tmp/rel; frees it. */
static int write_text(job_t *j, const char *rel, char *text, kino_error_t *err)
{
	char path[4200];
	int ret;

	if (text == NULL)
		return kino_error_set(err, KINO_ENOMEM, "manifests: out of memory");
	snprintf(path, sizeof(path), "%s/%s", j->tmp, rel);
	ret = kino_asset_file_write(path, text, strlen(text), err);
	free(text);
	return ret;
}

static int write_manifests(job_t *j, kino_package_t *p, kino_error_t *err)
{
	char rel[128];
	int ret;

	p->video = j->vsum;
	p->nvideo = j->nrenditions;
	p->audio = (j->aenc != NULL && j->asum.nseg > 0) ? &j->asum : NULL;
	p->subs = j->nsubs > 0 ? j->subs : NULL;
	p->nsubs = j->nsubs;
	p->segment_seconds = j->segment_seconds;
	p->protection = j->key ? &j->protection : NULL;
	p->duration = 0;
	for (size_t i = 0; i < p->nvideo; i++)
		p->duration = fmax(p->duration, kino_track_seconds(&p->video[i]));

	for (size_t i = 0; i < p->nvideo + (p->audio ? 1 : 0); i++) {
		const kino_track_summary_t *t = i < p->nvideo ? &p->video[i] : p->audio;
		snprintf(rel, sizeof(rel), "%s%s/playlist.m3u8", j->key ? "hls/" : "", t->dir);
		ret = write_text(j, rel, j->key ? kino_hls_media_render_aes128(t)
						: kino_hls_media_render(t), err);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < j->nsubs; i++) {
		ret = write_text(j, j->subs[i].playlist,
				 kino_hls_subtitle_render(&j->subs[i], p->duration), err);
		if (ret < 0)
			return ret;
	}
	ret = write_text(j, "master.m3u8", kino_hls_master_render(p), err);
	if (ret < 0)
		return ret;
	ret = write_text(j, "manifest.mpd", kino_dash_mpd_render(p, j->opts->title), err);
	if (ret < 0)
		return ret;
	{
		const char *base = j->opts->source_name;
		if (base == NULL && j->download[0] != '\0')
			base = j->opts->input; /* the URL */
		if (base == NULL) {
			base = strrchr(j->input, '/');
			base = base ? base + 1 : j->input;
		}
		return write_text(j, "asset.json",
				  kino_asset_json_render(j->id, j->opts->title, base, p),
				  err);
	}
}

static void job_close(job_t *j)
{
	for (size_t i = 0; i < j->nrenditions; i++)
		kino_video_encoder_destroy(&j->venc[i]);
	kino_audio_encoder_destroy(&j->aenc);
	kino_thumbnailer_destroy(&j->thumbs);
	for (size_t i = 0; i < j->nstracks; i++)
		kino_subtitle_track_destroy(&j->stracks[i]);
	av_frame_free(&j->frame);
	av_packet_free(&j->pkt);
	avcodec_free_context(&j->vdec);
	avcodec_free_context(&j->adec);
	avformat_close_input(&j->in);
	if (j->key != NULL) {
		kino_protection_asset_key_wipe(j->key);
		free(j->key);
		j->key = NULL;
	}
	for (size_t i = 0; i < KINO_INGEST_LADDER_MAX; i++)
		kino_track_summary_close(&j->vsum[i]);
	kino_track_summary_close(&j->asum);
}

static int check_options(const kino_ingest_options_t *o, kino_error_t *err)
{
	if (o == NULL || o->input == NULL || o->media_root == NULL)
		return kino_error_set(err, KINO_EINVAL, "ingest: input and media root are required");
	if (o->segment_seconds != 0 &&
	    (o->segment_seconds < 1 || o->segment_seconds > 30))
		return kino_error_set(err, KINO_EINVAL,
				      "ingest: segment duration %.3f s is outside 1..30",
				      o->segment_seconds);
	if (o->ladder_len > KINO_INGEST_LADDER_MAX)
		return kino_error_set(err, KINO_EINVAL, "ingest: more than %d rungs",
				      KINO_INGEST_LADDER_MAX);
	if (o->protect && (o->master_key == NULL || *o->master_key == '\0'))
		return kino_error_set(err, KINO_EINVAL, "ingest: protection needs a master key");
	return 0;
}

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Creates the job's temporary directory, <media_root>/.tmp-<id>. */
static int job_workdir(job_t *j, kino_error_t *err)
{
	int ret = kino_asset_mkdirs(j->opts->media_root, err);

	if (ret < 0)
		return ret;
	ret = kino_asset_id_new(j->id, err);
	if (ret < 0)
		return ret;
	snprintf(j->tmp, sizeof(j->tmp), "%s/.tmp-%s", j->opts->media_root, j->id);
	snprintf(j->final, sizeof(j->final), "%s/%s", j->opts->media_root, j->id);
	if (mkdir(j->tmp, 0755) != 0) {
		ret = kino_error_set(err, kino_errno_to_kino(errno), "ingest: mkdir '%s': %s",
				     j->tmp, strerror(errno));
		j->tmp[0] = '\0'; /* not ours to remove */
	}
	return ret;
}

/* A protected job: a new content key and KID, kept wrapped under the
 * master key in tmp/keys.json from the start, so that no file of the job
 * is written without its key being safe. */
static int job_protect(job_t *j, kino_error_t *err)
{
	uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN];
	int ret;

	j->key = calloc(1, sizeof(*j->key));
	if (j->key == NULL)
		return kino_error_set(err, KINO_ENOMEM, "ingest: out of memory");
	ret = kino_protection_master_key_load(j->opts->master_key, master, err);
	if (ret == 0)
		ret = kino_protection_asset_key_new(j->key, err);
	if (ret == 0)
		ret = kino_protection_keys_write(j->tmp, master, j->key, err);
	explicit_bzero(master, sizeof(master));
	if (ret < 0)
		return kino_error_prefix(err, "ingest: protection");
	kino_protection_kid_uuid(j->key->kid, j->protection.default_kid);
	return 0;
}

/* A URL source is downloaded into the job's own temporary directory, so
 * the one cleanup path also removes a partial download. */
static int fetch_source(job_t *j, kino_error_t *err)
{
	const char *url = j->opts->input;
	kino_ingest_fetch_options_t fo;
	int ret;

	if (j->opts->fetch != NULL)
		fo = *j->opts->fetch;
	else
		kino_ingest_fetch_options_init(&fo);
	if (fo.cancel == NULL)
		fo.cancel = j->opts->cancel;
	snprintf(j->download, sizeof(j->download), "%s/source.download", j->tmp);
	ret = kino_ingest_fetch(url, j->download, &fo, err);
	if (ret < 0)
		return ret;
	j->input = j->download;
	return 0;
}

int kino_ingest_run(const kino_ingest_options_t *opts, kino_ingest_result_t **out,
		    kino_error_t *err)
{
	int ret = 0, n;
	job_t *j = NULL;
	kino_ingest_result_t *r = NULL;
	kino_package_t pkg = {0};

	*out = NULL;
	ret = check_options(opts, err);
	if (ret < 0)
		return ret;
	j = calloc(1, sizeof(*j));
	r = calloc(1, sizeof(*r));
	if (j == NULL || r == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "ingest: out of memory");
		goto out;
	}
	j->opts = opts;
	j->started = now_seconds();
	j->segment_seconds = opts->segment_seconds > 0 ? opts->segment_seconds : 4.0;
	j->vidx = j->aidx = -1;
	j->input = opts->input;

	/* A local file is probed before anything is created, so bad input
	 * fails without touching the media store; a URL needs its download. */
	if (is_url(opts->input)) {
		ret = job_workdir(j, err);
		if (ret == 0)
			ret = fetch_source(j, err);
		if (ret < 0)
			goto out;
	}
	ret = kino_ingest_probe(j->input, &j->info, err);
	if (ret < 0)
		goto out;
	j->limit = j->info.duration;
	if (opts->max_seconds > 0 && opts->max_seconds < j->limit)
		j->limit = opts->max_seconds;
	n = kino_ingest_ladder_plan(j->info.display_width, j->info.display_height,
				    j->info.fps, opts->ladder, opts->ladder_len,
				    j->renditions, KINO_INGEST_LADDER_MAX, err);
	if (n < 0) {
		ret = n;
		goto out;
	}
	j->nrenditions = (size_t)n;

	if (j->tmp[0] == '\0') {
		ret = job_workdir(j, err);
		if (ret < 0)
			goto out;
	}
	KINO_LOG_INFO("asset %s from '%s': %zu renditions, %.3f s", j->id, opts->input,
		      j->nrenditions, j->limit);

	if (opts->protect) {
		ret = job_protect(j, err);
		if (ret < 0)
			goto out;
	}
	ret = sidecar_subtitles(j, err); /* first: a bad file fails fast */
	if (ret < 0)
		goto out;
	ret = transcode(j, err);
	if (ret < 0)
		goto out;
	ret = write_manifests(j, &pkg, err);
	if (ret < 0)
		goto out;
	if (j->download[0] != '\0' && unlink(j->download) != 0) {
		ret = kino_error_set(err, KINO_EIO, "ingest: remove '%s': %s", j->download,
				     strerror(errno));
		goto out;
	}
	ret = kino_asset_publish(j->tmp, j->final, err);
	if (ret < 0)
		goto out;
	j->tmp[0] = '\0'; /* published: nothing to remove */

	memcpy(r->asset_id, j->id, sizeof(r->asset_id));
	snprintf(r->asset_dir, sizeof(r->asset_dir), "%s", j->final);
	snprintf(r->hls, sizeof(r->hls), "%s/master.m3u8", j->final);
	snprintf(r->dash, sizeof(r->dash), "%s/manifest.mpd", j->final);
	r->duration = pkg.duration;
	r->nrenditions = j->nrenditions;
	memcpy(r->renditions, j->renditions, sizeof(r->renditions));
	r->elapsed = now_seconds() - j->started;
	KINO_LOG_INFO("asset %s published in %.1f s", r->asset_id, r->elapsed);
	*out = r;
	r = NULL;
out:
	if (j != NULL) {
		job_close(j); /* joins every encoder thread before the rm */
		if (j->tmp[0] != '\0')
			kino_asset_tree_remove(j->tmp);
		free(j);
	}
	free(r);
	return ret;
}

void kino_ingest_result_destroy(kino_ingest_result_t **result)
{
	if (result == NULL)
		return;
	free(*result);
	*result = NULL;
}

const char *kino_ingest_result_asset_id(const kino_ingest_result_t *r) { return r->asset_id; }
const char *kino_ingest_result_asset_dir(const kino_ingest_result_t *r) { return r->asset_dir; }
const char *kino_ingest_result_hls_path(const kino_ingest_result_t *r) { return r->hls; }
const char *kino_ingest_result_dash_path(const kino_ingest_result_t *r) { return r->dash; }
double kino_ingest_result_duration(const kino_ingest_result_t *r) { return r->duration; }
double kino_ingest_result_elapsed(const kino_ingest_result_t *r) { return r->elapsed; }
size_t kino_ingest_result_rendition_count(const kino_ingest_result_t *r) { return r->nrenditions; }

const kino_ingest_rendition_t *
kino_ingest_result_rendition(const kino_ingest_result_t *r, size_t i)
{
	return i < r->nrenditions ? &r->renditions[i] : NULL;
}

void kino_ingest_result_json_write(const kino_ingest_result_t *r, FILE *out)
{
	fputs("{\"asset_id\":", out);
	kino_json_string_write(out, r->asset_id);
	fputs(",\"hls\":", out);
	kino_json_string_write(out, r->hls);
	fputs(",\"dash\":", out);
	kino_json_string_write(out, r->dash);
	fputs(",\"renditions\":[", out);
	for (size_t i = 0; i < r->nrenditions; i++) {
		const kino_ingest_rendition_t *v = &r->renditions[i];
		fprintf(out, "%s{\"name\":\"%s\",\"width\":%d,\"height\":%d,"
			     "\"bitrate_kbps\":%d,\"fps\":%.3f}",
			i ? "," : "", v->name, v->width, v->height, v->bitrate_kbps,
			v->fps);
	}
	fputs("]}\n", out);
}
