/* The poster and the trick-play thumbnails, taken from the decoded frames
 * as they pass (no second decode).
 *
 * poster.jpg: the first frame at or after `poster_at` (a third of the way
 * in, at most 10 s), or the first frame when the video is shorter, at the
 * largest rendition's size.
 * thumbs/sprite-NNN.jpg: sheets of 5 x 5 tiles, 160 px wide, one tile
 * every `interval` seconds; thumbs/thumbs.vtt maps each interval to its
 * tile with a media fragment "sprite-000.jpg#xywh=x,y,w,h", the format
 * video.js, Shaka, JW Player and PeerTube read.
 * JPEGs come from libavcodec's mjpeg encoder at qscale 4 (full-range
 * 4:2:0, what every browser decodes). */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include <stdlib.h>
#include <string.h>

#define SHEET_COLS 5
#define SHEET_ROWS 5

struct kino_thumbnailer {
	kino_thumbnail_config_t cfg;
	char dir[4096];
	AVRational tb;
	kino_picture_scaler_t *poster_scaler, *tile_scaler;
	AVFrame *poster;          /* scaled, kept until finish */
	bool poster_final;
	AVFrame *sheet;           /* the sheet being filled */
	int tiles_in_sheet;
	int sheet_number;
	double next_tile;         /* seconds */
	double last_end;          /* seconds: end of the last frame seen */
	FILE *vtt;                /* cues so far, in memory */
	char *vtt_buf;
	size_t vtt_len;
	double pending_start;     /* the cue waiting for its end time */
	char pending_ref[96];
};

static int jpeg_write(const AVFrame *pic, const char *path, kino_error_t *err)
{
	int ret = 0, averr;
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
	AVCodecContext *enc = NULL;
	AVPacket *pkt = NULL;

	if (codec == NULL)
		return kino_error_set(err, KINO_EUNSUPPORTED, "thumbnails: no JPEG encoder");
	enc = avcodec_alloc_context3(codec);
	pkt = av_packet_alloc();
	if (enc == NULL || pkt == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "thumbnails: out of memory");
		goto out;
	}
	enc->width = pic->width;
	enc->height = pic->height;
	enc->pix_fmt = AV_PIX_FMT_YUV420P;
	enc->color_range = AVCOL_RANGE_JPEG;
	enc->time_base = (AVRational){1, 25};
	enc->flags |= AV_CODEC_FLAG_QSCALE;
	enc->global_quality = FF_QP2LAMBDA * 4;
	averr = avcodec_open2(enc, codec, NULL);
	if (averr >= 0)
		averr = avcodec_send_frame(enc, pic);
	if (averr >= 0)
		averr = avcodec_send_frame(enc, NULL);
	if (averr >= 0)
		averr = avcodec_receive_packet(enc, pkt);
	if (averr < 0) {
		ret = kino_error_set(err, KINO_EIO, "thumbnails: JPEG: %s", av_err2str(averr));
		goto out;
	}
	ret = kino_asset_file_write(path, pkt->data, (size_t)pkt->size, err);
out:
	av_packet_free(&pkt);
	avcodec_free_context(&enc);
	return ret;
}

static int sheet_new(kino_thumbnailer_t *t)
{
	AVFrame *s = av_frame_alloc();
	if (s == NULL)
		return KINO_ENOMEM;
	s->width = t->cfg.tile_width * SHEET_COLS;
	s->height = t->cfg.tile_height * SHEET_ROWS;
	s->format = AV_PIX_FMT_YUV420P;
	s->color_range = AVCOL_RANGE_JPEG;
	if (av_frame_get_buffer(s, 0) < 0) {
		av_frame_free(&s);
		return KINO_ENOMEM;
	}
	/* Black, full range. */
	memset(s->data[0], 0, (size_t)s->linesize[0] * s->height);
	memset(s->data[1], 128, (size_t)s->linesize[1] * (s->height / 2));
	memset(s->data[2], 128, (size_t)s->linesize[2] * (s->height / 2));
	t->sheet = s;
	t->tiles_in_sheet = 0;
	return 0;
}

static int sheet_flush(kino_thumbnailer_t *t, kino_error_t *err)
{
	char path[4200];
	int ret;

	if (t->sheet == NULL || t->tiles_in_sheet == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/thumbs/sprite-%03d.jpg", t->dir,
		 t->sheet_number);
	ret = jpeg_write(t->sheet, path, err);
	av_frame_free(&t->sheet);
	t->sheet_number++;
	return ret;
}

static void cue_close(kino_thumbnailer_t *t, double end)
{
	double a = t->pending_start, b = end;
	if (t->pending_ref[0] == '\0')
		return;
	if (b <= a)
		b = a + 0.001;
	fprintf(t->vtt, "%02d:%02d:%06.3f --> %02d:%02d:%06.3f\n%s\n\n",
		(int)(a / 3600), (int)(a / 60) % 60, a - 60 * (int)(a / 60),
		(int)(b / 3600), (int)(b / 60) % 60, b - 60 * (int)(b / 60),
		t->pending_ref);
	t->pending_ref[0] = '\0';
}

