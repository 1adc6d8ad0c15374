/* kino loadgen: simulated viewers sending QoE beacons to a collector, and a
 * report of what came back. Parses options, opens the playback keyring the
 * collector uses (so the tokens it mints bind), and runs kino_loadgen_run()
 * from the telemetry module; docs/loadgen.md says what the figures mean. */
#include "commands.h"

#include "kino/error.h"
#include "kino/loadgen.h"
#include "kino/playback.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The collector's keys: playback.keys, else <data_dir>/keys/playback.keys
 * (the rule of `kino serve` and `kino telemetry`). */
static kino_playback_keyring_t *open_keys(const kino_config_t *cfg, kino_error_t *err)
{
	char path[4200];

	if (cfg->playback.keys[0] != '\0')
		return kino_playback_keyring_new(cfg->playback.keys, err);
	snprintf(path, sizeof(path), "%s/keys/playback.keys", cfg->data_dir);
	return kino_playback_keyring_load_or_create(path, err);
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

static void print_report(const kino_loadgen_report_t *r, uint64_t seed, bool json)
{
	if (json) {
		printf("{\"seed\":%llu,\"sid_prefix\":\"%s\",\"sessions\":%lld,\"sent\":%lld,\"acked\":%lld,"
		       "\"rejected\":%lld,\"backoff\":%lld,\"throttled\":%lld,\"resent\":%lld,"
		       "\"unacked\":%lld,\"unsent\":%lld,\"reconnects\":%lld,\"ack_ms\":{\"p50\":%.3f,\"p95\":%.3f,"
		       "\"p99\":%.3f},\"elapsed_s\":%.3f,\"acked_per_s\":%.1f}\n",
		       (unsigned long long)seed, r->sid_prefix, r->sessions, r->sent, r->acked,
		       r->rejected, r->backoff, r->throttled, r->resent, r->unacked, r->unsent, r->reconnects,
		       r->p50_ms, r->p95_ms, r->p99_ms, r->elapsed_s, r->acked_per_s);
		return;
	}
	printf("seed        %llu (session ids %s...)\n"
	       "sessions    %lld\n"
	       "beacons     sent %lld, acked %lld, rejected %lld, unacked %lld, never sent %lld\n"
	       "answers     backoff %lld, throttled %lld; resent %lld; reconnects %lld\n"
	       "ack latency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms\n"
	       "throughput  %.1f acked beacons/s over %.2f s\n",
	       (unsigned long long)seed, r->sid_prefix, r->sessions, r->sent, r->acked, r->rejected,
	       r->unacked, r->unsent, r->backoff, r->throttled, r->resent, r->reconnects, r->p50_ms, r->p95_ms,
	       r->p99_ms, r->acked_per_s, r->elapsed_s);
}

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"viewers", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'},
		{"duration", required_argument, NULL, 'd'},
		{"heartbeat-ms", required_argument, NULL, 'H'},
		{"connections", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 's'},
		{"drain", required_argument, NULL, 'D'},
		{"window", required_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	kino_loadgen_config_t lc;
	kino_loadgen_report_t rep;
	kino_playback_keyring_t *keys = NULL;
	kino_error_t err = {0};
	bool json = false, have_seed = false;
	double v;
	int c, ret = KINO_EXIT_FAILURE;

	kino_loadgen_config_defaults(&lc);
	snprintf(lc.url, sizeof(lc.url), "ws://%s:%d/v1/beacons", cfg->telemetry.host,
		 cfg->telemetry.port);
	optind = 0; /* glibc: start over, the main parser has used getopt */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (strlen(optarg) >= sizeof(lc.url))
				goto bad;
			snprintf(lc.url, sizeof(lc.url), "%s", optarg);
			break;
		case 'n':
			if (!parse_num(optarg, 1, 1000000, &v))
				goto bad;
			lc.viewers = (int)v;
			break;
		case 'r':
			if (!parse_num(optarg, 1e-6, 1e6, &lc.rate))
				goto bad;
			break;
		case 'd':
			if (!parse_num(optarg, 1e-3, 7 * 86400, &lc.duration_s))
				goto bad;
			break;
		case 'H':
			if (!parse_num(optarg, 10, 600000, &v))
				goto bad;
			lc.heartbeat_ms = (int)v;
			break;
		case 'c':
			if (!parse_num(optarg, 1, 10000, &v))
				goto bad;
			lc.connections = (int)v;
			break;
		case 's':
			if (!parse_num(optarg, 0, 1.8e19, &v))
				goto bad;
			lc.seed = strtoull(optarg, NULL, 10);
			have_seed = true;
			break;
		case 'D':
			if (!parse_num(optarg, 0, 3600, &lc.drain_s))
				goto bad;
			break;
		case 'w':
			if (!parse_num(optarg, 0, 1000000, &v))
				goto bad;
			lc.window = (int)v;
			break;
		case 'j':
			json = true;
			break;
		default:
			return KINO_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kino loadgen: unexpected argument '%s'\n", argv[optind]);
		return KINO_EXIT_USAGE;
	}
	if (!have_seed) /* a fresh run by default; the report names the seed to replay it */
		lc.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
	keys = open_keys(cfg, &err);
	if (keys == NULL) {
		fprintf(stderr, "kino loadgen: playback keys: %s\n", kino_error_message(&err));
		goto out;
	}
	lc.keys = keys;
	if (kino_loadgen_config_validate(&lc, &err) != 0) {
		fprintf(stderr, "kino loadgen: %s\n", kino_error_message(&err));
		ret = KINO_EXIT_USAGE;
		goto out;
	}
	if (kino_loadgen_run(&lc, &rep, &err) != 0) {
		fprintf(stderr, "kino loadgen: %s\n", kino_error_message(&err));
		goto out;
	}
	print_report(&rep, lc.seed, json);
	fflush(stdout);
	if (rep.sent == 0)
		fprintf(stderr, "kino loadgen: no beacon was sent (is the collector at %s?)\n", lc.url);
	else if (rep.rejected > 0)
		fprintf(stderr, "kino loadgen: %lld beacons refused, the first: %s\n", rep.rejected,
			rep.first_reject);
	else if (rep.unsent > 0)
		fprintf(stderr, "kino loadgen: %lld beacons were never sent (no connection)\n", rep.unsent);
	else if (rep.unacked > 0 || rep.acked != rep.sent)
		fprintf(stderr, "kino loadgen: %lld of %lld beacons were never acknowledged\n",
			rep.sent - rep.acked, rep.sent);
	else
		ret = KINO_EXIT_OK;
	goto out;
bad:
	fprintf(stderr, "kino loadgen: bad option value '%s' (see kino loadgen --help)\n", optarg);
	ret = KINO_EXIT_USAGE;
out:
	kino_playback_keyring_destroy(keys);
	return ret;
}

