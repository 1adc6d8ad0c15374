/* One video rendition on its own thread: frames arrive by reference from
 * the decoder through a bounded queue, are scaled (picture_scaler.c),
 * encoded with libx264 and written as a CMAF track (cmaf_writer.c).
 *
 * x264 settings, the same for every rendition so their GOPs line up:
 * High profile, preset veryfast, CRF 23 capped by VBV (maxrate = the
 * rung's bitrate, bufsize = twice that): capped VBR, as Mux and PeerTube
 * do, so easy content costs less and hard content never exceeds the cap.
 * Scene-cut detection is off and the GOP limit is two segments long, so
 * the only IDRs are the ones the decoder thread forces (pict_type I with
 * forced-idr) on the first frame at or after each segment boundary: every
 * rendition then has closed GOPs starting at the same pts. */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_FRAMES 8

struct kino_video_encoder {
	kino_ingest_rendition_t rendition;
	AVRational tb;
	int64_t frame_ticks;           /* one frame in tb, for the last pts */
	kino_frame_queue_t *queue;
	kino_picture_scaler_t *scaler;
	AVCodecContext *enc;
	kino_cmaf_writer_t *writer;
	AVPacket *pkt;
	pthread_t thread;
	bool started;
	atomic_bool aborted;           /* set by finish(abort) */
	int result;
	kino_error_t err;
};

static int drain_packets(kino_video_encoder_t *e)
{
	for (;;) {
		int averr = avcodec_receive_packet(e->enc, e->pkt);
		if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
			return 0;
		if (averr < 0)
			return kino_error_set(&e->err, KINO_EIO, "x264 %s: %s",
					      e->rendition.name, av_err2str(averr));
		if (e->pkt->duration <= 0)
			e->pkt->duration = e->frame_ticks;
		/* The writer takes the packet's data. */
		int ret = kino_cmaf_writer_write(e->writer, e->pkt, &e->err);
		if (ret < 0)
			return ret;
	}
}

static void *encoder_main(void *arg)
{
	kino_video_encoder_t *e = arg;
	AVFrame *frame, *scaled = NULL;
	int ret = 0, averr;

	while ((frame = kino_frame_queue_pop(e->queue)) != NULL) {
		scaled = kino_picture_scaler_run(e->scaler, frame, &e->err);
		av_frame_free(&frame);
		if (scaled == NULL) {
			ret = e->err.code ? e->err.code : KINO_ENOMEM;
			goto out;
		}
		averr = avcodec_send_frame(e->enc, scaled);
		av_frame_free(&scaled);
		if (averr < 0) {
			ret = kino_error_set(&e->err, KINO_EIO, "x264 %s: %s",
					     e->rendition.name, av_err2str(averr));
			goto out;
		}
		ret = drain_packets(e);
		if (ret < 0)
			goto out;
	}
	if (atomic_load(&e->aborted)) {
		ret = KINO_ECANCELED;
		goto out;
	}
	/* End of stream: flush the encoder with NULL, then the writer. */
	averr = avcodec_send_frame(e->enc, NULL);
	if (averr < 0 && averr != AVERROR_EOF) {
		ret = kino_error_set(&e->err, KINO_EIO, "x264 %s flush: %s",
				     e->rendition.name, av_err2str(averr));
		goto out;
	}
	ret = drain_packets(e);
	if (ret < 0)
		goto out;
	ret = kino_cmaf_writer_finish(e->writer, &e->err);
out:
	if (ret < 0)
		kino_frame_queue_fail(e->queue); /* unblocks the decoder */
	e->result = ret;
	return NULL;
}

static int open_encoder(kino_video_encoder_t *e,
			const kino_video_encoder_config_t *cfg, kino_error_t *err)
{
	const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
	const kino_ingest_rendition_t *r = cfg->rendition;
	AVRational fr = av_d2q(r->fps, 1001000);
	char params[128];
	int gop, averr;

	if (codec == NULL)
		return kino_error_set(err, KINO_EUNSUPPORTED,
				      "video: libavcodec was built without libx264");
	e->enc = avcodec_alloc_context3(codec);
	if (e->enc == NULL)
		return kino_error_set(err, KINO_ENOMEM, "video: out of memory");
	gop = (int)lround(2 * cfg->segment_seconds * r->fps);
	if (gop < 2)
		gop = 2;
	e->enc->width = r->width;
	e->enc->height = r->height;
	e->enc->pix_fmt = AV_PIX_FMT_YUV420P;
	e->enc->sample_aspect_ratio = (AVRational){1, 1};
	e->enc->time_base = e->tb;
	e->enc->framerate = fr;
	e->enc->gop_size = gop;
	e->enc->rc_max_rate = (int64_t)r->bitrate_kbps * 1000;
	e->enc->rc_buffer_size = r->bitrate_kbps * 2000;
	e->enc->thread_count = cfg->x264_threads > 0 ? cfg->x264_threads : 1;
	/* The mp4 muxer has AVFMT_GLOBALHEADER: SPS/PPS go in avcC. */
	e->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	av_opt_set(e->enc->priv_data, "preset", "veryfast", 0);
	av_opt_set(e->enc->priv_data, "profile", "high", 0);
	av_opt_set_double(e->enc->priv_data, "crf", 23, 0);
	av_opt_set_int(e->enc->priv_data, "forced-idr", 1, 0);
	snprintf(params, sizeof(params), "scenecut=0:open-gop=0:min-keyint=%d", gop);
	av_opt_set(e->enc->priv_data, "x264-params", params, 0);
	averr = avcodec_open2(e->enc, codec, NULL);
	if (averr < 0)
		return kino_error_set(err, KINO_EIO, "video: cannot open libx264 for %s: %s",
				      r->name, av_err2str(averr));
	return 0;
}

