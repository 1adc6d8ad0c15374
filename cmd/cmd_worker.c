/* kino worker: reserved; its issue (#3) fills it in. */
#include "commands.h"

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	return kino_cmd_not_yet("worker", 3);
}

const kino_command_t kino_cmd_worker = {
	.name = "worker",
	.summary = "claim and run ingest jobs from MongoDB, with leases",
	.usage = "Usage: kino worker [options]\n"
		 "\n"
		 "Not available in this version yet: issue 3 builds it.\n",
	.run = run,
};
