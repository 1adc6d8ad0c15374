/* kino: the one executable. It finds the subcommand, reads the configuration
 * once (file plus KINO_* environment), routes the libraries' logs into
 * Kino's, and hands over. Everything else lives in the libraries. */
#include "commands.h"

#include "kino/error.h"
#include "kino/ingest.h"
#include "kino/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kino_command_t *const commands[] = {
	&kino_cmd_up,      &kino_cmd_serve,  &kino_cmd_telemetry,
	&kino_cmd_worker,  &kino_cmd_ingest, &kino_cmd_recsys,
	&kino_cmd_report,  &kino_cmd_loadgen, &kino_cmd_user,
	&kino_cmd_config,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: kino [--config FILE] <command> [options]\n"
		"\n"
		"Kino, an open OTT streaming platform.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name,
			commands[i]->summary);
	fprintf(out,
		"\n"
		"Options:\n"
		"  --config FILE  configuration file (default: $KINO_CONFIG,\n"
		"                 else ./kino.conf when it exists)\n"
		"  --version      print the version and exit\n"
		"  -h, --help     print this help and exit\n"
		"\n"
		"Every setting can also be given as a KINO_* environment variable;\n"
		"`kino config` prints them all. `kino <command> --help` explains a command.\n");
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* Removes "--config FILE" or "--config=FILE" from argv, wherever it is
 * before a "--", and returns FILE (or NULL). Sets *bad when the flag has no
 * value. */
static const char *take_config_flag(int *argc, char **argv, bool *bad)
{
	const char *path = NULL;
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= *argc) {
				*bad = true;
				return NULL;
			}
			path = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
			continue;
		}
		argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	return path;
}

int main(int argc, char **argv)
{
	const kino_command_t *cmd = NULL;
	kino_config_t *cfg = NULL;
	kino_error_t err = {0};
	const char *config_path;
	bool bad_flag = false;
	int ret;

	config_path = take_config_flag(&argc, argv, &bad_flag);
	if (bad_flag) {
		fprintf(stderr, "kino: --config needs a file name\n");
		return KINO_EXIT_USAGE;
	}
	if (argc < 2) {
		print_usage(stderr);
		return KINO_EXIT_USAGE;
	}
	if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		print_usage(stdout);
		return KINO_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("kino %s\n", KINO_VERSION);
		return KINO_EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i]->name) == 0)
			cmd = commands[i];
	if (cmd == NULL) {
		fprintf(stderr,
			"kino: unknown command '%s' (see 'kino --help')\n",
			argv[1]);
		return KINO_EXIT_USAGE;
	}
	if (argc > 2 && is_help(argv[2])) {
		fputs(cmd->usage, stdout);
		return KINO_EXIT_OK;
	}

	/* The configuration is large (paths are PATH_MAX), so it lives on the
	 * heap rather than on main's stack. */
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		fprintf(stderr, "kino: out of memory\n");
		return KINO_EXIT_FAILURE;
	}
	if (kino_config_load(cfg, config_path, NULL, &err) != 0) {
		fprintf(stderr, "kino: config: %s\n", kino_error_message(&err));
		free(cfg);
		return KINO_EXIT_USAGE;
	}
	if (kino_log_configure(&cfg->log, &err) != 0) {
		fprintf(stderr, "kino: config: %s\n", kino_error_message(&err));
		free(cfg);
		return KINO_EXIT_USAGE;
	}
	/* Route every library's log into ours before any of them runs. */
	kino_db_global_init();
	kino_http_global_init();
	kino_ingest_global_init();

	ret = cmd->run(argc - 1, argv + 1, cfg);

	kino_db_global_cleanup();
	free(cfg);
	return ret;
}
