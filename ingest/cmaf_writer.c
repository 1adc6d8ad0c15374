/* One CMAF track on disk: init.mp4 (ftyp + empty moov) and media segments
 * seg-00001.m4s, ... (moof + mdat each), written by libavformat's mp4
 * muxer in frag_custom mode through our own AVIOContext.
 *
 * Owning the I/O is what lets one muxer write many files: the muxer writes
 * into whichever file is current; at a cut we flush the fragment
 * (av_write_frame(NULL)), flush the AVIOContext and switch files. It is
 * also where a full disk is caught: write(2)'s errno is kept, so ENOSPC
 * becomes KINO_ENOSPC instead of a generic muxer error.
 *
 * A segment starts at the first key packet whose pts reaches the next
 * multiple of the segment duration; the video pipeline forces an IDR
 * exactly there in every rendition, so all renditions cut at the same
 * presentation times. Durations and sizes are recorded in the track
 * summary for the manifests.
 *
 * A protected track (prot != NULL) never reaches the disk in the clear:
 * each file is collected in memory and written twice, transformed by
 * core's protection module: hls/<rel>/ gets the init segment as it is (it
 * holds no media) and each media segment whole in AES-128-CBC, IV = its
 * media sequence number; dash/<rel>/ gets the init segment and segments
 * with Common Encryption ('cenc'). The summary records the larger of the
 * two sizes of each segment, so both manifests' bandwidths hold. */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"
#include "kino/protection.h"

#include <libavformat/avformat.h>
#include <libavutil/opt.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_BUFFER 65536

struct kino_cmaf_writer {
	char dir[4096];
	char path[4200];          /* the current file, for messages */
	AVFormatContext *oc;
	AVStream *st;
	AVRational in_tb;
	int64_t offset;           /* added to every timestamp, in_tb */
	int fd;                   /* current file; -1 discards */
	int64_t file_bytes;
	int write_errno;          /* first failed write(2) */
	double segment_seconds;
	int seg_number;           /* 0 while writing init.mp4 */
	int64_t seg_start;        /* pts of the open segment, stream tb */
	int64_t end_pts;          /* largest pts + duration, stream tb */
	int64_t next_cut;         /* in_tb */
	bool seg_open;
	kino_track_summary_t *summary;
	/* protected tracks */
	const kino_protection_asset_key_t *key; /* borrowed; NULL: clear */
	int nal_length_size;      /* 4 for H.264 (subsamples), 0 for audio */
	char hls_dir[4200], dash_dir[4200], name[32];
	bool capturing;           /* the current file collects into mem */
	uint8_t *mem;
	size_t mem_len, mem_cap;
};

static int io_write(void *opaque, uint8_t *buf, int size)
{
	kino_cmaf_writer_t *w = opaque;
	int left = size;

	if (w->write_errno != 0)
		return AVERROR(w->write_errno);
	if (w->capturing) {
		if (w->mem_len + (size_t)size > w->mem_cap) {
			size_t cap = w->mem_cap ? w->mem_cap : 1 << 20;
			uint8_t *m;
			while (cap < w->mem_len + (size_t)size)
				cap *= 2;
			/* Not realloc: the old block holds clear media, wipe it. */
			m = malloc(cap);
			if (m == NULL) {
				w->write_errno = ENOMEM;
				return AVERROR(ENOMEM);
			}
			if (w->mem != NULL) {
				memcpy(m, w->mem, w->mem_len);
				explicit_bzero(w->mem, w->mem_cap);
				free(w->mem);
			}
			w->mem = m;
			w->mem_cap = cap;
		}
		memcpy(w->mem + w->mem_len, buf, (size_t)size);
		w->mem_len += (size_t)size;
		w->file_bytes += size;
		return size;
	}
	if (w->fd < 0)
		return size;
	while (left > 0) {
		ssize_t n = write(w->fd, buf, (size_t)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->write_errno = errno;
			return AVERROR(errno);
		}
		buf += n;
		left -= (int)n;
	}
	w->file_bytes += size;
	return size;
}

static int fail_io(kino_cmaf_writer_t *w, int averr, const char *what,
		   kino_error_t *err)
{
	if (w->write_errno != 0)
		return kino_error_set(err, kino_errno_to_kino(w->write_errno),
				      "cmaf: %s '%s': %s", what, w->path,
				      strerror(w->write_errno));
	return kino_error_set(err, KINO_EIO, "cmaf: %s '%s': %s", what, w->path,
			      av_err2str(averr));
}

static int file_open(kino_cmaf_writer_t *w, const char *name, kino_error_t *err)
{
	if (w->key != NULL) {
		snprintf(w->name, sizeof(w->name), "%s", name);
		snprintf(w->path, sizeof(w->path), "%s/%s", w->hls_dir, name);
		w->capturing = true;
		w->mem_len = 0;
		w->file_bytes = 0;
		return 0;
	}
	snprintf(w->path, sizeof(w->path), "%s/%s", w->dir, name);
	w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	w->file_bytes = 0;
	if (w->fd < 0)
		return kino_error_set(err, kino_errno_to_kino(errno),
				      "cmaf: open '%s': %s", w->path, strerror(errno));
	return 0;
}

