/* kino recsys: reserved; its issue (#6) fills it in. */
#include "commands.h"

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	return kino_cmd_not_yet("recsys", 6);
}

const kino_command_t kino_cmd_recsys = {
	.name = "recsys",
	.summary = "train, evaluate and query the recommender (implicit ALS)",
	.usage = "Usage: kino recsys [options]\n"
		 "\n"
		 "Not available in this version yet: issue 6 builds it.\n",
	.run = run,
};
