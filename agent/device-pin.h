/* SPDX-License-Identifier: Apache-2.0 */
/* A device held by identity from the probe that judged it to the write that changes it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* An open device (block device or image file) whose identity is recorded: st_rdev for a block
 * device, st_dev and st_ino for a file. While pinned, a block device is claimed exclusively
 * (O_EXCL: nobody can mount or map it) and BSD-locked (udev leaves it alone). A path that is
 * re-pointed meanwhile (a /dev/disk/by-* link, a reused /dev/sdX, a LABEL= that now matches
 * another disk) no longer names the pinned device, and device_pin_verify() says so. */
typedef struct DevicePin {
        char *path;             /* as resolved from the config; for messages and re-checks */
        int fd;                 /* O_RDONLY; flock(LOCK_EX) on a block device */
        int claim_fd;           /* O_EXCL on a block device; -EBADF for a file or once released */
        bool block;
        dev_t rdev;
        dev_t dev;
        ino_t ino;
        char fd_path[32];       /* "/proc/self/fd/N": the pinned device by handle, for libcryptsetup */
} DevicePin;

/* Opens path read-only from its directory, which only root may change (a device path in a
 * directory a datastore user can write could be swapped for another device between any check and
 * the write); -EPERM naming the directory when a user other than root can change it. */
int device_open_safe(const char *path, int *ret_fd, NsError *error);

/* Opens path (from a directory only root may change), claims and locks it. -EBUSY (naming the path) when a block device is in use: mounted,
 * mapped, held by md/LVM or claimed by another process. */
int device_pin_new(const char *path, DevicePin **ret, NsError *error);
DevicePin *device_pin_free(DevicePin *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(DevicePin *, device_pin_free);

/* 0 when the pinned path still names the pinned device; -ESTALE (with what it names now) when not.
 * _path: the same for another path (the device spec resolved again). */
int device_pin_verify(const DevicePin *p, NsError *error);
int device_pin_verify_path(const DevicePin *p, const char *path, NsError *error);

/* Gives up the exclusive claim (libcryptsetup takes its own to format; device-mapper to map),
 * keeping the open handle, the lock and the identity. */
void device_pin_release_claim(DevicePin *p);

/* The device's size in bytes. */
int device_pin_size(const DevicePin *p, uint64_t *ret, NsError *error);