/* Writes the collected file transformed for HLS and for DASH. */
static int protected_close(kino_cmaf_writer_t *w, kino_error_t *err)
{
	uint8_t *hls = NULL, *dash = NULL;
	size_t hls_len = 0, dash_len = 0;
	char path[4300];
	int ret;

	w->capturing = false;
	if (w->write_errno != 0)
		return fail_io(w, 0, "write", err);
	if (w->seg_number == 0) {
		ret = kino_protection_cenc_init_rewrite(w->key, w->mem, w->mem_len, &dash,
							&dash_len, err);
	} else {
		ret = kino_protection_hls_segment_encrypt(w->key->key, (uint64_t)w->seg_number,
							  w->mem, w->mem_len, &hls, &hls_len, err);
		if (ret == 0)
			ret = kino_protection_cenc_segment_encrypt(w->key, w->nal_length_size,
								   w->mem, w->mem_len, &dash,
								   &dash_len, err);
	}
	if (ret < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", w->hls_dir, w->name);
	ret = hls ? kino_asset_file_write(path, hls, hls_len, err)
		  : kino_asset_file_write(path, w->mem, w->mem_len, err);
	if (ret < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", w->dash_dir, w->name);
	ret = kino_asset_file_write(path, dash, dash_len, err);
	if (ret < 0)
		goto out;
	w->file_bytes = (int64_t)(hls ? (hls_len > dash_len ? hls_len : dash_len) : dash_len);
out:
	free(hls);
	free(dash);
	/* The clear bytes of a protected track live only here. */
	explicit_bzero(w->mem, w->mem_len);
	w->mem_len = 0;
	return ret;
}

static int file_close(kino_cmaf_writer_t *w, kino_error_t *err)
{
	int fd = w->fd;

	avio_flush(w->oc->pb);
	if (w->key != NULL)
		return protected_close(w, err);
	w->fd = -1;
	if (w->write_errno != 0) {
		close(fd);
		return fail_io(w, 0, "write", err);
	}
	if (close(fd) != 0)
		return kino_error_set(err, kino_errno_to_kino(errno),
				      "cmaf: close '%s': %s", w->path, strerror(errno));
	return 0;
}

/* Ends the open segment: flush the fragment into its file, record it. */
static int segment_end(kino_cmaf_writer_t *w, int64_t next_start,
		       kino_error_t *err)
{
	int ret, averr;

	averr = av_write_frame(w->oc, NULL);
	if (averr < 0)
		return fail_io(w, averr, "flush fragment", err);
	ret = file_close(w, err);
	if (ret < 0)
		return ret;
	ret = kino_track_summary_add(w->summary, next_start - w->seg_start,
				     w->file_bytes);
	if (ret < 0)
		return kino_error_set(err, ret, "cmaf: out of memory");
	w->seg_open = false;
	return 0;
}

int kino_cmaf_writer_new(const char *root, const char *rel,
			 const AVCodecParameters *codecpar,
			 const AVRational *time_base, double segment_seconds,
			 double offset_seconds, const kino_protection_asset_key_t *key,
			 kino_track_summary_t *summary, kino_cmaf_writer_t **out,
			 kino_error_t *err)
{
	int ret = 0, averr;
	kino_cmaf_writer_t *w = NULL;
	uint8_t *iobuf = NULL;
	AVDictionary *opts = NULL;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return kino_error_set(err, KINO_ENOMEM, "cmaf: out of memory");
	w->fd = -1;
	snprintf(w->dir, sizeof(w->dir), "%s/%s", root, rel);
	w->in_tb = *time_base;
	w->offset = llround(offset_seconds / av_q2d(*time_base));
	w->segment_seconds = segment_seconds;
	w->summary = summary;
	w->end_pts = AV_NOPTS_VALUE;

	if (key != NULL) {
		w->key = key;
		w->nal_length_size = codecpar->codec_id == AV_CODEC_ID_H264 ? 4 : 0;
		snprintf(w->hls_dir, sizeof(w->hls_dir), "%s/hls/%s", root, rel);
		snprintf(w->dash_dir, sizeof(w->dash_dir), "%s/dash/%s", root, rel);
		ret = kino_asset_mkdirs(w->hls_dir, err);
		if (ret == 0)
			ret = kino_asset_mkdirs(w->dash_dir, err);
	} else {
		ret = kino_asset_mkdirs(w->dir, err);
	}
	if (ret < 0)
		goto out;
	averr = avformat_alloc_output_context2(&w->oc, NULL, "mp4", NULL);
	if (averr < 0 || (w->st = avformat_new_stream(w->oc, NULL)) == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "cmaf: cannot create muxer");
		goto out;
	}
	averr = avcodec_parameters_copy(w->st->codecpar, codecpar);
	if (averr < 0) {
		ret = kino_error_set(err, KINO_ENOMEM, "cmaf: out of memory");
		goto out;
	}
	w->st->codecpar->codec_tag = 0;
	w->st->time_base = *time_base;
	iobuf = av_malloc(IO_BUFFER);
	if (iobuf == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "cmaf: out of memory");
		goto out;
	}
	w->oc->pb = avio_alloc_context(iobuf, IO_BUFFER, 1, w, NULL, io_write, NULL);
	if (w->oc->pb == NULL) {
		av_free(iobuf);
		ret = kino_error_set(err, KINO_ENOMEM, "cmaf: out of memory");
		goto out;
	}
	w->oc->flags |= AVFMT_FLAG_CUSTOM_IO;

	ret = file_open(w, "init.mp4", err);
	if (ret < 0)
		goto out;
	/* Fragments only when we say so; the moov carries no samples; each
	 * moof is its own base (CMAF 7.3.2.2); no mfra at the end. */
	av_dict_set(&opts, "movflags",
		    "frag_custom+empty_moov+default_base_moof+skip_trailer+cmaf", 0);
	averr = avformat_write_header(w->oc, &opts);
	if (averr < 0) {
		ret = fail_io(w, averr, "write header", err);
		goto out;
	}
	ret = file_close(w, err);
	if (ret < 0)
		goto out;
	summary->init_bytes = w->file_bytes;
	summary->timescale = w->st->time_base.den / (w->st->time_base.num ? w->st->time_base.num : 1);
	summary->pto = av_rescale_q(w->offset, w->in_tb, w->st->time_base);
	*out = w;
	w = NULL;
out:
	av_dict_free(&opts);
	kino_cmaf_writer_destroy(&w);
	return ret;
}

