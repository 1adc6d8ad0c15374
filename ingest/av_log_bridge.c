/* Routes libav*'s log (av_log) into Kino's, with "libav" as the module and
 * the component (the AVClass name, "h264", "mov,mp4,...") as the function,
 * so a line says which codec or muxer spoke. */
#define KINO_LOG_MODULE "libav"
#include "ingest_internal.h"
#include "kino/log.h"

#include <libavutil/log.h>

#include <stdio.h>
#include <string.h>

/* Messages that are expected in Kino's use of libav and would only alarm
 * an operator: they are logged at DEBUG. The mp4 muxer warns when a track
 * of an empty-moov (CMAF) file starts at a non-zero time; Kino starts
 * every track at the same presentation offset on purpose (see
 * transcode_pipeline.c), which is what keeps audio and video in sync. */
static const char *const expected[] = {
	"starts with a nonzero dts",
};

static bool is_expected(const char *msg)
{
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (strstr(msg, expected[i]) != NULL)
			return true;
	return false;
}

static kino_log_level_t level_from_av(int level)
{
	if (level <= AV_LOG_ERROR)
		return KINO_LOG_LEVEL_ERROR;
	if (level <= AV_LOG_WARNING)
		return KINO_LOG_LEVEL_WARN;
	if (level <= AV_LOG_INFO)
		return KINO_LOG_LEVEL_DEBUG; /* libav's info is chatty */
	return KINO_LOG_LEVEL_TRACE;
}

static void av_log_to_kino(void *avcl, int level, const char *fmt, va_list vl)
{
	kino_log_level_t kl = level_from_av(level);
	const char *component = "av";
	char msg[1024];

	if ((int)kl > kino_log_threshold)
		return;
	if (avcl != NULL && *(const AVClass **)avcl != NULL)
		component = (*(const AVClass **)avcl)->class_name;
	vsnprintf(msg, sizeof(msg), fmt, vl);
	if (kl < KINO_LOG_LEVEL_DEBUG && is_expected(msg)) {
		kl = KINO_LOG_LEVEL_DEBUG;
		if ((int)kl > kino_log_threshold)
			return;
	}
	kino_log_write(kl, KINO_LOG_MODULE, component, "%s", msg);
}

void kino_ingest_global_init(void)
{
	av_log_set_callback(av_log_to_kino);
	kino_ingest_fetch_global_init();
}
