/* Small filesystem helpers that several modules need. */
#ifndef KINO_FS_H
#define KINO_FS_H

#include <sys/types.h>

/* Creates path and any missing parents with `mode` (like mkdir -p).
 * Returns 0, or -1 with errno set; an existing directory is success. */
int kino_fs_mkdir_p(const char *path, mode_t mode);

#endif