int kino_cmaf_writer_write(kino_cmaf_writer_t *w, AVPacket *pkt,
			   kino_error_t *err)
{
	int ret = 0, averr;
	int64_t pts_in = pkt->pts;

	if (pkt->pts == AV_NOPTS_VALUE) {
		ret = kino_error_set(err, KINO_EMEDIA, "cmaf: packet without pts");
		goto out;
	}
	if ((pkt->flags & AV_PKT_FLAG_KEY) && (!w->seg_open || pts_in >= w->next_cut)) {
		int64_t start = av_rescale_q(pts_in + w->offset, w->in_tb, w->st->time_base);
		double secs = pts_in * av_q2d(w->in_tb);
		char name[32];

		if (w->seg_open) {
			ret = segment_end(w, start, err);
			if (ret < 0)
				goto out;
		}
		w->seg_number++;
		snprintf(name, sizeof(name), "seg-%05d.m4s", w->seg_number);
		ret = file_open(w, name, err);
		if (ret < 0)
			goto out;
		if (w->seg_number == 1)
			w->summary->first_pts = start;
		w->seg_open = true;
		w->seg_start = start;
		/* The next boundary strictly after this packet. */
		int64_t k = (int64_t)floor(secs / w->segment_seconds + 1e-9) + 1;
		if (k < 1)
			k = 1; /* priming before 0 belongs to the first segment */
		w->next_cut = (int64_t)llround(k * w->segment_seconds / av_q2d(w->in_tb));
	}
	if (!w->seg_open) {
		ret = kino_error_set(err, KINO_EMEDIA,
				     "cmaf: track does not start with a key frame");
		goto out;
	}
	pkt->pts += w->offset;
	if (pkt->dts != AV_NOPTS_VALUE)
		pkt->dts += w->offset;
	if (pkt->dts != AV_NOPTS_VALUE && pkt->dts < 0) {
		ret = kino_error_set(err, KINO_EIO, "cmaf: decode time %lld below zero "
				     "(presentation offset too small)", (long long)pkt->dts);
		goto out;
	}
	av_packet_rescale_ts(pkt, w->in_tb, w->st->time_base);
	pkt->stream_index = 0;
	{
		int64_t end = pkt->pts + (pkt->duration > 0 ? pkt->duration : 0);
		if (w->end_pts == AV_NOPTS_VALUE || end > w->end_pts)
			w->end_pts = end;
	}
	averr = av_write_frame(w->oc, pkt);
	if (averr < 0)
		ret = fail_io(w, averr, "write", err);
out:
	av_packet_unref(pkt);
	return ret;
}

int kino_cmaf_writer_finish(kino_cmaf_writer_t *w, kino_error_t *err)
{
	int ret = 0, averr;

	if (w->seg_open) {
		ret = segment_end(w, w->end_pts, err);
		if (ret < 0)
			return ret;
	}
	/* Nothing is left to write (skip_trailer); fd is -1, so any stray
	 * bytes are discarded rather than appended to the last segment. */
	averr = av_write_trailer(w->oc);
	if (averr < 0)
		return fail_io(w, averr, "trailer", err);
	return 0;
}

void kino_cmaf_writer_destroy(kino_cmaf_writer_t **wp)
{
	kino_cmaf_writer_t *w = wp ? *wp : NULL;

	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->oc != NULL) {
		if (w->oc->pb != NULL) {
			av_freep(&w->oc->pb->buffer);
			avio_context_free(&w->oc->pb);
		}
		avformat_free_context(w->oc);
	}
	if (w->mem != NULL) {
		explicit_bzero(w->mem, w->mem_cap);
		free(w->mem);
	}
	free(w);
	*wp = NULL;
}
