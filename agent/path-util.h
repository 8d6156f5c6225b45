/* SPDX-License-Identifier: Apache-2.0 */
/* Paths nodeseal writes to or mounts on: resolved without symlinks, below directories only root can change. */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

/* nodeseal runs as root and writes keys, certificates and mounts where its configuration says. A
 * user who can change any directory on the way (plant a symlink, rename a directory) could make it
 * write or mount elsewhere. So a path is walked one component at a time from "/", each opened
 * relative to the one before with symlinks refused, and each directory above the last one must be
 * changeable by root only:
 *
 *   - owned by root (or by the user nodeseal runs as), and
 *   - not writable by group or others, unless it is sticky (like /tmp: others may add names but
 *     cannot rename or remove ours; a name they add in our place is refused in its turn).
 *
 * Group-writable is refused whatever the group (as sshd's StrictModes does): a POSIX ACL granting
 * write to a user shows as group-write through the mask, so it is refused too.
 *
 * The last directory may in addition belong to the user (uid) who will own the files written in
 * it, and be writable by their group (gid): PostgreSQL's data directory belongs to postgres. That
 * user can then replace the files, which are theirs anyway, but cannot redirect what root writes:
 * every write goes through the returned fd (openat, O_EXCL|O_NOFOLLOW temporary files, renameat,
 * fchown, fchmod), never through the path again. */
typedef enum PathSafeFlags {
        PATH_SAFE_MKDIR = 1 << 0,     /* create what is missing, mode 0755, owned by us */
        PATH_SAFE_ANY_OWNER = 1 << 1, /* no rule for the last directory: nothing is written in it by name (a mount point) */
} PathSafeFlags;

/* "/a//b/./c/" → "/a/b/c". -EINVAL for a relative path or one with a ".." component. */
int path_simplify(const char *path, char **ret);

/* Opens the directory at the absolute path as described above: an fd (O_RDONLY|O_DIRECTORY, not
 * O_PATH: it takes fchmod, fsync, openat) to act on. Errors, with a message naming the path and
 * the component: -ELOOP a symlink, -ENOTDIR not a directory, -ENOENT missing, -EPERM a directory
 * others can change, -EINVAL a relative path or "..". uid and gid: the owner of what will be
 * written in the last directory, (uid_t) -1 / (gid_t) -1 for none but root. */
int path_open_dir_safe(const char *path, PathSafeFlags flags, uid_t uid, gid_t gid, int *ret_fd, NsError *error);

/* Opens name in dir_fd (flags: O_RDONLY or O_WRONLY) only if it is a regular file reached without
 * a symlink: -ELOOP for a symlink, -EISDIR for a directory, -EBADFD for anything else (a FIFO does
 * not block). ret_st, if not NULL, gets its stat (st_nlink > 1: a hard link others may share). */
int path_open_regular_at(int dir_fd, const char *name, int flags, int *ret_fd, struct stat *ret_st);

/* Tests: false makes the walk use openat(O_NOFOLLOW), what it does on kernels without openat2(). */
void path_use_openat2(bool use);
