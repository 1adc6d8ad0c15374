/* The one audio rendition every video rendition shares: AAC-LC, stereo,
 * 128 kbps, at the source's rate when it is 44.1 or 48 kHz (else 48 kHz).
 * libswresample converts and downmixes (5.1 to stereo with its default
 * ITU-style matrix: centre and surrounds at -3 dB); an AVAudioFifo cuts
 * the stream into the encoder's 1024-sample frames. Output timestamps
 * count samples from the source's first one, so audio starts with the
 * video; see the lead below for how the AAC priming is absorbed.
 *
 * It runs on the decoder's thread: AAC at 128 kbps costs a few percent of
 * one core, less than a thread hop would save. */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>

#include <libavutil/samplefmt.h>

#include <math.h>
#include <stdlib.h>

struct kino_audio_encoder {
	SwrContext *swr;
	AVAudioFifo *fifo;
	AVCodecContext *enc;
	AVFrame *frame;          /* one encoder frame, reused */
	AVPacket *pkt;
	kino_cmaf_writer_t *writer;
	int64_t next_pts;        /* samples sent to the encoder */
	int64_t lead;            /* silent samples put before the source */
};

static int drain_packets(kino_audio_encoder_t *a, kino_error_t *err)
{
	for (;;) {
		int averr = avcodec_receive_packet(a->enc, a->pkt);
		if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
			return 0;
		if (averr < 0)
			return kino_error_set(err, KINO_EIO, "aac: %s", av_err2str(averr));
		a->pkt->flags |= AV_PKT_FLAG_KEY; /* every AAC frame is a sync sample */
		/* Back to source time: the source's first sample is pts 0. */
		a->pkt->pts -= a->lead;
		a->pkt->dts -= a->lead;
		int ret = kino_cmaf_writer_write(a->writer, a->pkt, err);
		if (ret < 0)
			return ret;
	}
}

