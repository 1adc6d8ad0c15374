/* Turns a decoded picture into one rendition's picture: libswscale scales
 * and converts (any decoded format, 10-bit included, into 8-bit 4:2:0),
 * then the planes are rotated by the display matrix's angle, so the output
 * needs no rotation metadata and every player shows it upright. When size
 * and format already match and nothing is rotated, the decoded frame is
 * passed on by reference (as the scale filter does). Bicubic, like
 * ffmpeg's scale filter. AV_PIX_FMT_YUVJ420P asks for full-range 4:2:0
 * (for JPEG), delivered as YUV420P tagged AVCOL_RANGE_JPEG. One thread at
 * a time per scaler. */
#include "ingest_internal.h"

#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <stdlib.h>

struct kino_picture_scaler {
	int out_w, out_h, pix_fmt, rotation;
	int pre_w, pre_h; /* size before rotation */
	struct SwsContext *sws;
};

int kino_picture_scaler_new(int out_w, int out_h, int pix_fmt, int rotation,
			    kino_picture_scaler_t **out, kino_error_t *err)
{
	kino_picture_scaler_t *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return kino_error_set(err, KINO_ENOMEM, "scaler: out of memory");
	s->out_w = out_w;
	s->out_h = out_h;
	s->pix_fmt = pix_fmt;
	s->rotation = rotation;
	s->pre_w = (rotation == 90 || rotation == 270) ? out_h : out_w;
	s->pre_h = (rotation == 90 || rotation == 270) ? out_w : out_h;
	*out = s;
	return 0;
}

void kino_picture_scaler_destroy(kino_picture_scaler_t **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	sws_freeContext((*sp)->sws);
	free(*sp);
	*sp = NULL;
}

/* Rotates one 8-bit plane of w x h (src) clockwise by rot into dst. */
static void rotate_plane(const uint8_t *src, int sls, int w, int h, uint8_t *dst,
			 int dls, int rot)
{
	if (rot == 180) {
		for (int y = 0; y < h; y++) {
			const uint8_t *s = src + (size_t)(h - 1 - y) * sls;
			uint8_t *d = dst + (size_t)y * dls;
			for (int x = 0; x < w; x++)
				d[x] = s[w - 1 - x];
		}
		return;
	}
	/* 90 and 270: dst is h wide and w high. */
	for (int y = 0; y < w; y++) {
		uint8_t *d = dst + (size_t)y * dls;
		for (int x = 0; x < h; x++)
			d[x] = rot == 90 ? src[(size_t)(h - 1 - x) * sls + y]
					 : src[(size_t)x * sls + (w - 1 - y)];
	}
}

static AVFrame *frame_new(int w, int h, int fmt)
{
	AVFrame *f = av_frame_alloc();
	if (f == NULL)
		return NULL;
	f->width = w;
	f->height = h;
	f->format = fmt;
	if (av_frame_get_buffer(f, 0) < 0)
		av_frame_free(&f);
	return f;
}

AVFrame *kino_picture_scaler_run(kino_picture_scaler_t *s, const AVFrame *src,
				 kino_error_t *err)
{
	AVFrame *pre = NULL, *out = NULL;

	/* JPEG wants full range: ask libswscale for it explicitly rather
	 * than through the deprecated YUVJ formats. */
	bool full = s->pix_fmt == AV_PIX_FMT_YUVJ420P;
	int fmt = full ? AV_PIX_FMT_YUV420P : s->pix_fmt;
	int *inv, *tab, src_range, dst_range, bright, contrast, sat;

	if (s->rotation == 0 && src->width == s->out_w && src->height == s->out_h &&
	    src->format == s->pix_fmt)
		return av_frame_clone(src);

	s->sws = sws_getCachedContext(s->sws, src->width, src->height, src->format,
				      s->pre_w, s->pre_h, fmt, SWS_BICUBIC, NULL,
				      NULL, NULL);
	if (s->sws == NULL) {
		kino_error_set(err, KINO_EMEDIA, "scaler: cannot convert %s %dx%d to %dx%d",
			       av_get_pix_fmt_name(src->format), src->width,
			       src->height, s->pre_w, s->pre_h);
		goto fail;
	}
	if (sws_getColorspaceDetails(s->sws, &inv, &src_range, &tab, &dst_range,
				     &bright, &contrast, &sat) >= 0)
		sws_setColorspaceDetails(s->sws, inv, src->color_range == AVCOL_RANGE_JPEG,
					 tab, full, bright, contrast, sat);
	pre = frame_new(s->pre_w, s->pre_h, fmt);
	if (pre == NULL)
		goto nomem;
	sws_scale(s->sws, (const uint8_t *const *)src->data, src->linesize, 0,
		  src->height, pre->data, pre->linesize);
	if (s->rotation == 0) {
		out = pre;
		pre = NULL;
	} else {
		out = frame_new(s->out_w, s->out_h, fmt);
		if (out == NULL)
			goto nomem;
		for (int p = 0; p < 3; p++) {
			int w = p ? s->pre_w / 2 : s->pre_w;
			int h = p ? s->pre_h / 2 : s->pre_h;
			rotate_plane(pre->data[p], pre->linesize[p], w, h, out->data[p],
				     out->linesize[p], s->rotation);
		}
		av_frame_free(&pre);
	}
	out->color_range = full ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
	out->pts = src->pts;
	out->pict_type = src->pict_type;
	return out;
nomem:
	kino_error_set(err, KINO_ENOMEM, "scaler: out of memory");
fail:
	av_frame_free(&pre);
	av_frame_free(&out);
	return NULL;
}