const kino_command_t kino_cmd_loadgen = {
	.name = "loadgen",
	.summary = "simulate viewers sending QoE beacons",
	.usage = "Usage: kino loadgen [options]\n"
		 "\n"
		 "Plays simulated viewers through playback sessions against a telemetry\n"
		 "collector over its WebSocket, and reports what was acknowledged.\n"
		 "\n"
		 "  --url URL           the collector (ws://<telemetry.listen>/v1/beacons)\n"
		 "  --viewers N         at most N sessions at once (10)\n"
		 "  --rate R            sessions started per second (1)\n"
		 "  --duration S        seconds during which sessions start and play (10)\n"
		 "  --heartbeat-ms MS   between heartbeats (1000)\n"
		 "  --connections C     WebSockets shared by the viewers (4)\n"
		 "  --seed N            replays the same sessions (default: a fresh one)\n"
		 "  --drain S           after the run, wait up to S seconds for acks (30)\n"
		 "  --window W          beacons unanswered per connection, at most (256;\n"
		 "                      0: no limit, a backlog is sent whole after a back-off)\n"
		 "  --json              the report as one JSON object\n"
		 "\n"
		 "Tokens are signed with playback.keys (else <data_dir>/keys/playback.keys),\n"
		 "which must be the collector's. Exit 0 when every beacon sent was acknowledged\n"
		 "and none refused, 1 otherwise (the reason on stderr), 2 for bad options.\n"
		 "See docs/loadgen.md.\n",
	.run = run,
};
