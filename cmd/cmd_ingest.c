/* kino ingest: reserved; its issue (#3) fills it in. */
#include "commands.h"

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	(void)argc;
	(void)argv;
	(void)cfg;
	return kino_cmd_not_yet("ingest", 3);
}

const kino_command_t kino_cmd_ingest = {
	.name = "ingest",
	.summary = "transcode a file or URL into an ABR ladder (HLS + DASH)",
	.usage = "Usage: kino ingest [options]\n"
		 "\n"
		 "Not available in this version yet: issue 3 builds it.\n",
	.run = run,
};
