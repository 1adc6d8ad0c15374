/* See beacon_fixture.h. */
#include "beacon_fixture.h"

#include "check.h"

#include <stdio.h>
#include <time.h>

int64_t fx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fx_start(char *out, size_t size, const kino_playback_keyring_t *kr, const char *sid,
	      long long seq, int64_t ts, const char *title, const char *asset,
	      const char *device, long long duration_ms)
{
	char tok[KINO_PLAYBACK_TOKEN_MAX], prefix[200];

	snprintf(prefix, sizeof(prefix), "%s/", asset);
	CHECK(kino_playback_token_sign(kr, prefix, sid, fx_now_ms() / 1000 + 3600, tok,
				       sizeof(tok), NULL) == 0);
	snprintf(out, size,
		 "{\"v\":1,\"session_id\":\"%s\",\"seq\":%lld,\"ts\":%lld,"
		 "\"event\":\"session_start\",\"title_id\":\"%s\",\"asset_id\":\"%s\","
		 "\"device\":\"%s\",\"token\":\"%s\",\"duration_ms\":%lld,"
		 "\"player\":{\"name\":\"hls.js\",\"version\":\"1.5.0\"}}",
		 sid, seq, (long long)ts, title, asset, device, tok, duration_ms);
}

void fx_heartbeat(char *out, size_t size, const char *sid, long long seq, int64_t ts,
		  long long playhead_ms, long long bitrate)
{
	snprintf(out, size,
		 "{\"v\":1,\"session_id\":\"%s\",\"seq\":%lld,\"ts\":%lld,\"event\":\"heartbeat\","
		 "\"playhead_ms\":%lld,\"bitrate\":%lld,\"buffer_ms\":12000,\"dropped_frames\":0,"
		 "\"player_width\":1280,\"player_height\":720}",
		 sid, seq, (long long)ts, playhead_ms, bitrate);
}

void fx_event(char *out, size_t size, const char *sid, long long seq, int64_t ts,
	      const char *event, const char *extra)
{
	snprintf(out, size, "{\"v\":1,\"session_id\":\"%s\",\"seq\":%lld,\"ts\":%lld,\"event\":\"%s\"%s}",
		 sid, seq, (long long)ts, event, extra);
}
