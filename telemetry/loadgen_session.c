/* The session model of kino loadgen: what one simulated viewer does.
 *
 * A session opens with session_start (a playback token signed for a made-up
 * asset, so the collector binds it: the token's own prefix names the asset),
 * shows its first frame after a startup delay, then sends a heartbeat every
 * heartbeat_ms while it plays. Between heartbeats it sometimes stalls
 * (rebuffer_start, rebuffer_end), switches rendition, pauses and resumes, or
 * seeks. It leaves after a planned watch time (session_end), or plays a
 * short clip to its end (ended, then session_end). Each call of
 * lg_session_step() writes at most one beacon, whose seq is the number of
 * beacons the session wrote before; everything random comes from the
 * session's own generator, seeded from the run's seed and its index, so a
 * seed replays the same sessions. */
#include "loadgen_internal.h"

#include "kino/playback.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	long long bitrate;
	int w, h;
} ladder[] = {
	{400000, 426, 240},   {800000, 640, 360},    {1500000, 960, 540},
	{3000000, 1280, 720}, {6000000, 1920, 1080},
};
#define NRUNGS ((int)(sizeof(ladder) / sizeof(ladder[0])))

static const char *const devices[] = {"web", "android", "ios", "tv"};
static const int player_sizes[][2] = {{640, 360}, {1280, 720}, {1920, 1080}, {390, 844}};

uint64_t lg_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t between(lg_session_t *s, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(lg_rand(&s->rng) % (uint64_t)(hi - lo + 1));
}

void lg_session_init(lg_session_t *s, const char *sid_prefix, int index, int conn,
		     uint64_t seed, int64_t now_us)
{
	const int *size;

	memset(s, 0, sizeof(*s));
	snprintf(s->sid, sizeof(s->sid), "%s%08x", sid_prefix, (unsigned)index);
	s->index = index;
	s->conn = conn;
	s->rng = seed ^ ((uint64_t)index * 0xd1b54a32d192ed03ULL);
	lg_rand(&s->rng);
	s->phase = LG_START;
	s->started_us = s->next_us = s->last_us = now_us;
	s->title = (int)between(s, 0, 9);
	s->device = devices[between(s, 0, 3)];
	size = player_sizes[between(s, 0, 3)];
	s->player_w = size[0];
	s->player_h = size[1];
	s->watch_plan_ms = between(s, 5, 40) * 1000;
	s->completes = between(s, 0, 99) < 30;
	/* a viewer who completes watches a clip as long as the plan */
	s->duration_ms = s->completes ? s->watch_plan_ms : s->watch_plan_ms * between(s, 2, 10);
	s->rung = (int)between(s, 1, 3);
	s->buffer_ms = 0;
}

