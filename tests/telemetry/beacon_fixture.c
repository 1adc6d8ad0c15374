/* See beacon_fixture.h. */
#include "beacon_fixture.h"

#include "check.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/health.h"
#include "kino/http.h"
#include "kino/metrics.h"
#include "kino/telemetry.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

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

int fx_run_collector(const char *uri, const char *data_dir, int port, const char *database,
		     int slow_db_ms)
{
	kino_config_t cfg;
	kino_telemetry_limits_t lim;
	kino_health_t health;
	kino_metrics_t metrics;
	kino_error_t err = {0};
	kino_telemetry_t *t;
	kino_db_t *db;

	kino_db_global_init();
	kino_http_global_init();
	kino_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
	snprintf(cfg.db.uri, sizeof(cfg.db.uri), "%s", uri);
	snprintf(cfg.db.database, sizeof(cfg.db.database), "%s", database);
	cfg.db.timeout_ms = 3000;
	cfg.db.health_interval_ms = 200;
	snprintf(cfg.playback.keys, sizeof(cfg.playback.keys), "%s", FX_KEYS);
	snprintf(cfg.telemetry.host, sizeof(cfg.telemetry.host), "127.0.0.1");
	cfg.telemetry.port = port;
	kino_telemetry_limits_defaults(&lim);
	lim.rate_per_s = 0;
	if (slow_db_ms > 0)
		lim.slow_db_ms = slow_db_ms;
	db = kino_db_new(&cfg.db, &err);
	if (db == NULL || kino_db_monitor_start(db, &err) != 0)
		goto fail;
	kino_health_init(&health, db, "telemetry");
	kino_metrics_init(&metrics, db);
	t = kino_telemetry_new(&cfg, db, &health, &metrics, &lim, &err);
	if (t == NULL || kino_telemetry_start(t, &err) != 0)
		goto fail;
	for (;;) /* until killed: no orderly shutdown here, on purpose */
		pause();
fail:
	fprintf(stderr, "collector: %s\n", kino_error_message(&err));
	return 1;
}
