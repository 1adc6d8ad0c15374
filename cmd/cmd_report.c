/* kino report: the analysts' reports (engagement, QoE, concurrency) from
 * the command line, the same text as GET /api/v1/reports/<kind> gives.
 * The work is kino_report_run() in the telemetry module. */
#include "commands.h"

#include "kino/db.h"
#include "kino/error.h"
#include "kino/telemetry.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_WAIT_MS 15000

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"title", required_argument, NULL, 'T'},
		{"device", required_argument, NULL, 'd'},
		{"group", required_argument, NULL, 'g'},
		{"top", required_argument, NULL, 'n'},
		{"format", required_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	kino_report_query_t q = {.top = 10};
	kino_report_kind_t kind;
	kino_error_t err = {0};
	kino_db_t *db = NULL;
	char *out = NULL;
	size_t len = 0;
	int c, ret = KINO_EXIT_FAILURE;

	if (argc < 2 || !kino_report_kind_parse(argv[1], &kind)) {
		fprintf(stderr, "kino report: say which report: engagement, qoe or concurrency\n");
		return KINO_EXIT_USAGE;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (kino_report_date_parse(optarg, "--from", &q.from_ms, &err) != 0)
				goto usage;
			break;
		case 't':
			if (kino_report_date_parse(optarg, "--to", &q.to_ms, &err) != 0)
				goto usage;
			break;
		case 'T':
			if (strlen(optarg) >= sizeof(q.title_id)) {
				kino_error_set(&err, KINO_EINVAL, "--title is too long");
				goto usage;
			}
			snprintf(q.title_id, sizeof(q.title_id), "%s", optarg);
			break;
		case 'd':
			if (strlen(optarg) >= sizeof(q.device)) {
				kino_error_set(&err, KINO_EINVAL, "--device is too long");
				goto usage;
			}
			snprintf(q.device, sizeof(q.device), "%s", optarg);
			break;
		case 'g':
			if (strcmp(optarg, "title") == 0)
				q.group = KINO_REPORT_GROUP_TITLE;
			else if (strcmp(optarg, "device") == 0)
				q.group = KINO_REPORT_GROUP_DEVICE;
			else if (strcmp(optarg, "day") == 0)
				q.group = KINO_REPORT_GROUP_DAY;
			else {
				kino_error_set(&err, KINO_EINVAL, "--group must be title, device or day");
				goto usage;
			}
			break;
		case 'n':
			q.top = atoi(optarg);
			if (q.top < 1 || q.top > 1000) {
				kino_error_set(&err, KINO_EINVAL, "--top must be 1 to 1000");
				goto usage;
			}
			break;
		case 'F':
			if (strcmp(optarg, "csv") == 0)
				q.csv = true;
			else if (strcmp(optarg, "json") != 0) {
				kino_error_set(&err, KINO_EINVAL, "--format must be json or csv");
				goto usage;
			}
			break;
		default:
			return KINO_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kino report: unexpected argument '%s'\n", argv[optind]);
		return KINO_EXIT_USAGE;
	}
	db = kino_db_new(&cfg->db, &err);
	if (db == NULL || kino_db_wait_ready(db, DB_WAIT_MS, &err) != 0) {
		fprintf(stderr, "kino report: the database does not answer (is `kino up` running, "
				"or KINO_MONGO_URI set?): %s\n", kino_error_message(&err));
		goto out;
	}
	if (kino_report_run(db, kind, &q, &out, &len, &err) != 0) {
		fprintf(stderr, "kino report: %s\n", kino_error_message(&err));
		ret = err.code == KINO_EINVAL ? KINO_EXIT_USAGE : KINO_EXIT_FAILURE;
		goto out;
	}
	fwrite(out, 1, len, stdout);
	if (!q.csv)
		fputc('\n', stdout);
	ret = fflush(stdout) == 0 ? KINO_EXIT_OK : KINO_EXIT_FAILURE;
	goto out;
usage: /* bad options: nothing is open yet */
	fprintf(stderr, "kino report: %s\n", kino_error_message(&err));
	ret = KINO_EXIT_USAGE;
out:
	free(out);
	kino_db_destroy(db);
	return ret;
}

const kino_command_t kino_cmd_report = {
	.name = "report",
	.summary = "engagement, QoE and concurrency reports (JSON or CSV)",
	.usage = "Usage: kino report engagement|qoe|concurrency [options]\n"
		 "\n"
		 "Computes a report over the telemetry in MongoDB (mongo.uri, or the\n"
		 "embedded server of `kino up`) and prints it, as GET /api/v1/reports/<kind>\n"
		 "would. docs/telemetry.md defines every figure.\n"
		 "\n"
		 "  --from DATE      plays started at or after (2026-11-01 or 2026-11-01T12:00:00Z)\n"
		 "  --to DATE        plays started before\n"
		 "  --title ID       one title only\n"
		 "  --device NAME    one device only\n"
		 "  --group G        qoe: by title (default), device or day\n"
		 "  --top N          engagement: how many top titles (default 10)\n"
		 "  --format F       json (default) or csv\n",
	.run = run,
};
