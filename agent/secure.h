/* SPDX-License-Identifier: Apache-2.0 */
/* Secret memory, core-dump protection and atomic file writes. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* A secret value (volume key, CA private key) held in crypt_safe_alloc() memory, wiped on free.
 * One spare NUL byte follows the data so PEM text can be handed to parsers as a string. */
typedef struct SecretValue {
        uint8_t *data;
        size_t size;
} SecretValue;

int secret_value_new(size_t size, SecretValue **ret);
int secret_value_new_copy(const void *data, size_t size, SecretValue **ret);
SecretValue *secret_value_free(SecretValue *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(SecretValue *, secret_value_free);
bool secret_value_equal(const SecretValue *a, const SecretValue *b);

/* Fills buf with cryptographically secure random bytes (getrandom, blocking until seeded). */
int random_bytes(void *buf, size_t n);

/* No core dumps and no ptrace by non-root: keys in memory stay in memory. */
int secure_process_setup(void);

/* Locks every page of the process, present and future (mlockall, on fault where the kernel can),
 * so keys and Secret bodies never reach swap. -EPERM without CAP_IPC_LOCK: with a finite
 * RLIMIT_MEMLOCK, locking future pages would make allocations fail once the limit is reached. */
int secure_memory_lock(void);

/* Allocator functions for libraries that hold Secret bodies in their own buffers (libcurl,
 * OpenSSL, cJSON): plain malloc memory, wiped (malloc_usable_size + explicit_bzero) before it is
 * freed, also when realloc moves it. */
void secure_free(void *p);
/* Zeroes the stack below the caller's frame (128 KiB), where the frames of a call that just
 * returned lie dead with what they held: OpenSSL decrypts TLS records into stack blocks, so a
 * Secret's body outlives the request there. Called after every request that may carry one. */
void secure_wipe_stack(void);
void *secure_realloc(void *p, size_t size);
/* Makes OpenSSL wipe what it frees (TLS record buffers, PEM and DER of the CA key). OpenSSL
 * allows this only before its first allocation: call it first thing; -EBUSY when too late. */
int secure_openssl_memory_setup(void);

/* Reads a whole file (at most max bytes; -EFBIG beyond) into secret memory. */
int read_secret_file(int dir_fd, const char *path, size_t max, SecretValue **ret);
int read_secret_fd(int fd, size_t max, SecretValue **ret);
/* The same for a pipe or a terminal (no size known ahead): reads to EOF, -EFBIG beyond max. */
int read_secret_stream(int fd, size_t max, SecretValue **ret);
/* Reads a whole (non-secret) file into a malloc'ed NUL-terminated buffer. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size);
/* Writes all of data to fd, going on after short writes and EINTR. */
int write_full_fd(int fd, const void *data, size_t size);

/* Replaces name in the directory dir_fd atomically: a new unnamed file in that directory, written,
 * fchown'ed/fchmod'ed, fsync'ed, linked under a new random name, renamed over name (whatever name
 * was, a symlink included, is replaced, never followed), and the directory fsync'ed. uid/gid of
 * (uid_t)-1/(gid_t)-1 leave ownership as created. A reader never sees half a file and a crash
 * leaves the old file or the new one, never a mix. */
int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid);
/* Several files of one directory replaced as one change as far as it can be: each written, synced
 * and linked under a temporary name first, then renamed over its name in the order given, back to
 * back, then the directory synced (a key and its certificate: a reader never sees one new and the
 * other old across a slow fsync). A failure before the renames replaces nothing. At most 8. */
typedef struct AtomicFile {
        const char *name;
        const void *data;
        size_t size;
        mode_t mode;
        uid_t uid;
        gid_t gid;
} AtomicFile;
int write_files_atomic_at(int dir_fd, const AtomicFile *files, size_t n);
/* The same for a path: its directory is opened with path_open_dir_safe() (no symlinks, ancestors
 * only root can change, the directory root's or uid's), so -ELOOP/-ENOTDIR/-EPERM as it says. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid);

/* Creates a directory and its parents (mode for the ones it creates). */
int mkdir_p(const char *path, mode_t mode);
