/* kino user: reserved; its issue (#4) fills it in. */
#include "commands.h"

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	return kino_cmd_not_yet("user", 4);
}

const kino_command_t kino_cmd_user = {
	.name = "user",
	.summary = "manage accounts and roles (kino user add ...)",
	.usage = "Usage: kino user [options]\n"
		 "\n"
		 "Not available in this version yet: issue 4 builds it.\n",
	.run = run,
};
