/* kino loadgen: simulated viewers that send QoE beacons to a collector.
 *
 * A run plays viewers through realistic playback sessions (session_start,
 * startup, playing, heartbeats, rebuffers, rendition switches, pauses,
 * seeks, ended, session_end) over a few WebSocket connections to the
 * collector's /v1/beacons, keeps every beacon until it is acknowledged,
 * resends what was not acknowledged after a reconnect, and measures the
 * latency from send to ack of each beacon. docs/loadgen.md describes the
 * session model and the report.
 *
 * Threads: kino_loadgen_run() blocks its caller; the connections belong to a
 * libwebsockets service thread of the run's own. */
#ifndef KINO_LOADGEN_H
#define KINO_LOADGEN_H

#include <stdint.h>

struct kino_error;
struct kino_playback_keyring;

typedef struct kino_loadgen_config {
	char url[512];        /* ws://host:port/path; loopback or not, plain ws only */
	int viewers;          /* at most this many sessions at once (>= 1) */
	double rate;          /* sessions started per second (> 0) */
	double duration_s;    /* sessions start and play for this long (> 0) */
	int heartbeat_ms;     /* between heartbeats: 1000 */
	int connections;      /* WebSockets shared by the viewers: 4 */
	uint64_t seed;        /* everything random follows from it */
	double drain_s;       /* after duration_s, wait this long for acks: 30 */
	int window;           /* beacons written and unanswered per connection, at
				 most: 256; 0 for no limit */
	/* Borrowed for the run: signs each session's playback token, so it must
	 * hold the collector's signing key. */
	const struct kino_playback_keyring *keys;
} kino_loadgen_config_t;

typedef struct kino_loadgen_report {
	char sid_prefix[25];       /* every session id of the run starts with it */
	long long sessions;        /* sessions started */
	long long sent;            /* distinct beacons sent at least once */
	long long acked;           /* distinct beacons acknowledged */
	long long rejected;        /* distinct beacons refused (error frames) */
	long long backoff;         /* "backoff" answers */
	long long throttled;       /* "throttled" answers */
	long long resent;          /* sends beyond the first, after a reconnect or back off */
	long long unacked;         /* sent but neither acked nor refused at the end */
	long long unsent;          /* written by a session but never sent (no connection) */
	long long reconnects;      /* connections opened again after a loss */
	double p50_ms, p95_ms, p99_ms; /* ack latency, send to ack, per beacon */
	double elapsed_s;          /* from the first session to the last answer */
	double acked_per_s;        /* acked / elapsed_s */
	char first_reject[256];    /* the first error frame's field and message */
} kino_loadgen_report_t;

/* Fills cfg with the defaults above (url ws://127.0.0.1:8081/v1/beacons,
 * 10 viewers, 1 session/s, 10 s, seed 1, window 256, keys NULL). */
void kino_loadgen_config_defaults(kino_loadgen_config_t *cfg);

/* KINO_EINVAL, naming the option, for a configuration that cannot run. */
int kino_loadgen_config_validate(const kino_loadgen_config_t *cfg, struct kino_error *err);

/* Runs the load to its end (duration_s, then up to drain_s for the last
 * answers) and fills report. Returns 0 when the run took place, whatever its
 * figures say; a negative kino code when it could not (bad config, no
 * libwebsockets context, out of memory). */
int kino_loadgen_run(const kino_loadgen_config_t *cfg, kino_loadgen_report_t *report /* OUT */,
		     struct kino_error *err);

#endif