int kino_video_encoder_start(const kino_video_encoder_config_t *cfg,
			     kino_video_encoder_t **out, kino_error_t *err)
{
	int ret = 0;
	kino_video_encoder_t *e = NULL;
	AVCodecParameters *par = NULL;
	kino_track_summary_t *s = cfg->summary;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return kino_error_set(err, KINO_ENOMEM, "video: out of memory");
	e->rendition = *cfg->rendition;
	e->tb = *cfg->time_base;
	e->frame_ticks = av_rescale_q(1, av_inv_q(av_d2q(cfg->rendition->fps, 1001000)),
				      e->tb);
	if (e->frame_ticks < 1)
		e->frame_ticks = 1;
	if (kino_frame_queue_new(QUEUE_FRAMES, &e->queue) < 0 ||
	    (e->pkt = av_packet_alloc()) == NULL ||
	    (par = avcodec_parameters_alloc()) == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "video: out of memory");
		goto out;
	}
	ret = kino_picture_scaler_new(e->rendition.width, e->rendition.height,
				      AV_PIX_FMT_YUV420P, cfg->rotation, &e->scaler, err);
	if (ret < 0)
		goto out;
	ret = open_encoder(e, cfg, err);
	if (ret < 0)
		goto out;

	s->kind = KINO_TRACK_VIDEO;
	snprintf(s->id, sizeof(s->id), "%s", e->rendition.name);
	snprintf(s->dir, sizeof(s->dir), "video/%s", e->rendition.name);
	s->width = e->rendition.width;
	s->height = e->rendition.height;
	s->fps = e->rendition.fps;
	if (kino_avc_codecs_string(e->enc->extradata, (size_t)e->enc->extradata_size,
				   s->codecs, sizeof(s->codecs)) < 0) {
		ret = kino_error_set(err, KINO_EIO, "video: libx264 gave no SPS");
		goto out;
	}
	avcodec_parameters_from_context(par, e->enc);
	{
		ret = kino_cmaf_writer_new(cfg->dir, s->dir, par, &e->tb, cfg->segment_seconds,
					   cfg->offset_seconds, cfg->key, s, &e->writer, err);
		if (ret < 0)
			goto out;
	}
	if (pthread_create(&e->thread, NULL, encoder_main, e) != 0) {
		ret = kino_error_set(err, KINO_ENOMEM, "video: cannot start a thread");
		goto out;
	}
	e->started = true;
	*out = e;
	e = NULL;
out:
	avcodec_parameters_free(&par);
	kino_video_encoder_destroy(&e);
	return ret;
}

int kino_video_encoder_push(kino_video_encoder_t *e, AVFrame *frame)
{
	return kino_frame_queue_push(e->queue, frame);
}

int kino_video_encoder_finish(kino_video_encoder_t *e, bool abort,
			      kino_error_t *err)
{
	if (!e->started)
		return 0;
	if (abort) {
		atomic_store(&e->aborted, true);
		kino_frame_queue_fail(e->queue);
	}
	else
		kino_frame_queue_close(e->queue);
	pthread_join(e->thread, NULL);
	e->started = false;
	if (e->result < 0 && err != NULL && !abort)
		*err = e->err;
	return abort ? KINO_ECANCELED : e->result;
}

void kino_video_encoder_destroy(kino_video_encoder_t **ep)
{
	kino_video_encoder_t *e = ep ? *ep : NULL;

	if (e == NULL)
		return;
	if (e->started)
		kino_video_encoder_finish(e, true, NULL);
	kino_cmaf_writer_destroy(&e->writer);
	avcodec_free_context(&e->enc);
	av_packet_free(&e->pkt);
	kino_picture_scaler_destroy(&e->scaler);
	kino_frame_queue_destroy(&e->queue);
	free(e);
	*ep = NULL;
}
