/* Probing a source with libavformat: is it usable video, and how is it
 * shown? The first check of every job, so a bad input fails in
 * milliseconds with a reason a user can act on, before any directory is
 * created. Display size folds in the sample aspect ratio and the display
 * matrix's rotation, which is what the ladder is planned from. */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* Clockwise degrees, as ffmpeg's autorotate reads the display matrix. */
static int stream_rotation(const AVStream *st)
{
	size_t size = 0;
	const uint8_t *m =
		av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
	double theta;

	if (m == NULL || size < 9 * sizeof(int32_t))
		return 0;
	theta = -av_display_rotation_get((const int32_t *)m);
	if (isnan(theta))
		return 0;
	theta -= 360.0 * floor(theta / 360.0 + 0.9 / 360.0);
	int r = (int)lround(theta / 90.0) * 90 % 360;
	return r < 0 ? r + 360 : r;
}

int kino_ingest_probe(const char *path, kino_ingest_probe_info_t *out,
		      kino_error_t *err)
{
	int ret = 0, averr;
	AVFormatContext *fmt = NULL;
	const AVStream *vst = NULL, *ast = NULL;
	const AVCodec *dec;
	struct stat sb;
	double sar = 1.0, dw, dh;
	int vidx;

	memset(out, 0, sizeof(*out));
	if (stat(path, &sb) != 0)
		return kino_error_set(err, errno == ENOENT ? KINO_ENOENT : KINO_EIO,
				      "probe: '%s': %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return kino_error_set(err, KINO_EMEDIA, "probe: '%s' is not a file",
				      path);
	if (sb.st_size == 0)
		return kino_error_set(err, KINO_EMEDIA, "probe: '%s' is empty", path);

	averr = avformat_open_input(&fmt, path, NULL, NULL);
	if (averr < 0) {
		ret = kino_error_set(err, KINO_EMEDIA,
				     "probe: '%s' is not a media file, or is "
				     "truncated before its index (%s)", path,
				     av_err2str(averr));
		goto out;
	}
	averr = avformat_find_stream_info(fmt, NULL);
	if (averr < 0) {
		ret = kino_error_set(err, KINO_EMEDIA,
				     "probe: cannot read streams of '%s' (%s)", path,
				     av_err2str(averr));
		goto out;
	}
	vidx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (vidx >= 0 && !(fmt->streams[vidx]->disposition & AV_DISPOSITION_ATTACHED_PIC))
		vst = fmt->streams[vidx];
	if (vst == NULL) {
		ret = kino_error_set(err, KINO_EMEDIA, "probe: no video stream in '%s'",
				     path);
		goto out;
	}
	int aidx = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, vidx, NULL, 0);
	if (aidx >= 0 && avcodec_find_decoder(fmt->streams[aidx]->codecpar->codec_id))
		ast = fmt->streams[aidx];

	dec = avcodec_find_decoder(vst->codecpar->codec_id);
	if (dec == NULL) {
		ret = kino_error_set(err, KINO_EMEDIA,
				     "probe: no decoder for video codec '%s' in '%s'",
				     avcodec_get_name(vst->codecpar->codec_id), path);
		goto out;
	}
	if (vst->codecpar->width <= 0 || vst->codecpar->height <= 0) {
		ret = kino_error_set(err, KINO_EMEDIA,
				     "probe: video of '%s' has no picture size "
				     "(truncated or corrupt?)", path);
		goto out;
	}
	if (vst->codecpar->width > KINO_INGEST_MAX_DIMENSION ||
	    vst->codecpar->height > KINO_INGEST_MAX_DIMENSION) {
		ret = kino_error_set(err, KINO_ETOOBIG,
				     "probe: %dx%d is over the %d pixel limit",
				     vst->codecpar->width, vst->codecpar->height,
				     KINO_INGEST_MAX_DIMENSION);
		goto out;
	}

	snprintf(out->format, sizeof(out->format), "%s", fmt->iformat->name);
	snprintf(out->video_codec, sizeof(out->video_codec), "%s", dec->name);
	out->coded_width = vst->codecpar->width;
	out->coded_height = vst->codecpar->height;
	out->rotation = stream_rotation(vst);
	if (vst->codecpar->sample_aspect_ratio.num > 0 &&
	    vst->codecpar->sample_aspect_ratio.den > 0)
		sar = av_q2d(vst->codecpar->sample_aspect_ratio);
	if (sar < 0.1 || sar > 10)
		sar = 1.0; /* nonsense in the header: trust the pixels */
	dw = out->coded_width * (sar > 1 ? sar : 1.0);
	dh = out->coded_height / (sar < 1 ? sar : 1.0);
	if (out->rotation == 90 || out->rotation == 270) {
		double t = dw;
		dw = dh;
		dh = t;
	}
	out->display_width = (int)lround(dw);
	out->display_height = (int)lround(dh);

	AVRational fr = vst->avg_frame_rate;
	if (fr.num <= 0 || fr.den <= 0)
		fr = vst->r_frame_rate;
	out->fps = (fr.num > 0 && fr.den > 0) ? av_q2d(fr) : 0;
	if (out->fps <= 0 || out->fps > 240)
		out->fps = 25; /* unknown: a default that only labels manifests */

	if (vst->duration > 0 && vst->duration != AV_NOPTS_VALUE)
		out->duration = vst->duration * av_q2d(vst->time_base);
	else if (fmt->duration > 0)
		out->duration = (double)fmt->duration / AV_TIME_BASE;
	if (!(out->duration > 0)) {
		ret = kino_error_set(err, KINO_EMEDIA,
				     "probe: '%s' has zero duration", path);
		goto out;
	}
	if (ast != NULL) {
		const AVCodec *adec = avcodec_find_decoder(ast->codecpar->codec_id);
		out->has_audio = true;
		snprintf(out->audio_codec, sizeof(out->audio_codec), "%s", adec->name);
		out->audio_channels = ast->codecpar->ch_layout.nb_channels;
		out->audio_sample_rate = ast->codecpar->sample_rate;
	}
	for (unsigned i = 0; i < fmt->nb_streams; i++)
		if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_SUBTITLE &&
		    kino_subtitle_track_supported(fmt->streams[i]->codecpar->codec_id))
			out->subtitle_streams++;
	KINO_LOG_DEBUG("'%s': %s %dx%d (shown %dx%d, rotation %d) %.3f fps %.3f s%s",
		       path, out->video_codec, out->coded_width, out->coded_height,
		       out->display_width, out->display_height, out->rotation,
		       out->fps, out->duration, out->has_audio ? " +audio" : "");
out:
	avformat_close_input(&fmt);
	return ret;
}
