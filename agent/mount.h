/* SPDX-License-Identifier: Apache-2.0 */
/* Filesystems on the opened volumes: mkfs, mount(2), /proc/self/mountinfo, who holds a mount. */
#pragma once

#include <sys/types.h>

#include "config.h"
#include "error.h"

/* Runs mkfs.ext4 / mkfs.xfs on device (posix_spawn, argv only) with label. */
int mount_mkfs(const char *device, FilesystemType type, const char *label, NsError *error);

/* Grows the mounted filesystem on device (mounted at mountpoint) to the device's size, online:
 * resize2fs DEVICE for ext4, xfs_growfs MOUNTPOINT for xfs (posix_spawn, an argv, no shell). */
int mount_grow_filesystem(const char *device, const char *mountpoint, FilesystemType type, NsError *error);

/* Splits a comma list ("noatime,nodev,data=ordered") into mount(2) flags and the data string
 * the filesystem gets. Unknown words go to data; the kernel judges them. */
int mount_options_parse(const char *options, unsigned long *ret_flags, char **ret_data);

/* Parses one line of /proc/self/mountinfo in place: the device (major:minor), the mount point
 * with its \ooo escapes undone, and the filesystem type, both pointing into line. -EBADMSG when
 * the line is not one (too few fields, no "-" separator among the first 16 fields). */
int mount_info_parse_line(char *line, dev_t *ret_dev, char **ret_mount_point, char **ret_fstype);

/* The topmost mount at exactly path in /proc/self/mountinfo: its device and filesystem type.
 * -ENOENT when nothing is mounted there (path is a plain directory of its parent's mount). */
int mount_find(const char *path, dev_t *ret_dev, char **ret_fstype);

/* A mount point is opened with path_open_dir_safe(): no symlink anywhere on the path, and every
 * directory above it changeable by root only (-ELOOP, -EPERM, ... with a message naming it); the
 * mount point itself may belong to anyone, since the mount hides it. create: make what is missing. */
int mount_point_open(const char *path, bool create, int *ret_fd, NsError *error);
int mount_point_create(const char *path, NsError *error);
/* mount_find() for a mount point as configured, opened as above first: -ENOENT when it does not
 * exist or nothing is mounted there. */
int mount_point_find(const char *path, dev_t *ret_dev, char **ret_fstype, NsError *error);

/* Mounts device (of type fstype) at path with options: on the mount point opened as above,
 * through its fd (/proc/self/fd/N), never by looking the path up again. */
int mount_device(const char *device, const char *path, const char *fstype, const char *options, NsError *error);

/* "pid 123 (postgres)" for the processes that keep the filesystem with device dev busy (cwd, root,
 * open files, mapped files), up to size; empty when none is found. */
void mount_describe_holders(dev_t dev, char *buf, size_t size);
