/* kino ingest: one ingest job in the foreground.
 *
 * Parses the options, runs kino_ingest_run (a file, or an http(s) URL it
 * downloads first) into <data_dir>/media and
 * reports: a progress bar and a summary on a terminal, or exactly one JSON
 * object on stdout with --json (the contract scripts and tests rely on:
 * nothing else is printed there). SIGINT/SIGTERM cancel the job cleanly,
 * which removes its temporary directory. */
#include "commands.h"

#include "kino/error.h"
#include "kino/ingest.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_bool cancel_flag;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&cancel_flag, true);
}

static void format_eta(double secs, char *buf, size_t len)
{
	if (secs < 0)
		snprintf(buf, len, "--:--");
	else
		snprintf(buf, len, "%02d:%02d", (int)secs / 60, (int)secs % 60);
}

/* Redraws one line on stderr: [#####.....]  42%  96.1 fps  ETA 00:12 */
static void progress_bar(const kino_ingest_progress_t *p, void *userdata)
{
	int width = 30, filled = (int)lround(p->fraction * width);
	char eta[16];

	(void)userdata;
	format_eta(p->eta_seconds, eta, sizeof(eta));
	fputc('\r', stderr);
	fputc('[', stderr);
	for (int i = 0; i < width; i++)
		fputc(i < filled ? '#' : '.', stderr);
	fprintf(stderr, "] %3d%%  %6.1f fps  ETA %s ", (int)lround(p->fraction * 100),
		p->fps, eta);
	fflush(stderr);
}

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	static const struct option longopts[] = {
		{"title", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"ladder", required_argument, NULL, 'l'},
		{"segment-seconds", required_argument, NULL, 's'},
		{"subtitle", required_argument, NULL, 'S'},
		{"protect", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	kino_ingest_options_t opts;
	kino_ingest_fetch_options_t fetch;
	kino_ingest_rung_t rungs[KINO_INGEST_LADDER_MAX];
	kino_ingest_result_t *result = NULL;
	kino_error_t err = {0};
	char media_root[4200], subtitle[4096], master_key[4200], *end;
	bool json = false, tty;
	int c, ret;

	kino_ingest_options_init(&opts);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			opts.title = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'l':
			if (kino_ingest_ladder_parse(optarg, rungs, KINO_INGEST_LADDER_MAX,
						     &opts.ladder_len, &err) < 0) {
				fprintf(stderr, "kino ingest: %s\n", kino_error_message(&err));
				return KINO_EXIT_USAGE;
			}
			opts.ladder = rungs;
			break;
		case 's':
			opts.segment_seconds = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(opts.segment_seconds >= 1) ||
			    opts.segment_seconds > 30) {
				fprintf(stderr, "kino ingest: --segment-seconds wants 1..30, "
						"not '%s'\n", optarg);
				return KINO_EXIT_USAGE;
			}
			break;
		case 'S': {
			/* FILE[:lang]; a colon followed by a short tag is the language. */
			char *colon;
			snprintf(subtitle, sizeof(subtitle), "%s", optarg);
			colon = strrchr(subtitle, ':');
			if (colon != NULL && strlen(colon + 1) > 0 && strlen(colon + 1) <= 15 &&
			    strchr(colon + 1, '/') == NULL) {
				*colon = '\0';
				opts.subtitle_lang = colon + 1;
			}
			opts.subtitle_path = subtitle;
			break;
		}
		case 'P':
			opts.protect = true;
			break;
		case 'h':
			fputs(kino_cmd_ingest.usage, stdout);
			return KINO_EXIT_OK;
		default:
			fprintf(stderr, "kino ingest: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], kino_cmd_ingest.usage);
			return KINO_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "kino ingest: exactly one FILE|URL is required\n%s",
			kino_cmd_ingest.usage);
		return KINO_EXIT_USAGE;
	}
	if (opts.title == NULL || *opts.title == '\0') {
		fprintf(stderr, "kino ingest: --title is required\n%s", kino_cmd_ingest.usage);
		return KINO_EXIT_USAGE;
	}
	opts.input = argv[optind];
	if (strstr(opts.input, "://") != NULL && strncmp(opts.input, "http://", 7) != 0 &&
	    strncmp(opts.input, "https://", 8) != 0) {
		fprintf(stderr, "kino ingest: only http and https URLs are fetched, not '%s'\n",
			opts.input);
		return KINO_EXIT_USAGE;
	}
	/* fetch.timeout means what it means to kino worker's URL jobs. */
	kino_ingest_fetch_options_init(&fetch);
	fetch.connect_timeout_s = cfg->jobs.fetch_timeout_s;
	fetch.stall_timeout_s = cfg->jobs.fetch_timeout_s;
	opts.fetch = &fetch;
	snprintf(media_root, sizeof(media_root), "%s/media", cfg->data_dir);
	opts.media_root = media_root;
	/* The same master key as the key service: keys.master, or its file. */
	if (cfg->keys.master[0] != '\0')
		snprintf(master_key, sizeof(master_key), "%s", cfg->keys.master);
	else
		snprintf(master_key, sizeof(master_key), "%s/keys/master.key", cfg->data_dir);
	opts.master_key = master_key;

	tty = isatty(STDERR_FILENO) && !json;
	if (tty)
		opts.progress = progress_bar;
	opts.cancel = &cancel_flag;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	ret = kino_ingest_run(&opts, &result, &err);
	if (tty)
		fputc('\n', stderr);
	if (ret < 0) {
		fprintf(stderr, "kino ingest: %s failed: %s\n", opts.input,
			kino_error_message(&err));
		return KINO_EXIT_FAILURE;
	}
	if (json) {
		kino_ingest_result_json_write(result, stdout);
	} else {
		size_t n = kino_ingest_result_rendition_count(result);
		FILE *out = stdout;
		fprintf(out, "asset %s: %.1f s of media in %.1f s\n",
			kino_ingest_result_asset_id(result),
			kino_ingest_result_duration(result),
			kino_ingest_result_elapsed(result));
		for (size_t i = 0; i < n; i++) {
			const kino_ingest_rendition_t *r = kino_ingest_result_rendition(result, i);
			fprintf(out, "  %-6s %4dx%-4d  %5d kbps cap  %.3f fps\n", r->name,
				r->width, r->height, r->bitrate_kbps, r->fps);
		}
		fprintf(out, "  HLS:  %s\n  DASH: %s\n", kino_ingest_result_hls_path(result),
			kino_ingest_result_dash_path(result));
	}
	kino_ingest_result_destroy(&result);
	return KINO_EXIT_OK;
}