/* Encodes whole frames from the fifo; at the end (flush) also the rest. */
static int encode_fifo(kino_audio_encoder_t *a, bool flush, kino_error_t *err)
{
	int fs = a->enc->frame_size;

	while (av_audio_fifo_size(a->fifo) >= fs ||
	       (flush && av_audio_fifo_size(a->fifo) > 0)) {
		int n = av_audio_fifo_size(a->fifo) < fs ? av_audio_fifo_size(a->fifo) : fs;
		int averr = av_frame_make_writable(a->frame);
		if (averr < 0)
			return kino_error_set(err, KINO_ENOMEM, "aac: out of memory");
		a->frame->nb_samples = n;
		if (av_audio_fifo_read(a->fifo, (void **)a->frame->data, n) < n)
			return kino_error_set(err, KINO_EIO, "aac: fifo underrun");
		a->frame->pts = a->next_pts;
		a->next_pts += n;
		averr = avcodec_send_frame(a->enc, a->frame);
		if (averr < 0)
			return kino_error_set(err, KINO_EIO, "aac: %s", av_err2str(averr));
		int ret = drain_packets(a, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int kino_audio_encoder_new(const char *dir, const AVFrame *first,
			   double segment_seconds, double offset_seconds,
			   const kino_protection_asset_key_t *key,
			   kino_track_summary_t *summary,
			   kino_audio_encoder_t **out, kino_error_t *err)
{
	int ret = 0, averr;
	kino_audio_encoder_t *a = NULL;
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
	AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO, in_layout = {0};
	AVCodecParameters *par = NULL;
	int rate = (first->sample_rate == 44100 || first->sample_rate == 48000)
			   ? first->sample_rate : 48000;
	*out = NULL;
	if (codec == NULL)
		return kino_error_set(err, KINO_EUNSUPPORTED, "audio: no AAC encoder");
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return kino_error_set(err, KINO_ENOMEM, "audio: out of memory");
	if (first->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC ||
	    av_channel_layout_check(&first->ch_layout) == 0)
		av_channel_layout_default(&in_layout, first->ch_layout.nb_channels > 0
							    ? first->ch_layout.nb_channels : 2);
	else
		av_channel_layout_copy(&in_layout, &first->ch_layout);

	averr = swr_alloc_set_opts2(&a->swr, &stereo, AV_SAMPLE_FMT_FLTP, rate,
				    &in_layout, first->format, first->sample_rate, 0,
				    NULL);
	if (averr < 0 || (averr = swr_init(a->swr)) < 0) {
		ret = kino_error_set(err, KINO_EMEDIA, "audio: cannot resample %d ch %d Hz: %s",
				     in_layout.nb_channels, first->sample_rate,
				     av_err2str(averr));
		goto out;
	}
	a->enc = avcodec_alloc_context3(codec);
	a->pkt = av_packet_alloc();
	a->frame = av_frame_alloc();
	par = avcodec_parameters_alloc();
	if (a->enc == NULL || a->pkt == NULL || a->frame == NULL || par == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "audio: out of memory");
		goto out;
	}
	a->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
	a->enc->sample_rate = rate;
	av_channel_layout_copy(&a->enc->ch_layout, &stereo);
	a->enc->bit_rate = 128000;
	a->enc->profile = FF_PROFILE_AAC_LOW;
	a->enc->time_base = (AVRational){1, rate};
	a->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	averr = avcodec_open2(a->enc, codec, NULL);
	if (averr < 0) {
		ret = kino_error_set(err, KINO_EIO, "audio: cannot open AAC: %s",
				     av_err2str(averr));
		goto out;
	}
	a->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, 2, a->enc->frame_size * 4);
	/* Silence before the source, so that the encoder's priming plus this
	 * lead equals the presentation offset every track shares: the first
	 * packet then decodes at time 0 and the source's first sample at the
	 * offset, exactly where the first video frame is. */
	a->lead = llround(offset_seconds * rate) - a->enc->initial_padding;
	if (a->lead < 0)
		a->lead = 0;
	a->frame->format = AV_SAMPLE_FMT_FLTP;
	a->frame->sample_rate = rate;
	a->frame->nb_samples = a->enc->frame_size;
	av_channel_layout_copy(&a->frame->ch_layout, &stereo);
	if (a->fifo == NULL || av_frame_get_buffer(a->frame, 0) < 0) {
		ret = kino_error_set(err, KINO_ENOMEM, "audio: out of memory");
		goto out;
	}
	for (int64_t left = a->lead; left > 0;) {
		int n = left < a->enc->frame_size ? (int)left : a->enc->frame_size;
		av_samples_set_silence(a->frame->data, 0, n, 2, AV_SAMPLE_FMT_FLTP);
		if (av_audio_fifo_write(a->fifo, (void **)a->frame->data, n) < n) {
			ret = kino_error_set(err, KINO_ENOMEM, "audio: out of memory");
			goto out;
		}
		left -= n;
	}

	summary->kind = KINO_TRACK_AUDIO;
	snprintf(summary->id, sizeof(summary->id), "audio");
	snprintf(summary->dir, sizeof(summary->dir), "audio");
	snprintf(summary->codecs, sizeof(summary->codecs), "mp4a.40.2");
	summary->channels = 2;
	summary->sample_rate = rate;
	avcodec_parameters_from_context(par, a->enc);
	ret = kino_cmaf_writer_new(dir, "audio", par, &a->enc->time_base, segment_seconds,
				   offset_seconds, key, summary, &a->writer, err);
	if (ret < 0)
		goto out;
	*out = a;
	a = NULL;
out:
	av_channel_layout_uninit(&in_layout);
	avcodec_parameters_free(&par);
	kino_audio_encoder_destroy(&a);
	return ret;
}

int kino_audio_encoder_send(kino_audio_encoder_t *a, const AVFrame *frame,
			    kino_error_t *err)
{
	int ret = 0, averr;
	uint8_t **buf = NULL;
	int cap, got;
	bool flush = frame == NULL;

	cap = (int)swr_get_out_samples(a->swr, frame ? frame->nb_samples : 0);
	if (cap < 0)
		return kino_error_set(err, KINO_EIO, "audio: resampler state");
	if (cap > 0) {
		averr = av_samples_alloc_array_and_samples(&buf, NULL, 2, cap,
							   AV_SAMPLE_FMT_FLTP, 0);
		if (averr < 0)
			return kino_error_set(err, KINO_ENOMEM, "audio: out of memory");
		got = swr_convert(a->swr, buf, cap,
				  frame ? (const uint8_t **)frame->extended_data : NULL,
				  frame ? frame->nb_samples : 0);
		if (got < 0) {
			ret = kino_error_set(err, KINO_EMEDIA, "audio: resample: %s",
					     av_err2str(got));
			goto out;
		}
		if (got > 0 && av_audio_fifo_write(a->fifo, (void **)buf, got) < got) {
			ret = kino_error_set(err, KINO_ENOMEM, "audio: out of memory");
			goto out;
		}
	}
	ret = encode_fifo(a, flush, err);
	if (ret < 0 || !flush)
		goto out;
	averr = avcodec_send_frame(a->enc, NULL);
	if (averr < 0 && averr != AVERROR_EOF) {
		ret = kino_error_set(err, KINO_EIO, "aac flush: %s", av_err2str(averr));
		goto out;
	}
	ret = drain_packets(a, err);
	if (ret < 0)
		goto out;
	ret = kino_cmaf_writer_finish(a->writer, err);
out:
	if (buf != NULL)
		av_freep(&buf[0]);
	av_freep(&buf);
	return ret;
}

void kino_audio_encoder_destroy(kino_audio_encoder_t **ap)
{
	kino_audio_encoder_t *a = ap ? *ap : NULL;

	if (a == NULL)
		return;
	kino_cmaf_writer_destroy(&a->writer);
	av_audio_fifo_free(a->fifo);
	av_frame_free(&a->frame);
	av_packet_free(&a->pkt);
	avcodec_free_context(&a->enc);
	swr_free(&a->swr);
	free(a);
	*ap = NULL;
}
