/* Small filesystem helpers that several modules need. */
#ifndef KINO_FS_H
#define KINO_FS_H

#include <stdbool.h>
#include <sys/types.h>

/* The longest relative path the servers take from a URL. */
#define KINO_FS_URL_PATH_MAX 1024

/* Creates path and any missing parents with `mode` (like mkdir -p).
 * Returns 0, or -1 with errno set; an existing directory is success. */
int kino_fs_mkdir_p(const char *path, mode_t mode);

/* Is path a relative path of non-empty segments other than "." and "..",
 * without backslashes or control characters, of at most
 * KINO_FS_URL_PATH_MAX bytes? What servers check before the filesystem
 * sees a path that came from a URL. */
bool kino_fs_path_is_clean(const char *path);

/* Opens path read-only beneath the directory dirfd: resolution may not
 * leave it, through "..", an absolute path or a symlink (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS). Returns a descriptor, or -1
 * with errno set (EXDEV or ELOOP when the path would lead out). */
int kino_fs_open_beneath(int dirfd, const char *path);

#endif