const kino_command_t kino_cmd_ingest = {
	.name = "ingest",
	.summary = "transcode a file or URL into an ABR ladder (HLS + DASH)",
	.usage = "Usage: kino ingest FILE|URL --title TITLE [options]\n"
		 "\n"
		 "Runs one ingest job in the foreground: probe, decode once, encode\n"
		 "the ABR ladder, package CMAF segments with HLS and DASH manifests,\n"
		 "a poster, trick-play sprites and WebVTT subtitles. The asset lands\n"
		 "in <data_dir>/media/<asset_id>/ only when everything succeeded.\n"
		 "An http(s) URL is downloaded first (timeouts, retries that resume\n"
		 "with Range), into the job's temporary directory.\n"
		 "\n"
		 "Options:\n"
		 "  --title TITLE          the title stored with the asset (required)\n"
		 "  --json                 print only {\"asset_id\",\"hls\",\"dash\",\n"
		 "                         \"renditions\"} on stdout\n"
		 "  --ladder H:KBPS,...    renditions by short side and bitrate cap\n"
		 "                         (default 1080:5000,720:3000,480:1400,\n"
		 "                         360:800,240:400; never above the source)\n"
		 "  --segment-seconds N    CMAF segment duration, 1..30 (default 4)\n"
		 "  --subtitle FILE[:LANG] a sidecar .srt or .vtt (LANG e.g. en)\n"
		 "  --protect              publish only encrypted media: HLS AES-128\n"
		 "                         and DASH ClearKey (CENC); the key is kept\n"
		 "                         wrapped under keys.master (default\n"
		 "                         <data_dir>/keys/master.key)\n"
		 "\n"
		 "Exit status: 0 done, 1 the job failed (reason on stderr), 2 usage.\n",
	.run = run,
};
