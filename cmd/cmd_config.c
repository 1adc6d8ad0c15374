/* kino config: prints the effective configuration, every key with its help,
 * after the file and the KINO_* environment have been applied. */
#include "commands.h"

#include <stdio.h>

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	if (argc > 1) {
		fprintf(stderr, "kino config: unexpected argument '%s'\n", argv[1]);
		return KINO_EXIT_USAGE;
	}
	printf("# Effective configuration (file: %s)\n\n",
	       cfg->config_file[0] ? cfg->config_file : "none");
	kino_config_print(cfg, stdout);
	return KINO_EXIT_OK;
}

const kino_command_t kino_cmd_config = {
	.name = "config",
	.summary = "print the effective configuration and every key's meaning",
	.usage = "Usage: kino [--config FILE] config\n"
		 "\n"
		 "Prints every configuration key with its help text and the value in\n"
		 "effect after the file and the KINO_* environment variables, in the\n"
		 "file's own format. A bad file or variable is reported with its key\n"
		 "and exit status 2. Passwords in mongo.uri are shown as ***.\n",
	.run = run,
};
