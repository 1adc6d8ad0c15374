/* The sessionizer: folds one play's beacons, in seq order, into the
 * metrics of its `plays` document. Definitions follow Mux Data and Conviva
 * (docs/telemetry.md writes them down):
 *
 *   video startup time   first frame (`playing`) - play request (session_start)
 *   EBVS                 closed with no frame and no fatal error
 *   playback failure     a fatal error; a startup failure if before a frame
 *   rebuffering          stalls after the first frame; stalls while seeking
 *                        are part of the seek, not rebuffering
 *   watch time           startup + playing + rebuffering + seeking (not paused)
 *   rebuffer ratio       rebuffering / watch time
 *   average bitrate      bitrate weighted by the playing time spent at it
 *   upscale %            max(0, min(player w/video w, player h/video h) - 1),
 *                        weighted by playing time
 *   completion           furthest playhead / content duration
 *
 * Each beacon's time since the previous one is charged to the phase the
 * player was in before it, with the rendition and sizes in force then.
 * Pure functions over caller-owned state: any thread. */
#include "telemetry_internal.h"

#include <stdio.h>
#include <string.h>

void play_state_init(play_state_t *p, const char *session_id)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->session_id, sizeof(p->session_id), "%s", session_id);
	p->last_seq = -1;
	p->startup_ms = -1;
	p->bitrate = p->width = p->height = -1;
	p->player_width = p->player_height = -1;
	p->duration_ms = -1;
	p->dropped_frames = 0;
	p->last_minute = -1;
}

static double upscale_pct(const play_state_t *p)
{
	double f;

	if (p->width <= 0 || p->player_width <= 0)
		return -1;
	f = (double)p->player_width / (double)p->width;
	if (p->height > 0 && p->player_height > 0) {
		double fh = (double)p->player_height / (double)p->height;
		if (fh < f)
			f = fh;
	}
	return f > 1.0 ? (f - 1.0) * 100.0 : 0.0;
}

/* Charges dt ms to the current phase. */
static void charge(play_state_t *p, int64_t dt)
{
	double up;

	switch (p->phase) {
	case PHASE_STARTING: p->starting_ms += dt; break;
	case PHASE_PAUSED: p->paused_ms += dt; break;
	case PHASE_REBUFFERING: p->rebuffer_ms += dt; break;
	case PHASE_SEEKING: p->seeking_ms += dt; break;
	case PHASE_PLAYING:
		p->playing_ms += dt;
		if (p->bitrate > 0) {
			p->bitrate_time += (double)p->bitrate * (double)dt;
			p->bitrate_ms += dt;
		}
		up = upscale_pct(p);
		if (up >= 0) {
			p->upscale_time += up * (double)dt;
			p->size_ms += dt;
			if (up > p->max_upscale_pct)
				p->max_upscale_pct = up;
		}
		break;
	default: break;
	}
}

static void measure(play_state_t *p, const beacon_t *b)
{
	if (b->playhead_ms >= 0 && b->playhead_ms > p->furthest_ms)
		p->furthest_ms = b->playhead_ms;
	if (b->dropped_frames > p->dropped_frames)
		p->dropped_frames = b->dropped_frames; /* players report a running total */
	if (b->bitrate > 0) {
		if (p->bitrate > 0 && b->bitrate != p->bitrate)
			p->switches++;
		p->bitrate = b->bitrate;
	}
	if (b->width > 0)
		p->width = b->width;
	if (b->height > 0)
		p->height = b->height;
	if (b->player_width > 0)
		p->player_width = b->player_width;
	if (b->player_height > 0)
		p->player_height = b->player_height;
}

