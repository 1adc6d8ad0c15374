/* Atomic replacement of a file: write a temporary file in the target's
 * directory, fsync it, rename it over the target, fsync the directory. A
 * reader sees either the old file or the whole new one, never a part. Used
 * for model files and for the split ratings files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"

int recsys_atomic_open(const char *path, recsys_atomic_file_t *af,
		       kino_error_t *err)
{
	int fd = -1;
	int ret = 0;

	af->fp = NULL;
	af->tmp_path[0] = '\0';
	if (snprintf(af->tmp_path, sizeof(af->tmp_path), "%s.tmp.XXXXXX", path) >=
	    (int)sizeof(af->tmp_path)) {
		ret = kino_error_set(err, KINO_EINVAL, "path too long: %s", path);
		goto out;
	}
	fd = mkstemp(af->tmp_path);
	if (fd < 0) {
		ret = kino_error_set(err, KINO_EIO, "cannot create %s: %s",
				     af->tmp_path, strerror(errno));
		af->tmp_path[0] = '\0';
		goto out;
	}
	af->fp = fdopen(fd, "wb");
	if (af->fp == NULL) {
		ret = kino_error_set(err, KINO_EIO, "fdopen %s: %s",
				     af->tmp_path, strerror(errno));
		close(fd);
		unlink(af->tmp_path);
		af->tmp_path[0] = '\0';
		goto out;
	}
out:
	return ret;
}

/* Syncs the directory that holds path, so the rename itself is durable. */
static int sync_parent_dir(const char *path, kino_error_t *err)
{
	char copy[4096];
	int fd;
	int ret = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return kino_error_set(err, KINO_EIO, "open directory of %s: %s",
				      path, strerror(errno));
	if (fsync(fd) != 0)
		ret = kino_error_set(err, KINO_EIO, "fsync directory of %s: %s",
				     path, strerror(errno));
	close(fd);
	return ret;
}

int recsys_atomic_commit(recsys_atomic_file_t *af, const char *path,
			 kino_error_t *err)
{
	int ret = 0;

	if (fflush(af->fp) != 0 || ferror(af->fp)) {
		ret = kino_error_set(err, KINO_EIO, "write %s: %s", af->tmp_path,
				     strerror(errno));
		goto out;
	}
	if (fsync(fileno(af->fp)) != 0) {
		ret = kino_error_set(err, KINO_EIO, "fsync %s: %s", af->tmp_path,
				     strerror(errno));
		goto out;
	}
	if (fclose(af->fp) != 0) {
		af->fp = NULL;
		ret = kino_error_set(err, KINO_EIO, "close %s: %s", af->tmp_path,
				     strerror(errno));
		goto out;
	}
	af->fp = NULL;
	if (rename(af->tmp_path, path) != 0) {
		ret = kino_error_set(err, KINO_EIO, "rename %s to %s: %s",
				     af->tmp_path, path, strerror(errno));
		goto out;
	}
	af->tmp_path[0] = '\0';
	ret = sync_parent_dir(path, err);
out:
	if (ret != 0)
		recsys_atomic_abort(af);
	return ret;
}

void recsys_atomic_abort(recsys_atomic_file_t *af)
{
	if (af->fp != NULL) {
		fclose(af->fp);
		af->fp = NULL;
	}
	if (af->tmp_path[0] != '\0') {
		unlink(af->tmp_path);
		af->tmp_path[0] = '\0';
	}
}
