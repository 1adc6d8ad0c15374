/* kino report: reserved; its issue (#5) fills it in. */
#include "commands.h"

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	return kino_cmd_not_yet("report", 5);
}

const kino_command_t kino_cmd_report = {
	.name = "report",
	.summary = "engagement, QoE and concurrency reports (JSON or CSV)",
	.usage = "Usage: kino report [options]\n"
		 "\n"
		 "Not available in this version yet: issue 5 builds it.\n",
	.run = run,
};