int64_t play_fold(play_state_t *p, const beacon_t *b)
{
	int64_t minute;

	if (b->seq <= p->last_seq)
		return -1;
	p->last_seq = b->seq;
	p->beacons++;
	if (p->last_ts > 0 && b->ts > p->last_ts)
		charge(p, b->ts - p->last_ts);
	if (b->ts > p->last_ts)
		p->last_ts = b->ts;
	measure(p, b);
	if (b->rebuffered && p->played && p->phase != PHASE_SEEKING)
		p->rebuffer_count++; /* CMCD bs: a stall of unknown length */

	switch (b->event) {
	case EV_SESSION_START:
		if (!p->has_start) {
			p->has_start = true;
			p->start_ts = b->ts;
			snprintf(p->title_id, sizeof(p->title_id), "%s", b->title_id);
			snprintf(p->asset_id, sizeof(p->asset_id), "%s", b->asset_id);
			snprintf(p->device, sizeof(p->device), "%s", b->device);
			snprintf(p->player_name, sizeof(p->player_name), "%s", b->player_name);
			snprintf(p->player_version, sizeof(p->player_version), "%s", b->player_version);
			snprintf(p->viewer_id, sizeof(p->viewer_id), "%s", b->viewer_id);
			p->duration_ms = b->duration_ms;
			if (p->phase == PHASE_NONE)
				p->phase = PHASE_STARTING;
		}
		break;
	case EV_PLAYING:
		if (!p->played) {
			p->played = true;
			if (b->startup_ms >= 0)
				p->startup_ms = b->startup_ms;
			else if (p->has_start)
				p->startup_ms = b->ts - p->start_ts;
		}
		if (p->phase != PHASE_ENDED)
			p->phase = PHASE_PLAYING;
		break;
	case EV_REBUFFER_START:
		if (p->phase == PHASE_PLAYING) {
			p->phase = PHASE_REBUFFERING;
			p->rebuffer_count++;
		}
		break;
	case EV_REBUFFER_END:
		if (p->phase == PHASE_REBUFFERING || p->phase == PHASE_SEEKING)
			p->phase = PHASE_PLAYING;
		break;
	case EV_SEEK:
		p->seeks++;
		if (p->phase == PHASE_PLAYING || p->phase == PHASE_PAUSED ||
		    p->phase == PHASE_REBUFFERING) {
			p->before_stall = p->phase == PHASE_PAUSED ? PHASE_PAUSED : PHASE_PLAYING;
			p->phase = PHASE_SEEKING;
		}
		break;
	case EV_PAUSE:
		if (p->phase == PHASE_PLAYING || p->phase == PHASE_REBUFFERING ||
		    p->phase == PHASE_SEEKING)
			p->phase = PHASE_PAUSED;
		break;
	case EV_RESUME:
		if ((p->phase == PHASE_PAUSED || p->phase == PHASE_SEEKING) && p->played)
			p->phase = PHASE_PLAYING;
		break;
	case EV_ERROR:
		p->errors++;
		if (b->fatal) {
			if (!p->failed)
				snprintf(p->failure_code, sizeof(p->failure_code), "%s", b->code);
			p->failed = true;
			if (!p->played)
				p->startup_failed = true;
			p->phase = PHASE_ENDED;
		}
		break;
	case EV_ENDED:
		p->ended = true;
		if (p->duration_ms > 0 && p->duration_ms > p->furthest_ms)
			p->furthest_ms = p->duration_ms;
		p->phase = PHASE_ENDED;
		break;
	case EV_SESSION_END:
		p->phase = PHASE_ENDED;
		break;
	default:
		break;
	}
	if (!p->has_start)
		return -1;
	minute = b->ts - b->ts % 60000;
	if (minute <= p->last_minute)
		return -1;
	p->last_minute = minute;
	return minute;
}

bool play_is_over(const play_state_t *p)
{
	return p->phase == PHASE_ENDED;
}

static const char *phase_name(play_phase_t ph)
{
	static const char *const names[] = {"none", "starting", "playing", "paused",
					    "rebuffering", "seeking", "ended"};
	return names[ph];
}

