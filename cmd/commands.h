/* The subcommands of the kino executable. Each lives in cmd/cmd_<name>.c,
 * parses its own options and wires library modules together; the real work
 * is in the libraries. Private to cmd/. */
#ifndef KINO_CMD_COMMANDS_H
#define KINO_CMD_COMMANDS_H

#include "kino/config.h"

/* Exit statuses, as nginx and redis users expect: 2 for what the user typed
 * or configured wrongly, 1 for everything that failed while running. */
enum { KINO_EXIT_OK = 0, KINO_EXIT_FAILURE = 1, KINO_EXIT_USAGE = 2 };

/* argv[0] is the command's name; cfg is loaded and validated by main. */
typedef int (*kino_command_fn)(int argc, char **argv, const kino_config_t *cfg);

typedef struct kino_command {
	const char *name;
	const char *summary; /* one line, for `kino --help` */
	const char *usage;   /* the whole text of `kino <name> --help` */
	kino_command_fn run;
} kino_command_t;

extern const kino_command_t kino_cmd_up;
extern const kino_command_t kino_cmd_serve;
extern const kino_command_t kino_cmd_telemetry;
extern const kino_command_t kino_cmd_worker;
extern const kino_command_t kino_cmd_ingest;
extern const kino_command_t kino_cmd_recsys;
extern const kino_command_t kino_cmd_report;
extern const kino_command_t kino_cmd_loadgen;
extern const kino_command_t kino_cmd_user;
extern const kino_command_t kino_cmd_config;

#endif