static size_t head(const lg_session_t *s, char *out, size_t size, int64_t wall_ms,
		   const char *event)
{
	int n = snprintf(out, size, "{\"v\":1,\"session_id\":\"%s\",\"seq\":%d,\"ts\":%lld,\"event\":\"%s\"",
			 s->sid, s->nbeacons, (long long)wall_ms, event);

	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* Appends `fmt` and the closing brace. */
static void tail(char *out, size_t size, size_t used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void tail(char *out, size_t size, size_t used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + used, size - used, fmt, ap);
	va_end(ap);
	if (n >= 0 && used + (size_t)n + 1 < size)
		snprintf(out + used + (size_t)n, size - used - (size_t)n, "}");
}

static bool write_start(lg_session_t *s, const struct kino_playback_keyring *keys, int64_t wall_ms,
			char *out, size_t size)
{
	char asset[64], prefix[80], token[KINO_PLAYBACK_TOKEN_MAX];
	size_t used;

	/* a made-up asset: the collector needs no catalog, only that the
	 * token's prefix is "<asset_id>/" */
	snprintf(asset, sizeof(asset), "loadgen-asset-%d", s->title);
	snprintf(prefix, sizeof(prefix), "%s/", asset);
	if (kino_playback_token_sign(keys, prefix, s->sid, wall_ms / 1000 + 6 * 3600, token,
				     sizeof(token), NULL) != 0)
		return false;
	used = head(s, out, size, wall_ms, "session_start");
	tail(out, size, used,
	     ",\"title_id\":\"loadgen-title-%d\",\"asset_id\":\"%s\",\"device\":\"%s\","
	     "\"player\":{\"name\":\"kino-loadgen\",\"version\":\"1\"},\"token\":\"%s\","
	     "\"duration_ms\":%lld,\"viewer_id\":\"loadgen-viewer-%d\"",
	     s->title, asset, s->device, token, (long long)s->duration_ms, s->index);
	return true;
}

static void write_heartbeat(lg_session_t *s, int64_t wall_ms, char *out, size_t size)
{
	size_t used = head(s, out, size, wall_ms, "heartbeat");

	tail(out, size, used,
	     ",\"playhead_ms\":%lld,\"bitrate\":%lld,\"buffer_ms\":%lld,\"dropped_frames\":%lld,"
	     "\"player_width\":%d,\"player_height\":%d,\"width\":%d,\"height\":%d",
	     (long long)s->playhead_ms, ladder[s->rung].bitrate, (long long)s->buffer_ms, s->dropped,
	     s->player_w, s->player_h, ladder[s->rung].w, ladder[s->rung].h);
}

/* A plain event with the playhead. */
static void write_event(lg_session_t *s, int64_t wall_ms, const char *event, char *out, size_t size)
{
	size_t used = head(s, out, size, wall_ms, event);

	tail(out, size, used, ",\"playhead_ms\":%lld", (long long)s->playhead_ms);
}

/* The viewer leaves: ended first when the clip played to its end. */
static void leave_now(lg_session_t *s, int64_t now_us, int64_t wall_ms, char *out, size_t size)
{
	if (s->completes && s->phase == LG_PLAYING && s->watched_ms >= s->watch_plan_ms) {
		s->playhead_ms = s->duration_ms;
		write_event(s, wall_ms, "ended", out, size);
		s->phase = LG_ENDING;
		s->next_us = now_us + 50000;
		return;
	}
	tail(out, size, head(s, out, size, wall_ms, "session_end"), "%s", "");
	s->phase = LG_DONE;
}

static void play_on(lg_session_t *s, int64_t now_us, int64_t wall_ms, int heartbeat_ms, char *out,
		    size_t size)
{
	/* The events' odds are per second of playback (per beacon at 1 s
	 * heartbeats and slower), so that shorter heartbeats give more
	 * heartbeats, not a viewer who pauses and stalls more often. */
	int64_t per_s = heartbeat_ms < 1000 ? heartbeat_ms : 1000;
	int64_t roll = between(s, 0, 99999);

	s->next_us = now_us + (int64_t)heartbeat_ms * 1000;
	if (roll < 3 * per_s) {
		write_event(s, wall_ms, "rebuffer_start", out, size);
		s->buffer_ms = 0;
		s->phase = LG_REBUFFER;
		s->next_us = now_us + between(s, 300, 2500) * 1000;
	} else if (roll < 10 * per_s) {
		int up = between(s, 0, 1) ? 1 : -1;
		size_t used;

		if (s->rung + up < 0 || s->rung + up >= NRUNGS)
			up = -up;
		s->rung += up;
		used = head(s, out, size, wall_ms, "rendition_change");
		tail(out, size, used, ",\"bitrate\":%lld,\"width\":%d,\"height\":%d,\"playhead_ms\":%lld",
		     ladder[s->rung].bitrate, ladder[s->rung].w, ladder[s->rung].h,
		     (long long)s->playhead_ms);
	} else if (roll < 12 * per_s) {
		write_event(s, wall_ms, "pause", out, size);
		s->phase = LG_PAUSED;
		s->next_us = now_us + between(s, 1000, 4000) * 1000;
	} else if (roll < 14 * per_s && s->duration_ms > 2000) {
		int64_t from = s->playhead_ms, to = from + between(s, -30000, 60000);
		size_t used;

		to = to < 0 ? 0 : to > s->duration_ms - 1000 ? s->duration_ms - 1000 : to;
		s->playhead_ms = to;
		used = head(s, out, size, wall_ms, "seek");
		tail(out, size, used, ",\"playhead_ms\":%lld,\"from_ms\":%lld", (long long)to,
		     (long long)from);
		s->phase = LG_SEEKING;
		s->next_us = now_us + between(s, 200, 800) * 1000;
	} else {
		write_heartbeat(s, wall_ms, out, size);
	}
}

bool lg_session_step(lg_session_t *s, const struct kino_playback_keyring *keys,
		     int heartbeat_ms, bool leave, int64_t now_us, int64_t wall_ms,
		     char *out, size_t size)
{
	int64_t dt_ms;

	if (s->phase == LG_DONE || (!leave && now_us < s->next_us))
		return false;
	dt_ms = (now_us - s->last_us) / 1000;
	if (s->phase == LG_PLAYING) {
		/* the time since the last beacon was spent playing */
		s->watched_ms += dt_ms;
		s->playhead_ms += dt_ms;
		if (s->playhead_ms > s->duration_ms)
			s->playhead_ms = s->duration_ms;
		s->buffer_ms += between(s, -dt_ms / 2, dt_ms);
		s->buffer_ms = s->buffer_ms < 0 ? 0 : s->buffer_ms > 30000 ? 30000 : s->buffer_ms;
		s->dropped += between(s, 0, 99) < 10;
	}
	s->last_us = now_us;
	switch (s->phase) {
	case LG_START:
		if (!write_start(s, keys, wall_ms, out, size))
			return false;
		s->phase = LG_STARTUP;
		s->next_us = now_us + between(s, 300, 2500) * 1000;
		break;
	case LG_STARTUP:
		if (leave) { /* exit before video start */
			leave_now(s, now_us, wall_ms, out, size);
			break;
		}
		tail(out, size, head(s, out, size, wall_ms, "playing"), ",\"startup_ms\":%lld,\"playhead_ms\":0",
		     (long long)((now_us - s->started_us) / 1000));
		s->buffer_ms = between(s, 2000, 8000);
		s->phase = LG_PLAYING;
		s->next_us = now_us + (int64_t)heartbeat_ms * 1000;
		break;
	case LG_PLAYING:
		if (leave || s->watched_ms >= s->watch_plan_ms)
			leave_now(s, now_us, wall_ms, out, size);
		else
			play_on(s, now_us, wall_ms, heartbeat_ms, out, size);
		break;
	case LG_REBUFFER:
	case LG_PAUSED:
	case LG_SEEKING:
		if (leave) {
			leave_now(s, now_us, wall_ms, out, size);
			break;
		}
		write_event(s, wall_ms,
			    s->phase == LG_REBUFFER ? "rebuffer_end" : s->phase == LG_PAUSED ? "resume" : "playing",
			    out, size);
		if (s->phase == LG_REBUFFER)
			s->buffer_ms = between(s, 1000, 4000);
		s->phase = LG_PLAYING;
		s->next_us = now_us + (int64_t)heartbeat_ms * 1000;
		break;
	case LG_ENDING:
		tail(out, size, head(s, out, size, wall_ms, "session_end"), "%s", "");
		s->phase = LG_DONE;
		break;
	default:
		return false;
	}
	return true;
}
