/* Routes libav*'s log (av_log) into Kino's, with "libav" as the module and
 * the component (the AVClass name, "h264", "mov,mp4,...") as the function,
 * so a line says which codec or muxer spoke. */
#define KINO_LOG_MODULE "libav"
#include "kino/ingest.h"
#include "kino/log.h"

#include <libavutil/log.h>

#include <stdio.h>

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
	kino_log_write(kl, KINO_LOG_MODULE, component, "%s", msg);
}

void kino_ingest_global_init(void)
{
	av_log_set_callback(av_log_to_kino);
}