static int tile_add(kino_thumbnailer_t *t, const AVFrame *frame, double secs,
		    kino_error_t *err)
{
	AVFrame *tile;
	int col, row, ret;

	if (t->sheet == NULL && sheet_new(t) < 0)
		return kino_error_set(err, KINO_ENOMEM, "thumbnails: out of memory");
	tile = kino_picture_scaler_run(t->tile_scaler, frame, err);
	if (tile == NULL)
		return err && err->code ? err->code : KINO_ENOMEM;
	col = t->tiles_in_sheet % SHEET_COLS;
	row = t->tiles_in_sheet / SHEET_COLS;
	for (int p = 0; p < 3; p++) {
		int w = p ? tile->width / 2 : tile->width;
		int h = p ? tile->height / 2 : tile->height;
		int x0 = p ? col * t->cfg.tile_width / 2 : col * t->cfg.tile_width;
		int y0 = p ? row * t->cfg.tile_height / 2 : row * t->cfg.tile_height;
		for (int y = 0; y < h; y++)
			memcpy(t->sheet->data[p] + (size_t)(y0 + y) * t->sheet->linesize[p] + x0,
			       tile->data[p] + (size_t)y * tile->linesize[p], (size_t)w);
	}
	av_frame_free(&tile);
	cue_close(t, secs);
	t->pending_start = secs;
	snprintf(t->pending_ref, sizeof(t->pending_ref), "sprite-%03d.jpg#xywh=%d,%d,%d,%d",
		 t->sheet_number, col * t->cfg.tile_width, row * t->cfg.tile_height,
		 t->cfg.tile_width, t->cfg.tile_height);
	t->tiles_in_sheet++;
	if (t->tiles_in_sheet == SHEET_COLS * SHEET_ROWS) {
		ret = sheet_flush(t, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int kino_thumbnailer_new(const kino_thumbnail_config_t *cfg,
			 kino_thumbnailer_t **out, kino_error_t *err)
{
	int ret = 0;
	kino_thumbnailer_t *t = calloc(1, sizeof(*t));
	char path[4200];

	*out = NULL;
	if (t == NULL)
		return kino_error_set(err, KINO_ENOMEM, "thumbnails: out of memory");
	t->cfg = *cfg;
	t->tb = *cfg->time_base;
	snprintf(t->dir, sizeof(t->dir), "%s", cfg->dir);
	t->vtt = open_memstream(&t->vtt_buf, &t->vtt_len);
	if (t->vtt == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "thumbnails: out of memory");
		goto out;
	}
	fputs("WEBVTT\n\n", t->vtt);
	snprintf(path, sizeof(path), "%s/thumbs", cfg->dir);
	ret = kino_asset_mkdirs(path, err);
	if (ret < 0)
		goto out;
	ret = kino_picture_scaler_new(cfg->poster_width, cfg->poster_height,
				      AV_PIX_FMT_YUVJ420P, cfg->rotation,
				      &t->poster_scaler, err);
	if (ret < 0)
		goto out;
	ret = kino_picture_scaler_new(cfg->tile_width, cfg->tile_height,
				      AV_PIX_FMT_YUVJ420P, cfg->rotation,
				      &t->tile_scaler, err);
	if (ret < 0)
		goto out;
	*out = t;
	t = NULL;
out:
	kino_thumbnailer_destroy(&t);
	return ret;
}

int kino_thumbnailer_feed(kino_thumbnailer_t *t, const AVFrame *frame,
			  kino_error_t *err)
{
	double secs = frame->pts * av_q2d(t->tb);
	double dur = frame->pkt_duration > 0 ? frame->pkt_duration * av_q2d(t->tb) : 0;
	int ret;

	if (secs + dur > t->last_end)
		t->last_end = secs + dur;
	if (!t->poster_final && (t->poster == NULL || secs >= t->cfg.poster_at)) {
		AVFrame *p = kino_picture_scaler_run(t->poster_scaler, frame, err);
		if (p == NULL)
			return err && err->code ? err->code : KINO_ENOMEM;
		av_frame_free(&t->poster);
		t->poster = p;
		t->poster_final = secs >= t->cfg.poster_at;
	}
	if (secs >= t->next_tile) {
		ret = tile_add(t, frame, secs, err);
		if (ret < 0)
			return ret;
		while (t->next_tile <= secs)
			t->next_tile += t->cfg.interval;
	}
	return 0;
}

int kino_thumbnailer_finish(kino_thumbnailer_t *t, kino_error_t *err)
{
	char path[4200];
	int ret;

	if (t->poster == NULL)
		return kino_error_set(err, KINO_EMEDIA, "thumbnails: no frame decoded");
	snprintf(path, sizeof(path), "%s/poster.jpg", t->dir);
	ret = jpeg_write(t->poster, path, err);
	if (ret < 0)
		return ret;
	ret = sheet_flush(t, err);
	if (ret < 0)
		return ret;
	cue_close(t, t->last_end);
	if (fflush(t->vtt) != 0)
		return kino_error_set(err, KINO_ENOMEM, "thumbnails: out of memory");
	snprintf(path, sizeof(path), "%s/thumbs/thumbs.vtt", t->dir);
	return kino_asset_file_write(path, t->vtt_buf, t->vtt_len, err);
}

void kino_thumbnailer_destroy(kino_thumbnailer_t **tp)
{
	kino_thumbnailer_t *t = tp ? *tp : NULL;

	if (t == NULL)
		return;
	if (t->vtt != NULL)
		fclose(t->vtt);
	free(t->vtt_buf);
	av_frame_free(&t->poster);
	av_frame_free(&t->sheet);
	kino_picture_scaler_destroy(&t->poster_scaler);
	kino_picture_scaler_destroy(&t->tile_scaler);
	free(t);
	*tp = NULL;
}
