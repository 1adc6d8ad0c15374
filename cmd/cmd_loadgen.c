/* kino loadgen: reserved; its issue (#5) fills it in. */
#include "commands.h"

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	return kino_cmd_not_yet("loadgen", 5);
}

const kino_command_t kino_cmd_loadgen = {
	.name = "loadgen",
	.summary = "simulate viewers sending QoE beacons",
	.usage = "Usage: kino loadgen [options]\n"
		 "\n"
		 "Not available in this version yet: issue 5 builds it.\n",
	.run = run,
};