void play_append_identity(const play_state_t *p, bson_t *doc)
{
	bson_t pl;

	BSON_APPEND_UTF8(doc, "session_id", p->session_id);
	BSON_APPEND_UTF8(doc, "title_id", p->title_id);
	BSON_APPEND_UTF8(doc, "asset_id", p->asset_id);
	BSON_APPEND_UTF8(doc, "device", p->device);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "player", &pl);
	BSON_APPEND_UTF8(&pl, "name", p->player_name);
	BSON_APPEND_UTF8(&pl, "version", p->player_version);
	bson_append_document_end(doc, &pl);
	BSON_APPEND_DATE_TIME(doc, "started_at", p->start_ts);
}

void play_append_metrics(const play_state_t *p, bool closed, int64_t now_ms,
			 bson_t *doc)
{
	int64_t watch = p->starting_ms + p->playing_ms + p->rebuffer_ms + p->seeking_ms;
	double completion = -1;

	BSON_APPEND_UTF8(doc, "phase", phase_name(p->phase));
	if (p->viewer_id[0]) /* core's user once known: may change at close */
		BSON_APPEND_UTF8(doc, "viewer_id", p->viewer_id);
	BSON_APPEND_DATE_TIME(doc, "last_ts", p->last_ts);
	BSON_APPEND_DATE_TIME(doc, "updated_at", now_ms);
	BSON_APPEND_INT64(doc, "beacons", p->beacons);
	BSON_APPEND_BOOL(doc, "played", p->played);
	if (p->startup_ms >= 0)
		BSON_APPEND_INT64(doc, "startup_ms", p->startup_ms);
	else
		BSON_APPEND_NULL(doc, "startup_ms");
	BSON_APPEND_INT64(doc, "watch_ms", watch);
	BSON_APPEND_INT64(doc, "playing_ms", p->playing_ms);
	BSON_APPEND_INT64(doc, "paused_ms", p->paused_ms);
	BSON_APPEND_INT64(doc, "seeking_ms", p->seeking_ms);
	BSON_APPEND_INT32(doc, "rebuffer_count", p->rebuffer_count);
	BSON_APPEND_INT64(doc, "rebuffer_ms", p->rebuffer_ms);
	BSON_APPEND_DOUBLE(doc, "rebuffer_ratio",
			   watch > 0 ? (double)p->rebuffer_ms / (double)watch : 0.0);
	BSON_APPEND_INT64(doc, "avg_bitrate",
			  p->bitrate_ms > 0 ? (int64_t)(p->bitrate_time / (double)p->bitrate_ms + 0.5)
					    : (p->bitrate > 0 ? p->bitrate : 0));
	BSON_APPEND_INT64(doc, "bitrate_ms", p->bitrate_ms);
	BSON_APPEND_INT32(doc, "switches", p->switches);
	BSON_APPEND_INT32(doc, "seeks", p->seeks);
	BSON_APPEND_INT32(doc, "errors", p->errors);
	BSON_APPEND_DOUBLE(doc, "upscale_pct",
			   p->size_ms > 0 ? p->upscale_time / (double)p->size_ms : 0.0);
	BSON_APPEND_DOUBLE(doc, "max_upscale_pct", p->max_upscale_pct);
	BSON_APPEND_INT64(doc, "furthest_ms", p->furthest_ms);
	BSON_APPEND_INT64(doc, "dropped_frames", p->dropped_frames);
	if (p->duration_ms > 0) {
		completion = 100.0 * (double)p->furthest_ms / (double)p->duration_ms;
		if (completion > 100.0)
			completion = 100.0;
		BSON_APPEND_INT64(doc, "duration_ms", p->duration_ms);
		BSON_APPEND_DOUBLE(doc, "completion_pct", completion);
	}
	BSON_APPEND_BOOL(doc, "completed", p->ended || completion >= 95.0);
	BSON_APPEND_BOOL(doc, "failed", p->failed);
	BSON_APPEND_BOOL(doc, "startup_failed", p->startup_failed);
	if (p->failed)
		BSON_APPEND_UTF8(doc, "failure_code", p->failure_code);
	BSON_APPEND_BOOL(doc, "closed", closed);
	if (closed) {
		BSON_APPEND_BOOL(doc, "ebvs", !p->played && !p->failed);
		BSON_APPEND_DATE_TIME(doc, "closed_at", now_ms);
	}
}
