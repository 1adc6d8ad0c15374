/* Atomic file replacement for recsys outputs (see atomic_file.c). */
#ifndef KINO_RECSYS_ATOMIC_FILE_H
#define KINO_RECSYS_ATOMIC_FILE_H

#include <stdio.h>

#include "kino/error.h"

typedef struct recsys_atomic_file {
	FILE *fp;            /* write here between open and commit */
	char tmp_path[4200];
} recsys_atomic_file_t;

/* Creates a temporary file next to path. On error nothing is left behind. */
int recsys_atomic_open(const char *path, recsys_atomic_file_t *af,
		       kino_error_t *err);

/* Flushes, fsyncs, renames over path and fsyncs the directory. On error the
 * temporary file is removed and path is untouched. */
int recsys_atomic_commit(recsys_atomic_file_t *af, const char *path,
			 kino_error_t *err);

/* Drops the temporary file. Safe after a failed open or commit. */
void recsys_atomic_abort(recsys_atomic_file_t *af);

#endif
