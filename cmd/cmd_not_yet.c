/* The reserved commands whose issues have not landed yet fail honestly. */
#include "commands.h"

#include <stdio.h>

int kino_cmd_not_yet(const char *name, int issue)
{
	fprintf(stderr,
		"kino %s: not available in this version yet (tracked in issue %d)\n",
		name, issue);
	return KINO_EXIT_FAILURE;
}
